//! The streaming voice-activity detector: chunks of audio in, utterances with their audio out.
//!
//! Whole files ([`super::detect`]) and live streams go through this one code path, so a
//! recording is cut into the same utterances however its audio arrives.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{Segmenter, SegmenterOptions, SpeechDetector, Utterance, VadError, FRAME};
use crate::audio::{Chunk, STT_RATE};

/// An utterance with its audio, ready for recognition.
#[derive(Debug, Clone)]
pub struct HeardUtterance {
    pub utterance: Utterance,
    /// The input from `utterance.start` to `utterance.end`.
    pub samples: Vec<f32>,
    /// When the last speech sample (`utterance.speech_end`) was captured.
    pub speech_end_at: Instant,
}

impl HeardUtterance {
    /// Its [`Utterance::pieces`], each with its audio.
    pub fn pieces(&self) -> Vec<HeardUtterance> {
        let at = |sample: usize| (sample - self.utterance.start).min(self.samples.len());
        let piece = |utterance: &Utterance| HeardUtterance {
            samples: self.samples[at(utterance.start)..at(utterance.end)].to_vec(),
            utterance: utterance.clone(),
            speech_end_at: self.speech_end_at,
        };
        self.utterance.pieces.iter().map(piece).collect()
    }
}

/// Scores every [`FRAME`] of a stream and hands back each utterance once its padded audio has
/// arrived, forgetting audio no future utterance can include.
pub struct StreamingVad<'d> {
    detector: &'d mut dyn SpeechDetector,
    segmenter: Segmenter,
    history: History,
    /// Absolute index of the first sample not yet scored.
    next_frame: usize,
    /// Utterances that ended but whose trailing padding has not all arrived yet (a pause
    /// shorter than the padding).
    pending: VecDeque<Utterance>,
    /// The last utterance offered by [`Self::speculate`].
    speculated: Option<Utterance>,
    /// (start, end) of the audio last offered by [`Self::partial`].
    last_partial: Option<(usize, usize)>,
}

impl<'d> StreamingVad<'d> {
    /// Starts a stream; the detector forgets any earlier one.
    pub fn new(detector: &'d mut dyn SpeechDetector, options: SegmenterOptions) -> Self {
        detector.reset();
        Self {
            detector,
            segmenter: Segmenter::new(options),
            history: History::default(),
            next_frame: 0,
            pending: VecDeque::new(),
            speculated: None,
            last_partial: None,
        }
    }

    /// The utterance that ends here if the pause under way is confirmed (see
    /// [`super::Segmenter::tentative`]), once per utterance: recognition can start on it before
    /// [`Self::push`] returns it. If speech resumes, a later utterance replaces it.
    pub fn speculate(&mut self) -> Option<HeardUtterance> {
        let utterance = self.segmenter.tentative()?;
        if self.speculated.as_ref() == Some(&utterance) || utterance.end > self.history.end() {
            return None;
        }
        self.speculated = Some(utterance.clone());
        Some(HeardUtterance {
            samples: self.history.range(utterance.start, utterance.end),
            speech_end_at: self.history.captured_at(utterance.speech_end),
            utterance,
        })
    }

    /// The utterance under way, from its start to the audio heard so far, once it has at least
    /// `every` samples and `every` more than the last one offered: partial captions decode it
    /// while the speaker goes on.
    pub fn partial(&mut self, every: usize) -> Option<HeardUtterance> {
        let mut utterance = self.segmenter.in_progress()?;
        let end = self.history.end();
        let offered_up_to = self.last_partial.filter(|&(start, _)| start == utterance.start).map_or(0, |(_, e)| e);
        if end < utterance.start + every || end < offered_up_to + every {
            return None;
        }
        self.last_partial = Some((utterance.start, end));
        utterance.end = end;
        utterance.speech_end = utterance.speech_end.min(end);
        Some(HeardUtterance {
            samples: self.history.range(utterance.start, end),
            speech_end_at: self.history.captured_at(utterance.speech_end),
            utterance,
        })
    }

    /// Feeds the next chunk; returns the utterances it completed, in order.
    pub fn push(&mut self, chunk: Chunk) -> Result<Vec<HeardUtterance>, VadError> {
        self.history.push(chunk);
        while self.next_frame + FRAME <= self.history.end() {
            let frame = self.history.range(self.next_frame, self.next_frame + FRAME);
            self.score(&frame)?;
        }
        let ready = self.take_ready(self.history.end());
        let keep_from = self.pending.front().map_or(usize::MAX, |u| u.start);
        self.history.forget_before(keep_from.min(self.segmenter.earliest_needed()).min(self.next_frame));
        Ok(ready)
    }

    /// Ends the stream: scores the last partial frame (padded with silence) and returns every
    /// utterance still open, clamped to the end of the input.
    pub fn finish(mut self) -> Result<Vec<HeardUtterance>, VadError> {
        let end = self.history.end();
        if self.next_frame < end {
            let mut frame = self.history.range(self.next_frame, end);
            frame.resize(FRAME, 0.0);
            self.score(&frame)?;
        }
        self.pending.extend(self.segmenter.finish());
        for utterance in &mut self.pending {
            utterance.end = utterance.end.min(end);
            utterance.speech_end = utterance.speech_end.min(end);
        }
        Ok(self.take_ready(end))
    }

    fn score(&mut self, frame: &[f32]) -> Result<(), VadError> {
        self.next_frame += FRAME;
        let probability = self.detector.speech_probability(frame)?;
        self.pending.extend(self.segmenter.push(probability));
        Ok(())
    }

    /// The pending utterances whose audio ends at or before `available`.
    fn take_ready(&mut self, available: usize) -> Vec<HeardUtterance> {
        let mut ready = Vec::new();
        while self.pending.front().is_some_and(|u| u.end <= available) {
            let utterance = self.pending.pop_front().expect("checked above");
            ready.push(HeardUtterance {
                samples: self.history.range(utterance.start, utterance.end),
                speech_end_at: self.history.captured_at(utterance.speech_end),
                utterance,
            });
        }
        ready
    }
}

/// The audio the detector has seen and may still need, with the capture time of each chunk.
#[derive(Default)]
struct History {
    samples: VecDeque<f32>,
    /// Absolute index of `samples[0]`.
    base: usize,
    /// (absolute end index, capture instant) of each chunk still in `samples`.
    chunk_ends: VecDeque<(usize, Instant)>,
}

impl History {
    fn end(&self) -> usize {
        self.base + self.samples.len()
    }

    fn push(&mut self, chunk: Chunk) {
        self.samples.extend(chunk.samples);
        self.chunk_ends.push_back((self.end(), chunk.captured_at));
    }

    fn range(&self, start: usize, end: usize) -> Vec<f32> {
        let (start, end) = (start.clamp(self.base, self.end()), end.clamp(self.base, self.end()));
        self.samples.range(start - self.base..end - self.base).copied().collect()
    }

    /// When sample `index` was captured.
    fn captured_at(&self, index: usize) -> Instant {
        let (end, at) = self
            .chunk_ends
            .iter()
            .find(|(end, _)| *end >= index)
            .or(self.chunk_ends.back())
            .copied()
            .unwrap_or((index, Instant::now()));
        let early = Duration::from_secs_f64(end.saturating_sub(index) as f64 / f64::from(STT_RATE));
        at.checked_sub(early).unwrap_or(at)
    }

    fn forget_before(&mut self, index: usize) {
        let drop = index.saturating_sub(self.base).min(self.samples.len());
        self.samples.drain(..drop);
        self.base += drop;
        while self.chunk_ends.len() > 1 && self.chunk_ends[0].0 < self.base {
            self.chunk_ends.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Speech" wherever the frame is loud: enough to test the streaming, not the model.
    struct Loudness;

    impl SpeechDetector for Loudness {
        fn speech_probability(&mut self, frame: &[f32]) -> Result<f32, VadError> {
            Ok(if frame.iter().any(|s| s.abs() > 0.1) { 0.9 } else { 0.0 })
        }
        fn reset(&mut self) {}
    }

    fn chunk(samples: &[f32]) -> Chunk {
        Chunk { samples: samples.to_vec(), captured_at: Instant::now() }
    }

    /// Two bursts of "speech" with a 200 ms pause, the second running to the end of the input.
    fn input() -> Vec<f32> {
        let mut samples = vec![0.0; 8_000];
        samples.extend(vec![0.5; 16_000]);
        samples.extend(vec![0.0; 3_200]);
        samples.extend(vec![0.5; 12_345]);
        samples
    }

    fn stream(samples: &[f32], chunk_len: usize, options: SegmenterOptions) -> Vec<HeardUtterance> {
        let mut detector = Loudness;
        let mut vad = StreamingVad::new(&mut detector, options);
        let mut found = Vec::new();
        for piece in samples.chunks(chunk_len) {
            found.extend(vad.push(chunk(piece)).unwrap());
        }
        found.extend(vad.finish().unwrap());
        found
    }

    #[test]
    fn chunking_does_not_change_the_utterances_or_their_audio() {
        // A pause (100 ms) shorter than the padding (300 ms): utterances must wait for their
        // trailing padding rather than be cut short when audio arrives in small pieces.
        let options = SegmenterOptions { min_pause_ms: 100, pad_ms: 300, trailing_pad_ms: 300, ..Default::default() };
        let samples = input();
        let whole = stream(&samples, samples.len(), options);
        assert_eq!(whole.len(), 2, "{:?}", whole.iter().map(|h| &h.utterance).collect::<Vec<_>>());
        for chunk_len in [320, 512, 1_000, 16_000] {
            let pieces = stream(&samples, chunk_len, options);
            assert_eq!(pieces.len(), whole.len(), "chunks of {chunk_len}");
            for (a, b) in whole.iter().zip(&pieces) {
                assert_eq!(a.utterance, b.utterance, "chunks of {chunk_len}");
                assert_eq!(a.samples, b.samples, "chunks of {chunk_len}");
            }
        }
        for heard in &whole {
            assert_eq!(heard.samples, samples[heard.utterance.start..heard.utterance.end]);
        }
    }

    #[test]
    fn an_utterance_open_at_the_end_is_clamped_to_the_input() {
        let samples = input();
        let found = stream(&samples, 320, SegmenterOptions::default());
        let last = &found.last().expect("speech found").utterance;
        assert_eq!(last.end, samples.len());
        assert_eq!(last.speech_end, samples.len());
    }

    #[test]
    fn partials_grow_by_the_interval_while_speech_goes_on() {
        let mut detector = Loudness;
        let options = SegmenterOptions { min_pause_ms: 100, ..Default::default() };
        let mut vad = StreamingVad::new(&mut detector, options);
        let mut partials = Vec::new();
        for piece in input().chunks(320) {
            vad.push(chunk(piece)).unwrap();
            partials.extend(vad.partial(8_000).map(|p| (p.utterance.start, p.samples.len())));
        }
        let lengths: Vec<usize> = partials.iter().map(|&(_, len)| len).collect();
        assert!(lengths.len() >= 3, "{lengths:?}");
        let first_start = partials[0].0;
        let first: Vec<usize> = partials.iter().filter(|p| p.0 == first_start).map(|p| p.1).collect();
        assert!(first.windows(2).all(|w| w[1] >= w[0] + 8_000), "a partial per 8,000 new samples: {first:?}");
        assert!(partials.iter().any(|p| p.0 != first_start), "the second utterance gets partials too");
    }

    #[test]
    fn history_maps_samples_to_capture_instants_and_forgets_old_audio() {
        let t0 = Instant::now();
        let mut history = History::default();
        history.push(Chunk { samples: vec![0.0; 16_000], captured_at: t0 + Duration::from_secs(1) });
        history.push(Chunk { samples: vec![1.0; 16_000], captured_at: t0 + Duration::from_secs(2) });
        let at = history.captured_at(24_000).duration_since(t0).as_secs_f64();
        assert!((at - 1.5).abs() < 1e-6, "{at}");
        assert_eq!(history.range(15_999, 16_001), vec![0.0, 1.0]);
        history.forget_before(20_000);
        assert_eq!(history.base, 20_000);
        assert_eq!(history.range(0, 20_002), vec![1.0, 1.0]);
        assert_eq!(history.end(), 32_000);
    }
}
