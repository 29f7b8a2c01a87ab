//! The bench report's data, as JSON for machines (the Markdown for people is in `markdown.rs`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::risk::RiskCoverage;
use super::{Accuracy, Clip};
use crate::live::{LiveReport, Quantiles, UtteranceReport};
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
