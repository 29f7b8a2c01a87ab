//! How far an utterance's English can be trusted, before it is spoken.
//!
//! Whisper base's English on real Persian is often fluent fiction, said in the same calm voice as
//! a correct sentence. The evidence the pipeline already has says when that is likely: how sure
//! the decoder was of its tokens, whether it had to fall back from a degenerate first pass,
//! Whisper's own no-speech probability, whether the English echoed itself, and whether there is
//! about as much English as there was speech. [`assess`] turns it into a [`Level`] whose meaning
//! was measured: the recognition error rate of the utterances at that level on the development
//! sets ([`Level::measured_cer`]; `bench/confidence.py` reproduces it).

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
    /// 0–1: the decoder's mean token probability, lowered by each doubt in `doubts`.
    pub score: f32,
    /// Why the score is lower than the decoder's own certainty, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub doubts: Vec<&'static str>,
}

impl Default for Confidence {
    fn default() -> Self {
        Self { level: Level::High, score: 1.0, doubts: Vec::new() }
    }
}

/// The score at or above which an utterance is [`Level::High`], and [`Level::Medium`].
pub const HIGH_FROM: f32 = 0.55;
pub const MEDIUM_FROM: f32 = 0.4;

/// English words per second of speech outside which the English cannot be a translation of it:
/// far fewer words than the speaker said, or more than anyone says in the time.
const WORDS_PER_SECOND: std::ops::RangeInclusive<f32> = 0.4..=4.5;

/// What the English and its utterance look like, beside the recognition report.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    pub english: &'a str,
    /// Seconds of speech the utterance holds.
    pub speech_s: f64,
    /// Echoes removed from the English ([`crate::mt::echo`]).
    pub echoes: usize,
    /// Translation failed and the English is the source text.
    pub mt_failed: bool,
}

/// Judges one utterance from its recognition report and its English.
pub fn assess(recognition: &Recognition, outcome: Outcome<'_>) -> Confidence {
    let evidence = &recognition.evidence;
    let mut score = evidence.avg_logprob.exp().clamp(0.0, 1.0);
    let mut doubts = Vec::new();
    let mut doubt = |applies: bool, factor: f32, why: &'static str| {
        if applies {
            score *= factor;
            doubts.push(why);
        }
    };
    doubt(recognition.decoding.fallbacks > 0, 0.85, "the first decode was degenerate");
    doubt(evidence.no_speech_prob > 0.4, 0.8, "Whisper doubted there was speech");
    doubt(outcome.echoes > 0, 0.7, "the English repeated itself");
    let words = outcome.english.split_whitespace().count() as f32;
    let rate = words / (outcome.speech_s.max(0.5) as f32);
    doubt(!WORDS_PER_SECOND.contains(&rate), 0.8, "the English is too short or too long for the speech");
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
    use crate::stt::{DecodingReport, Evidence};

    fn recognition(avg_logprob: f32, fallbacks: usize) -> Recognition {
        Recognition {
            evidence: Evidence {
                avg_logprob,
                no_speech_prob: 0.05,
                compression_ratio: 1.3,
                vad_probability: Some(0.95),
                audio_s: 3.0,
            },
            decoding: DecodingReport { fallbacks, ..Default::default() },
        }
    }

    fn outcome(english: &str) -> Outcome<'_> {
        Outcome { english, speech_s: 3.0, echoes: 0, mt_failed: false }
    }

    #[test]
    fn a_sure_decode_is_high_and_an_unsure_one_low() {
        let sure = assess(&recognition(-0.2, 0), outcome("I would like to go for a walk."));
        assert_eq!((sure.level, sure.doubts.len()), (Level::High, 0));
        assert_eq!(assess(&recognition(-1.5, 0), outcome("I would like to go for a walk.")).level, Level::Low);
    }

    #[test]
    fn each_doubt_lowers_the_score_and_is_named() {
        let plain = assess(&recognition(-0.3, 0), outcome("I would like to go for a walk.")).score;
        let fell_back = assess(&recognition(-0.3, 2), outcome("I would like to go for a walk."));
        assert!(fell_back.score < plain && fell_back.doubts == ["the first decode was degenerate"]);
        let echoed = assess(&recognition(-0.3, 0), Outcome { echoes: 1, ..outcome("I would like to go for a walk.") });
        assert!(echoed.score < plain && echoed.doubts == ["the English repeated itself"]);
        let too_long = "word ".repeat(30);
        assert!(assess(&recognition(-0.3, 0), outcome(&too_long)).score < plain);
    }

    #[test]
    fn a_failed_translation_is_low() {
        let failed = assess(&recognition(-0.1, 0), Outcome { mt_failed: true, ..outcome("سلام دوست من") });
        assert_eq!(failed.level, Level::Low);
    }
}
