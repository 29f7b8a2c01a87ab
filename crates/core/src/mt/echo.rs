//! Echoes: English that repeats a clause or sentence it has just said.
//!
//! Every engine does it on speech it cannot follow (Whisper base: "I was waiting for him to come.
//! I was waiting for him to come."; 17 of 91 long-form utterances), and a listener takes the
//! repetition for emphasis. Asking the decoder not to repeat (no repeated 4-grams) replaced the
//! echoes with invented clauses and cost the Portuguese set BLEU, so the repetition is removed
//! from the text instead, before it is spoken or captioned: what remains is what the engine said
//! once.
//!
//! A run of [`MIN_RUN_WORDS`] or more words said again within an utterance is an echo, as is a
//! whole clause that repeats one of the English said just before it (the previous utterance of
//! the same passage). Words are compared without case or punctuation.

/// The shortest run of words whose repetition counts as an echo: shorter ones ("very, very",
/// "thank you, thank you") are how people speak.
pub const MIN_RUN_WORDS: usize = 4;

/// Words that join a clause to the one before: removed with an echo they introduce, so that
/// "…of the city, and the city was built…" does not end on a dangling "and".
const CONNECTORS: &[&str] = &["and", "but", "or", "so", "then", "that"];

/// English with its echoes removed, and what was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collapsed {
    pub text: String,
    /// The repeated runs taken out, in the order they were found.
    pub removed: Vec<String>,
}

/// A word of the text: its bytes (letters, digits and apostrophes) and its comparison key.
#[derive(Debug, Clone)]
struct Word {
    start: usize,
    end: usize,
    key: String,
}

fn words(text: &str) -> Vec<Word> {
    let mut found = Vec::new();
    let mut current: Option<usize> = None;
    let is_word_char = |c: char| c.is_alphanumeric() || c == '\'' || c == '’';
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (current, is_word_char(c)) {
            (None, true) => current = Some(i),
            (Some(start), false) => {
                let key = text[start..i].chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
                found.push(Word { start, end: i, key });
                current = None;
            }
            _ => {}
        }
    }
    found.retain(|w: &Word| !w.key.is_empty());
    found
}

/// The longest run of at least [`MIN_RUN_WORDS`] words that occurs twice without overlapping:
/// `(first, second, length)`, the earliest second occurrence among equals.
fn longest_repeat(words: &[Word]) -> Option<(usize, usize, usize)> {
    let n = words.len();
    // common[i][j]: how many words match from i and from j on.
    let mut common = vec![vec![0usize; n + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (i + 1..n).rev() {
            if words[i].key == words[j].key {
                common[i][j] = common[i + 1][j + 1] + 1;
            }
        }
    }
    (1..n)
        .flat_map(|j| (0..j).map(move |i| (i, j)))
        .map(|(i, j)| (i, j, common[i][j].min(j - i)))
        .filter(|&(_, _, length)| length >= MIN_RUN_WORDS)
        .min_by_key(|&(i, j, length)| (std::cmp::Reverse(length), j, i))
}

/// Removes words `from..to` of `text`, with the separator before them and any connector that
/// introduced them, keeping the punctuation after the last removed word.
fn cut(text: &str, words: &[Word], from: usize, to: usize) -> String {
    let mut first = from;
    while first > 0 && CONNECTORS.contains(&words[first - 1].key.as_str()) {
        first -= 1;
    }
    let (start, end) = match first {
        0 => (0, words.get(to).map_or(text.len(), |w| w.start)),
        _ => (words[first - 1].end, words[to - 1].end),
    };
    let mut kept = format!("{}{}", &text[..start], &text[end..]);
    kept = kept.trim().to_string();
    tidy(&kept)
}

/// Punctuation left doubled or leading by a cut (", ." → ".", a leading ", ").
fn tidy(text: &str) -> String {
    let mut out = text.trim_start_matches(|c: char| c == ',' || c == ';' || c.is_whitespace()).to_string();
    for (from, to) in [(",.", "."), (", .", "."), (",,", ","), (" .", "."), (" ,", ","), ("..", ".")] {
        while out.contains(from) {
            out = out.replace(from, to);
        }
    }
    capitalise_first(&out)
}

fn capitalise_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if c.is_lowercase() => c.to_uppercase().chain(chars).collect(),
        _ => text.to_string(),
    }
}

/// The clauses of `text` as word ranges: ended by `.`, `!`, `?`, `;` or `,`.
fn clauses(text: &str, words: &[Word]) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for (i, word) in words.iter().enumerate() {
        let next_start = words.get(i + 1).map_or(text.len(), |w| w.start);
        let ends_clause = text[word.end..next_start].chars().any(|c| matches!(c, '.' | '!' | '?' | ';' | ','));
        if ends_clause || i + 1 == words.len() {
            ranges.push((start, i + 1));
            start = i + 1;
        }
    }
    ranges
}

/// True when `run` occurs in `within` as consecutive words.
fn contains_run(within: &[Word], run: &[Word]) -> bool {
    within.windows(run.len()).any(|w| w.iter().zip(run).all(|(a, b)| a.key == b.key))
}

/// Removes the echoes of `text`: repeated runs inside it, and clauses of [`MIN_RUN_WORDS`] words or
/// more that `before` (the English said just before, same passage) already said.
pub fn collapse(text: &str, before: &str) -> Collapsed {
    let mut text = text.trim().to_string();
    let mut removed = Vec::new();
    while let Some((_, second, length)) = longest_repeat(&words(&text)) {
        let found = words(&text);
        removed.push(text[found[second].start..found[second + length - 1].end].to_string());
        text = cut(&text, &found, second, second + length);
    }
    let said = words(before);
    if said.len() >= MIN_RUN_WORDS {
        // Last clause first, so earlier ranges stay valid as later ones are cut.
        for (from, to) in clauses(&text, &words(&text)).into_iter().rev() {
            let found = words(&text);
            if to - from >= MIN_RUN_WORDS && contains_run(&said, &found[from..to]) {
                removed.push(text[found[from].start..found[to - 1].end].to_string());
                text = cut(&text, &found, from, to);
            }
        }
    }
    removed.reverse();
    Collapsed { text, removed }
}

/// True when `text` holds an echo by [`collapse`]'s rule (within itself, or against `before`).
pub fn has_echo(text: &str, before: &str) -> bool {
    !collapse(text, before).removed.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_sentence_is_said_once() {
        let c = collapse(
            "I was waiting for him to come. I was waiting for him to come. I was waiting for him to come.",
            "",
        );
        assert_eq!(c.text, "I was waiting for him to come.");
        assert_eq!(c.removed.len(), 2);
    }

    #[test]
    fn a_repeated_clause_loses_its_connector() {
        let c = collapse(
            "The city was built by the people of the city, and the city was built by the people of the city.",
            "",
        );
        assert_eq!(c.text, "The city was built by the people of the city.");
    }

    #[test]
    fn the_demo_sample_echo_is_collapsed() {
        let c = collapse("It is very beautiful and beautiful. It is very beautiful and beautiful.", "");
        assert_eq!(c.text, "It is very beautiful and beautiful.");
    }

    #[test]
    fn short_repeats_and_distinct_sentences_are_kept() {
        for text in ["Thank you, thank you.", "Very, very good.", "I went home. Then I slept at home."] {
            let c = collapse(text, "");
            assert_eq!(c.text, text);
            assert!(c.removed.is_empty());
        }
    }

    #[test]
    fn a_clause_the_previous_utterance_said_is_dropped() {
        let before = "They don't distract you in the middle of your work.";
        let c = collapse("They don't distract you in the middle of your work. And that is good.", before);
        assert_eq!(c.text, "And that is good.");
        assert_eq!(c.removed, ["They don't distract you in the middle of your work"]);
        assert_eq!(collapse("They don't distract you in the middle of your work.", before).text, "");
    }

    #[test]
    fn a_short_clause_the_previous_utterance_said_is_kept() {
        let c = collapse("Yes, I know. We will see.", "Yes, I know.");
        assert_eq!(c.text, "Yes, I know. We will see.");
    }

    #[test]
    fn a_loop_in_the_middle_is_cut_and_the_rest_kept() {
        let c = collapse("He said that the work is done, the work is done, the work is done and left.", "");
        assert!(!has_echo(&c.text, ""), "{}", c.text);
        assert!(c.text.starts_with("He said that the work is done") && c.text.ends_with("left."), "{}", c.text);
    }

    #[test]
    fn case_and_punctuation_do_not_hide_an_echo() {
        assert!(has_echo("We are going home now! we are going home now", ""));
        assert!(!has_echo("We are going home now!", ""));
    }
}
