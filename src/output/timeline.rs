//! Placing each English utterance in the output audio: at its source start, or right after the
//! previous one when that would overlap.

use super::TranslatedSegment;

/// Lays the segments' speech out on one track at `rate` and records where each one starts.
/// The track is at least `min_duration_s` long (the input's length).
pub fn place_on_timeline(segments: &mut [TranslatedSegment], rate: u32, min_duration_s: f64) -> Vec<f32> {
    let mut track: Vec<f32> = vec![0.0; (min_duration_s * f64::from(rate)).round() as usize];
    let mut cursor = 0usize;
    for segment in segments.iter_mut() {
        let wanted = (segment.start_s * f64::from(rate)).round() as usize;
        let start = wanted.max(cursor);
        let end = start + segment.speech.len();
        if track.len() < end {
            track.resize(end, 0.0);
        }
        track[start..end].copy_from_slice(&segment.speech);
        segment.speech_start_s = start as f64 / f64::from(rate);
        cursor = end;
    }
    track
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
            speech: vec![0.5; samples],
        }
    }

    #[test]
    fn speech_starts_at_the_source_unless_it_would_overlap() {
        let mut segments = vec![segment(1.0, 30), segment(2.0, 10), segment(10.0, 5)];
        let track = place_on_timeline(&mut segments, 10, 5.0);
        assert_eq!(segments[0].speech_start_s, 1.0);
        assert_eq!(segments[1].speech_start_s, 4.0); // 1.0 s + 3.0 s of speech
        assert_eq!(segments[2].speech_start_s, 10.0);
        assert_eq!(track.len(), 105);
        assert_eq!(track[9], 0.0);
        assert_eq!(track[10], 0.5);
    }
}
