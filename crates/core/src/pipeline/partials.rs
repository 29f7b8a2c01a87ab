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

/// English said before its utterance ends (`speak_early`): the growing utterance is translated
/// each time it has grown by [`PARTIAL_EVERY_S`], every pass forced to begin with the English
/// already committed, and the tokens two consecutive clear hypotheses agree on are committed up
/// to their last clause boundary, so that the voice says whole clauses. Committed English is
/// never taken back: the utterance's final English is forced to begin with it too.
#[derive(Debug, Default)]
pub(super) struct EarlyEnglish {
    start: usize,
    previous: Vec<String>,
    committed: Vec<String>,
}

impl EarlyEnglish {
    /// The English tokens committed for the utterance that starts at `start`.
    pub fn committed(&self, start: usize) -> &[String] {
        if start == self.start {
            &self.committed
        } else {
            &[]
        }
    }

    /// Takes the newest clear hypothesis (its tokens, beginning with [`Self::committed`]) for the
    /// utterance that starts at `start`; returns the English it newly commits, if any.
    pub fn update(&mut self, start: usize, tokens: &[String]) -> Option<String> {
        self.restart_for(start);
        if !tokens.starts_with(&self.committed) {
            self.previous.clear();
            return None;
        }
        let agreed = self.previous.iter().zip(tokens).take_while(|(a, b)| a == b).count();
        self.previous = tokens.to_vec();
        let boundary = (self.committed.len()..agreed).rev().find(|&i| ends_a_clause(&tokens[i]))?;
        let said = crate::stt::text_of_tokens(&tokens[self.committed.len()..=boundary]);
        self.committed = tokens[..=boundary].to_vec();
        Some(said)
    }

    /// A hypothesis for the utterance at `start` that was not clear speech: agreement starts over.
    pub fn doubt(&mut self, start: usize) {
        self.restart_for(start);
        self.previous.clear();
    }

    /// The committed tokens of the utterance at `start`, forgetting it (it has ended).
    pub fn finish(&mut self, start: usize) -> Vec<String> {
        let committed = if start == self.start { std::mem::take(&mut self.committed) } else { Vec::new() };
        *self = Self::default();
        committed
    }

    fn restart_for(&mut self, start: usize) {
        if start != self.start {
            *self = Self { start, ..Self::default() };
        }
    }
}

/// Whether a token ends a clause: the voice can stop after it without cutting a phrase.
fn ends_a_clause(token: &str) -> bool {
    crate::stt::text_of_tokens(std::slice::from_ref(&token.to_string())).ends_with([',', '.', ';', ':', '?', '!'])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whisper's byte-level tokens of `text`: 'Ġ' marks a leading space; a trailing comma or
    /// full stop is its own token.
    fn tokens(text: &str) -> Vec<String> {
        text.split(' ')
            .enumerate()
            .flat_map(|(i, word)| {
                let (word, mark) = match word.strip_suffix([',', '.']) {
                    Some(stem) => (stem, Some(word[stem.len()..].to_string())),
                    None => (word, None),
                };
                let word = if i == 0 { word.to_string() } else { format!("Ġ{word}") };
                std::iter::once(word).chain(mark)
            })
            .collect()
    }

    #[test]
    fn agreed_english_is_committed_up_to_its_last_clause_boundary() {
        let mut early = EarlyEnglish::default();
        assert_eq!(early.update(5, &tokens("Yesterday, I went to school.")), None, "nothing to agree with yet");
        assert_eq!(early.update(5, &tokens("Yesterday, I went to the market.")), Some("Yesterday,".into()));
        assert_eq!(early.committed(5), tokens("Yesterday,"));
        // Agreement without a clause boundary commits nothing.
        assert_eq!(early.update(5, &tokens("Yesterday, I went to the market and")), None);
        let said = early.update(5, &tokens("Yesterday, I went to the market and bought bread, then"));
        assert_eq!(said, None, "the new boundary is not agreed on yet");
        let said = early.update(5, &tokens("Yesterday, I went to the market and bought bread, then I"));
        assert_eq!(said, Some("I went to the market and bought bread,".into()));
        assert_eq!(early.committed(90), Vec::<String>::new(), "another utterance has nothing committed");
    }

    #[test]
    fn committed_english_is_never_taken_back() {
        let mut early = EarlyEnglish::default();
        early.update(5, &tokens("Hello, my friend."));
        early.update(5, &tokens("Hello, my friend."));
        assert_eq!(early.committed(5), tokens("Hello, my friend."));
        // A hypothesis that does not begin with the committed English changes nothing.
        assert_eq!(early.update(5, &tokens("Hi, my friend.")), None);
        early.doubt(5);
        assert_eq!(early.committed(5), tokens("Hello, my friend."));
        assert_eq!(early.finish(5), tokens("Hello, my friend."));
        assert!(early.committed(5).is_empty(), "a finished utterance keeps nothing");
    }

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
