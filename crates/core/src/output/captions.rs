//! SRT, WebVTT and JSON output, each caption holding the source and the English line.

use std::fmt::Write as _;

use serde::Serialize;

use super::{DroppedSegment, TranslatedSegment};

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
    for (i, s) in segments.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n{} --> {}\n{}\n{}\n\n",
            i + 1,
            timestamp(s.start_s, ','),
            timestamp(s.end_s, ','),
            s.source_text,
            s.translated_text
        );
    }
    out
}

pub fn vtt(segments: &[TranslatedSegment]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for s in segments {
        let _ = write!(
            out,
            "{} --> {}\n{}\n{}\n\n",
            timestamp(s.start_s, '.'),
            timestamp(s.end_s, '.'),
            s.source_text,
            s.translated_text
        );
    }
    out
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
