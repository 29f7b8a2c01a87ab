//! The risk–coverage table: for each confidence level, how many utterances it holds and how wrong
//! they were, so the meaning of "low confidence" is measured, not asserted; and the echoes.

use serde::Serialize;

use super::metrics::corpus_chrf;
use crate::confidence::Level;
use crate::live::UtteranceReport;
use crate::mt::echo;
use crate::text::comparison_key;

/// The errors and reference characters an utterance is charged with.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Charge {
    pub errors: usize,
    pub length: usize,
}

/// Charges each of `pieces` (the transcripts of one clip's utterances, in order) with the character
/// edits inside its stretch of a Levenshtein alignment of their concatenation against
/// `reference`. A reference character the hypothesis skipped is charged to the piece before it.
pub fn charges(reference: &str, pieces: &[&str]) -> Vec<Charge> {
    let reference: Vec<char> = comparison_key(reference).chars().collect();
    let (mut hypothesis, mut owner) = (Vec::new(), Vec::new());
    for (k, piece) in pieces.iter().enumerate() {
        if !hypothesis.is_empty() {
            hypothesis.push(' ');
            owner.push(k);
        }
        for c in comparison_key(piece).chars() {
            hypothesis.push(c);
            owner.push(k);
        }
    }
    let (n, m) = (reference.len(), hypothesis.len());
    let width = m + 1;
    let mut distance = vec![0u32; (n + 1) * width];
    for i in 0..=n {
        for j in 0..=m {
            distance[i * width + j] = match (i, j) {
                (0, j) => j as u32,
                (i, 0) => i as u32,
                (i, j) => (distance[(i - 1) * width + j] + 1)
                    .min(distance[i * width + j - 1] + 1)
                    .min(distance[(i - 1) * width + j - 1] + u32::from(reference[i - 1] != hypothesis[j - 1])),
            };
        }
    }
    let mut charged = vec![Charge::default(); pieces.len()];
    if pieces.is_empty() {
        return charged;
    }
    let (mut i, mut j) = (n, m);
    let mut last = pieces.len() - 1;
    while i > 0 || j > 0 {
        if j > 0 {
            last = owner[j - 1];
        }
        let at = |i: usize, j: usize| distance[i * width + j];
        let differs = i > 0 && j > 0 && reference[i - 1] != hypothesis[j - 1];
        if i > 0 && j > 0 && at(i, j) == at(i - 1, j - 1) + u32::from(differs) {
            charged[last].errors += usize::from(differs);
            charged[last].length += 1;
            (i, j) = (i - 1, j - 1);
        } else if j > 0 && at(i, j) == at(i, j - 1) + 1 {
            charged[last].errors += 1;
            j -= 1;
        } else {
            charged[last].errors += 1;
            charged[last].length += 1;
            i -= 1;
        }
    }
    charged
}

/// One utterance as the table sees it.
#[derive(Debug, Clone)]
pub struct Scored {
    pub level: Level,
    pub score: f32,
    pub cer: Option<Charge>,
    /// Its English and the reference, when its clip was one utterance with an English reference.
    pub english: Option<(String, String)>,
}

/// One confidence level's row.
#[derive(Debug, Clone, Serialize)]
pub struct LevelRow {
    pub level: Level,
    pub utterances: usize,
    pub share: f64,
    /// Character error rate of its utterances' transcripts, pooled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cer: Option<f64>,
    /// chrF of its utterances' English, over the clips that were a single utterance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chrf: Option<f64>,
    /// This level and every more confident one together.
    pub cumulative_share: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cumulative_cer: Option<f64>,
}

/// The table, with how well the score ranks the utterances and the echoes.
#[derive(Debug, Clone, Serialize)]
pub struct RiskCoverage {
    pub levels: Vec<LevelRow>,
    /// Spearman's rank correlation of the confidence score with per-utterance CER (negative:
    /// higher confidence, fewer errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score_cer_spearman: Option<f64>,
    /// Utterances whose English the engine echoed (before collapsing), and utterances whose
    /// English still holds an echo as spoken and captioned (after).
    pub echoes_collapsed: usize,
    pub echoes_left: usize,
}

fn pooled(charges: impl Iterator<Item = Charge>) -> Option<f64> {
    let (errors, length) = charges.fold((0, 0), |(e, l), c| (e + c.errors, l + c.length));
    (length > 0).then(|| errors as f64 / length as f64)
}

impl RiskCoverage {
    pub fn new(scored: &[Scored], utterances: &[UtteranceReport]) -> Self {
        let total = scored.len().max(1) as f64;
        let mut covered = Vec::new();
        let levels = [Level::High, Level::Medium, Level::Low]
            .into_iter()
            .map(|level| {
                let at: Vec<&Scored> = scored.iter().filter(|s| s.level == level).collect();
                covered.extend(at.iter().copied());
                let (hypotheses, references): (Vec<String>, Vec<String>) =
                    at.iter().filter_map(|s| s.english.clone()).unzip();
                LevelRow {
                    level,
                    utterances: at.len(),
                    share: at.len() as f64 / total,
                    cer: pooled(at.iter().filter_map(|s| s.cer)),
                    chrf: (!references.is_empty()).then(|| corpus_chrf(&hypotheses, &references)),
                    cumulative_share: covered.len() as f64 / total,
                    cumulative_cer: pooled(covered.iter().filter_map(|s| s.cer)),
                }
            })
            .collect();
        let ranked: Vec<(f64, f64)> = scored
            .iter()
            .filter_map(|s| {
                s.cer.filter(|c| c.length > 0).map(|c| (f64::from(s.score), c.errors as f64 / c.length as f64))
            })
            .collect();
        Self {
            levels,
            score_cer_spearman: spearman(&ranked),
            echoes_collapsed: utterances.iter().filter(|u| !u.echo_removed.is_empty()).count(),
            echoes_left: echoes_left(utterances),
        }
    }
}

/// Utterances whose English, as said, still repeats itself or the English just before it.
fn echoes_left(utterances: &[UtteranceReport]) -> usize {
    let mut before = "";
    let mut left = 0;
    for u in utterances {
        left += usize::from(echo::has_echo(&u.translated_text, before));
        if !u.translated_text.is_empty() {
            before = &u.translated_text;
        }
    }
    left
}

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            ranks[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation, ties averaged; None under three pairs or with no spread.
pub fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let x = ranks(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let y = ranks(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mx, my) = (mean(&x), mean(&y));
    let covariance: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let spread = |v: &[f64], m: f64| v.iter().map(|a| (a - m).powi(2)).sum::<f64>().sqrt();
    let denominator = spread(&x, mx) * spread(&y, my);
    (denominator > 0.0).then(|| covariance / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_piece_is_charged_its_own_errors() {
        let charged = charges("سلام دوست من خوبی", &["سلام دوست", "من خوبم"]);
        assert_eq!(charged[0], Charge { errors: 0, length: 9 }, "its words; the space after them goes with the next");
        assert_eq!(charged[1].errors, 1);
        assert_eq!(charged.iter().map(|c| c.length).sum::<usize>(), "سلام دوست من خوبی".chars().count());
    }

    #[test]
    fn a_missing_piece_of_the_reference_is_charged_to_the_piece_before() {
        let charged = charges("یک دو سه", &["یک"]);
        assert_eq!(charged[0], Charge { errors: 6, length: 8 });
    }

    #[test]
    fn spearman_is_one_for_the_same_order_and_minus_one_reversed() {
        let same = [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)];
        assert!((spearman(&same).unwrap() - 1.0).abs() < 1e-9);
        let reversed = [(1.0, 30.0), (2.0, 20.0), (3.0, 10.0)];
        assert!((spearman(&reversed).unwrap() + 1.0).abs() < 1e-9);
        assert_eq!(spearman(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    }
}
