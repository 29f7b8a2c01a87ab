//! Speech recognition: Whisper through CTranslate2, language forced, with a hallucination gate.

pub mod decoding;
mod encoded;
pub mod gate;
mod mel;
mod options;
mod script;
mod tokens;
mod whisper;

pub use decoding::DecodingReport;
pub use encoded::{DirectContext, EncodedAudio};
pub use gate::{Evidence, GateOptions, Verdict};
pub use mel::MelExtractor;
pub use options::{WhisperOptions, DEFAULT_THREADS};
pub use tokens::decode as text_of_tokens;
pub use whisper::{WhisperCt2Recognizer, WhisperModel};

/// What Whisper is asked to produce from the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Text in the spoken language.
    Transcribe,
    /// English text (Whisper's own speech translation).
    Translate,
}

/// The text recognised in one utterance, with the evidence the gate used and how it was decoded.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub text: String,
    pub verdict: Verdict,
    pub evidence: Evidence,
    pub decoding: DecodingReport,
    /// What [`DirectTranslation`] goes on from: the tokens decoded and the encoder output.
    pub direct: DirectContext,
    /// Speech with no sign of non-speech at all ([`gate::is_clear`]): safe to speak on this
    /// decode alone, before any other pass over the same audio has been judged.
    pub clear: bool,
}

impl Transcript {
    /// Speech read to its end: not refused, and not cut short where Whisper began to loop.
    pub fn read_whole(&self) -> bool {
        self.verdict.is_speech() && !self.decoding.loop_cut
    }

    /// Whisper's English (the `translate` task) as the listener may hear it, for audio already
    /// judged to be speech: English that is merely unsure of being speech is spoken; degenerate or
    /// non-English output is refused.
    pub fn spoken_english(&self) -> Result<String, SttError> {
        match self.verdict {
            Verdict::Speech | Verdict::NoSpeech { .. } => Ok(self.text.clone()),
            ref verdict => Err(SttError::EnglishRefused(verdict.reason())),
        }
    }
}

/// Why recognition failed (as opposed to finding no speech, which is a [`Verdict`]).
#[derive(Debug, thiserror::Error)]
pub enum SttError {
    #[error("cannot load the Whisper model from {path}: {reason}")]
    Load { path: String, reason: String },
    /// CTranslate2 itself could not be loaded.
    #[error("cannot load the Whisper model from {path}: {source}")]
    Library {
        path: String,
        #[source]
        source: crate::ct2::Ct2Error,
    },
    #[error("Whisper does not know the language code '{0}' (use an ISO 639-1 code such as fa, en, pt)")]
    UnknownLanguage(String),
    #[error("Whisper decoding failed: {0}")]
    Decode(String),
    #[error("Whisper decoding failed: {0}")]
    Engine(#[from] crate::ct2::Ct2Error),
    #[error("Whisper's translation was rejected: {0}")]
    EnglishRefused(String),
}

/// Turns an utterance (16 kHz mono) into text. `vad_probability` is the voice-activity detector's
/// mean speech probability over it, evidence for the hallucination gate when known.
pub trait Recognizer: Send {
    fn transcribe(&mut self, samples: &[f32], vad_probability: Option<f32>, task: Task)
        -> Result<Transcript, SttError>;

    /// The engine's own speech translation ([`DirectTranslation`]), when it has one.
    fn direct(&mut self) -> Option<&mut dyn DirectTranslation> {
        None
    }
}

/// English straight from the audio, as Whisper's `translate` task makes it: decoded on an encoder
/// output another task already made, and continued from English already said (what saying
/// English before the speaker has finished needs).
pub trait DirectTranslation: Recognizer {
    /// Decodes `samples` for another task, reusing the encoder output in `context` (a
    /// [`Transcript::direct`] this recognizer made from the same samples) where the engine can.
    fn transcribe_encoded(
        &mut self,
        context: &DirectContext,
        samples: &[f32],
        vad_probability: Option<f32>,
        task: Task,
    ) -> Result<Transcript, SttError> {
        let _ = context;
        self.transcribe(samples, vad_probability, task)
    }

    /// Whisper's English for `samples`, forced to begin with `spoken`: the tokens of English
    /// already said for the start of the same utterance (from an earlier [`DirectContext::tokens`]),
    /// so that what follows continues it instead of contradicting it. The transcript's text and
    /// tokens include `spoken`. `first_pass_only`: a hypothesis about speech still under way,
    /// not worth a fallback when it looks degenerate.
    fn translate_after(
        &mut self,
        samples: &[f32],
        vad_probability: Option<f32>,
        spoken: &[String],
        first_pass_only: bool,
    ) -> Result<Transcript, SttError>;
}
