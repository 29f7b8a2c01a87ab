//! Latency and resource figures of a live session.

use std::time::Instant;

use serde::Serialize;

use crate::confidence::Confidence;
use crate::output::{Delivery, DroppedSegment, Recognition, TranslatedSegment};
use crate::pipeline::StageMarks;

/// Milliseconds each step took for one utterance, from the end of its speech.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LatencyMs {
    /// Speech end → the VAD decided the utterance was over (mostly the pause it waits for).
    pub vad: f64,
    pub stt: f64,
    pub mt: f64,
    /// Translation done → first sentence synthesised.
    pub tts_first_audio: f64,
    /// First sentence synthesised → written to the outputs.
    pub output: f64,
    /// Speech end → first English sample written: what the listener waits.
    pub e2e: f64,
    /// Speech end → its English heard to the end (played in real time after the English before
    /// it): how far the voice runs behind the speaker.
    pub output_lag: f64,
    /// Its English, as long as it takes to hear: without a queue the output lag is at least
    /// e2e plus this.
    pub english: f64,
}

/// Milliseconds from the end of speech to the captions, by stage, queueing included: every
/// utterance has them, spoken or only captioned (the other side of a call).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CaptionStagesMs {
    pub vad: f64,
    pub stt: f64,
    pub mt: f64,
}

/// Milliseconds each stage spent working on one utterance, queueing excluded.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcessingMs {
    pub stt: f64,
    pub mt: f64,
    /// Synthesis of the first sentence.
    pub tts_first_audio: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UtteranceReport {
    pub seq: u64,
    pub start_s: f64,
    pub end_s: f64,
    pub source_text: String,
    pub translated_text: String,
    /// None when nothing was spoken (translation failed and the text was not speakable).
    pub latency_ms: Option<LatencyMs>,
    /// Speech end → its captions (transcript and translation) ready, spoken or not.
    pub caption_ms: f64,
    pub caption_stages_ms: CaptionStagesMs,
    pub processing_ms: ProcessingMs,
    pub recognition: Recognition,
    pub confidence: Confidence,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub echo_removed: Vec<String>,
    pub delivery: Delivery,
}

fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

impl UtteranceReport {
    pub fn new(seq: u64, segment: &TranslatedSegment, marks: &StageMarks, first_written: Option<Instant>) -> Self {
        let latency_ms = marks.first_speech_at.zip(first_written).map(|(first_speech, written)| LatencyMs {
            vad: ms(marks.speech_end_at, marks.detected_at),
            stt: ms(marks.detected_at, marks.recognized_at),
            mt: ms(marks.recognized_at, marks.translated_at),
            tts_first_audio: ms(marks.translated_at, first_speech),
            output: ms(first_speech, written),
            e2e: ms(marks.speech_end_at, written),
            output_lag: marks.heard_until.map_or(0.0, |end| ms(marks.speech_end_at, end)),
            english: marks.english_s * 1000.0,
        });
        Self {
            seq,
            start_s: segment.start_s,
            end_s: segment.end_s,
            source_text: segment.source_text.clone(),
            translated_text: segment.translated_text.clone(),
            latency_ms,
            caption_ms: ms(marks.speech_end_at, marks.translated_at),
            caption_stages_ms: CaptionStagesMs {
                vad: ms(marks.speech_end_at, marks.detected_at),
                stt: ms(marks.detected_at, marks.recognized_at),
                mt: ms(marks.recognized_at, marks.translated_at),
            },
            processing_ms: ProcessingMs {
                stt: segment.timings_ms.stt,
                mt: segment.timings_ms.mt,
                tts_first_audio: marks.first_speech_at.map_or(0.0, |at| ms(marks.synthesis_started_at, at)),
            },
            recognition: segment.recognition.clone(),
            confidence: segment.confidence.clone(),
            echo_removed: segment.echo_removed.clone(),
            delivery: segment.delivery,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
}

impl Quantiles {
    pub fn of(values: &[f64]) -> Self {
        Self { p50: percentile(values, 50.0), p95: percentile(values, 95.0), max: percentile(values, 100.0) }
    }
}

/// Nearest-rank percentile; 0 for no values.
fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StageQuantiles {
    pub vad: Quantiles,
    pub stt: Quantiles,
    pub mt: Quantiles,
    pub tts_first_audio: Quantiles,
    pub output: Quantiles,
}

/// Everything `live --metrics-json` writes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveReport {
    pub utterances: Vec<UtteranceReport>,
    pub dropped: Vec<DroppedSegment>,
    pub e2e_latency_s: Quantiles,
    /// Speech end → each utterance's captions ready (see `UtteranceReport::caption_ms`): the
    /// latency of a lane that is only captioned.
    pub caption_latency_s: Quantiles,
    /// Speech end → each utterance's English heard to the end (see `LatencyMs::output_lag`).
    pub output_lag_s: Quantiles,
    /// How long each utterance's English takes to hear (see `LatencyMs::english`).
    pub english_s: Quantiles,
    /// English said before its utterance ended (`--speak-early`): how long after the last audio
    /// it was translated from each clause's first sample was written, and how many there were.
    pub ahead_lag_s: Quantiles,
    pub clauses_said_ahead: usize,
    #[serde(skip)]
    pub ahead_lags_s: Vec<f64>,
    pub stages_ms: StageQuantiles,
    pub wall_s: f64,
    pub cpu_percent: f64,
    pub peak_rss_mb: f64,
    /// Most audio that ever waited for the pipeline.
    pub max_backlog_s: f64,
    /// Audio lost because more than a minute was waiting (should be 0).
    pub lost_audio_s: f64,
    pub capture_problems: Vec<String>,
}

impl LiveReport {
    pub fn summarise(&mut self) {
        let latencies: Vec<LatencyMs> = self.utterances.iter().filter_map(|u| u.latency_ms).collect();
        let pick = |f: fn(&LatencyMs) -> f64| Quantiles::of(&latencies.iter().map(f).collect::<Vec<_>>());
        let seconds = |q: Quantiles| Quantiles { p50: q.p50 / 1000.0, p95: q.p95 / 1000.0, max: q.max / 1000.0 };
        self.e2e_latency_s = seconds(pick(|l| l.e2e));
        let captions: Vec<f64> = self.utterances.iter().map(|u| u.caption_ms).collect();
        self.caption_latency_s = seconds(Quantiles::of(&captions));
        self.output_lag_s = seconds(pick(|l| l.output_lag));
        self.english_s = seconds(pick(|l| l.english));
        self.ahead_lag_s = Quantiles::of(&self.ahead_lags_s);
        self.clauses_said_ahead = self.ahead_lags_s.len();
        // Up to the captions every utterance counts; the voice's stages only the spoken ones.
        let to_caption = |f: fn(&CaptionStagesMs) -> f64| {
            Quantiles::of(&self.utterances.iter().map(|u| f(&u.caption_stages_ms)).collect::<Vec<_>>())
        };
        self.stages_ms = StageQuantiles {
            vad: to_caption(|s| s.vad),
            stt: to_caption(|s| s.stt),
            mt: to_caption(|s| s.mt),
            tts_first_audio: pick(|l| l.tts_first_audio),
            output: pick(|l| l.output),
        };
    }
}

/// User + system CPU time of this process so far, in seconds.
pub fn cpu_seconds() -> f64 {
    let usage = rusage();
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Peak resident memory of this process, in MB.
pub fn peak_rss_mb() -> f64 {
    rusage().ru_maxrss as f64 / 1024.0
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage only writes into the struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 10.0);
        assert_eq!(percentile(&values, 95.0), 19.0);
        assert_eq!(percentile(&values, 100.0), 20.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    fn utterance(caption_stages_ms: CaptionStagesMs, spoken: bool) -> UtteranceReport {
        let latency = LatencyMs {
            vad: 1.0,
            stt: 1.0,
            mt: 1.0,
            tts_first_audio: 50.0,
            output: 5.0,
            e2e: 58.0,
            ..Default::default()
        };
        UtteranceReport {
            seq: 0,
            start_s: 0.0,
            end_s: 1.0,
            source_text: String::new(),
            translated_text: String::new(),
            latency_ms: spoken.then_some(latency),
            caption_ms: caption_stages_ms.vad + caption_stages_ms.stt + caption_stages_ms.mt,
            caption_stages_ms,
            processing_ms: ProcessingMs::default(),
            recognition: Recognition::default(),
            confidence: Confidence::default(),
            echo_removed: Vec::new(),
            delivery: Delivery::Captioned,
        }
    }

    /// A lane that is only captioned still reports where its captions' time went.
    #[test]
    fn captioned_utterances_count_in_the_stages_up_to_their_captions() {
        let stages = CaptionStagesMs { vad: 100.0, stt: 300.0, mt: 600.0 };
        let mut report = LiveReport { utterances: vec![utterance(stages, false)], ..Default::default() };
        report.summarise();
        assert_eq!(
            (report.stages_ms.vad.p50, report.stages_ms.stt.p50, report.stages_ms.mt.p50),
            (100.0, 300.0, 600.0)
        );
        assert_eq!(report.caption_latency_s.p50, 1.0);
        assert_eq!(report.stages_ms.tts_first_audio.p50, 0.0, "nothing was spoken");
    }
}
