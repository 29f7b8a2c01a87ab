//! Whisper's decoding settings, and the time budget they give an utterance.

use std::time::Duration;

use super::decoding::Budget;
use super::gate::GateOptions;
use super::Task;

/// Decoding settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WhisperOptions {
    /// Silence appended to the utterance before feature extraction, in samples at 16 kHz.
    pub margin_samples: usize,
    /// Shorter utterances are padded with silence to this many samples: on sub-second words
    /// a tight window makes Whisper base loop (PSDR digits: 8/90 right with +1 s, 24/90 with a
    /// 10 s window, the same as the full 30 s).
    pub min_window_samples: usize,
    /// Recognising an utterance may take at most this many seconds per second of its audio on
    /// the reference machine (utterances under a second count as one), fallbacks included;
    /// Whisper's translate task gets a quarter of it ([`TRANSLATE_SHARE`]). See [`Budget`] for
    /// how it is counted.
    pub transcribe_budget: f32,
    pub gate: GateOptions,
    /// CTranslate2 compute threads (see [`DEFAULT_THREADS`]).
    pub threads: usize,
    /// Whether audio arrives in real time (a microphone, a paced file): then the clock also
    /// limits decoding, so a loaded machine does not fall behind the speaker. Without it (files
    /// decoded flat out) only the deterministic work budget applies and the same audio always
    /// gives the same transcript.
    pub real_time: bool,
    /// For timing models with random weights only (`bench/whisper_sizes.py`): every pass
    /// decodes exactly this many tokens (the end token is suppressed), no fallback runs, and
    /// the gate passes every utterance, so each size does the same work whatever it writes.
    pub fixed_decode_tokens: Option<usize>,
}

/// Whisper runs on one thread unless told otherwise. Decoding a token is a chain of small
/// matrix-vector products, and splitting each across cores costs more in OpenMP hand-offs than
/// it saves: Whisper base on 2 cores without AMX decoded 5.8 ms a greedy token on one thread and
/// 11.1 on two (`cargo run --release --example whisper_speed -- --threads N`, virgool clips). The
/// encoder does gain from two (110 against 147 ms a window), but in the pipeline the other core
/// is busy with voice activity and synthesis, and a thread team waiting on a busy core costs
/// more again: `transcribe` of the long-form set took 35.5 s on one thread and 42.2 s on two, and
/// `bench --realtime` on it gave first English p95 1.03 s against 1.22 s, the same hour.
pub const DEFAULT_THREADS: usize = 1;

impl Default for WhisperOptions {
    fn default() -> Self {
        Self {
            margin_samples: 16_000,
            min_window_samples: 160_000,
            transcribe_budget: 1.0,
            gate: GateOptions::default(),
            threads: DEFAULT_THREADS,
            real_time: true,
            fixed_decode_tokens: None,
        }
    }
}

impl WhisperOptions {
    /// The decoding budget for `audio_s` seconds of audio and `task`.
    pub fn budget(&self, task: Task, audio_s: f32) -> Budget {
        let multiple = match task {
            Task::Transcribe => self.transcribe_budget,
            Task::Translate => self.transcribe_budget / TRANSLATE_SHARE,
        };
        let nominal_s = f64::from(multiple * audio_s.max(1.0));
        let wall = self.real_time.then(|| Duration::from_secs_f64(2.0 * nominal_s));
        Budget { tokens: nominal_s * GREEDY_TOKENS_PER_S, wall }
    }
}

/// Whisper's own translation gets the recognition budget divided by this. It runs after
/// recognition, on the listener's time: with half the budget, its fallbacks (mostly for Persian
/// "translated" into Persian) made the long-form set's translation p95 4.2 s in `bench --realtime`.
const TRANSLATE_SHARE: f32 = 4.0;

/// Greedy tokens Whisper base decodes per second on the reference machine (two x86-64 cores,
/// int8, CTranslate2 with oneMKL: ~5.5 ms a token, call overhead included; measured with
/// `cargo run --release --example whisper_speed`): converts the budget's seconds into decoding work.
const GREEDY_TOKENS_PER_S: f64 = 180.0;
