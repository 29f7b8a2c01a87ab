//! The translation pipeline: VAD → STT → MT → TTS, one thread per stage, joined by bounded
//! channels so a slow stage holds the ones before it back instead of piling up memory.
//!
//! Each stage's engine comes from a [`Factory`] called inside that stage's thread (some engines,
//! such as fxtranslate's, are bound to the thread that made them), so a new engine is a new
//! factory. Audio comes in as timestamped [`Chunk`]s (a file, a paced file, a microphone, a
//! network stream) and each utterance carries the instants it passed each stage, so latency is
//! measured, not guessed.
//!
//! [`start`] hands back a [`RunHandle`]: the [`Event`]s in input order and a [`CancelHandle`].
//! A problem with one utterance is an event ([`Event::Dropped`], [`Event::Warning`]) and the run
//! goes on; a stage that cannot start, fails or panics ends the run with [`Event::Failed`].

mod config;
mod detection;
mod message;
mod partials;
mod recognition;
mod speech;
#[cfg(test)]
mod tests;
mod translation;

pub use config::{Ahead, ConfigError, Factory, Pace, PipelineConfig, StageFactories, UnsurePolicy};
pub use recognition::{transcribe_passage, PassagePart};

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use serde::Serialize;

use crate::audio::Chunk;
use crate::mt::MtError;
use crate::output::{DroppedSegment, TranslatedSegment};
use crate::stt::SttError;
use crate::tts::TtsError;
use crate::vad::VadError;

/// Utterances allowed to wait between two stages.
const QUEUE: usize = 4;

/// The stages, in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Vad,
    Stt,
    Mt,
    Tts,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Vad => "voice-activity",
            Stage::Stt => "recognition",
            Stage::Mt => "translation",
            Stage::Tts => "speech-synthesis",
        })
    }
}

/// When an utterance passed each stage.
#[derive(Debug, Clone, Copy)]
pub struct StageMarks {
    /// When the last speech sample was captured.
    pub speech_end_at: Instant,
    /// When the VAD decided the utterance was over.
    pub detected_at: Instant,
    pub recognized_at: Instant,
    pub translated_at: Instant,
    /// When synthesis started (after any wait for the voice).
    pub synthesis_started_at: Instant,
    /// When its first sentence of speech was ready.
    pub first_speech_at: Option<Instant>,
    /// When streamed speech has been heard to its end, played in real time after whatever
    /// English was still playing.
    pub heard_until: Option<Instant>,
    /// Seconds its English takes to hear at the speed it was said (what was said after the
    /// utterance ended): the part of the output lag no queue can remove.
    pub english_s: f64,
}

/// A recoverable problem, shown to the user while the run goes on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Warning {
    /// Translation failed; the caption keeps the source text, flagged `mt_failed`.
    TranslationFailed {
        start_s: f64,
        reason: String,
    },
    /// Untranslated text in a script the English voice cannot read was not spoken.
    NotSpoken {
        text: String,
    },
    /// The English was further behind the speaker than the backlog allows, so this utterance
    /// is captioned but not spoken.
    TooFarBehind {
        text: String,
        behind_s: f64,
    },
    SynthesisFailed {
        text: String,
        reason: String,
    },
    /// With `english_first`: the English was spoken as clear speech, but the transcript that
    /// followed it was refused by the gate or failed; the caption keeps what there is.
    TranscriptRefused {
        start_s: f64,
        reason: String,
    },
    /// English of low confidence, captioned but not spoken ([`UnsurePolicy::CaptionOnly`]).
    Unsure {
        start_s: f64,
        text: String,
    },
    /// An audio output broke and was reopened (the sound server restarted, say).
    OutputReopened {
        output: String,
    },
    /// An audio output failed; speech no longer reaches it.
    OutputFailed {
        output: String,
        reason: String,
    },
}

impl Warning {
    /// A short stable name for counts, the `kind` of its JSON.
    pub fn code(&self) -> &'static str {
        match self {
            Warning::TranslationFailed { .. } => "translation_failed",
            Warning::NotSpoken { .. } => "not_spoken",
            Warning::TooFarBehind { .. } => "too_far_behind",
            Warning::SynthesisFailed { .. } => "synthesis_failed",
            Warning::TranscriptRefused { .. } => "transcript_refused",
            Warning::Unsure { .. } => "unsure",
            Warning::OutputReopened { .. } => "output_reopened",
            Warning::OutputFailed { .. } => "output_failed",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::TranslationFailed { start_s, reason } => {
                write!(f, "translation failed at {start_s:.1} s ({reason}); the caption keeps the source text")
            }
            Warning::NotSpoken { text } => write!(f, "not speaking untranslated text: \"{text}\""),
            Warning::TooFarBehind { text, behind_s } => {
                write!(f, "not speaking \"{text}\": the English is {behind_s:.1} s behind (caption only)")
            }
            Warning::SynthesisFailed { text, reason } => write!(f, "speech synthesis failed for \"{text}\": {reason}"),
            Warning::TranscriptRefused { start_s, reason } => {
                write!(f, "the transcript at {start_s:.1} s was refused after its English was spoken ({reason})")
            }
            Warning::Unsure { start_s, text } => {
                write!(f, "not spoken at {start_s:.1} s, low confidence (please say it again): \"{text}\"")
            }
            Warning::OutputReopened { output } => write!(f, "reconnected the output to {output}"),
            Warning::OutputFailed { output, reason } => write!(f, "cannot play to {output}: {reason}"),
        }
    }
}

/// What a run reports as it goes, in input order.
// One event per sentence or utterance: boxing the large `Translated` would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    /// The voice is loaded; all speech of this run comes at this sample rate. The first event
    /// of every run whose stages all started.
    Ready {
        speech_rate: u32,
    },
    /// One sentence of English speech (only with `stream_speech`).
    Speech {
        seq: u64,
        samples: Vec<f32>,
        rate: u32,
        /// English said before utterance `seq` ended (`speak_early`): when the last audio it
        /// was translated from was captured.
        ahead_of: Option<Instant>,
    },
    /// The utterance under way so far (with `partial_captions`): `stable` words, agreed on by two
    /// hypotheses, are never taken back; `unstable` ones may change. The utterance's
    /// [`Event::Translated`] or [`Event::Dropped`] (same `start_s`) replaces it.
    Partial {
        start_s: f64,
        stable: String,
        unstable: String,
    },
    /// An utterance is done (its speech, when not streamed, is inside).
    Translated {
        seq: u64,
        segment: TranslatedSegment,
        marks: StageMarks,
    },
    /// An utterance the hallucination gate refused, or recognition failed on.
    Dropped(DroppedSegment),
    Warning(Warning),
    /// A stage could not start, failed or panicked: the last event of the run.
    Failed(PipelineError),
}

/// Why a run ended early.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Vad(#[from] VadError),
    #[error(transparent)]
    Stt(#[from] SttError),
    #[error(transparent)]
    Mt(#[from] MtError),
    #[error(transparent)]
    Tts(#[from] TtsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the {stage} stage crashed: {message}")]
    Panicked { stage: Stage, message: String },
    #[error("cannot start the {stage} thread: {source}")]
    Spawn { stage: Stage, source: std::io::Error },
}

/// Stops a run: every stage drops its work at the next utterance and the source is no longer
/// read. Also set by the run itself when a stage fails.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle(Arc<AtomicBool>);

impl CancelHandle {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A running pipeline. Dropping it cancels the run.
pub struct RunHandle {
    events: Receiver<Event>,
    cancel: CancelHandle,
}

impl RunHandle {
    /// The run's events, in input order; the channel closes when the run is over.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }
}

impl Drop for RunHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Starts a run over `source`; it ends when the source does, when cancelled, or when a stage
/// fails.
pub fn start(
    source: impl Iterator<Item = Chunk> + Send + 'static,
    config: &PipelineConfig,
) -> Result<RunHandle, PipelineError> {
    let cancel = CancelHandle::default();
    let (heard_tx, heard_rx) = sync_channel(QUEUE);
    let (recognized_tx, recognized_rx) = sync_channel(QUEUE);
    let (translated_tx, translated_rx) = sync_channel(QUEUE);
    let (events_tx, events) = sync_channel(QUEUE);
    // On a spawn failure the stages already running stop as the channels they hold close.
    let stop_on_error = |error: PipelineError| {
        cancel.cancel();
        error
    };
    config.check()?;
    let (factories, segmenter, ahead) = (config.stages.clone(), config.segmenter, config.pace.ahead());
    let offers =
        detection::Offers { speculate: config.pace.real_time(), partials: ahead.partial_captions || ahead.speak_early };
    let vad = spawn(Stage::Vad, &cancel, {
        let cancel = cancel.clone();
        move || detection::vad(source, &factories.detector, segmenter, offers, &cancel, heard_tx)
    })
    .map_err(stop_on_error)?;
    let factories = config.stages.clone();
    let mode = recognition::SttMode {
        english_first: config.english_first,
        speak_early: ahead.speak_early,
        partial_captions: ahead.partial_captions,
    };
    let stt = spawn(Stage::Stt, &cancel, {
        let cancel = cancel.clone();
        move || recognition::stt(&factories.recognizer, mode, &cancel, heard_rx, recognized_tx)
    })
    .map_err(stop_on_error)?;
    let factories = config.stages.clone();
    let mt = spawn(Stage::Mt, &cancel, {
        let cancel = cancel.clone();
        move || translation::mt(&factories.translator, &cancel, recognized_rx, translated_tx)
    })
    .map_err(stop_on_error)?;
    let (factories, stream_speech, paced, unsure) =
        (config.stages.clone(), config.pace.streams_speech(), config.pace.real_time(), config.unsure);
    let tts = spawn(Stage::Tts, &cancel, {
        let (cancel, events_tx) = (cancel.clone(), events_tx.clone());
        let speech = speech::SpeechOutput { stream: stream_speech, paced, unsure };
        move || match &factories.synthesizer {
            Some(synthesizer) => speech::tts(synthesizer, speech, &cancel, translated_rx, events_tx),
            None => speech::captions(&cancel, translated_rx, events_tx),
        }
    })
    .map_err(stop_on_error)?;
    std::thread::Builder::new()
        .name("pipeline".into())
        .spawn(move || report_failure([vad, stt, mt, tts], events_tx))
        .map_err(|e| stop_on_error(PipelineError::Spawn { stage: Stage::Vad, source: e }))?;
    Ok(RunHandle { events, cancel })
}

/// Runs over `source` to its end, calling `on_event` in input order; returns the failure that
/// ended the run early, if any.
pub fn run(
    source: impl Iterator<Item = Chunk> + Send + 'static,
    config: &PipelineConfig,
    mut on_event: impl FnMut(Event),
) -> Result<(), PipelineError> {
    let handle = start(source, config)?;
    for event in handle.events() {
        match event {
            Event::Failed(error) => return Err(error),
            event => on_event(event),
        }
    }
    Ok(())
}

type StageThread = JoinHandle<Result<(), PipelineError>>;

/// Runs a stage on its own thread; a panic becomes [`PipelineError::Panicked`], and any failure
/// cancels the run so the other stages (and the source) stop too.
fn spawn(
    stage: Stage,
    cancel: &CancelHandle,
    body: impl FnOnce() -> Result<(), PipelineError> + Send + 'static,
) -> Result<StageThread, PipelineError> {
    let cancel = cancel.clone();
    std::thread::Builder::new()
        .name(format!("{stage}"))
        .spawn(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
                .unwrap_or_else(|panic| Err(PipelineError::Panicked { stage, message: panic_message(&*panic) }));
            if result.is_err() {
                cancel.cancel();
            }
            result
        })
        .map_err(|e| PipelineError::Spawn { stage, source: e })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Waits for every stage and sends the earliest stage's failure as the run's last event: the
/// stages after it only stopped because it did.
fn report_failure(threads: [StageThread; 4], events: SyncSender<Event>) {
    let mut failure = None;
    for (stage, thread) in [Stage::Vad, Stage::Stt, Stage::Mt, Stage::Tts].into_iter().zip(threads) {
        let result = thread
            .join()
            .unwrap_or_else(|panic| Err(PipelineError::Panicked { stage, message: panic_message(&*panic) }));
        if let Err(error) = result {
            failure.get_or_insert(error);
        }
    }
    if let Some(error) = failure {
        let _ = events.send(Event::Failed(error));
    }
}
