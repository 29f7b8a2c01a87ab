//! The bench report as people read it: the Markdown KPI table, the confidence levels and the
//! slowest utterances.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::risk::RiskCoverage;
use super::BenchReport;
use crate::live::{LatencyMs, UtteranceReport};

impl BenchReport {
    /// The KPI table: target, measured, and the baseline stack where `baseline` (the JSON
    /// `bench/compare.py` writes) has the figure.
    pub fn markdown(&self, baseline: Option<&serde_json::Value>) -> String {
        let theirs = |key: &str, format: fn(f64) -> String| {
            baseline.and_then(|b| b["theirs"][key].as_f64()).map_or("—".to_string(), format)
        };
        let seconds = |v: f64| format!("{v:.2} s");
        let ms = |v: f64| format!("{v:.0} ms");
        let mb = |v: f64| format!("{v:.0} MB");
        let ratio = |v: f64| format!("{v:.3}");
        let optional = |v: Option<f64>, f: fn(f64) -> String| v.map_or("—".to_string(), f);
        // Fed faster than real time, utterances queue behind each other, and that wait is all an
        // end-to-end figure would show.
        let latency = |v: f64| if self.realtime { seconds(v) } else { "— (use --realtime)".to_string() };
        let mut rows: Vec<Kpi> = vec![
            Kpi::new(
                "end of speech → first English sample, p50",
                "≤ 0.8 s",
                latency(self.e2e_latency_s.p50),
                "—".into(),
            ),
            Kpi::new(
                "end of speech → first English sample, p95",
                "≤ 1.2 s",
                latency(self.e2e_latency_s.p95),
                "—".into(),
            ),
            Kpi::new(
                "end of speech → its English heard to the end (output lag), p50 / p95 (of which its English alone)",
                "p95 ≤ 2 s",
                if self.realtime {
                    format!(
                        "{} / {} ({} / {})",
                        seconds(self.output_lag_s.p50),
                        seconds(self.output_lag_s.p95),
                        seconds(self.english_s.p50),
                        seconds(self.english_s.p95)
                    )
                } else {
                    latency(0.0)
                },
                "—".into(),
            ),
            Kpi::new("peak memory (RSS)", "≤ 600 MB", mb(self.peak_rss_mb), theirs("peak_rss_mb", mb)),
            Kpi::new(
                "speech recognition per utterance (working time), p50",
                "—",
                ms(self.stages_ms.stt.p50),
                "—".into(),
            ),
            Kpi::new(
                "recognition time per second of audio, p50 / p95 / max",
                "—",
                format!(
                    "{:.2} / {:.2} / {:.2} s ({} fallback passes, budget reached {}×)",
                    self.recognition.decode_s_per_audio_s.p50,
                    self.recognition.decode_s_per_audio_s.p95,
                    self.recognition.decode_s_per_audio_s.max,
                    self.recognition.fallbacks,
                    self.recognition.budget_exhausted
                ),
                "—".into(),
            ),
            Kpi::new("translation per utterance (working time), p50", "—", ms(self.stages_ms.mt.p50), "—".into()),
            Kpi::new("synthesis of the first sentence, p50", "—", ms(self.stages_ms.tts_first_audio.p50), "—".into()),
            Kpi::new("CPU (share of one core)", "—", format!("{:.0} %", self.cpu_percent), "—".into()),
            Kpi::new("real-time factor (wall / audio fed)", "< 1", format!("{:.2}", self.rtf), "—".into()),
            Kpi::new("WER, Persian normalised", "—", optional(self.wer, ratio), theirs("wer", ratio)),
            Kpi::new("CER, Persian normalised", "—", optional(self.cer, ratio), theirs("cer", ratio)),
            Kpi::new("BLEU (English)", "—", optional(self.bleu, |v| format!("{v:.1}")), "—".into()),
            Kpi::new("chrF (English)", "—", optional(self.chrf, |v| format!("{v:.1}")), "—".into()),
        ];
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} clips, {:.0} s of audio, {} on {} ({} CPUs, int8 by {}); {} utterances detected, {} spoken ({:.0} %), {} not spoken{}.\n",
            self.clips,
            self.audio_s,
            if self.realtime { "fed at real-time pace" } else { "fed as fast as possible" },
            self.machine.model,
            self.machine.cpus,
            self.machine.int8_instructions,
            self.utterances_detected,
            self.utterances_spoken,
            self.spoken_share * 100.0,
            self.utterances_detected - self.utterances_spoken,
            refusal_list(&self.refused),
        );
        if !self.warnings.is_empty() {
            let counts: Vec<String> = self.warnings.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
            let _ = writeln!(out, "Warnings by kind: {}.\n", counts.join(", "));
        }
        out.push_str("| KPI | target | LinguaStream | baseline (faster-whisper + piper-tts) |\n|---|---|---|---|\n");
        if self.clauses_said_ahead > 0 {
            let ahead = format!(
                "{}, {} / {}",
                self.clauses_said_ahead,
                seconds(self.ahead_lag_s.p50),
                seconds(self.ahead_lag_s.p95)
            );
            let name = "clauses said before their utterance ended (--speak-early), behind their audio p50 / p95";
            rows.insert(3, Kpi::new(name, "—", ahead, "—".into()));
        }
        for row in rows {
            let _ = writeln!(out, "| {} | {} | {} | {} |", row.name, row.target, row.ours, row.baseline);
        }
        if let Some(risk) = &self.confidence {
            write_risk_coverage(&mut out, risk);
        }
        self.write_slowest(&mut out, 5);
        if let Some(b) = baseline {
            for (label, key) in [("speech recognition, whole set", "stt_s"), ("speech synthesis, whole set", "tts_s")] {
                if let (Some(ours), Some(them)) = (b["ours"][key].as_f64(), b["theirs"][key].as_f64()) {
                    let _ = writeln!(out, "| {label} (same clips, one process each) | — | {ours:.1} s | {them:.1} s (ours/theirs {:.2}) |", ours / them);
                }
            }
        }
        out
    }

    /// The `count` slowest spoken utterances with the time each step took: where a p95 comes from.
    fn write_slowest(&self, out: &mut String, count: usize) {
        if !self.realtime {
            return;
        }
        let mut spoken: Vec<(&UtteranceReport, LatencyMs)> =
            self.utterances.iter().filter_map(|u| u.latency_ms.map(|l| (u, l))).collect();
        if spoken.is_empty() {
            return;
        }
        spoken.sort_by(|a, b| b.1.e2e.total_cmp(&a.1.e2e));
        out.push_str(
            "\nSlowest utterances (ms from the end of speech; STT, MT and TTS include their wait in the queue):\n\n\
             | at | length | e2e | VAD | STT | MT | TTS first | output | STT working | fallbacks |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
        );
        for (u, l) in spoken.into_iter().take(count) {
            let _ = writeln!(
                out,
                "| {:.1} s | {:.1} s | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} |",
                u.start_s,
                u.end_s - u.start_s,
                l.e2e,
                l.vad,
                l.stt,
                l.mt,
                l.tts_first_audio,
                l.output,
                u.processing_ms.stt,
                u.recognition.decoding.fallbacks
            );
        }
    }
}

/// The confidence levels with their share and their utterances' own errors, and the echoes.
fn write_risk_coverage(out: &mut String, risk: &RiskCoverage) {
    let value = |v: Option<f64>, digits: usize| v.map_or("—".to_string(), |v| format!("{v:.digits$}"));
    let _ = write!(
        out,
        "\nConfidence (risk–coverage: each level's utterances and their own errors; Spearman ρ of score and CER {}). \
         Echoes: {} utterances' English repeated itself and was collapsed; {} still repeat.\n\n\
         | confidence | utterances | CER | chrF (one-utterance clips) | this level and above: share | CER |\n\
         |---|---|---|---|---|---|\n",
        value(risk.score_cer_spearman, 2),
        risk.echoes_collapsed,
        risk.echoes_left
    );
    for row in &risk.levels {
        let _ = writeln!(
            out,
            "| {} | {} ({:.0} %) | {} | {} | {:.0} % | {} |",
            row.level.name(),
            row.utterances,
            row.share * 100.0,
            value(row.cer, 3),
            value(row.chrf, 1),
            row.cumulative_share * 100.0,
            value(row.cumulative_cer, 3)
        );
    }
}

/// ` (no_speech 2, repetition 1)`, or nothing when nothing was refused.
fn refusal_list(refused: &BTreeMap<String, usize>) -> String {
    if refused.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = refused.iter().map(|(reason, n)| format!("{reason} {n}")).collect();
    format!(" ({})", parts.join(", "))
}

/// One row of the KPI table.
struct Kpi {
    name: &'static str,
    target: &'static str,
    ours: String,
    baseline: String,
}

impl Kpi {
    fn new(name: &'static str, target: &'static str, ours: String, baseline: String) -> Self {
        Self { name, target, ours, baseline }
    }
}
