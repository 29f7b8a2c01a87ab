//! Voice-activity detection: finds the utterances in a stream of 16 kHz audio.
//!
//! [`SileroVad`] scores 32 ms frames; [`Segmenter`] turns those scores into utterances, ending one
//! after a pause, capping its length by splitting at the quietest moment, and padding its edges;
//! [`StreamingVad`] runs both over a stream of chunks, for files and live input alike.

mod segmenter;
mod silero;
mod stream;

use std::time::Instant;

pub use segmenter::{Segmenter, SegmenterOptions};
pub use silero::{SileroVad, VadError};
pub use stream::{HeardUtterance, StreamingVad};

use crate::audio::{Chunk, STT_RATE};

/// Samples per VAD frame at 16 kHz (32 ms), the frame size Silero v5/v6 is trained on.
pub const FRAME: usize = 512;

/// A stretch of speech found in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// Position in the input of the first and one-past-last sample handed to recognition
    /// (speech plus padding), at 16 kHz.
    pub start: usize,
    pub end: usize,
    /// Where the detector heard speech begin and end, without padding.
    pub speech_start: usize,
    pub speech_end: usize,
    /// Mean speech probability of the frames between `speech_start` and `speech_end`: how sure
    /// the detector was (evidence for the hallucination gate).
    pub speech_probability: f32,
    /// The stretches of speech it is made of, split at the pauses that would have ended an
    /// utterance under shorter cuts ([`SegmenterOptions::piece_pause_ms`]); empty when there are
    /// fewer than two.
    pub pieces: Vec<Utterance>,
}

/// Scores frames of 16 kHz audio: the probability that each [`FRAME`] holds speech.
pub trait SpeechDetector: Send {
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError>;
    /// Forgets the stream so far (between independent inputs).
    fn reset(&mut self);
}

/// Finds all utterances in `samples` (16 kHz), with their audio: the whole recording streamed
/// through [`StreamingVad`], exactly as the pipeline would see it.
pub fn detect(
    detector: &mut dyn SpeechDetector,
    samples: &[f32],
    options: SegmenterOptions,
) -> Result<Vec<HeardUtterance>, VadError> {
    let mut vad = StreamingVad::new(detector, options);
    let mut found = Vec::new();
    for piece in samples.chunks(STT_RATE as usize) {
        found.extend(vad.push(Chunk { samples: piece.to_vec(), captured_at: Instant::now() })?);
    }
    found.extend(vad.finish()?);
    Ok(found)
}
