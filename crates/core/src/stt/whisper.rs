//! Whisper through CTranslate2 (int8): features for the utterance plus a short margin, one encoder
//! pass per utterance, and decoding passes on that encoder output (see [`super::decoding`] for which
//! passes run).

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use super::decoding::{self, Attempt, Budget, Decoded, Strategy, TokenLimits};
use super::encoded::{DirectContext, EncodedAudio};
use super::gate::is_repetitive;
use super::gate::Verdict;
use super::mel::MelExtractor;
use super::options::WhisperOptions;
use super::script::Script;
use super::{DirectTranslation, Recognizer, SttError, Task, Transcript};
use crate::audio::STT_RATE;
use crate::ct2::{self, EncoderOutput, GenerateOptions};

/// Tokens decoded per extra call once a pass runs past what the audio plausibly holds:
/// checking for a loop between calls stops it early instead of at the cap.
const CONTINUATION_TOKENS: usize = 16;

/// A loaded Whisper model. Shareable between threads (CTranslate2 serialises calls internally).
pub struct WhisperModel {
    weights: Arc<Weights>,
    options: WhisperOptions,
}

/// What loading reads: shared by every [`WhisperModel`] made from it with other options.
struct Weights {
    whisper: ct2::Whisper,
    vocabulary: HashSet<String>,
    /// The id of `<|endoftext|>` (see [`WhisperOptions::fixed_decode_tokens`]).
    end_token: Option<i32>,
    mel: MelExtractor,
}

/// The tokens of a conversion: one per line in `vocabulary.txt`, or a JSON list in
/// `vocabulary.json` (what CTranslate2 writes for large-v3 and newer conversions).
fn read_vocabulary(dir: &Path) -> Result<Vec<String>, String> {
    let txt = dir.join("vocabulary.txt");
    if txt.is_file() {
        let text = std::fs::read_to_string(&txt).map_err(|e| format!("vocabulary.txt: {e}"))?;
        return Ok(text.lines().map(str::to_string).collect());
    }
    let text = std::fs::read_to_string(dir.join("vocabulary.json"))
        .map_err(|e| format!("no vocabulary.txt, and vocabulary.json: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("vocabulary.json: {e}"))
}

impl WhisperModel {
    /// Loads a CTranslate2 Whisper conversion (`model.bin`, `config.json`, and `vocabulary.txt`
    /// or `vocabulary.json`) into the CTranslate2 library at `ctranslate2` (see [`crate::ct2`]).
    pub fn load(ctranslate2: &Path, dir: &Path, options: WhisperOptions) -> Result<Self, SttError> {
        let load_error = |reason: String| SttError::Load { path: dir.display().to_string(), reason };
        let tokens = read_vocabulary(dir).map_err(load_error)?;
        let end_token = tokens.iter().position(|t| t == "<|endoftext|>").and_then(|i| i32::try_from(i).ok());
        let vocabulary = tokens.into_iter().collect();
        let whisper = ct2::Whisper::load(ctranslate2, dir, options.threads).map_err(|e| match e {
            // CTranslate2's message without the path said again.
            ct2::Ct2Error::Model { reason, .. } => load_error(reason),
            source => SttError::Library { path: dir.display().to_string(), source },
        })?;
        let mel = MelExtractor::new(whisper.n_mels());
        Ok(Self { weights: Arc::new(Weights { whisper, vocabulary, end_token, mel }), options })
    }

    /// The same loaded weights with other decoding options (budget, real time); `threads` keeps
    /// the value it was loaded with.
    pub fn with_options(&self, options: WhisperOptions) -> Self {
        Self { weights: self.weights.clone(), options: WhisperOptions { threads: self.options.threads, ..options } }
    }

    /// Whether both were made from one load (see [`Self::with_options`]).
    pub fn shares_weights_with(&self, other: &WhisperModel) -> bool {
        Arc::ptr_eq(&self.weights, &other.weights)
    }

    pub fn options(&self) -> &WhisperOptions {
        &self.options
    }

    /// The control token for `language`, or an error if the model does not know it.
    pub fn language_token(&self, language: &str) -> Result<String, SttError> {
        let token = format!("<|{language}|>");
        if self.weights.vocabulary.contains(&token) {
            Ok(token)
        } else {
            Err(SttError::UnknownLanguage(language.to_string()))
        }
    }

    /// Runs the encoder on `samples` (16 kHz) plus the silence margin, padded to the minimum window.
    pub fn encode(&self, samples: &[f32]) -> Result<EncodedAudio, SttError> {
        let started = Instant::now();
        let margin = self.options.margin_samples.max(self.options.min_window_samples.saturating_sub(samples.len()));
        let output = self.run_encoder(samples, margin)?;
        Ok(EncodedAudio {
            output,
            samples: samples.to_vec(),
            tight: OnceLock::new(),
            audio_s: samples.len() as f32 / STT_RATE as f32,
            encode_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    fn run_encoder(&self, samples: &[f32], margin: usize) -> Result<EncoderOutput, SttError> {
        let (features, frames) = self.weights.mel.features(samples, margin);
        self.weights.whisper.encode(&features, self.weights.mel.n_mels(), frames).map_err(SttError::from)
    }

    /// The encoder output a strategy decodes; `None` for the tight window when the utterance
    /// fills the minimum window anyway.
    fn encoded_for<'a>(
        &self,
        audio: &'a EncodedAudio,
        strategy: Strategy,
    ) -> Result<Option<&'a EncoderOutput>, SttError> {
        if strategy != Strategy::GreedyNoTimestampsTightWindow {
            return Ok(Some(&audio.output));
        }
        if audio.samples.len() + self.options.margin_samples >= self.options.min_window_samples {
            return Ok(None);
        }
        if let Some(tight) = audio.tight.get() {
            return Ok(Some(tight));
        }
        let tight = self.run_encoder(&audio.samples, self.options.margin_samples)?;
        Ok(Some(audio.tight.get_or_init(|| tight)))
    }

    /// Recognises encoded audio in `language`: one pass first, fallbacks while the result looks
    /// degenerate and the time budget allows, then the hallucination gate.
    /// `vad_probability` is the detector's mean speech probability over the utterance, if known.
    pub fn recognize(
        &self,
        audio: &EncodedAudio,
        language: &str,
        task: Task,
        vad_probability: Option<f32>,
    ) -> Result<Transcript, SttError> {
        let budget = self.options.budget(task, audio.audio_s);
        self.recognize_after(audio, language, task, vad_probability, &[], budget)
    }

    /// [`Self::recognize`] with every pass forced to begin with the text tokens `prefix`, within
    /// `budget`. A prefix is plain text, so those passes decode without timestamps.
    pub fn recognize_after(
        &self,
        audio: &EncodedAudio,
        language: &str,
        task: Task,
        vad_probability: Option<f32>,
        prefix: &[String],
        budget: Budget,
    ) -> Result<Transcript, SttError> {
        let fixed = self.options.fixed_decode_tokens;
        let budget = if fixed.is_some() { Budget { tokens: 0.0, wall: None } } else { budget };
        let prompt = self.prompt(language, task)?;
        let plain_prompt = [prompt.clone(), vec!["<|notimestamps|>".to_string()]].concat();
        let limits = TokenLimits::new(audio.audio_s, task);
        let mut run = |strategy: Strategy, max_new_tokens: usize| -> Result<Option<Attempt>, SttError> {
            let pass_started = Instant::now();
            let max_new_tokens = fixed.unwrap_or(max_new_tokens);
            let first_limit = fixed.unwrap_or(max_new_tokens.min(limits.plausible));
            let Some(encoded) = self.encoded_for(audio, strategy)? else {
                return Ok(None);
            };
            let plain = matches!(strategy, Strategy::GreedyNoTimestamps | Strategy::GreedyNoTimestampsTightWindow);
            let prompt = if plain || !prefix.is_empty() { &plain_prompt } else { &prompt };
            let decoded = match strategy {
                Strategy::Sample { .. } => {
                    self.generate(encoded, prompt, prefix, strategy, max_new_tokens)?.into_decoded(prefix.len())
                }
                _ => self.decode_until_loop(encoded, prompt, prefix, strategy, first_limit, max_new_tokens)?,
            };
            Ok(Some(Attempt::new(strategy, decoded, pass_started.elapsed(), max_new_tokens, limits)))
        };
        let outcome =
            decoding::decode_with_fallback(&mut run, audio.audio_s, task, Script::expected(language, task), budget)?;
        let whole_pass = fixed.map(|_| outcome.attempts[0].clone());
        let mut transcript = decoding::finish(outcome, language, task, audio, vad_probability, &self.options.gate);
        transcript.decoding.budget_tokens = budget.tokens;
        if let Some(pass) = whole_pass {
            // Random weights write nonsense, often a loop: all of it goes on to translation and
            // the voice like speech, so that they cost what a real utterance of that length does.
            transcript.decoding.tokens = pass.tokens.len();
            transcript.decoding.loop_cut = false;
            (transcript.text, transcript.direct.tokens) = (pass.text, pass.tokens);
            transcript.verdict = Verdict::Speech;
            transcript.clear = true;
        }
        Ok(transcript)
    }

    /// Encodes and recognises `samples` (16 kHz) in `language`.
    pub fn transcribe(
        &self,
        samples: &[f32],
        language: &str,
        task: Task,
        vad_probability: Option<f32>,
    ) -> Result<Transcript, SttError> {
        let audio = self.encode(samples)?;
        self.recognize(&audio, language, task, vad_probability)
    }

    /// Timestamp mode (no `<|notimestamps|>`): on colloquial Persian and isolated words Whisper
    /// base is markedly more accurate when it may emit segment timestamps (CER 0.41 → 0.30 on
    /// virgool-informal-fa10, 0.72 → 0.52 on the PSDR digits; unchanged on read prose).
    fn prompt(&self, language: &str, task: Task) -> Result<Vec<String>, SttError> {
        let task_token = match task {
            Task::Transcribe => "<|transcribe|>",
            Task::Translate => "<|translate|>",
        };
        Ok(vec!["<|startoftranscript|>".to_string(), self.language_token(language)?, task_token.to_string()])
    }

    /// Greedy or beam decoding in steps after the forced `prefix`: `first_limit` tokens, then
    /// further (from the best hypothesis so far) only while the text is not looping, up to
    /// `max_new_tokens`.
    fn decode_until_loop(
        &self,
        encoded: &EncoderOutput,
        prompt: &[String],
        prefix: &[String],
        strategy: Strategy,
        first_limit: usize,
        max_new_tokens: usize,
    ) -> Result<Decoded, SttError> {
        let mut limit = first_limit.max(prefix.len() + 1);
        let mut pass = self.generate(encoded, prompt, prefix, strategy, limit)?;
        while pass.tokens.len() >= limit && limit < max_new_tokens && !is_repetitive(&pass.tokens) {
            limit = (limit + CONTINUATION_TOKENS).min(max_new_tokens);
            let more = self.generate(encoded, prompt, &pass.tokens.clone(), strategy, limit)?;
            pass = Generated { cum_logprob: pass.cum_logprob + more.cum_logprob, ..more };
        }
        Ok(pass.into_decoded(prefix.len()))
    }

    /// One `generate` call. `prefix` tokens are forced (a continuation); the result holds them
    /// too, and `max_tokens` counts them.
    fn generate(
        &self,
        encoded: &EncoderOutput,
        prompt: &[String],
        prefix: &[String],
        strategy: Strategy,
        max_tokens: usize,
    ) -> Result<Generated, SttError> {
        let (beam_size, sampling_temperature, num_hypotheses, sampling_topk) = match strategy {
            Strategy::Greedy
            | Strategy::GreedyNoTimestamps
            | Strategy::GreedyNoTimestampsTightWindow
            | Strategy::GreedyNoRepeat(_) => (1, 1.0, 1, 1),
            Strategy::Beam(width) => (width, 1.0, 1, 1),
            // Best of n samples from the full distribution, as faster-whisper's fallback.
            Strategy::Sample { temperature, best_of } => (1, temperature, best_of, 0),
        };
        let options = GenerateOptions {
            beam_size,
            sampling_temperature,
            sampling_topk,
            num_hypotheses,
            // CTranslate2 stops at min(max_length / 2, max_length - prompt) tokens, prefix included.
            max_length: (2 * max_tokens).clamp(2 * prompt.len(), 448),
            return_scores: true,
            return_no_speech_prob: true,
            no_repeat_ngram_size: match strategy {
                Strategy::GreedyNoRepeat(n) => n,
                _ => 0,
            },
            suppress_token: match self.options.fixed_decode_tokens {
                Some(_) => self.weights.end_token.unwrap_or(-1),
                None => -1,
            },
        };
        let input = [prompt, prefix].concat();
        let result = self.weights.whisper.generate(encoded, &input, &options)?;
        // CTranslate2's score is the log-probability of the tokens it added (and the end token),
        // divided by the length of the whole hypothesis.
        let cum_logprob =
            |i: usize| result.scores.get(i).map_or(f32::NEG_INFINITY, |s| s * result.sequences[i].len() as f32);
        // Of several samples, the most probable one (faster-whisper's best_of).
        let best = (0..result.sequences.len())
            .max_by(|&a, &b| {
                (cum_logprob(a) / result.sequences[a].len().max(1) as f32)
                    .total_cmp(&(cum_logprob(b) / result.sequences[b].len().max(1) as f32))
            })
            .unwrap_or(0);
        Ok(Generated {
            cum_logprob: cum_logprob(best),
            tokens: result.sequences.get(best).cloned().unwrap_or_default(),
            no_speech_prob: result.no_speech_prob,
        })
    }
}

/// What one `generate` call returned.
struct Generated {
    tokens: Vec<String>,
    cum_logprob: f32,
    no_speech_prob: f32,
}

impl Generated {
    /// faster-whisper's avg_logprob over the tokens decoded (not the `forced` ones before them):
    /// the end token counts too.
    fn into_decoded(self, forced: usize) -> Decoded {
        let avg_logprob = self.cum_logprob / (self.tokens.len().saturating_sub(forced) + 1) as f32;
        Decoded { tokens: self.tokens, avg_logprob, no_speech_prob: self.no_speech_prob }
    }
}

/// Text of tokens, control and timestamp tokens skipped.
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
    fn transcribe(
        &mut self,
        samples: &[f32],
        vad_probability: Option<f32>,
        task: Task,
    ) -> Result<Transcript, SttError> {
        let encoded = Arc::new(self.model.encode(samples)?);
        let mut transcript = self.model.recognize(&encoded, &self.language, task, vad_probability)?;
        transcript.direct.encoded = Some(encoded);
        Ok(transcript)
    }

    fn direct(&mut self) -> Option<&mut dyn DirectTranslation> {
        Some(self)
    }
}

impl DirectTranslation for WhisperCt2Recognizer {
    fn transcribe_encoded(
        &mut self,
        context: &DirectContext,
        samples: &[f32],
        vad_probability: Option<f32>,
        task: Task,
    ) -> Result<Transcript, SttError> {
        match context.encoded() {
            Some(encoded) => self.model.recognize(encoded, &self.language, task, vad_probability),
            None => self.transcribe(samples, vad_probability, task),
        }
    }

    fn translate_after(
        &mut self,
        samples: &[f32],
        vad_probability: Option<f32>,
        spoken: &[String],
        first_pass_only: bool,
    ) -> Result<Transcript, SttError> {
        let encoded = Arc::new(self.model.encode(samples)?);
        let mut budget = self.model.options.budget(Task::Translate, encoded.audio_s);
        if first_pass_only {
            budget.tokens = 0.0;
        }
        let mut transcript =
            self.model.recognize_after(&encoded, &self.language, Task::Translate, vad_probability, spoken, budget)?;
        transcript.direct.encoded = Some(encoded);
        Ok(transcript)
    }
}
