//! The bench report: JSON for machines, a Markdown KPI table for people.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use serde::Serialize;

use super::risk::RiskCoverage;
use super::{Accuracy, Clip};
use crate::live::{LatencyMs, LiveReport, Quantiles, UtteranceReport};
use crate::output::Recognition;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub p50: f64,
    pub p95: f64,
}

impl From<Quantiles> for Spread {
    fn from(q: Quantiles) -> Self {
        Self { p50: q.p50, p95: q.p95 }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StageSpreads {
    pub vad: Spread,
    pub stt: Spread,
    pub mt: Spread,
    pub tts_first_audio: Spread,
}

impl StageSpreads {
    /// The VAD's wait for the pause, and each other stage's own working time (queueing excluded,
    /// which `e2e_latency_s` includes).
    fn of(live: &LiveReport) -> Self {
        let spread = |f: fn(&UtteranceReport) -> f64| -> Spread {
            Quantiles::of(&live.utterances.iter().filter(|u| u.latency_ms.is_some()).map(f).collect::<Vec<_>>()).into()
        };
        Self {
            vad: live.stages_ms.vad.into(),
            stt: spread(|u| u.processing_ms.stt),
            mt: spread(|u| u.processing_ms.mt),
            tts_first_audio: spread(|u| u.processing_ms.tts_first_audio),
        }
    }
}

/// How recognition went over the whole run, spoken and refused utterances alike.
#[derive(Debug, Clone, Serialize)]
pub struct RecognitionSummary {
    /// Seconds spent recognising per second of utterance audio (encoder and every decoding pass).
    pub decode_s_per_audio_s: Quantiles,
    /// Decoding passes beyond the first greedy one, over all utterances.
    pub fallbacks: usize,
    /// Utterances whose fallbacks the time budget cut short.
    pub budget_exhausted: usize,
}

impl RecognitionSummary {
    fn of(live: &LiveReport) -> Self {
        let recognitions: Vec<&Recognition> = live
            .utterances
            .iter()
            .map(|u| &u.recognition)
            .chain(live.dropped.iter().filter_map(|d| d.recognition.as_ref()))
            .collect();
        let per_second: Vec<f64> = recognitions
            .iter()
            .filter(|r| r.evidence.audio_s > 0.0)
            .map(|r| r.decoding.decode_ms / 1000.0 / f64::from(r.evidence.audio_s))
            .collect();
        Self {
            decode_s_per_audio_s: Quantiles::of(&per_second),
            fallbacks: recognitions.iter().map(|r| r.decoding.fallbacks).sum(),
            budget_exhausted: recognitions.iter().filter(|r| r.decoding.budget_exhausted).count(),
        }
    }
}

fn refused(live: &LiveReport) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for dropped in &live.dropped {
        *counts.entry(dropped.reason_code.clone()).or_insert(0) += 1;
    }
    // Translated but not spoken: an untranslatable translation, or too far behind the speaker.
    let captioned = live.utterances.iter().filter(|u| u.latency_ms.is_none()).count();
    if captioned > 0 {
        counts.insert("captioned_only".into(), captioned);
    }
    counts
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub model: String,
    /// The fastest int8 matrix instructions the CPU has, which CTranslate2 picks at run time:
    /// recognition per long-form utterance took 240 ms p50 with AMX, 345–462 ms with AVX-512
    /// VNNI alone, on 2 cores.
    pub int8_instructions: &'static str,
}

impl Machine {
    fn this() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo_field(&cpuinfo, "model name").unwrap_or("unknown").to_string();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self { cpus, model, int8_instructions: int8_instructions(&cpuinfo) }
    }
}

/// The first CPU's value of `name` in /proc/cpuinfo.
fn cpuinfo_field<'a>(cpuinfo: &'a str, name: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|l| l.strip_prefix(name)?.split_once(':').map(|(_, value)| value.trim()))
}

fn int8_instructions(cpuinfo: &str) -> &'static str {
    let flags: Vec<&str> = cpuinfo_field(cpuinfo, "flags").map_or_else(Vec::new, |f| f.split_whitespace().collect());
    let has = |flag: &str| flags.contains(&flag);
    if has("amx_int8") {
        "AMX"
    } else if has("avx512_vnni") {
        "AVX-512 VNNI"
    } else if has("avx_vnni") {
        "AVX-VNNI"
    } else if has("avx2") {
        "AVX2"
    } else {
        "no AVX2"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClipResult {
    pub id: String,
    pub transcript: String,
    pub english: String,
}

/// Everything `bench --json` writes.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub clips: usize,
    pub audio_s: f64,
    pub realtime: bool,
    /// Utterances the voice-activity detector found.
    pub utterances_detected: usize,
    pub utterances_spoken: usize,
    pub utterances_dropped: usize,
    /// Utterances not spoken, by reason: the gate's (`no_speech`, `repetition`, …) or
    /// `captioned_only` (translated, but the English could not or should not be spoken).
    pub refused: BTreeMap<String, usize>,
    /// Warnings of the run by kind (`translation_failed`, `too_far_behind`, …).
    pub warnings: BTreeMap<String, usize>,
    /// Spoken over detected.
    pub spoken_share: f64,
    pub recognition: RecognitionSummary,
    pub e2e_latency_s: Quantiles,
    /// Speech end → its English heard to the end, played in real time after the English before.
    pub output_lag_s: Quantiles,
    /// How long each utterance's English takes to hear: the output lag less the wait for it.
    pub english_s: Quantiles,
    /// With `--speak-early`: clauses said before their utterance ended, and how long after the
    /// last audio they were translated from each began.
    pub clauses_said_ahead: usize,
    pub ahead_lag_s: Quantiles,
    pub stages_ms: StageSpreads,
    /// Wall time over the audio fed (clips and the pauses between them).
    pub rtf: f64,
    pub wall_s: f64,
    pub peak_rss_mb: f64,
    pub cpu_percent: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wer: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cer: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bleu: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chrf: Option<f64>,
    /// Confidence levels against the utterances' own errors, and the echoes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<RiskCoverage>,
    pub machine: Machine,
    pub models: serde_json::Value,
    pub results: Vec<ClipResult>,
    /// Every spoken or captioned utterance with its own stage times, so a tail can be traced to
    /// the stage that made it.
    pub utterances: Vec<UtteranceReport>,
}

impl BenchReport {
    /// `fed_s` is the length of the stream the clips were joined into: the pauses between clips
    /// are fed too, so they count for the real-time factor.
    pub fn new(
        clips: &[Clip],
        accuracy: &Accuracy,
        live: LiveReport,
        warnings: BTreeMap<String, usize>,
        audio_s: f64,
        fed_s: f64,
        realtime: bool,
    ) -> Self {
        let spoken = live.utterances.iter().filter(|u| u.latency_ms.is_some()).count();
        let stages_ms = StageSpreads::of(&live);
        Self {
            clips: clips.len(),
            audio_s,
            realtime,
            utterances_detected: live.utterances.len() + live.dropped.len(),
            utterances_spoken: spoken,
            utterances_dropped: live.dropped.len(),
            refused: refused(&live),
            warnings,
            spoken_share: spoken as f64 / (live.utterances.len() + live.dropped.len()).max(1) as f64,
            recognition: RecognitionSummary::of(&live),
            e2e_latency_s: live.e2e_latency_s,
            output_lag_s: live.output_lag_s,
            english_s: live.english_s,
            clauses_said_ahead: live.clauses_said_ahead,
            ahead_lag_s: live.ahead_lag_s,
            stages_ms,
            rtf: live.wall_s / fed_s.max(1e-9),
            wall_s: live.wall_s,
            peak_rss_mb: live.peak_rss_mb,
            cpu_percent: live.cpu_percent,
            wer: accuracy.wer.rate(),
            cer: accuracy.cer.rate(),
            bleu: accuracy.bleu,
            chrf: accuracy.chrf,
            confidence: accuracy.risk.clone(),
            machine: Machine::this(),
            models: serde_json::Value::Null,
            results: accuracy
                .transcripts
                .iter()
                .map(|(id, transcript, english)| ClipResult {
                    id: id.clone(),
                    transcript: transcript.clone(),
                    english: english.clone(),
                })
                .collect(),
            utterances: live.utterances,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::int8_instructions;

    #[test]
    fn the_fastest_int8_instructions_are_named() {
        let cpuinfo = |flags: &str| format!("processor\t: 0\nmodel name\t: Xeon\nflags\t\t: fpu {flags} sse2\n");
        assert_eq!(int8_instructions(&cpuinfo("avx2 avx512f avx512_vnni amx_tile amx_int8")), "AMX");
        assert_eq!(int8_instructions(&cpuinfo("avx2 avx512f avx512_vnni")), "AVX-512 VNNI");
        assert_eq!(int8_instructions(&cpuinfo("avx2 avx_vnni")), "AVX-VNNI");
        assert_eq!(int8_instructions(&cpuinfo("avx2")), "AVX2");
        assert_eq!(int8_instructions(&cpuinfo("sse4_2")), "no AVX2");
        assert_eq!(int8_instructions(""), "no AVX2");
    }
}
