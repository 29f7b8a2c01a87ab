//! `linguastream translate`: a recording in, English speech and captions out.

use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use linguastream::audio::{decode_file, resample, write_wav, Audio, STT_RATE};
use linguastream::output::{
    place_on_timeline, write_json, write_srt, write_vtt, DroppedSegment, RunReport,
    TranslatedSegment,
};
use linguastream::pipeline::{self, Event, MtEngine, PipelineConfig};

use super::{segmenter_options, Runtime};
use crate::cli::{MtChoice, TranslateArgs};

pub fn run(args: TranslateArgs) -> Result<ExitCode> {
    if args.to != "en" {
        bail!("only English output is supported (--to en): the installed voices are English");
    }
    let segmenter = segmenter_options(&args.recognition)?;
    let from = args.recognition.from.clone();
    let started = Instant::now();
    let audio = decode_file(&args.input, STT_RATE)?;
    let runtime = Runtime::open()?;
    let (mt, mt_name) = choose_engine(&runtime, &from, args.mt)?;
    let (whisper, whisper_dir) = runtime.load_whisper(&args.recognition)?;
    let config = PipelineConfig {
        language: from.clone(),
        whisper,
        mt,
        onnx_runtime: runtime.onnx_runtime.clone(),
        vad_model: runtime.vad_model()?,
        voice: runtime.voice()?,
        segmenter,
        translation_cache: NonZeroUsize::new(1024).expect("non-zero"),
        tts_threads: 2,
    };

    let progress = progress_bar(&audio, args.quiet);
    let mut segments: Vec<TranslatedSegment> = Vec::new();
    let mut dropped: Vec<DroppedSegment> = Vec::new();
    let tts_rate = pipeline::run(&audio.samples, &config, |event| match event {
        Event::Translated(segment) => {
            progress.set_position((segment.end_s * 10.0) as u64);
            if !args.quiet {
                say(&progress, caption(&segment, &from));
            }
            segments.push(segment);
        }
        Event::Dropped(d) => {
            warn(
                &progress,
                format!(
                    "[{} → {}] not spoken: {}",
                    clock(d.start_s),
                    clock(d.end_s),
                    d.reason
                ),
            );
            dropped.push(d);
        }
        Event::Warning(message) => warn(&progress, format!("warning: {message}")),
    })?;
    progress.finish_and_clear();

    let track = place_on_timeline(&mut segments, tts_rate, audio.duration_s());
    let speech = resample(
        &Audio {
            samples: track,
            rate: tts_rate,
        },
        args.rate.unwrap_or(tts_rate),
    );
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.input));
    write_wav(&output, &speech)?;
    if let Some(path) = &args.srt {
        write_srt(path, &segments)?;
    }
    if let Some(path) = &args.vtt {
        write_vtt(path, &segments)?;
    }
    if let Some(path) = &args.json {
        let report = RunReport {
            segments: &segments,
            dropped: &dropped,
            model: serde_json::json!({
                "vad": "silero-vad v6",
                "stt": { "engine": "whisper-ctranslate2-int8", "model": args.recognition.whisper, "path": whisper_dir, "language": from },
                "mt": mt_name,
                "tts": "piper-en-us-joe-medium",
            }),
            input: serde_json::json!({ "path": args.input, "duration_s": audio.duration_s() }),
        };
        write_json(path, &report).context("writing the JSON report")?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!(
            "{} utterances translated, {} not spoken; {:.1} s of audio in {:.1} s (real-time factor {:.2}); wrote {}",
            segments.len(),
            dropped.len(),
            audio.duration_s(),
            elapsed,
            elapsed / audio.duration_s().max(1e-9),
            output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn choose_engine(runtime: &Runtime, from: &str, choice: MtChoice) -> Result<(MtEngine, String)> {
    let entry = runtime.store.manifest().translation_model(from, "en");
    let installed = entry.and_then(|e| {
        runtime
            .store
            .require(&e.id)
            .ok()
            .map(|dir| (e.id.clone(), dir))
    });
    match (choice, installed) {
        (MtChoice::Direct, _) => Ok((MtEngine::Direct, "direct (Whisper translate task)".into())),
        (MtChoice::Firefox | MtChoice::Auto, Some((id, dir))) => {
            Ok((MtEngine::Firefox(dir), format!("firefox ({id})")))
        }
        (MtChoice::Firefox, None) => match entry {
            Some(e) => Err(runtime.store.require(&e.id).unwrap_err().into()),
            None => bail!("there is no Firefox-Translations model for {from}→en; use --mt direct"),
        },
        (MtChoice::Auto, None) => {
            eprintln!(
                "note: no Firefox-Translations {from}→en model installed, so Whisper translates directly (weak with Whisper base); see `linguastream models list`"
            );
            Ok((MtEngine::Direct, "direct (Whisper translate task)".into()))
        }
    }
}

fn default_output(input: &std::path::Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "output".into());
    PathBuf::from(format!("{stem}.en.wav"))
}

fn progress_bar(audio: &Audio, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new((audio.duration_s() * 10.0) as u64);
    bar.set_style(
        ProgressStyle::with_template("translating [{bar:30}] {percent}% eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Prints a caption above the progress bar, or to stdout when there is none.
fn say(progress: &ProgressBar, line: String) {
    if progress.is_hidden() {
        println!("{line}");
    } else {
        progress.println(line);
    }
}

/// Prints a warning above the progress bar, or to stderr when there is none.
fn warn(progress: &ProgressBar, line: String) {
    if progress.is_hidden() {
        eprintln!("{line}");
    } else {
        progress.println(line);
    }
}

fn clock(seconds: f64) -> String {
    let tenths = (seconds * 10.0).round() as u64;
    format!(
        "{:02}:{:02}.{}",
        tenths / 600,
        tenths / 10 % 60,
        tenths % 10
    )
}

fn caption(segment: &TranslatedSegment, from: &str) -> String {
    let flag = if segment.mt_failed {
        " (untranslated)"
    } else {
        ""
    };
    format!(
        "[{} → {}] {from}: {}\n{:>17} en: {}{flag}",
        clock(segment.start_s),
        clock(segment.end_s),
        segment.source_text,
        "",
        segment.translated_text
    )
}
