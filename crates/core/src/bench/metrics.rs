//! Accuracy metrics: WER and CER on normalised text, and corpus BLEU and chrF computed the way
//! sacreBLEU 2.x does by default (13a tokenisation, exponential smoothing; chrF with 6 character
//! orders, β = 2, whitespace ignored).

use std::collections::HashMap;

use crate::text::comparison_key;

/// Edit distance between two sequences.
fn edit_distance<T: PartialEq>(reference: &[T], hypothesis: &[T]) -> usize {
    let mut previous: Vec<usize> = (0..=hypothesis.len()).collect();
    for (i, r) in reference.iter().enumerate() {
        let mut current = vec![i + 1; hypothesis.len() + 1];
        for (j, h) in hypothesis.iter().enumerate() {
            current[j + 1] = (previous[j + 1] + 1).min(current[j] + 1).min(previous[j] + usize::from(r != h));
        }
        previous = current;
    }
    previous[hypothesis.len()]
}

/// Errors and reference length summed over a corpus, for WER or CER.
#[derive(Debug, Clone, Copy, Default)]
pub struct ErrorRate {
    pub errors: usize,
    pub length: usize,
}

impl ErrorRate {
    pub fn rate(&self) -> Option<f64> {
        (self.length > 0).then(|| self.errors as f64 / self.length as f64)
    }

    /// Adds one reference/hypothesis pair, compared by words.
    pub fn add_words(&mut self, reference: &str, hypothesis: &str) {
        let (r, h) = (comparison_key(reference), comparison_key(hypothesis));
        let (r, h): (Vec<&str>, Vec<&str>) = (r.split_whitespace().collect(), h.split_whitespace().collect());
        self.errors += edit_distance(&r, &h);
        self.length += r.len();
    }

    /// Adds one reference/hypothesis pair, compared by characters (spaces included).
    pub fn add_chars(&mut self, reference: &str, hypothesis: &str) {
        let (r, h): (Vec<char>, Vec<char>) =
            (comparison_key(reference).chars().collect(), comparison_key(hypothesis).chars().collect());
        self.errors += edit_distance(&r, &h);
        self.length += r.len();
    }
}

/// mteval-v13a tokenisation, as sacreBLEU's default.
pub fn tokenize_13a(line: &str) -> Vec<String> {
    let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    let chars: Vec<char> = format!(" {line} ").chars().collect();
    let is_symbol = |c: char| matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/');
    let mut out = String::with_capacity(chars.len() * 2);
    for (i, &c) in chars.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        let spaced = if is_symbol(c) {
            true
        } else if c == '.' || c == ',' {
            // Periods and commas split off unless they sit between digits.
            !(before.is_some_and(|b| b.is_ascii_digit()) && after.is_some_and(|a| a.is_ascii_digit()))
        } else {
            c == '-' && before.is_some_and(|b| b.is_ascii_digit())
        };
        if spaced {
            out.push(' ');
            out.push(c);
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out.split_whitespace().map(str::to_string).collect()
}

fn ngram_counts<T: std::hash::Hash + Eq + Clone>(items: &[T], n: usize) -> HashMap<&[T], usize> {
    let mut counts = HashMap::new();
    if items.len() >= n {
        for gram in items.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// Clipped matches, hypothesis n-grams and reference n-grams of order `n`.
fn ngram_stats<T: std::hash::Hash + Eq + Clone>(hypothesis: &[T], reference: &[T], n: usize) -> (usize, usize, usize) {
    let (h, r) = (ngram_counts(hypothesis, n), ngram_counts(reference, n));
    let matches = h.iter().map(|(gram, &count)| count.min(r.get(gram).copied().unwrap_or(0))).sum();
    (matches, h.values().sum(), r.values().sum())
}

/// Corpus BLEU (0–100) of `hypotheses` against one reference each.
pub fn corpus_bleu(hypotheses: &[String], references: &[String]) -> f64 {
    const ORDER: usize = 4;
    let (mut correct, mut total) = ([0usize; ORDER], [0usize; ORDER]);
    let (mut hyp_len, mut ref_len) = (0usize, 0usize);
    for (h, r) in hypotheses.iter().zip(references) {
        let (h, r) = (tokenize_13a(h), tokenize_13a(r));
        hyp_len += h.len();
        ref_len += r.len();
        for n in 1..=ORDER {
            let (m, t, _) = ngram_stats(&h, &r, n);
            correct[n - 1] += m;
            total[n - 1] += t;
        }
    }
    let brevity = if hyp_len == 0 {
        0.0
    } else if hyp_len < ref_len {
        (1.0 - ref_len as f64 / hyp_len as f64).exp()
    } else {
        1.0
    };
    let mut log_sum = 0.0;
    let mut smooth = 1.0;
    for n in 0..ORDER {
        if total[n] == 0 {
            return 0.0;
        }
        let precision = if correct[n] == 0 {
            smooth *= 2.0;
            100.0 / (smooth * total[n] as f64)
        } else {
            100.0 * correct[n] as f64 / total[n] as f64
        };
        log_sum += precision.ln();
    }
    brevity * (log_sum / ORDER as f64).exp()
}

/// Corpus chrF (0–100): character 1- to 6-grams, β = 2, whitespace removed.
pub fn corpus_chrf(hypotheses: &[String], references: &[String]) -> f64 {
    const ORDER: usize = 6;
    let mut stats = [(0usize, 0usize, 0usize); ORDER];
    for (h, r) in hypotheses.iter().zip(references) {
        let h: Vec<char> = h.chars().filter(|c| !c.is_whitespace()).collect();
        let r: Vec<char> = r.chars().filter(|c| !c.is_whitespace()).collect();
        for (n, stat) in stats.iter_mut().enumerate() {
            let (m, th, tr) = ngram_stats(&h, &r, n + 1);
            stat.0 += m;
            stat.1 += th;
            stat.2 += tr;
        }
    }
    let (mut precision, mut recall, mut orders) = (0.0, 0.0, 0);
    for &(matches, hyp, reference) in &stats {
        if hyp > 0 && reference > 0 {
            precision += matches as f64 / hyp as f64;
            recall += matches as f64 / reference as f64;
            orders += 1;
        }
    }
    if orders == 0 {
        return 0.0;
    }
    let (precision, recall) = (precision / orders as f64, recall / orders as f64);
    let beta2 = 4.0;
    if precision + recall == 0.0 {
        return 0.0;
    }
    100.0 * (1.0 + beta2) * precision * recall / (beta2 * precision + recall)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    // Reference values computed with sacreBLEU 2.6.0 (corpus_bleu / corpus_chrf, defaults).
    #[test]
    fn bleu_matches_sacrebleu() {
        let hyps = strings(&["The cat sat on the mat.", "It is raining, isn't it?", "Numbers: 3.5 and 1,000 - ok"]);
        let refs =
            strings(&["The cat is sitting on the mat.", "It's raining, isn't it?", "Numbers: 3.5 and 1,000 - okay"]);
        assert!((corpus_bleu(&hyps, &refs) - 64.71507102389383).abs() < 1e-9, "{}", corpus_bleu(&hyps, &refs));
        assert!(
            (corpus_bleu(&strings(&["hello there general kenobi"]), &strings(&["hello there general kenobi"])) - 100.0)
                .abs()
                < 1e-9
        );
        assert_eq!(corpus_bleu(&strings(&["a b c"]), &strings(&["a b d"])), 0.0);
    }

    #[test]
    fn chrf_matches_sacrebleu() {
        let hyps = strings(&["The cat sat on the mat.", "It is raining, isn't it?", "Numbers: 3.5 and 1,000 - ok"]);
        let refs =
            strings(&["The cat is sitting on the mat.", "It's raining, isn't it?", "Numbers: 3.5 and 1,000 - okay"]);
        assert!((corpus_chrf(&hyps, &refs) - 75.52213899067036).abs() < 1e-9, "{}", corpus_chrf(&hyps, &refs));
        let two = corpus_chrf(&strings(&["hello world"]), &strings(&["hello there world"]));
        assert!((two - 39.906031460074075).abs() < 1e-9, "{two}");
    }

    #[test]
    fn tokenization_matches_13a() {
        let tokens = tokenize_13a("Numbers: 3.5 and 1,000 - ok. \"Quote\" it's (x) e-mail 1-2");
        assert_eq!(tokens.join(" "), "Numbers : 3.5 and 1,000 - ok . \" Quote \" it's ( x ) e-mail 1 - 2");
    }

    #[test]
    fn error_rates_use_persian_normalisation() {
        let mut wer = ErrorRate::default();
        wer.add_words("کتاب علی، خوب است", "كتاب علي خوب هست");
        assert_eq!((wer.errors, wer.length), (1, 4));
        let mut cer = ErrorRate::default();
        cer.add_chars("abc", "abd");
        cer.add_chars("xy", "xy");
        assert_eq!(cer.rate(), Some(0.2));
        assert_eq!(ErrorRate::default().rate(), None);
    }
}
