//! Partial captions: the utterance under way is recognised again each time it has grown by
//! [`PARTIAL_EVERY_S`], and the words two consecutive hypotheses agree on become stable (the
//! LocalAgreement policy of ufal/whisper_streaming). Stable words are never taken back within
//! the utterance; the final caption replaces the partial one when the utterance ends.

/// How much new audio makes a new partial hypothesis worth decoding.
pub const PARTIAL_EVERY_S: f64 = 1.0;

/// The agreement so far on one utterance, identified by its first sample.
#[derive(Debug, Default)]
pub(super) struct Agreement {
    start: usize,
    previous: Vec<String>,
    stable: Vec<String>,
}

impl Agreement {
    /// Takes the newest hypothesis for the utterance that starts at `start`: (stable, unstable).
    pub fn update(&mut self, start: usize, text: &str) -> (String, String) {
        if start != self.start {
            *self = Self { start, ..Self::default() };
        }
        let words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        if words.starts_with(&self.stable) {
            let agreed = self.previous.iter().zip(&words).take_while(|(a, b)| a == b).count();
            if agreed > self.stable.len() {
                self.stable = words[..agreed].to_vec();
            }
        }
        let unstable = words.get(self.stable.len()..).unwrap_or_default().join(" ");
        self.previous = words;
        (self.stable.join(" "), unstable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_two_hypotheses_agree_on_become_stable_and_stay() {
        let mut agreement = Agreement::default();
        assert_eq!(agreement.update(5, "من امروز"), ("".into(), "من امروز".into()));
        assert_eq!(agreement.update(5, "من امروز به"), ("من امروز".into(), "به".into()));
        assert_eq!(agreement.update(5, "من امروز به مدرسه رفتم"), ("من امروز به".into(), "مدرسه رفتم".into()));
        // A hypothesis that contradicts stable words cannot retract them.
        let (stable, _) = agreement.update(5, "ما دیروز");
        assert_eq!(stable, "من امروز به");
        let (stable, _) = agreement.update(5, "ما دیروز");
        assert_eq!(stable, "من امروز به", "agreeing with a contradiction retracted stable words");
        // A new utterance starts afresh.
        assert_eq!(agreement.update(90, "سلام"), ("".into(), "سلام".into()));
    }
}
