//! Placing each English utterance in the output audio: at its source start, or right after the
//! previous one when that would overlap. The track is written as the utterances arrive, so it
//! never sits in memory whole.

use super::TranslatedSegment;

/// The write position on the output track, in samples at the voice's rate.
#[derive(Debug)]
pub struct Timeline {
    rate: u32,
    cursor: u64,
}

impl Timeline {
    pub fn new(rate: u32) -> Self {
        Self { rate, cursor: 0 }
    }

    /// Places `segment`'s speech (recording where it starts) and returns how many samples of
    /// silence go before it; the speech itself follows them.
    pub fn place(&mut self, segment: &mut TranslatedSegment) -> u64 {
        let wanted = (segment.start_s * f64::from(self.rate)).round().max(0.0) as u64;
        let start = wanted.max(self.cursor);
        let silence = start - self.cursor;
        segment.speech_start_s = start as f64 / f64::from(self.rate);
        self.cursor = start + segment.speech.len() as u64;
        silence
    }

    /// The silence that makes the track at least `duration_s` long (the input's length).
    pub fn pad_to(&mut self, duration_s: f64) -> u64 {
        let end = (duration_s * f64::from(self.rate)).round().max(0.0) as u64;
        let silence = end.saturating_sub(self.cursor);
        self.cursor += silence;
        silence
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::StageTimings;

    fn segment(start_s: f64, samples: usize) -> TranslatedSegment {
        TranslatedSegment {
            start_s,
            end_s: start_s + 1.0,
            source_text: String::new(),
            translated_text: String::new(),
            mt_failed: false,
            timings_ms: StageTimings::default(),
            speech_start_s: 0.0,
            recognition: Default::default(),
            confidence: Default::default(),
            echo_removed: vec![],
            delivery: Default::default(),
            speech: vec![0.5; samples],
        }
    }

    #[test]
    fn speech_starts_at_the_source_unless_it_would_overlap() {
        let mut timeline = Timeline::new(10);
        let mut segments = [segment(1.0, 30), segment(2.0, 10), segment(10.0, 5)];
        let silences: Vec<u64> = segments.iter_mut().map(|s| timeline.place(s)).collect();
        assert_eq!(segments[0].speech_start_s, 1.0);
        assert_eq!(segments[1].speech_start_s, 4.0); // 1.0 s + 3.0 s of speech
        assert_eq!(segments[2].speech_start_s, 10.0);
        assert_eq!(silences, vec![10, 0, 50]);
        assert_eq!(timeline.pad_to(5.0), 0); // already 10.5 s long
        assert_eq!(timeline.pad_to(12.0), 15);
    }
}
