//! The hallucination gate: decides whether a decoded segment is real speech or something Whisper
//! invented from silence or noise (repetition loops, "thanks for watching", empty confidence).

/// Thresholds; a segment failing any of them is dropped and logged, never spoken.
#[derive(Debug, Clone, Copy)]
pub struct GateOptions {
    /// Drop when the no-speech probability is above this *and* confidence is low.
    pub no_speech_threshold: f32,
    /// Average log-probability per token below which a segment is too unsure to speak.
    pub logprob_threshold: f32,
}

impl Default for GateOptions {
    fn default() -> Self {
        Self { no_speech_threshold: 0.6, logprob_threshold: -1.0 }
    }
}

/// What the gate thought of a decoded segment.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Speech,
    Empty,
    Repetitive,
    NoSpeech {
        no_speech_prob: f32,
        avg_logprob: f32,
    },
    LowConfidence {
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

    pub fn reason(&self) -> String {
        match self {
            Verdict::Speech => "speech".into(),
            Verdict::Empty => "empty transcript".into(),
            Verdict::Repetitive => "repetition loop".into(),
            Verdict::NoSpeech { no_speech_prob, avg_logprob } => {
                format!("no speech (p={no_speech_prob:.2}, avg log-prob {avg_logprob:.2})")
            }
            Verdict::LowConfidence { avg_logprob } => {
                format!("low confidence (avg log-prob {avg_logprob:.2})")
            }
            Verdict::WrongLanguage => "the output is not in English".into(),
            Verdict::KnownHallucination => "a phrase Whisper invents from silence (subtitle boilerplate)".into(),
        }
    }
}

/// Judges a decoded segment.
pub fn judge(tokens: &[String], text: &str, no_speech_prob: f32, avg_logprob: f32, options: &GateOptions) -> Verdict {
    if text.trim().is_empty() {
        return Verdict::Empty;
    }
    if is_repetitive(tokens) {
        return Verdict::Repetitive;
    }
    if is_known_hallucination(text) {
        return Verdict::KnownHallucination;
    }
    if no_speech_prob > options.no_speech_threshold && avg_logprob < options.logprob_threshold {
        return Verdict::NoSpeech { no_speech_prob, avg_logprob };
    }
    if avg_logprob < options.logprob_threshold {
        return Verdict::LowConfidence { avg_logprob };
    }
    Verdict::Speech
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

fn max_consecutive_repeats(tokens: &[&String], n: usize) -> usize {
    let mut best = 1;
    for start in 0..tokens.len().saturating_sub(n) {
        let gram = &tokens[start..start + n];
        let mut repeats = 1;
        let mut at = start + n;
        while at + n <= tokens.len() && &tokens[at..at + n] == gram {
            repeats += 1;
            at += n;
        }
        best = best.max(repeats);
    }
    best
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
    fn ordinary_speech_passes() {
        assert!(!is_repetitive(&toks("one two three four five six seven")));
        assert!(!is_repetitive(&toks("no no no I said no")));
    }

    #[test]
    fn subtitle_boilerplate_is_dropped() {
        let o = GateOptions::default();
        let text = "I hope you enjoyed it, don't forget to like, Subscribe and share.";
        assert_eq!(judge(&toks(text), text, 0.0, -0.1, &o), Verdict::KnownHallucination);
    }

    #[test]
    fn silence_like_outputs_are_dropped() {
        let o = GateOptions::default();
        assert_eq!(judge(&[], "", 0.0, 0.0, &o), Verdict::Empty);
        assert!(matches!(judge(&toks("hi"), "hi", 0.9, -1.5, &o), Verdict::NoSpeech { .. }));
        assert!(matches!(judge(&toks("hi"), "hi", 0.1, -2.0, &o), Verdict::LowConfidence { .. }));
        assert_eq!(judge(&toks("hi"), "hi", 0.9, -0.2, &o), Verdict::Speech);
    }
}
