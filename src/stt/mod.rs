//! Speech recognition: Whisper through CTranslate2, language forced, with a hallucination gate.

pub mod gate;
mod mel;
mod tokens;
mod whisper;

pub use gate::{GateOptions, Verdict};
pub use mel::MelExtractor;
pub use whisper::{WhisperCt2Recognizer, WhisperModel, WhisperOptions};

/// What Whisper is asked to produce from the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Text in the spoken language.
    Transcribe,
    /// English text (Whisper's own speech translation).
    Translate,
}

/// The text recognised in one utterance, with the evidence the gate used.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub text: String,
    pub verdict: Verdict,
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
}

/// Why recognition failed (as opposed to finding no speech, which is a [`Verdict`]).
#[derive(Debug, thiserror::Error)]
pub enum SttError {
    #[error("cannot load the Whisper model from {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("Whisper does not know the language code '{0}' (use an ISO 639-1 code such as fa, en, pt)")]
    UnknownLanguage(String),
    #[error("Whisper decoding failed: {0}")]
    Decode(String),
}

/// Turns an utterance (16 kHz mono) into text.
pub trait Recognizer: Send {
    fn transcribe(&mut self, samples: &[f32], task: Task) -> Result<Transcript, SttError>;
}
