//! An utterance after Whisper's encoder, the one thing decoding policy ([`super::decoding`]) and
//! the engine ([`super::whisper`]) both hold.

use std::sync::OnceLock;

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
