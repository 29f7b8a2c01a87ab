//! How far an utterance's English can be trusted.
//!
//! Whisper base's English on real Persian is often fluent fiction, said in the same calm voice as
//! a correct sentence. What predicts it is how sure Whisper was of the Persian: the mean token
//! probability of the transcript's decode. On the development sets (173 utterances of
//! psdr-fa-digits90, virgool-informal-fa10 and alifarrokh-fa-longform4, each charged with its own
//! character errors) its Spearman correlation with the utterance's CER was −0.34 over all and
//! −0.40 to −0.61 within each set. The probability of Whisper's English pass (`direct`) predicted
//! nothing (+0.08 long-form, +0.12 colloquial), and neither did fallbacks, the no-speech
//! probability or the English's length, so none of them is used. [`HIGH_FROM`] and [`MEDIUM_FROM`]
//! cut the scale where the error rate changes: there the pooled CER was 0.33 (high, 46 % of the
//! utterances), 0.51 (medium, 34 %) and 0.88 (low, 20 %). `bench` measures the same table on any
//! manifest (`bench/confidence.py` too, per utterance).
//!
//! English that echoed itself ([`crate::mt::echo`]) and a transcript cut where Whisper began to
//! loop came from a decoder that lost its way, and a failed translation is no translation: all
//! three lower the level whatever the transcript says.

use serde::Serialize;

use crate::output::Recognition;

/// What a person is told about an utterance's English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }
}

/// An utterance's confidence, with the signals that lowered it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confidence {
    pub level: Level,
    /// 0–1: Whisper's mean token probability on the transcript, lowered by `doubts`.
    pub score: f32,
    /// What lowered it besides the transcript, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub doubts: Vec<&'static str>,
}

impl Default for Confidence {
    fn default() -> Self {
        Self { level: Level::High, score: 1.0, doubts: Vec::new() }
    }
}

/// The score (Whisper's mean token probability on the transcript) at or above which an utterance
/// is [`Level::High`], and [`Level::Medium`].
pub const HIGH_FROM: f32 = 0.44;
pub const MEDIUM_FROM: f32 = 0.36;

/// What became of the English, beside the recognition report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    /// Echoes removed from the English ([`crate::mt::echo`]).
    pub echoes: usize,
    /// Translation failed and the English is the source text.
    pub mt_failed: bool,
}

/// Judges one utterance from its recognition report and its English.
pub fn assess(recognition: &Recognition, outcome: Outcome) -> Confidence {
    let mut score = recognition.evidence.avg_logprob.exp().clamp(0.0, 1.0);
    let mut doubts = Vec::new();
    if recognition.decoding.loop_cut {
        score = score.min(MEDIUM_FROM - f32::EPSILON);
        doubts.push("Whisper looped; only what it heard before the loop is kept");
    }
    if outcome.echoes > 0 {
        score = score.min(MEDIUM_FROM);
        doubts.push("the English repeated itself");
    }
    if outcome.mt_failed {
        score = 0.0;
        doubts.push("translation failed");
    }
    let level = match score {
        s if s >= HIGH_FROM => Level::High,
        s if s >= MEDIUM_FROM => Level::Medium,
        _ => Level::Low,
    };
    Confidence { level, score, doubts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stt::Evidence;

    fn recognition(avg_logprob: f32) -> Recognition {
        Recognition { evidence: Evidence { avg_logprob, ..Default::default() }, decoding: Default::default() }
    }

    #[test]
    fn the_level_follows_the_transcripts_token_probability() {
        let level = |avg_logprob: f32| assess(&recognition(avg_logprob), Outcome::default()).level;
        assert_eq!(level(HIGH_FROM.ln()), Level::High);
        assert_eq!(level(HIGH_FROM.ln() - 0.01), Level::Medium);
        assert_eq!(level(MEDIUM_FROM.ln()), Level::Medium);
        assert_eq!(level(MEDIUM_FROM.ln() - 0.01), Level::Low);
        assert!(assess(&recognition(-0.2), Outcome::default()).doubts.is_empty());
    }

    #[test]
    fn an_echo_caps_the_level_at_medium() {
        let echoed = assess(&recognition(-0.2), Outcome { echoes: 1, ..Outcome::default() });
        assert_eq!(
            (echoed.level, echoed.doubts.as_slice()),
            (Level::Medium, ["the English repeated itself"].as_slice())
        );
    }

    #[test]
    fn a_transcript_cut_at_a_loop_is_low() {
        let mut cut = recognition(-0.1);
        cut.decoding.loop_cut = true;
        assert_eq!(assess(&cut, Outcome::default()).level, Level::Low);
    }

    #[test]
    fn a_failed_translation_is_low() {
        let failed = assess(&recognition(-0.1), Outcome { mt_failed: true, ..Outcome::default() });
        assert_eq!(failed.level, Level::Low);
    }
}
