//! SRT, WebVTT and JSON output, each caption holding the source and the English line.
//!
//! A caption stays on screen for at most [`MAX_CUE_S`]: a longer utterance (files are read in
//! passages of up to 25 s) is shown in parts. Its source and English are each cut into as many
//! parts, at word boundaries near equal shares of the text, preferring the end of a sentence or
//! clause; each part's time is its share of the source text, so within a passage the times are
//! approximate.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Delivery, DroppedSegment, TranslatedSegment};
use crate::confidence::Level;

/// The machine-readable record of a run (`--json`).
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    pub segments: &'a [TranslatedSegment],
    pub dropped: &'a [DroppedSegment],
    pub model: serde_json::Value,
    pub input: serde_json::Value,
}

fn timestamp(seconds: f64, decimal: char) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}{decimal}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

pub fn srt(segments: &[TranslatedSegment]) -> String {
    let mut out = String::new();
    for (i, cue) in cues(segments).iter().enumerate() {
        let (start, end) = (timestamp(cue.start_s, ','), timestamp(cue.end_s, ','));
        let (source, english) = cue.lines();
        let _ = write!(out, "{}\n{start} --> {end}\n{source}\n{english}\n\n", i + 1);
    }
    out
}

pub fn vtt(segments: &[TranslatedSegment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for cue in cues(segments) {
        let (start, end) = (timestamp(cue.start_s, '.'), timestamp(cue.end_s, '.'));
        let (source, english) = cue.lines();
        let _ = write!(out, "{start} --> {end}\n{source}\n{english}\n\n");
    }
    out
}

/// The longest a caption stays on screen, as subtitle guidelines advise (about 7 s).
pub const MAX_CUE_S: f64 = 7.0;

/// One caption on screen.
#[derive(Debug, PartialEq)]
struct Cue<'a> {
    start_s: f64,
    end_s: f64,
    source: &'a str,
    english: &'a str,
    mark: Mark,
}

/// What a caption says about its utterance's confidence: both lines of a low-confidence one are
/// marked "(?)", so the speaker sees what the listener was warned of, and English the listener
/// did not hear says so.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    None,
    Unsure,
    UnsureNotSpoken,
}

impl Mark {
    fn of(segment: &TranslatedSegment) -> Self {
        match (segment.confidence.level, segment.delivery) {
            (_, Delivery::CaptionOnly) => Mark::UnsureNotSpoken,
            (Level::Low, _) => Mark::Unsure,
            _ => Mark::None,
        }
    }
}

impl Cue<'_> {
    /// The source line and the English line, marked.
    fn lines(&self) -> (String, String) {
        let (source, english) = (self.source, self.english);
        match self.mark {
            Mark::None => (source.to_string(), english.to_string()),
            Mark::Unsure => (format!("(?) {source}"), format!("(?) {english}")),
            Mark::UnsureNotSpoken => (format!("(?) {source}"), format!("(?, not spoken) {english}")),
        }
    }
}

fn cues(segments: &[TranslatedSegment]) -> Vec<Cue<'_>> {
    segments.iter().flat_map(segment_cues).collect()
}

/// A segment's captions: itself, or parts of at most about [`MAX_CUE_S`] when it is longer.
fn segment_cues(segment: &TranslatedSegment) -> Vec<Cue<'_>> {
    let duration = segment.end_s - segment.start_s;
    let wanted = (duration / MAX_CUE_S).ceil().max(1.0) as usize;
    let source = split_text(&segment.source_text, wanted);
    let english = split_text(&segment.translated_text, source.len());
    let mark = Mark::of(segment);
    if source.len() < 2 || english.len() != source.len() {
        let (source, english) = (segment.source_text.as_str(), segment.translated_text.as_str());
        return vec![Cue { start_s: segment.start_s, end_s: segment.end_s, source, english, mark }];
    }
    let total: usize = source.iter().map(|part| part.chars().count()).sum();
    let mut start_s = segment.start_s;
    let mut done = 0;
    source
        .into_iter()
        .zip(english)
        .map(|(source, english)| {
            done += source.chars().count();
            let end_s = segment.start_s + duration * done as f64 / total.max(1) as f64;
            let cue = Cue { start_s, end_s, source, english, mark };
            start_s = end_s;
            cue
        })
        .collect()
}

/// Cuts `text` into at most `parts` pieces of similar length at spaces, each cut at the end of
/// a sentence or clause when one lies near it. Fewer pieces when it has fewer words.
fn split_text(text: &str, parts: usize) -> Vec<&str> {
    let text = text.trim();
    let spaces: Vec<usize> = text.char_indices().filter(|(_, c)| c.is_whitespace()).map(|(i, _)| i).collect();
    let parts = parts.min(spaces.len() + 1);
    let share = text.len() / parts.max(1);
    let ends_clause = |at: usize| text[..at].trim_end().ends_with(['.', '!', '?', ',', ';', ':', '،', '؟', '؛']);
    let mut cuts = Vec::new();
    for i in 1..parts {
        let target = share * i;
        let after_last = |at: &&usize| cuts.last().is_none_or(|&last| **at > last);
        let nearest = |candidates: &mut dyn Iterator<Item = &usize>| {
            candidates.filter(after_last).min_by_key(|&&at| at.abs_diff(target)).copied()
        };
        let near_clause =
            nearest(&mut spaces.iter().filter(|&&at| at.abs_diff(target) <= share / 3 && ends_clause(at)));
        if let Some(cut) = near_clause.or_else(|| nearest(&mut spaces.iter())) {
            cuts.push(cut);
        }
    }
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for cut in cuts.into_iter().chain([text.len()]) {
        pieces.push(text[from..cut].trim());
        from = cut;
    }
    pieces.retain(|piece| !piece.is_empty());
    pieces
}

/// The `--json` report.
pub fn json(report: &RunReport<'_>) -> String {
    serde_json::to_string_pretty(report).expect("report is serialisable")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::StageTimings;

    fn segment() -> TranslatedSegment {
        TranslatedSegment {
            start_s: 61.5,
            end_s: 63.25,
            source_text: "سلام".into(),
            translated_text: "Hello".into(),
            mt_failed: false,
            timings_ms: StageTimings { stt: 1.0, mt: 2.0, tts: 3.0 },
            speech_start_s: 61.5,
            recognition: Default::default(),
            confidence: Default::default(),
            echo_removed: vec![],
            delivery: Default::default(),
            speech: vec![],
        }
    }

    #[test]
    fn srt_and_vtt_hold_both_languages() {
        let segments = [segment()];
        assert_eq!(srt(&segments), "1\n00:01:01,500 --> 00:01:03,250\nسلام\nHello\n\n");
        assert_eq!(vtt(&segments), "WEBVTT\n\n00:01:01.500 --> 00:01:03.250\nسلام\nHello\n\n");
    }

    #[test]
    fn low_confidence_marks_both_lines_and_says_when_it_was_not_spoken() {
        let unsure = crate::confidence::Confidence { level: Level::Low, ..Default::default() };
        let cued = TranslatedSegment { confidence: unsure.clone(), delivery: Delivery::SpokenWithCue, ..segment() };
        assert_eq!(srt(&[cued]), "1\n00:01:01,500 --> 00:01:03,250\n(?) سلام\n(?) Hello\n\n");
        let silent = TranslatedSegment { confidence: unsure, delivery: Delivery::CaptionOnly, ..segment() };
        assert!(vtt(&[silent]).ends_with("(?) سلام\n(?, not spoken) Hello\n\n"));
        let sure = [segment()];
        assert!(!srt(&sure).contains("(?)"));
        let json =
            json(&RunReport { segments: &sure, dropped: &[], model: Default::default(), input: Default::default() });
        assert!(
            json.contains("\"confidence\"")
                && json.contains("\"level\": \"high\"")
                && json.contains("\"delivery\": \"spoken\"")
        );
    }

    #[test]
    fn a_long_passage_is_captioned_in_parts_cut_at_sentence_ends() {
        let passage = TranslatedSegment {
            start_s: 10.0,
            end_s: 30.0,
            source_text: "جملهٔ اول این است. جملهٔ دوم کمی بلندتر است. و این هم جملهٔ سوم است".into(),
            translated_text: "This is the first sentence. The second one is a bit longer. And this is the third".into(),
            ..segment()
        };
        let cues = segment_cues(&passage);
        let lines: Vec<(&str, &str)> = cues.iter().map(|c| (c.source, c.english)).collect();
        assert_eq!(
            lines,
            [
                ("جملهٔ اول این است.", "This is the first sentence."),
                ("جملهٔ دوم کمی بلندتر است.", "The second one is a bit longer."),
                ("و این هم جملهٔ سوم است", "And this is the third"),
            ]
        );
        assert_eq!((cues[0].start_s, cues[2].end_s), (10.0, 30.0));
        assert!(cues.windows(2).all(|w| w[0].end_s == w[1].start_s && w[0].start_s < w[0].end_s));
        assert!(cues.iter().all(|c| c.end_s - c.start_s < MAX_CUE_S + 2.0), "{cues:?}");
        assert_eq!(srt(&[passage]).matches(" --> ").count(), 3);
    }

    #[test]
    fn text_without_punctuation_is_cut_at_spaces_and_one_word_is_never_cut() {
        assert_eq!(split_text("aa bb cc dd", 2), ["aa bb", "cc dd"]);
        assert_eq!(split_text("word", 3), ["word"]);
        assert_eq!(split_text("", 3), Vec::<&str>::new());
        let one = TranslatedSegment { start_s: 0.0, end_s: 20.0, translated_text: "Hello there".into(), ..segment() };
        assert_eq!(segment_cues(&one).len(), 1, "the single Persian word stays one caption");
    }

    #[test]
    fn json_has_the_documented_fields() {
        let segments = [segment()];
        let report =
            RunReport { segments: &segments, dropped: &[], model: serde_json::json!({}), input: serde_json::json!({}) };
        let value = serde_json::to_value(&report).unwrap();
        let s = &value["segments"][0];
        for key in ["start_s", "end_s", "source_text", "translated_text"] {
            assert!(!s[key].is_null(), "{key}");
        }
        assert_eq!(s["timings_ms"]["tts"], 3.0);
        assert!(value["model"].is_object());
    }
}
