//! Translation between a [`Pair`] of languages (Persian → English for the user's speech,
//! English → Persian for the other side of a call): a [`Translator`] trait with four engines and a
//! cache in front.
//!
//! * [`FirefoxTranslator`]: Firefox-Translations (Bergamot/Marian) models through `fxtranslate`.
//!   Mozilla's fa→en model is what Persian speakers should install.
//! * [`DirectWhisperTranslator`]: Whisper's own speech-translation task on the utterance audio
//!   (into English only), the only fa→en speech path whose weights ship in a package registry (poor with Whisper base).
//! * [`NllbTranslator`]: NLLB-200 (CTranslate2 conversions from Hugging Face), many languages,
//!   licensed for non-commercial use only.
//! * [`LlmTranslator`]: a local LLM in GGUF (llama.cpp), asked in its chat template or prompted
//!   with examples, one sentence at a time, Persian ↔ English; the registry ships Gemma 3 270M,
//!   weak but the only text model for the pair; `models import-gguf` installs one a user brings.

mod cache;
mod choice;
mod direct;
pub mod echo;
mod firefox;
#[cfg(feature = "llm")]
mod llm;
mod nllb;

pub use cache::CachedTranslator;
pub use choice::{MtChoice, UnknownEngine, NAMED as NAMED_ENGINES, UNTRANSLATED};
pub use direct::DirectWhisperTranslator;
pub use firefox::FirefoxTranslator;
#[cfg(feature = "llm")]
pub use llm::{EvalError, LlmError, LlmOptions, LlmTranslator};
pub use nllb::{nllb_code, NllbTranslator};

/// The languages a translation is between, as ISO 639-1 codes (`fa`, `en`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pair {
    pub from: String,
    pub to: String,
}

impl Pair {
    pub fn new(from: &str, to: &str) -> Self {
        Self { from: from.to_string(), to: to.to_string() }
    }
}

impl std::fmt::Display for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}→{}", self.from, self.to)
    }
}

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
    #[error("cannot load translation model {path}: {source}")]
    LoadCt2 {
        path: String,
        #[source]
        source: crate::ct2::Ct2Error,
    },
    #[error("cannot load translation model {path}: {source}")]
    LoadIo {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("translation failed: {0}")]
    Engine(String),
    #[cfg(feature = "llm")]
    #[error("cannot load translation model {path}: {source}")]
    LoadLlm {
        path: String,
        #[source]
        source: LlmError,
    },
    #[error("translation failed: {0}")]
    Ct2(#[from] crate::ct2::Ct2Error),
    #[cfg(feature = "llm")]
    #[error("translation failed: {0}")]
    Llm(#[from] LlmError),
    /// Whisper's own translation (`direct`) failed or was refused.
    #[error("translation failed: {0}")]
    Whisper(#[from] crate::stt::SttError),
    #[error("the translator returned nothing")]
    Empty,
}

/// No translation: the caption is the transcript, for a pair no installed engine translates
/// (the other side of a call is then captioned in its own language).
pub struct Untranslated;

impl Translator for Untranslated {
    fn name(&self) -> &str {
        "none"
    }

    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
        Ok(source.text.to_string())
    }
}

/// Turns one source segment into text in its engine's target language.
///
/// Not `Send`: engines such as fxtranslate's hold thread-bound state, so each is created inside
/// the thread that uses it.
pub trait Translator {
    /// Engine name as shown to users and written into reports.
    fn name(&self) -> &str;
    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError>;
}
