//! Speech synthesis: Piper voices (VITS through ONNX Runtime) fed with espeak-ng phonemes.

mod espeak;
mod piper;

pub use espeak::{phonemize, PhonemizeError};
pub use piper::{voice_sample_rate, PiperSynthesizer, PiperVoice, PiperVoiceConfig};

/// Why speech could not be synthesised.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    #[error("cannot load voice {path}: {reason}")]
    Load { path: String, reason: String },
    #[error(transparent)]
    Phonemize(#[from] PhonemizeError),
    #[error("speech synthesis failed: {0}")]
    Inference(String),
}

/// Turns text into speech, sentence by sentence so the first audio is available early.
pub trait Synthesizer: Send {
    fn sample_rate(&self) -> u32;
    /// Calls `on_sentence` with the audio of each sentence as soon as it is ready. `speed` above
    /// 1 speaks faster at the same pitch (to catch up when the English runs behind).
    fn synthesize(&mut self, text: &str, speed: f32, on_sentence: &mut dyn FnMut(&[f32])) -> Result<(), TtsError>;
}
