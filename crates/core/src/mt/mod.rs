//! Translation to English: a [`Translator`] trait with four engines and a cache in front.
//!
//! * [`FirefoxTranslator`]: Firefox-Translations (Bergamot/Marian) models through `fxtranslate`.
//!   Mozilla's fa→en model is what Persian speakers should install.
//! * [`DirectWhisperTranslator`]: Whisper's own speech-translation task on the utterance audio,
//!   the only fa→en speech path whose weights ship in a package registry (poor with Whisper base).
//! * [`NllbTranslator`]: NLLB-200 (CTranslate2 conversions from Hugging Face), many languages,
//!   licensed for non-commercial use only.
//! * [`LlmTranslator`]: a local LLM in GGUF (llama.cpp), asked in its chat template or prompted
//!   with examples, one sentence at a time; the registry ships Gemma 3 270M, weak but the only
//!   fa→en text model; `models import-gguf` installs one a user brings.

mod cache;
mod direct;
pub mod echo;
mod firefox;
#[cfg(feature = "llm")]
mod llm;
mod nllb;

pub use cache::CachedTranslator;
pub use direct::DirectWhisperTranslator;
pub use firefox::FirefoxTranslator;
#[cfg(feature = "llm")]
pub use llm::{LlmOptions, LlmTranslator};
pub use nllb::{nllb_code, NllbTranslator};

/// What a translator gets for one utterance: the recognised text and the audio it came from.
#[derive(Debug, Clone, Copy)]
pub struct SourceSegment<'a> {
    pub text: &'a str,
    pub audio: &'a [f32],
}

/// Why a translation failed. The pipeline then passes the source text on, flagged.
#[derive(Debug, thiserror::Error)]
pub enum MtError {
    #[error("cannot load translation model {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("translation failed: {0}")]
    Engine(String),
    #[error("translation failed: {0}")]
    Ct2(#[from] crate::ct2::Ct2Error),
    /// Whisper's own translation (`direct`) failed or was refused.
    #[error("translation failed: {0}")]
    Whisper(#[from] crate::stt::SttError),
    #[error("the translator returned nothing")]
    Empty,
}

/// Turns one source segment into English text.
///
/// Not `Send`: engines such as fxtranslate's hold thread-bound state, so each is created inside
/// the thread that uses it.
pub trait Translator {
    /// Engine name as shown to users and written into reports.
    fn name(&self) -> &str;
    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError>;
}
