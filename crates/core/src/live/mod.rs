//! Live translation: a capture source through the pipeline into audio sinks, with every
//! utterance's latency measured from the moment its speech ended.

mod call;
mod desktop;
mod metrics;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

pub use call::{call_side_config, call_side_options, call_source, CallSide, CALL_LANGUAGE};
pub use desktop::{microphone_source, DesktopSession, InputError, RECONNECT_FOR};
pub use metrics::{peak_rss_mb, LatencyMs, LiveReport, Quantiles, UtteranceReport};

use crate::audio::capture::Capture;
use crate::output::{AudioSink, DroppedSegment, TranslatedSegment, Written};
use crate::pipeline::{self, Event, PipelineConfig, PipelineError, Warning};

/// What the live session tells its user as it goes.
#[derive(Debug)]
pub enum LiveEvent<'a> {
    Caption {
        segment: &'a TranslatedSegment,
        latency: &'a UtteranceReport,
        backlog_s: f64,
    },
    /// The utterance under way (see [`Event::Partial`]).
    Partial {
        start_s: f64,
        stable: String,
        unstable: String,
    },
    Dropped(&'a DroppedSegment),
    Warning(Warning),
}

/// Runs until the capture ends (stopped, or its file is over), then drains the outputs. Each
/// sink gets the speech at the voice's own rate.
pub fn run(
    capture: Capture,
    mut sinks: Vec<Box<dyn AudioSink>>,
    config: &PipelineConfig,
    mut on_event: impl FnMut(LiveEvent<'_>),
) -> Result<LiveReport, PipelineError> {
    let started = Instant::now();
    let usage_before = metrics::cpu_seconds();
    let (source, stats, capture_thread) = capture.into_source();
    let mut first_written: HashMap<u64, Instant> = HashMap::new();
    // English said before its utterance ended: when its first piece was written, per utterance.
    let mut first_ahead: HashMap<u64, Instant> = HashMap::new();
    let mut failed_sinks: Vec<String> = Vec::new();
    let mut report = LiveReport::default();

    pipeline::run(source, config, |event| match event {
        Event::Speech { seq, samples, rate, ahead_of } => {
            let mut first_piece = true;
            // Written in small pieces: a write blocks while the server's buffer is full, and the
            // first piece's moment is when the listener starts hearing English.
            for piece in samples.chunks((rate / 50).max(1) as usize) {
                for sink in &mut sinks {
                    let output = sink.name().to_string();
                    match sink.write(piece, rate) {
                        Ok(Written::Done) => {}
                        Ok(Written::Reopened) => on_event(LiveEvent::Warning(Warning::OutputReopened { output })),
                        Err(e) if !failed_sinks.contains(&output) => {
                            failed_sinks.push(output.clone());
                            on_event(LiveEvent::Warning(Warning::OutputFailed { output, reason: e.to_string() }));
                        }
                        Err(_) => {}
                    }
                }
                let now = Instant::now();
                match ahead_of {
                    Some(translated_from) if first_piece => {
                        report.ahead_lags_s.push(now.saturating_duration_since(translated_from).as_secs_f64());
                        first_ahead.entry(seq).or_insert(now);
                    }
                    Some(_) => {}
                    None => {
                        first_written.entry(seq).or_insert(now);
                    }
                }
                first_piece = false;
            }
        }
        Event::Translated { seq, segment, marks } => {
            // An utterance whose English was all said ahead waited only for that.
            let written = first_written.remove(&seq).or(first_ahead.remove(&seq));
            let utterance = UtteranceReport::new(seq, &segment, &marks, written);
            on_event(LiveEvent::Caption { segment: &segment, latency: &utterance, backlog_s: stats.backlog_s() });
            report.utterances.push(utterance);
        }
        Event::Dropped(dropped) => {
            on_event(LiveEvent::Dropped(&dropped));
            report.dropped.push(dropped);
        }
        Event::Warning(warning) => on_event(LiveEvent::Warning(warning)),
        Event::Partial { start_s, stable, unstable } => on_event(LiveEvent::Partial { start_s, stable, unstable }),
        Event::Ready { .. } | Event::Failed(_) => {}
    })?;
    for sink in &mut sinks {
        if let Err(e) = sink.finish() {
            on_event(LiveEvent::Warning(Warning::OutputFailed {
                output: sink.name().to_string(),
                reason: e.to_string(),
            }));
        }
    }
    let _ = capture_thread.join();

    report.wall_s = started.elapsed().as_secs_f64();
    report.cpu_percent = (metrics::cpu_seconds() - usage_before) / report.wall_s * 100.0;
    report.peak_rss_mb = metrics::peak_rss_mb();
    report.max_backlog_s = stats.max_backlog.load(Ordering::Relaxed) as f64 / 16_000.0;
    report.lost_audio_s = stats.lost.load(Ordering::Relaxed) as f64 / 16_000.0;
    report.capture_problems = stats.recovered.lock().unwrap().clone();
    if let Some(failure) = stats.failure.lock().unwrap().clone() {
        report.capture_problems.push(failure);
    }
    report.summarise();
    Ok(report)
}
