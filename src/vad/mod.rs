//! Voice-activity detection: finds the utterances in a stream of 16 kHz audio.
//!
//! [`SileroVad`] scores 32 ms frames; [`Segmenter`] turns those scores into utterances, ending one
//! after a pause, capping its length by splitting at the quietest moment, and padding its edges.

mod segmenter;
mod silero;

pub use segmenter::{Segmenter, SegmenterOptions};
pub use silero::{SileroVad, VadError};

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
}

/// Scores frames of 16 kHz audio: the probability that each [`FRAME`] holds speech.
pub trait SpeechDetector: Send {
    fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError>;
    /// Forgets the stream so far (between independent inputs).
    fn reset(&mut self);
}

/// Finds all utterances in `samples` (16 kHz) in one pass.
pub fn detect(
    detector: &mut dyn SpeechDetector,
    samples: &[f32],
    options: SegmenterOptions,
) -> Result<Vec<Utterance>, VadError> {
    detector.reset();
    let mut segmenter = Segmenter::new(options);
    let mut utterances = Vec::new();
    for frame in samples.chunks(FRAME) {
        let probability = if frame.len() == FRAME {
            detector.speech_probability(frame)?
        } else {
            let mut padded = frame.to_vec();
            padded.resize(FRAME, 0.0);
            detector.speech_probability(&padded)?
        };
        utterances.extend(segmenter.push(probability));
    }
    utterances.extend(segmenter.finish());
    for u in &mut utterances {
        u.end = u.end.min(samples.len());
        u.speech_end = u.speech_end.min(samples.len());
    }
    Ok(utterances)
}
