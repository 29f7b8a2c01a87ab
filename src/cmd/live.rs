//! `linguastream live`: microphone (or a paced file) in, English speech into the virtual
//! microphone and/or speakers, captions on the terminal; with `--call-input`, the other side of
//! the call captioned too, in a second lane that shares the loaded models.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use linguastream_core::audio::capture::{capture_file, capture_pulse, Capture};
use linguastream_core::audio::pulse::PulseServer;
use linguastream_core::audio::{decode_file, STT_RATE};
use linguastream_core::confidence::Level;
use linguastream_core::live::{self, CallSide, LiveEvent, LiveReport, CALL_LANGUAGE};
use linguastream_core::outfile;
use linguastream_core::output::sink::PulseSink;
use linguastream_core::output::virtual_mic::{MIC, MIC_DESCRIPTION};
use linguastream_core::output::{AudioSink, Delivery, TranslatedSegment, WavFileSink};
use linguastream_core::pipeline::PipelineConfig;
use linguastream_core::runtime::{voice_for, Runtime, SessionOptions};

use super::{check_outputs, configure, live_pace, session_options, tell, LIVE_CUTS};
use crate::cli::{LiveArgs, LiveOutput};

pub fn run(args: LiveArgs) -> Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = stop.clone();
    ctrlc::set_handler(move || {
        if !handler_stop.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping: finishing the utterance in progress…");
        }
    })
    .context("installing the Ctrl-C handler")?;

    let mut outputs = Vec::new();
    outputs.extend(args.metrics_json.as_deref().map(|p| ("the metrics (--metrics-json)", p)));
    outputs.extend(args.wav.as_deref().map(|p| ("the English speech (--wav)", p)));
    check_outputs(args.input_file.as_deref(), &outputs)?;
    check_outputs(args.call_input_file.as_deref(), &[])?;
    let runtime = Runtime::open()?;
    // The outputs are opened at the voice's rate before the run, so a bad device fails now.
    let voice_rate = runtime.voice()?.sample_rate();
    let server = PulseServer::connect();
    let output = match (args.output, &server) {
        (Some(output), _) => output,
        (None, Ok(_)) => LiveOutput::VirtualMic,
        (None, Err(_)) => LiveOutput::None,
    };
    let needs_server = args.input_file.is_none() || args.call_input.is_some() || output != LiveOutput::None;
    let mut server = if needs_server { Some(server?) } else { None };

    // The microphone comes first so that every later failure also removes it (on drop).
    let mut sinks: Vec<Box<dyn AudioSink>> = Vec::new();
    if matches!(output, LiveOutput::VirtualMic | LiveOutput::Both) {
        let sink = PulseSink::virtual_mic(voice_rate)?;
        if !sink.adopted_from().is_empty() {
            eprintln!(
                "adopted the virtual microphone left by process {} (no longer running); it is removed on exit",
                sink.adopted_from().iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            );
        }
        let how = if sink.created_virtual_mic() { "created" } else { "using the existing" };
        eprintln!("{how} \"{MIC_DESCRIPTION}\" (source {MIC}): select it as the microphone in your call app");
        sinks.push(Box::new(sink));
    }
    let speakers = match (output, server.as_mut()) {
        (LiveOutput::Speakers | LiveOutput::Both, Some(server)) => Some(server.defaults()?.sink),
        _ => None,
    };

    let pace = live_pace(args.partial_captions, args.speak_early);
    let options = session_options(&args.recognition, "en", LIVE_CUTS, &args.translation, pace);
    let (config, names) = configure(&runtime, &options)?;
    let capture = open_input(&args, server.as_mut(), speakers.as_deref(), stop.clone())?;
    let call_side = call_side(&args, &runtime, &options, server.as_mut(), speakers.as_deref(), stop.clone())?;
    if let Some(device) = &speakers {
        sinks.push(Box::new(PulseSink::open(device, voice_rate)?));
    }
    if let Some(path) = &args.wav {
        sinks.push(Box::new(WavFileSink::create(path, voice_rate)?));
    }
    if let Some(seconds) = args.duration {
        stop_after(stop.clone(), Duration::from_secs_f64(seconds.max(0.0)));
    }
    eprintln!("listening ({} → en, translation: {}); Ctrl-C to stop", args.recognition.from, names.mt);

    let from = args.recognition.from.clone();
    let colour = std::io::stdout().is_terminal();
    let report = live::run(capture, sinks, &config, |event| match event {
        LiveEvent::Caption { segment, latency, backlog_s } => {
            print_caption(&from, segment, latency.latency_ms.map(|l| l.e2e), backlog_s, colour)
        }
        LiveEvent::Partial { start_s, stable, unstable } => eprintln!("[{start_s:.1} s] … {stable} | {unstable}"),
        LiveEvent::Dropped(d) => eprintln!("[{:.1} s] not spoken: {}", d.start_s, d.reason),
        LiveEvent::Warning(warning) => eprintln!("warning: {warning}"),
    })?;
    // The user's side has ended (stopped, or its file is over): so does the call's.
    stop.store(true, Ordering::SeqCst);
    let call_side = match call_side {
        Some(lane) => Some(lane.join().map_err(std::panic::resume_unwind)??),
        None => None,
    };

    print_summary(&report);
    if let Some(lane) = &call_side {
        eprintln!("\nthe other side of the call:");
        print_caption_summary(lane);
    }
    if let Some(path) = &args.metrics_json {
        // The user's side as before; the call's, when it ran, under `call_side`.
        let mut metrics = serde_json::to_value(&report)?;
        if let Some(lane) = &call_side {
            metrics["call_side"] = serde_json::to_value(lane)?;
        }
        outfile::write_atomic(path, serde_json::to_string_pretty(&metrics)?.as_bytes())?;
    }
    if let Some(failure) = report.capture_problems.iter().find(|p| p.contains("could not reconnect")) {
        bail!("{failure}");
    }
    Ok(ExitCode::SUCCESS)
}

fn open_input(
    args: &LiveArgs,
    server: Option<&mut PulseServer>,
    speakers: Option<&str>,
    stop: Arc<AtomicBool>,
) -> Result<Capture> {
    if let Some(file) = &args.input_file {
        return Ok(capture_file(decode_file(file, STT_RATE)?, stop, true));
    }
    let server = server.expect("a device input needs the sound server");
    let source = live::microphone_source(server, args.input.as_deref(), speakers)?;
    Ok(capture_pulse(source, stop, live::RECONNECT_FOR)?)
}

/// The other side of the call (`--call-input`, `--call-input-file`) on a thread of its own:
/// English recognised and translated into the user's language, captioned, never spoken. Its
/// source is checked like the microphone, so LinguaStream's own English cannot be captured.
fn call_side(
    args: &LiveArgs,
    runtime: &Runtime,
    user: &SessionOptions,
    server: Option<&mut PulseServer>,
    speakers: Option<&str>,
    stop: Arc<AtomicBool>,
) -> Result<Option<JoinHandle<Result<LiveReport>>>> {
    let capture = match (&args.call_input, &args.call_input_file) {
        (_, Some(file)) => capture_file(decode_file(file, STT_RATE)?, stop, true),
        (Some(wanted), None) => {
            let server = server.expect("a device input needs the sound server");
            let source = live::call_source(server, wanted, speakers)?;
            eprintln!("captioning the other side of the call from {source}");
            capture_pulse(source, stop, live::RECONNECT_FOR)?
        }
        (None, None) => return Ok(None),
    };
    // It yields the CPU to the user's own speech (see `linguastream_core::lanes`).
    let CallSide { config, names, untranslated } =
        live::call_side_config(runtime, &live::call_side_options(user, args.call_mt))?;
    if let Some(why) = untranslated {
        eprintln!("note: {why}, so the other side is captioned in {CALL_LANGUAGE} alone");
    }
    tell(runtime, &names);
    eprintln!("the other side: {CALL_LANGUAGE} → {} ({})", args.recognition.from, names.mt);
    if voice_for(runtime.store(), &args.recognition.from)?.is_some() {
        // The runtime gives that lane no voice; a user who installed one is told why.
        eprintln!(
            "note: the other side is captioned, not spoken, though a voice for '{}' is installed: played on the speakers, it would be captured again with them",
            args.recognition.from
        );
    }
    let to = args.recognition.from.clone();
    let colour = std::io::stdout().is_terminal();
    Ok(Some(std::thread::spawn(move || run_call_side(capture, &config, &to, colour))))
}

fn run_call_side(capture: Capture, config: &PipelineConfig, to: &str, colour: bool) -> Result<LiveReport> {
    Ok(live::run(capture, Vec::new(), config, |event| match event {
        LiveEvent::Caption { segment, latency, .. } => print_call_caption(segment, to, latency.caption_ms, colour),
        LiveEvent::Dropped(d) => eprintln!("[them {:.1} s] not captioned: {}", d.start_s, d.reason),
        LiveEvent::Warning(warning) => eprintln!("warning (the other side): {warning}"),
        LiveEvent::Partial { .. } => {}
    })?)
}

/// The other side's lines, set apart from the user's by "them" and magenta: what they said and,
/// when an engine translated it, the translation (Persian kept right-to-left).
fn print_call_caption(segment: &TranslatedSegment, to: &str, caption_ms: f64, colour: bool) {
    let (dim, magenta, reset) = if colour { ("\x1b[2m", "\x1b[35m", "\x1b[0m") } else { ("", "", "") };
    let mark = if segment.confidence.level == Level::Low { "(?) " } else { "" };
    let heard = format!("{magenta}them {CALL_LANGUAGE}: {mark}{}{reset}", segment.source_text);
    let latency = format!("{dim}({:.2} s){reset}", caption_ms / 1000.0);
    if segment.translated_text == segment.source_text {
        println!("{heard} {latency}");
        return;
    }
    let translated = &segment.translated_text;
    let translated = if to == "fa" { format!("\u{2067}{translated}\u{2069}") } else { translated.to_string() };
    println!("{heard}\n{magenta}them {to}: {mark}{translated}{reset} {latency}");
}

fn print_caption_summary(report: &LiveReport) {
    let c = &report.caption_latency_s;
    eprintln!(
        "end of speech → caption: p50 {:.2} s, p95 {:.2} s, max {:.2} s; over {} utterances ({} refused)",
        c.p50,
        c.p95,
        c.max,
        report.utterances.len(),
        report.dropped.len()
    );
    for problem in &report.capture_problems {
        eprintln!("capture (the other side): {problem}");
    }
}

fn stop_after(stop: Arc<AtomicBool>, duration: Duration) {
    std::thread::spawn(move || {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
    });
}

/// Persian is wrapped in right-to-left isolates so bidi-aware terminals lay it out correctly
/// without disturbing the rest of the line.
/// Both lines of an utterance; low-confidence ones are marked "(?)" on both lines, in yellow, so
/// the speaker sees what the listener was warned of (or not told at all, with `--unsure
/// caption-only`).
fn print_caption(from: &str, segment: &TranslatedSegment, e2e_ms: Option<f64>, backlog_s: f64, colour: bool) {
    let unsure = segment.confidence.level == Level::Low;
    let (dim, cyan, green, yellow, reset) =
        if colour { ("\x1b[2m", "\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[0m") } else { ("", "", "", "", "") };
    let (source_colour, english_colour, mark) = if unsure { (yellow, yellow, "(?) ") } else { (cyan, green, "") };
    let source = &segment.source_text;
    let source = if from == "fa" { format!("\u{2067}{source}\u{2069}") } else { source.to_string() };
    let latency = match (e2e_ms, segment.delivery) {
        (_, Delivery::CaptionOnly) => "not spoken: low confidence, say it again".to_string(),
        (Some(ms), Delivery::SpokenWithCue) => format!("{:.2} s, after the unsure cue", ms / 1000.0),
        (Some(ms), _) => format!("{:.2} s", ms / 1000.0),
        (None, _) => "not spoken".into(),
    };
    let backlog = if backlog_s >= 0.5 { format!(", backlog {backlog_s:.1} s") } else { String::new() };
    let english = &segment.translated_text;
    println!(
        "{source_colour}{from}: {mark}{source}{reset}\n{english_colour}en: {mark}{english}{reset} {dim}({latency}{backlog}){reset}"
    );
}

fn print_summary(report: &LiveReport) {
    eprintln!("\nutterance latencies (speech end → first English sample written), ms:");
    eprintln!("  {:>4} {:>8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6}", "#", "at", "e2e", "vad", "stt", "mt", "tts", "out");
    for u in &report.utterances {
        match u.latency_ms {
            Some(l) => eprintln!(
                "  {:>4} {:>7.1}s {:>7.0} {:>6.0} {:>6.0} {:>6.0} {:>6.0} {:>6.0}",
                u.seq, u.start_s, l.e2e, l.vad, l.stt, l.mt, l.tts_first_audio, l.output
            ),
            None => eprintln!("  {:>4} {:>7.1}s not spoken", u.seq, u.start_s),
        }
    }
    let spoken = report.utterances.iter().filter(|u| u.latency_ms.is_some()).count();
    let unspoken = format!("{} captioned only, {} refused", report.utterances.len() - spoken, report.dropped.len());
    let (e, lag) = (&report.e2e_latency_s, &report.output_lag_s);
    let latency = match spoken {
        // Percentiles of nothing would read as instant English.
        0 => format!("nothing spoken ({unspoken})"),
        _ => format!(
            "p50 {:.2} s, p95 {:.2} s, max {:.2} s; English heard to its end: p50 {:.2} s, p95 {:.2} s; over {spoken} utterances spoken ({unspoken})",
            e.p50, e.p95, e.max, lag.p50, lag.p95
        ),
    };
    eprintln!(
        "end of speech → English: {latency}; CPU {:.0}%, peak RSS {:.0} MB",
        report.cpu_percent, report.peak_rss_mb
    );
    if report.max_backlog_s >= 0.5 || report.lost_audio_s > 0.0 {
        eprintln!("backlog peaked at {:.1} s; audio lost: {:.1} s", report.max_backlog_s, report.lost_audio_s);
    }
    for problem in &report.capture_problems {
        eprintln!("capture: {problem}");
    }
}
