//! `GET /metrics`: what the live sessions did, in Prometheus's text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use linguastream_core::confidence::Level;
use linguastream_core::live::{peak_rss_mb, LatencyMs};

/// Upper bounds (seconds) of the latency buckets: the targets (0.8 s, 1.2 s) fall on edges.
const BUCKETS: [f64; 9] = [0.1, 0.2, 0.4, 0.6, 0.8, 1.2, 2.0, 5.0, 10.0];
/// The stages of [`LatencyMs`] reported, by their Prometheus label.
const STAGES: [&str; 6] = ["vad", "stt", "mt", "tts_first_audio", "output", "e2e"];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (count, &bound) in self.counts.iter_mut().zip(&BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// Counters shared by every session of the server.
#[derive(Default)]
pub(crate) struct Metrics {
    pub sessions: AtomicU64,
    pub audio_samples: AtomicU64,
    pub spoken: AtomicU64,
    pub captioned_only: AtomicU64,
    pub refused: AtomicU64,
    /// Utterances by confidence level: low, medium, high.
    by_confidence: [AtomicU64; 3],
    latency: Mutex<[Histogram; STAGES.len()]>,
}

impl Metrics {
    pub fn count(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// One utterance that reached the client: spoken (with its latencies) or captioned only.
    pub fn utterance(&self, latency: Option<&LatencyMs>, confidence: Level) {
        Self::count(&self.by_confidence[confidence as usize], 1);
        let Some(l) = latency else {
            Self::count(&self.captioned_only, 1);
            return;
        };
        Self::count(&self.spoken, 1);
        let mut histograms = self.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (histogram, ms) in histograms.iter_mut().zip([l.vad, l.stt, l.mt, l.tts_first_audio, l.output, l.e2e]) {
            histogram.observe(ms / 1000.0);
        }
    }

    pub fn render(&self, active_sessions: usize) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        let _ = writeln!(
            out,
            "# HELP linguastream_sessions_active Live sessions now.\n# TYPE linguastream_sessions_active gauge\nlinguastream_sessions_active {active_sessions}"
        );
        counter(
            &mut out,
            "linguastream_sessions_total",
            "Live sessions started.",
            self.sessions.load(Ordering::Relaxed) as f64,
        );
        let audio_s = self.audio_samples.load(Ordering::Relaxed) as f64 / 16_000.0;
        counter(
            &mut out,
            "linguastream_audio_received_seconds_total",
            "Audio received from clients (none is dropped: clients are slowed down instead).",
            audio_s,
        );
        counter(
            &mut out,
            "linguastream_utterances_spoken_total",
            "Utterances translated and spoken.",
            self.spoken.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "linguastream_utterances_captioned_only_total",
            "Utterances translated but not spoken.",
            self.captioned_only.load(Ordering::Relaxed) as f64,
        );
        let _ = writeln!(
            out,
            "# HELP linguastream_utterances_by_confidence_total Utterances translated, by confidence level.\n# TYPE linguastream_utterances_by_confidence_total counter"
        );
        for level in [Level::Low, Level::Medium, Level::High] {
            let n = self.by_confidence[level as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "linguastream_utterances_by_confidence_total{{level=\"{}\"}} {n}", level.name());
        }
        counter(
            &mut out,
            "linguastream_utterances_refused_total",
            "Utterances the hallucination gate refused.",
            self.refused.load(Ordering::Relaxed) as f64,
        );
        let _ = writeln!(
            out,
            "# HELP linguastream_peak_rss_bytes Peak resident memory of the server.\n# TYPE linguastream_peak_rss_bytes gauge\nlinguastream_peak_rss_bytes {}",
            (peak_rss_mb() * 1024.0 * 1024.0).round()
        );
        let _ = writeln!(out, "# HELP linguastream_latency_seconds Per utterance, by stage; e2e is end of speech to first English sample sent.\n# TYPE linguastream_latency_seconds histogram");
        let histograms = self.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (stage, histogram) in STAGES.iter().zip(histograms.iter()) {
            for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                let _ =
                    writeln!(out, "linguastream_latency_seconds_bucket{{stage=\"{stage}\",le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(
                out,
                "linguastream_latency_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(out, "linguastream_latency_seconds_sum{{stage=\"{stage}\"}} {}", histogram.sum);
            let _ = writeln!(out, "linguastream_latency_seconds_count{{stage=\"{stage}\"}} {}", histogram.count);
        }
        out
    }
}
