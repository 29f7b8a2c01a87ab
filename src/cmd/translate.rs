//! `linguastream translate`: a recording in, English speech and captions out; into another
//! language, speech in an imported voice for it, else captions alone (English into Persian
//! without a Persian voice).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use linguastream_core::audio::{AudioReader, Chunk, DecodeError, WavWriter, STT_RATE};
use linguastream_core::confidence::Level;
use linguastream_core::models::ModelStore;
use linguastream_core::outfile::{self, OutFile, OutputError};
use linguastream_core::output::{json, srt, vtt, Delivery, DroppedSegment, RunReport, Timeline, TranslatedSegment};
use linguastream_core::pipeline::{self, Event, Pace};
use linguastream_core::runtime::{no_voice_message, voice_for, Runtime};

use super::{check_outputs, pipeline_config, FILE_CUTS};
use crate::cli::TranslateArgs;

pub fn run(args: TranslateArgs) -> Result<ExitCode> {
    let store = ModelStore::open_default();
    let voice = voice_for(&store, &args.to)?;
    let output = match &args.output {
        Some(_) if voice.is_none() => bail!(
            "{}; until then, translating into '{}' writes captions only (--srt, --vtt, --json): drop -o",
            no_voice_message(&args.to),
            args.to
        ),
        Some(path) => Some(path.clone()),
        None if voice.is_none() => {
            eprintln!("note: {}", no_voice_message(&args.to));
            None
        }
        None if outfile::is_stdout(&args.input) => bail!("reading from standard input: name the output with -o"),
        None => Some(default_output(&args.input, &args.to)),
    };
    let speech_is = if args.to == "en" { "the English speech (-o)" } else { "the speech (-o)" };
    let mut outputs: Vec<(&str, &Path)> = output.iter().map(|o| (speech_is, o.as_path())).collect();
    for (what, path) in [
        ("the SubRip captions (--srt)", &args.srt),
        ("the WebVTT captions (--vtt)", &args.vtt),
        ("the JSON report (--json)", &args.json),
    ] {
        outputs.extend(path.as_deref().map(|p| (what, p)));
    }
    check_outputs(Some(&args.input), &outputs)?;
    // Captions go to stderr when an output takes stdout.
    let stdout_taken = outputs.iter().any(|(_, p)| outfile::is_stdout(p));

    let from = args.recognition.from.clone();
    let started = Instant::now();
    let reader = AudioReader::open(&args.input, STT_RATE)?;
    let runtime = Runtime::new(store)?;
    let (config, names) =
        pipeline_config(&runtime, &args.recognition, &args.to, FILE_CUTS, &args.translation, Pace::Batch)?;
    let progress = progress_bar(reader.declared_duration_s(), args.quiet || stdout_taken);

    let input = Arc::new(Mutex::new(Input { reader, error: None }));
    let mut speech: Option<(WavWriter, Timeline)> = None;
    let mut segments: Vec<TranslatedSegment> = Vec::new();
    let mut unspoken = 0;
    let mut dropped: Vec<DroppedSegment> = Vec::new();
    let mut write_error: Option<OutputError> = None;
    pipeline::run(chunks(input.clone()), &config, |event| match event {
        Event::Ready { speech_rate } => {
            let Some(output) = &output else { return };
            // The track is written at the voice's rate as the utterances come (resampled to
            // --rate on the way), so it never sits in memory whole.
            match WavWriter::create_resampled(output, speech_rate, args.rate.unwrap_or(speech_rate)) {
                Ok(writer) => speech = Some((writer, Timeline::new(speech_rate))),
                Err(e) => {
                    write_error.get_or_insert(e);
                }
            }
        }
        Event::Translated { mut segment, .. } => {
            progress.set_position((segment.end_s * 10.0) as u64);
            if !args.quiet {
                say(&progress, caption(&segment, &from, &args.to), stdout_taken);
            }
            // Only the texts stay for the captions.
            if let Some((writer, timeline)) = speech.as_mut() {
                let silence = timeline.place(&mut segment);
                let written = writer.write_silence(silence).and_then(|()| writer.write(&segment.speech));
                if let Err(e) = written {
                    write_error.get_or_insert(e);
                }
            }
            unspoken += usize::from(segment.speech.is_empty());
            segment.speech = Vec::new();
            segments.push(segment);
        }
        Event::Dropped(d) => {
            warn(&progress, format!("[{} → {}] not spoken: {}", clock(d.start_s), clock(d.end_s), d.reason));
            dropped.push(d);
        }
        Event::Warning(warning) => warn(&progress, format!("warning: {warning}")),
        Event::Speech { .. } | Event::Partial { .. } | Event::Failed(_) => {}
    })?;
    progress.finish_and_clear();
    let mut input = input.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(e) = input.error.take() {
        return Err(e.into());
    }
    if let Some(e) = write_error {
        return Err(e.into());
    }
    let duration_s = input.reader.duration_s();
    warn_about_repairs(&input.reader);

    let mut ready: Vec<OutFile> = Vec::new();
    if output.is_some() {
        // A run that ends without failing has always reported its voice first.
        let (mut writer, mut timeline) = speech.context("the pipeline ended without loading the voice")?;
        writer.write_silence(timeline.pad_to(duration_s))?;
        ready.push(writer.finish()?);
    }
    if let Some(path) = &args.srt {
        ready.push(outfile::prepare(path, srt(&segments).as_bytes())?);
    }
    if let Some(path) = &args.vtt {
        ready.push(outfile::prepare(path, vtt(&segments).as_bytes())?);
    }
    if let Some(path) = &args.json {
        let report = RunReport {
            segments: &segments,
            dropped: &dropped,
            model: serde_json::to_value(&names)?,
            input: serde_json::json!({ "path": args.input, "duration_s": duration_s }),
        };
        ready.push(outfile::prepare(path, json(&report).as_bytes())?);
    }
    // Every output is complete on disk before the first one replaces its predecessor, so the
    // files of one run appear together.
    for file in ready {
        file.commit()?;
    }
    if !args.quiet {
        let elapsed = started.elapsed().as_secs_f64();
        match &output {
            Some(output) => eprintln!(
                "{} utterances spoken, {} not spoken; {:.1} s of audio in {:.1} s{}; wrote {}",
                segments.len() - unspoken,
                dropped.len() + unspoken,
                duration_s,
                elapsed,
                real_time_factor(elapsed, duration_s),
                output.display()
            ),
            None => eprintln!(
                "{} utterances captioned, {} refused; {:.1} s of audio in {:.1} s{}",
                segments.len(),
                dropped.len(),
                duration_s,
                elapsed,
                real_time_factor(elapsed, duration_s),
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The input being decoded, shared with the pipeline's source thread: afterwards its totals are
/// read here, and the error that ended it early, if one did.
struct Input {
    reader: AudioReader,
    error: Option<DecodeError>,
}

/// The decoded input as it is read, a chunk at a time; a decoding error ends it (and is kept).
fn chunks(input: Arc<Mutex<Input>>) -> impl Iterator<Item = Chunk> + Send + 'static {
    std::iter::from_fn(move || {
        let mut input = input.lock().unwrap_or_else(PoisonError::into_inner);
        match input.reader.next_chunk() {
            Ok(piece) => piece.map(|samples| Chunk { samples, captured_at: Instant::now() }),
            Err(e) => {
                input.error = Some(e);
                None
            }
        }
    })
}

/// The real-time factor, when the input is long enough for it to mean something.
fn real_time_factor(elapsed_s: f64, duration_s: f64) -> String {
    if duration_s < 1.0 {
        " (too short for a real-time factor)".into()
    } else {
        format!(" (real-time factor {:.2})", elapsed_s / duration_s)
    }
}

fn warn_about_repairs(reader: &AudioReader) {
    let (bad, total) = reader.non_finite_samples();
    if bad > 0 {
        eprintln!(
            "warning: {bad} samples ({:.2}% of the input) were not numbers (NaN or infinity) and were repaired",
            bad as f64 / total.max(1) as f64 * 100.0
        );
    }
}

fn default_output(input: &Path, to: &str) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "output".into());
    PathBuf::from(format!("{stem}.{to}.wav"))
}

fn progress_bar(duration_s: Option<f64>, quiet: bool) -> ProgressBar {
    let Some(duration_s) = duration_s.filter(|_| !quiet && std::io::stderr().is_terminal()) else {
        return ProgressBar::hidden();
    };
    let bar = ProgressBar::new((duration_s * 10.0) as u64);
    bar.set_style(
        ProgressStyle::with_template("translating [{bar:30}] {percent}% eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Prints a caption above the progress bar, or to stdout when there is none (stderr when an
/// output file is written to stdout).
fn say(progress: &ProgressBar, line: String, stdout_taken: bool) {
    if stdout_taken {
        eprintln!("{line}");
    } else if progress.is_hidden() {
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

fn caption(segment: &TranslatedSegment, from: &str, to: &str) -> String {
    let flag = match segment.delivery {
        _ if segment.mt_failed => " (untranslated)",
        Delivery::CaptionOnly => " (not spoken: low confidence)",
        _ => "",
    };
    let mark = if segment.confidence.level == Level::Low { "(?) " } else { "" };
    format!(
        "[{} → {}] {from}: {mark}{}\n{:>17} {to}: {mark}{}{flag}",
        clock(segment.start_s),
        clock(segment.end_s),
        segment.source_text,
        "",
        segment.translated_text
    )
}
