//! `linguastream translate`: a recording in, English speech and captions out.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use linguastream::audio::{chunks_of, decode_file, resample, write_wav, Audio, STT_RATE};
use linguastream::output::{
    place_on_timeline, write_json, write_srt, write_vtt, DroppedSegment, RunReport, TranslatedSegment,
};
use linguastream::pipeline::{self, Event};
use linguastream::runtime::Runtime;

use super::{pipeline_config, TRANSLATE_PAUSE_MS};
use crate::cli::TranslateArgs;

pub fn run(args: TranslateArgs) -> Result<ExitCode> {
    if args.to != "en" {
        bail!("only English output is supported (--to en): the installed voices are English");
    }
    let from = args.recognition.from.clone();
    let started = Instant::now();
    let audio = decode_file(&args.input, STT_RATE)?;
    let duration_s = audio.duration_s();
    let runtime = Runtime::open()?;
    let (config, names) = pipeline_config(&runtime, &args.recognition, TRANSLATE_PAUSE_MS, args.mt, false, false)?;

    let progress = progress_bar(duration_s, args.quiet);
    let mut segments: Vec<TranslatedSegment> = Vec::new();
    let mut dropped: Vec<DroppedSegment> = Vec::new();
    let mut tts_rate = None;
    pipeline::run(chunks_of(audio.samples), &config, |event| match event {
        Event::Ready { speech_rate } => tts_rate = Some(speech_rate),
        Event::Translated { segment, .. } => {
            progress.set_position((segment.end_s * 10.0) as u64);
            if !args.quiet {
                say(&progress, caption(&segment, &from));
            }
            segments.push(segment);
        }
        Event::Dropped(d) => {
            warn(&progress, format!("[{} → {}] not spoken: {}", clock(d.start_s), clock(d.end_s), d.reason));
            dropped.push(d);
        }
        Event::Warning(warning) => warn(&progress, format!("warning: {warning}")),
        Event::Speech { .. } | Event::Failed(_) => {}
    })?;
    progress.finish_and_clear();

    // A run that ends without failing has always reported its voice first.
    let tts_rate = tts_rate.context("the pipeline ended without loading the voice")?;
    let track = place_on_timeline(&mut segments, tts_rate, duration_s);
    let speech = resample(&Audio { samples: track, rate: tts_rate }, args.rate.unwrap_or(tts_rate));
    let output = args.output.clone().unwrap_or_else(|| default_output(&args.input));
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
                "stt": { "engine": "whisper-ctranslate2-int8", "model": args.recognition.whisper, "path": names.whisper_dir, "language": from },
                "mt": names.mt,
                "tts": "piper-en-us-joe-medium",
            }),
            input: serde_json::json!({ "path": args.input, "duration_s": duration_s }),
        };
        write_json(path, &report).context("writing the JSON report")?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    if !args.quiet {
        eprintln!(
            "{} utterances translated, {} not spoken; {:.1} s of audio in {:.1} s (real-time factor {:.2}); wrote {}",
            segments.len(),
            dropped.len(),
            duration_s,
            elapsed,
            elapsed / duration_s.max(1e-9),
            output.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn default_output(input: &std::path::Path) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "output".into());
    PathBuf::from(format!("{stem}.en.wav"))
}

fn progress_bar(duration_s: f64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new((duration_s * 10.0) as u64);
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
    format!("{:02}:{:02}.{}", tenths / 600, tenths / 10 % 60, tenths % 10)
}

fn caption(segment: &TranslatedSegment, from: &str) -> String {
    let flag = if segment.mt_failed { " (untranslated)" } else { "" };
    format!(
        "[{} → {}] {from}: {}\n{:>17} en: {}{flag}",
        clock(segment.start_s),
        clock(segment.end_s),
        segment.source_text,
        "",
        segment.translated_text
    )
}
