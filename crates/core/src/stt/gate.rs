//! The hallucination gate: decides whether a decoded utterance is speech or something Whisper
//! invented from silence or noise.
//!
//! It separates speech from non-speech, not confident from unconfident output: Whisper base's
//! confidence on real Persian is low even when it is roughly right (half the PSDR digit clips
//! and a tenth of read sentences average below −1 log-probability per token), so low confidence
//! alone only makes the decoder try harder (see `decoding`). What refuses an utterance: no text,
//! degenerate text (loops, text far too long for the audio; judged in `decoding`), the subtitle
//! boilerplate Whisper produces from noise, and Whisper's own no-speech probability backed by a
//! second sign — an unsure decode or an unsure voice-activity detector. On real speech the
//! no-speech probability stayed below 0.6 whenever the decode averaged under −1 (166 utterances
//! of the three development sets); on distant babble it was 0.77–0.82 with log-probabilities of
//! −1.25 to −2.4.

/// Thresholds; an utterance failing them is dropped and logged, never spoken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateOptions {
    /// Whisper's no-speech probability above which the utterance is refused when a second sign
    /// agrees.
    pub no_speech_threshold: f32,
    /// The decode is unsure below this average log-probability per token.
    pub logprob_threshold: f32,
    /// The voice-activity detector is unsure below this mean speech probability.
    pub vad_threshold: f32,
}

impl Default for GateOptions {
    fn default() -> Self {
        Self { no_speech_threshold: 0.6, logprob_threshold: -1.0, vad_threshold: 0.6 }
    }
}

/// What the gate weighs, kept with every transcript for reports.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Evidence {
    pub avg_logprob: f32,
    pub no_speech_prob: f32,
    pub compression_ratio: f32,
    /// Mean voice-activity probability over the utterance's speech, when known.
    pub vad_probability: Option<f32>,
    pub audio_s: f32,
}

/// What the gate thought of a decoded utterance.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Speech,
    Empty,
    Repetitive,
    /// More text than anyone could say in the audio's time.
    TooLong,
    NoSpeech {
        no_speech_prob: f32,
        avg_logprob: f32,
    },
    /// Asked for English, got another script.
    WrongLanguage,
    /// A phrase Whisper is known to produce from silence or music (video-subtitle boilerplate).
    KnownHallucination,
}

impl Verdict {
    pub fn is_speech(&self) -> bool {
        *self == Verdict::Speech
    }

    /// A short stable name for reports and counts.
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Speech => "speech",
            Verdict::Empty => "empty",
            Verdict::Repetitive => "repetition",
            Verdict::TooLong => "too_long",
            Verdict::NoSpeech { .. } => "no_speech",
            Verdict::WrongLanguage => "wrong_language",
            Verdict::KnownHallucination => "known_hallucination",
        }
    }

    pub fn reason(&self) -> String {
        match self {
            Verdict::Speech => "speech".into(),
            Verdict::Empty => "empty transcript".into(),
            Verdict::Repetitive => "repetition loop".into(),
            Verdict::TooLong => "far more text than the audio could hold".into(),
            Verdict::NoSpeech { no_speech_prob, avg_logprob } => {
                format!("no speech (p={no_speech_prob:.2}, avg log-prob {avg_logprob:.2})")
            }
            Verdict::WrongLanguage => "the output is not in English".into(),
            Verdict::KnownHallucination => "a phrase Whisper invents from silence (subtitle boilerplate)".into(),
        }
    }
}

/// Judges a decoded utterance whose text is not degenerate.
pub fn judge(text: &str, evidence: &Evidence, options: &GateOptions) -> Verdict {
    if !text.chars().any(char::is_alphanumeric) {
        return Verdict::Empty;
    }
    if is_known_hallucination(text) {
        return Verdict::KnownHallucination;
    }
    let unsure_decode = evidence.avg_logprob < options.logprob_threshold;
    let unsure_vad = evidence.vad_probability.is_some_and(|p| p < options.vad_threshold);
    if evidence.no_speech_prob > options.no_speech_threshold && (unsure_decode || unsure_vad) {
        return Verdict::NoSpeech { no_speech_prob: evidence.no_speech_prob, avg_logprob: evidence.avg_logprob };
    }
    Verdict::Speech
}

/// No sign of non-speech at all: Whisper's no-speech probability at or below the threshold and
/// the voice-activity detector sure. Stricter than [`judge`], which needs two signs to refuse.
pub fn is_clear(evidence: &Evidence, options: &GateOptions) -> bool {
    evidence.no_speech_prob <= options.no_speech_threshold
        && !evidence.vad_probability.is_some_and(|p| p < options.vad_threshold)
}

/// Subtitle boilerplate from Whisper's training data that it emits for silence and noise.
const KNOWN_HALLUCINATIONS: &[&str] = &[
    "subscribe",
    "thanks for watching",
    "thank you for watching",
    "see you in the next video",
    "don't forget to like",
    "subtitles by",
    "amara.org",
    "زیرنویس",
    "مشترک شوید",
    "ممنون که تماشا",
];

fn is_known_hallucination(text: &str) -> bool {
    let lowered = text.to_lowercase();
    KNOWN_HALLUCINATIONS.iter().any(|phrase| lowered.contains(phrase))
}

/// True when the tokens end in a loop: an n-gram repeated back to back, or very few distinct
/// tokens in a long output.
pub fn is_repetitive(tokens: &[String]) -> bool {
    let tokens: Vec<&String> = tokens.iter().filter(|t| !super::tokens::is_special(t)).collect();
    for n in 1..=8 {
        // A word said three times is normal speech; the same phrase five times in a row is a loop.
        let min_repeats = if n == 1 { 8 } else { 4 };
        if max_consecutive_repeats(&tokens, n) >= min_repeats {
            return true;
        }
    }
    if tokens.len() >= 24 {
        let distinct: std::collections::HashSet<_> = tokens.iter().collect();
        if (distinct.len() as f32) < tokens.len() as f32 * 0.25 {
            return true;
        }
    }
    false
}

/// The tokens up to the first loop [`is_repetitive`] would catch, with one round of it kept:
/// what a decoder heard before it lost its way. `None` when there is no such loop to cut (the
/// output is not repetitive, or only in having few distinct tokens) or nothing would be left.
/// Control tokens (timestamps) are left out.
pub fn cut_at_loop(tokens: &[String]) -> Option<Vec<String>> {
    let tokens: Vec<&String> = tokens.iter().filter(|t| !super::tokens::is_special(t)).collect();
    let loop_at = (1..=8)
        .filter_map(|n| {
            let min_repeats = if n == 1 { 8 } else { 4 };
            first_run_of(&tokens, n, min_repeats).map(|start| (start, n))
        })
        .min()?;
    let kept: Vec<String> = tokens[..loop_at.0 + loop_at.1].iter().map(|t| t.to_string()).collect();
    (!is_repetitive(&kept)).then_some(kept)
}

/// Where the first n-gram repeated `min_repeats` times back to back begins.
fn first_run_of(tokens: &[&String], n: usize, min_repeats: usize) -> Option<usize> {
    (0..tokens.len().saturating_sub(n)).find(|&start| repeats_at(tokens, start, n) >= min_repeats)
}

fn repeats_at(tokens: &[&String], start: usize, n: usize) -> usize {
    let gram = &tokens[start..start + n];
    let mut repeats = 1;
    let mut at = start + n;
    while at + n <= tokens.len() && &tokens[at..at + n] == gram {
        repeats += 1;
        at += n;
    }
    repeats
}

fn max_consecutive_repeats(tokens: &[&String], n: usize) -> usize {
    (0..tokens.len().saturating_sub(n)).map(|start| repeats_at(tokens, start, n)).max().unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn loops_are_caught() {
        assert!(is_repetitive(&toks("a b c a b c a b c a b c")));
        assert!(is_repetitive(&toks("x x x x x x x x x")));
    }

    #[test]
    fn a_loop_is_cut_where_it_begins_keeping_one_round() {
        let cut = |s: &str| cut_at_loop(&toks(s)).map(|t| t.join(" "));
        assert_eq!(
            cut("one two three four four four four four four four four four").as_deref(),
            Some("one two three four")
        );
        assert_eq!(cut("<|0.00|> I said a b c a b c a b c a b c <|2.00|>").as_deref(), Some("I said a b c"));
        assert_eq!(cut("one two three four five six seven"), None, "no loop");
    }

    #[test]
    fn ordinary_speech_passes() {
        assert!(!is_repetitive(&toks("one two three four five six seven")));
        assert!(!is_repetitive(&toks("no no no I said no")));
    }

    fn evidence(no_speech_prob: f32, avg_logprob: f32, vad_probability: Option<f32>) -> Evidence {
        Evidence { avg_logprob, no_speech_prob, compression_ratio: 1.2, vad_probability, audio_s: 2.0 }
    }

    #[test]
    fn subtitle_boilerplate_is_dropped() {
        let o = GateOptions::default();
        let text = "I hope you enjoyed it, don't forget to like, Subscribe and share.";
        assert_eq!(judge(text, &evidence(0.0, -0.1, None), &o), Verdict::KnownHallucination);
    }

    #[test]
    fn low_confidence_alone_is_still_speech() {
        let o = GateOptions::default();
        assert_eq!(judge("سلام", &evidence(0.1, -2.0, Some(0.9)), &o), Verdict::Speech);
        assert_eq!(judge("سلام", &evidence(0.9, -0.2, Some(0.9)), &o), Verdict::Speech);
    }

    #[test]
    fn no_speech_needs_a_second_sign() {
        let o = GateOptions::default();
        assert!(matches!(judge("hi", &evidence(0.9, -1.5, Some(0.9)), &o), Verdict::NoSpeech { .. }));
        assert!(matches!(judge("hi", &evidence(0.9, -0.2, Some(0.55)), &o), Verdict::NoSpeech { .. }));
        assert_eq!(judge("hi", &evidence(0.5, -1.5, Some(0.55)), &o), Verdict::Speech);
    }

    #[test]
    fn punctuation_only_is_empty() {
        let o = GateOptions::default();
        assert_eq!(judge(". . . .", &evidence(0.1, -0.5, None), &o), Verdict::Empty);
    }
}
