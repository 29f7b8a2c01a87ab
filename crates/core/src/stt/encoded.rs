//! An utterance after Whisper's encoder, the one thing decoding policy ([`super::decoding`]) and
//! the engine ([`super::whisper`]) both hold, and what a transcript keeps of it for Whisper's own
//! translation ([`DirectContext`]).

use std::sync::{Arc, OnceLock};

use crate::ct2::EncoderOutput;

/// An utterance after Whisper's encoder: decoded as often as needed (fallbacks, the other task)
/// without encoding it again.
pub struct EncodedAudio {
    pub(super) output: EncoderOutput,
    pub(super) samples: Vec<f32>,
    /// The encoding without padding to the minimum window, made when a fallback needs it.
    pub(super) tight: OnceLock<EncoderOutput>,
    /// Length of the utterance itself, without the silence margin.
    pub audio_s: f32,
    pub encode_ms: f64,
}

impl std::fmt::Debug for EncodedAudio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedAudio").field("audio_s", &self.audio_s).field("encode_ms", &self.encode_ms).finish()
    }
}

/// What a recognizer keeps of an utterance for its [`super::DirectTranslation`], which alone reads
/// it; empty for engines without that capability.
#[derive(Debug, Clone, Default)]
pub struct DirectContext {
    /// Whisper's tokens for the transcript's text (as decoded, before any normalisation): what a
    /// later decode of the same utterance may be forced to start with
    /// ([`super::DirectTranslation::translate_after`]).
    pub tokens: Vec<String>,
    /// The utterance after the encoder, so that a decode for the other task (Whisper's own
    /// translation, the `direct` engine) does not encode the audio a second time.
    pub(super) encoded: Option<Arc<EncodedAudio>>,
}

impl DirectContext {
    /// The encoder output kept, if any.
    pub fn encoded(&self) -> Option<&EncodedAudio> {
        self.encoded.as_deref()
    }
}
