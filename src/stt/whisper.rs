//! Whisper (CTranslate2 int8) with a short encoder window, a length cap from the audio's
//! duration, and beam search only when greedy decoding degenerates.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use ct2rs::sys::{self, ComputeType, Config, Device, StorageView};

use super::gate::{self, GateOptions, Verdict};
use super::mel::{MelExtractor, N_MELS};
use super::{tokens, Recognizer, SttError, Task, Transcript};
use crate::text::{is_readable_in_english, normalize_persian};

/// Decoding settings.
#[derive(Debug, Clone)]
pub struct WhisperOptions {
    /// Silence appended to the utterance before feature extraction, in samples at 16 kHz.
    pub margin_samples: usize,
    /// Shorter utterances are padded with silence to this many samples: on sub-second words
    /// a tight window makes Whisper base loop (PSDR digits: 8/90 right with +1 s, 24/90 with a
    /// 10 s window, the same as the full 30 s).
    pub min_window_samples: usize,
    /// Beam width of the fallback used when greedy decoding loops.
    pub fallback_beam: usize,
    pub gate: GateOptions,
    pub threads: usize,
}

impl Default for WhisperOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self {
            margin_samples: 16_000,
            min_window_samples: 160_000,
            fallback_beam: 5,
            gate: GateOptions::default(),
            threads,
        }
    }
}

/// A loaded Whisper model. Shareable between threads (CTranslate2 serialises calls internally).
pub struct WhisperModel {
    whisper: sys::Whisper,
    vocabulary: HashSet<String>,
    mel: MelExtractor,
    options: WhisperOptions,
}

impl WhisperModel {
    /// Loads a CTranslate2 Whisper conversion (`model.bin`, `config.json`, `vocabulary.txt`).
    pub fn load(dir: &Path, options: WhisperOptions) -> Result<Self, SttError> {
        let load_error = |reason: String| SttError::Load { path: dir.display().to_string(), reason };
        let vocabulary = std::fs::read_to_string(dir.join("vocabulary.txt"))
            .map_err(|e| load_error(format!("vocabulary.txt: {e}")))?
            .lines()
            .map(str::to_string)
            .collect();
        let config = Config {
            device: Device::CPU,
            compute_type: ComputeType::INT8,
            num_threads_per_replica: options.threads,
            ..Default::default()
        };
        let whisper = sys::Whisper::new(dir, config).map_err(|e| load_error(e.to_string()))?;
        Ok(Self { whisper, vocabulary, mel: MelExtractor::new(), options })
    }

    /// The control token for `language`, or an error if the model does not know it.
    pub fn language_token(&self, language: &str) -> Result<String, SttError> {
        let token = format!("<|{language}|>");
        if self.vocabulary.contains(&token) {
            Ok(token)
        } else {
            Err(SttError::UnknownLanguage(language.to_string()))
        }
    }

    /// Recognises `samples` (16 kHz) in `language`.
    pub fn transcribe(&self, samples: &[f32], language: &str, task: Task) -> Result<Transcript, SttError> {
        let language_token = self.language_token(language)?;
        let task_token = match task {
            Task::Transcribe => "<|transcribe|>",
            Task::Translate => "<|translate|>",
        };
        let prompt = vec![
            "<|startoftranscript|>".to_string(),
            language_token,
            task_token.to_string(),
            "<|notimestamps|>".to_string(),
        ];
        let margin = self.options.margin_samples.max(self.options.min_window_samples.saturating_sub(samples.len()));
        let (mut features, frames) = self.mel.features(samples, margin);
        let view = StorageView::new(&[1, N_MELS, frames], &mut features, Device::CPU)
            .map_err(|e| SttError::Decode(e.to_string()))?;
        let cap = token_cap(samples.len() as f32 / 16_000.0);

        let mut decoded = self.decode(&view, &prompt, 1, cap)?;
        let mut used_fallback = false;
        let off_target = |d: &Decoded| task == Task::Translate && !is_readable_in_english(&tokens::decode(&d.tokens));
        if gate::is_repetitive(&decoded.tokens) || decoded.tokens.len() >= cap || off_target(&decoded) {
            decoded = self.decode(&view, &prompt, self.options.fallback_beam, cap)?;
            used_fallback = true;
        }
        let text = tokens::decode(&decoded.tokens);
        let text = if language == "fa" && task == Task::Transcribe { normalize_persian(&text) } else { text };
        let verdict =
            gate::judge(&decoded.tokens, &text, decoded.no_speech_prob, decoded.avg_logprob, &self.options.gate);
        let verdict = match verdict {
            // Beam search that still fills the whole length budget is looping too.
            Verdict::Speech if used_fallback && decoded.tokens.len() >= cap => Verdict::Repetitive,
            // Whisper base often "translates" Persian into Persian.
            Verdict::Speech if off_target(&decoded) => Verdict::WrongLanguage,
            other => other,
        };
        Ok(Transcript { text, verdict, avg_logprob: decoded.avg_logprob, no_speech_prob: decoded.no_speech_prob })
    }

    fn decode(&self, features: &StorageView, prompt: &[String], beam: usize, cap: usize) -> Result<Decoded, SttError> {
        let options = sys::WhisperOptions {
            beam_size: beam,
            // CTranslate2 stops at min(max_length / 2, max_length - prompt) new tokens.
            max_length: (2 * cap).min(448),
            return_scores: true,
            return_no_speech_prob: true,
            ..Default::default()
        };
        let result = self
            .whisper
            .generate(features, &[prompt.to_vec()], &options)
            .map_err(|e| SttError::Decode(e.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| SttError::Decode("no result".into()))?;
        let tokens: Vec<String> = result.sequences.into_iter().next().unwrap_or_default();
        let n = tokens.len() as f32;
        // CTranslate2 returns the length-normalised score; faster-whisper's avg_logprob counts
        // the end token too.
        let avg_logprob = result.scores.first().map_or(f32::NEG_INFINITY, |s| s * n / (n + 1.0));
        Ok(Decoded { tokens, avg_logprob, no_speech_prob: result.no_speech_prob })
    }
}

struct Decoded {
    tokens: Vec<String>,
    avg_logprob: f32,
    no_speech_prob: f32,
}

/// The most tokens an utterance of `seconds` can plausibly hold (fast Persian speech in Whisper's
/// byte-level tokens is about 10 tokens per second); a decoder that reaches it is looping.
fn token_cap(seconds: f32) -> usize {
    (16.0 + 12.0 * seconds).ceil() as usize
}

/// A [`Recognizer`] for one language on a shared [`WhisperModel`].
pub struct WhisperCt2Recognizer {
    model: Arc<WhisperModel>,
    language: String,
}

impl WhisperCt2Recognizer {
    pub fn try_new(model: Arc<WhisperModel>, language: &str) -> Result<Self, SttError> {
        model.language_token(language)?;
        Ok(Self { model, language: language.to_string() })
    }
}

impl Recognizer for WhisperCt2Recognizer {
    fn transcribe(&mut self, samples: &[f32], task: Task) -> Result<Transcript, SttError> {
        self.model.transcribe(samples, &self.language, task)
    }
}
