//! Where English speech goes: a timeline for files; live, any [`AudioSink`] (the sound server's
//! speakers or virtual microphone, a WAV file); and captions in both languages.

mod captions;
pub mod sink;
mod timeline;
pub mod virtual_mic;
mod wav_sink;

pub use captions::{json, srt, vtt, RunReport};
pub use sink::{AudioSink, SinkError, Written};
pub use timeline::Timeline;
pub use wav_sink::WavFileSink;

use serde::Serialize;

use crate::confidence::Confidence;
use crate::stt::{DecodingReport, Evidence};

/// How an utterance was recognised: the gate's evidence and the decoding passes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recognition {
    pub evidence: Evidence,
    pub decoding: DecodingReport,
}

/// Milliseconds each stage spent on one utterance.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimings {
    pub stt: f64,
    pub mt: f64,
    pub tts: f64,
}

/// One translated utterance.
#[derive(Debug, Clone, Serialize)]
pub struct TranslatedSegment {
    /// Where the speech is in the input, in seconds.
    pub start_s: f64,
    pub end_s: f64,
    pub source_text: String,
    pub translated_text: String,
    /// True when translation failed and `translated_text` is the source text passed on.
    pub mt_failed: bool,
    pub timings_ms: StageTimings,
    /// Where its English speech starts in the output audio.
    pub speech_start_s: f64,
    pub recognition: Recognition,
    /// How far its English can be trusted.
    pub confidence: Confidence,
    /// What the English repeated and was not said twice ([`crate::mt::echo`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub echo_removed: Vec<String>,
    /// How its English reached the listener.
    pub delivery: Delivery,
    #[serde(skip)]
    pub speech: Vec<f32>,
}

/// How an utterance's English reached the listener, as the low-confidence policy decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    Spoken,
    /// Spoken after a short two-tone cue that tells the listener it may be wrong.
    SpokenWithCue,
    /// Shown in the captions only, marked, and not spoken.
    CaptionOnly,
    /// Captioned: the session has no voice (none speaks its target language).
    Captioned,
}

/// An utterance the hallucination gate refused to speak, kept for the report.
#[derive(Debug, Clone, Serialize)]
pub struct DroppedSegment {
    pub start_s: f64,
    pub end_s: f64,
    pub text: String,
    pub reason: String,
    /// A stable name for the reason: `empty`, `repetition`, `too_long`, `no_speech`,
    /// `known_hallucination`, `wrong_language` or `error`.
    pub reason_code: String,
    /// Absent when recognition failed outright.
    pub recognition: Option<Recognition>,
}
