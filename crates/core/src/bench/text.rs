//! Text translation alone: the `fa_transcript` column of a manifest through a translator,
//! scored with BLEU and chrF against `en_reference`, with the time per sentence; or the other
//! way, `en_reference` into Persian against `fa_transcript`.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::metrics::{corpus_bleu, corpus_chrf};
use super::{BenchError, Table};
use crate::live::{peak_rss_mb, Quantiles};
use crate::mt::{Pair, SourceSegment, Translator};

/// A source sentence and its reference translation.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPair {
    pub id: String,
    pub source: String,
    pub reference: String,
}

#[derive(Debug, Serialize)]
pub struct TextReport {
    pub sentences: usize,
    pub failed: usize,
    pub bleu: f64,
    pub chrf: f64,
    pub ms_per_sentence: Quantiles,
    pub peak_rss_mb: f64,
    pub engine: String,
    pub translations: Vec<(String, String, String)>,
}

/// The rows of a manifest that have text in both languages of `pair` (`fa_transcript`,
/// `en_reference`), source first; with `limit`, that many spread evenly over the set (sets are
/// often sorted, so the first rows are not a sample).
pub fn read_text_pairs(path: &Path, pair: &Pair, limit: Option<usize>) -> Result<Vec<TextPair>, BenchError> {
    let table = Table::read(path)?;
    let column = |language: &str| match language {
        "fa" => Ok("fa_transcript"),
        "en" => Ok("en_reference"),
        other => Err(table.error(format!("a manifest has Persian and English text, not '{other}'"))),
    };
    let (source_name, reference_name) = (column(&pair.from)?, column(&pair.to)?);
    let (Some(source), Some(reference)) = (table.column(source_name), table.column(reference_name)) else {
        return Err(table.error("text mode needs `fa_transcript` and `en_reference` columns".into()));
    };
    let id = table.column("id");
    let pairs: Vec<TextPair> = (table.rows.iter())
        .filter_map(|row| {
            Some(TextPair {
                id: row.id(id),
                source: row.field(Some(source))?.to_string(),
                reference: row.field(Some(reference))?.to_string(),
            })
        })
        .collect();
    let pairs = spread(pairs, limit);
    if pairs.is_empty() {
        return Err(table.error("no rows with both a transcript and a reference".into()));
    }
    Ok(pairs)
}

/// `n` items spread evenly over `items` (all of them without `n`).
pub fn spread<T>(items: Vec<T>, n: Option<usize>) -> Vec<T> {
    let total = items.len();
    match n {
        Some(n) if n < total => {
            let wanted: std::collections::BTreeSet<usize> = (0..n).map(|i| i * total / n).collect();
            items.into_iter().enumerate().filter(|(i, _)| wanted.contains(i)).map(|(_, item)| item).collect()
        }
        _ => items,
    }
}

/// Translates every pair in order (a failure counts as an empty translation).
pub fn run_text(pairs: &[TextPair], translator: &mut dyn Translator) -> TextReport {
    let mut times = Vec::with_capacity(pairs.len());
    let (mut hypotheses, mut references, mut translations) = (Vec::new(), Vec::new(), Vec::new());
    let mut failed = 0;
    for pair in pairs {
        let started = Instant::now();
        let english = translator.translate(SourceSegment { text: &pair.source, audio: &[] }).unwrap_or_else(|_| {
            failed += 1;
            String::new()
        });
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        hypotheses.push(english.clone());
        references.push(pair.reference.clone());
        translations.push((pair.id.clone(), pair.source.clone(), english));
    }
    TextReport {
        sentences: pairs.len(),
        failed,
        bleu: corpus_bleu(&hypotheses, &references),
        chrf: corpus_chrf(&hypotheses, &references),
        ms_per_sentence: Quantiles::of(&times),
        peak_rss_mb: peak_rss_mb(),
        engine: translator.name().to_string(),
        translations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rows_need_both_sides_and_the_limit_counts_usable_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tsv");
        std::fs::write(&path, "id\taudio\tfa_transcript\ten_reference\na\t\tسلام\thello\nb\t\tخوب\t\nc\t\tنه\tno\n")
            .unwrap();
        let fa_en = Pair::new("fa", "en");
        let pairs = read_text_pairs(&path, &fa_en, None).unwrap();
        assert_eq!(pairs.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!((pairs[0].source.as_str(), pairs[0].reference.as_str()), ("سلام", "hello"));
        assert_eq!(read_text_pairs(&path, &fa_en, Some(1)).unwrap().len(), 1);
        let en_fa = read_text_pairs(&path, &Pair::new("en", "fa"), None).unwrap();
        assert_eq!((en_fa[1].source.as_str(), en_fa[1].reference.as_str()), ("no", "نه"), "turned round");
        assert!(read_text_pairs(&path, &Pair::new("pt", "en"), None).is_err());
        assert_eq!(spread((0..10).collect(), Some(4)), vec![0, 2, 5, 7]);
        assert_eq!(spread((0..3).collect(), Some(5)), vec![0, 1, 2]);
    }
}
