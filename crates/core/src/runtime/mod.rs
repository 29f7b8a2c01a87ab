//! What a process loads once and every run (session) shares: the installed models resolved to
//! files, and the heavy engines (Whisper, the voice) loaded on first use and kept.
//!
//! [`Runtime::pipeline_config`] turns one session's choices into a [`PipelineConfig`]; the
//! stage factories are built here, and in `engines.rs` the engine choice and
//! [`translator_factory`], the one place that maps a translation engine to its code.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::ct2;
use crate::lanes::{InLane, Lane, LaneGate};

mod engines;
mod voices;

use crate::models::choice::{self, MachineProfile};
use crate::models::{ModelStore, StoreError};
use crate::mt::{Pair, Translator};
use crate::pipeline::{ConfigError, Factory, Pace, PipelineConfig, StageFactories, UnsurePolicy};
use crate::stt::{Recognizer, SttError, WhisperCt2Recognizer, WhisperModel, WhisperOptions};
use crate::tts::{PiperSynthesizer, PiperVoice, Synthesizer, TtsError};
use crate::vad::{SegmenterOptions, SileroVad, SpeechDetector};
use engines::{auto_note, instead_of_firefox};
pub use engines::{translator_factory, MtEngine};
pub use voices::{no_voice_message, voice_for, ENGLISH_VOICE};

const VAD_MODEL: &str = "silero-vad";
/// The VAD as reports name it.
const VAD_NAME: &str = "silero-vad v6";
/// The recognition engine as reports name it.
const STT_ENGINE: &str = "whisper-ctranslate2-int8";
/// ONNX Runtime threads for the voice.
const TTS_THREADS: usize = 2;

pub use crate::mt::MtChoice;

/// How speech is recognised.
#[derive(Debug, Clone)]
pub struct RecognitionOptions {
    /// Spoken language (ISO 639-1).
    pub language: String,
    /// An installed Whisper size (`base`), [`AUTO_WHISPER`], or a CTranslate2 Whisper directory.
    pub whisper: String,
    /// CPU threads for Whisper (None: [`crate::stt::DEFAULT_THREADS`]).
    pub threads: Option<usize>,
    /// Seconds recognition may spend per second of audio (Whisper's translate task a quarter);
    /// see [`WhisperOptions::transcribe_budget`].
    pub decode_budget: f32,
    /// Benchmarks of random-weight models only: see [`WhisperOptions::fixed_decode_tokens`].
    pub fixed_decode_tokens: Option<usize>,
}

/// What one session asks for: every setting of a session has its home here, and
/// [`Runtime::pipeline_config`] checks them together once.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub recognition: RecognitionOptions,
    /// The language the speech is translated into (ISO 639-1).
    pub target: String,
    pub mt: MtChoice,
    /// How speech is cut; a session not in real time keeps sentences whole
    /// ([`SegmenterOptions::whole_sentences`]).
    pub segmenter: SegmenterOptions,
    /// How audio arrives; in real time, Whisper's decoding also keeps up with the clock
    /// ([`WhisperOptions::real_time`]).
    pub pace: Pace,
    /// See [`PipelineConfig::unsure`].
    pub unsure: UnsurePolicy,
    /// The user's speech, or the other side of a call (which yields to it: [`crate::lanes`]).
    pub lane: Lane,
}

/// `--whisper auto`: the most accurate installed size that keeps up live here.
pub const AUTO_WHISPER: &str = "auto";

/// Which models a session runs: the `model` of every report (JSON files, the server's replies).
#[derive(Debug, Clone, Serialize)]
pub struct ModelNames {
    pub vad: &'static str,
    pub stt: SttModel,
    /// The engine and its model, as `firefox (firefox-faen)`.
    pub mt: String,
    /// The voice; none when the session is captioned only.
    pub tts: Option<String>,
    /// The language the speech is translated into.
    pub to: String,
    /// What `auto` chose and why, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The recognition model of [`ModelNames`].
#[derive(Debug, Clone, Serialize)]
pub struct SttModel {
    pub engine: &'static str,
    /// The Whisper size (`auto` resolved) or the directory given.
    pub model: String,
    /// Where it was loaded from.
    pub path: String,
    /// The spoken language.
    pub language: String,
}

/// Why a session cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0} has no model.bin: not a CTranslate2 Whisper model directory")]
    NotWhisperDir(String),
    #[error("unknown Whisper model '{0}': give a size (tiny, base, small, medium, large-v3, large-v3-turbo) or a model directory")]
    UnknownWhisper(String),
    #[error("there is no Firefox-Translations model for {0} in the model list; {advice}", advice = instead_of_firefox(.0))]
    NoTranslationModel(Pair),
    #[error("no translation model for {0} is installed (--mt firefox, nllb or llm with their models)")]
    NoModelForPair(Pair),
    #[error("--mt direct is Whisper's own translation, into English only, not {0}")]
    DirectIntoEnglishOnly(Pair),
    #[error("--mt llm translates Persian ↔ English; use --mt firefox, nllb or direct for {0}")]
    LlmLanguage(Pair),
    #[error("the direct engine translates audio, not text: choose --mt firefox or --mt llm")]
    DirectNeedsAudio,
    #[error("no local LLM is in the model list")]
    NoLlm,
    #[error("--mt nllb does not know NLLB's code for a language of {0}")]
    NllbLanguage(Pair),
    #[error("no NLLB model is in the model list")]
    NoNllb,
    #[error("this build has no llm engine (linguastream-core's `llm` feature is off)")]
    LlmNotBuilt,
    #[error("{source}; this session translates with {mt}")]
    Config { source: ConfigError, mt: String },
    #[error("loading Whisper")]
    LoadWhisper(#[source] SttError),
    #[error(transparent)]
    Stt(#[from] SttError),
    #[error(transparent)]
    Tts(#[from] TtsError),
}

/// A model loaded on first use and shared by every run after it.
struct Shared<T> {
    loaded: Mutex<Option<Arc<T>>>,
}

impl<T> Shared<T> {
    fn new() -> Self {
        Self { loaded: Mutex::new(None) }
    }

    /// The model, loading it now if no run has. Concurrent first uses load it once.
    fn get_or_load<E>(&self, load: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E> {
        let mut slot = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(model) = slot.as_ref() {
            return Ok(model.clone());
        }
        let model = Arc::new(load()?);
        *slot = Some(model.clone());
        Ok(model)
    }
}

/// A loaded Whisper's settings: model directory and threads (decoding options are per session).
type WhisperKey = (PathBuf, usize);

/// The installed models and the engines loaded from them, for the life of the process.
pub struct Runtime {
    store: ModelStore,
    onnx_runtime: PathBuf,
    /// Loaded Whisper models by their settings.
    whisper: Mutex<HashMap<WhisperKey, Arc<WhisperModel>>>,
    /// Loaded voices by model id.
    voices: Mutex<HashMap<String, Arc<Shared<PiperVoice>>>>,
    /// Shared by every session, so the other side of a call yields to the user's speech.
    lanes: Arc<LaneGate>,
}

impl Runtime {
    /// The default model store (`$LINGUASTREAM_HOME`, …).
    pub fn open() -> Result<Self, RuntimeError> {
        Self::new(ModelStore::open_default())
    }

    pub fn new(store: ModelStore) -> Result<Self, RuntimeError> {
        let onnx_runtime = store.require("onnxruntime")?.join("libonnxruntime.so");
        Ok(Self {
            store,
            onnx_runtime,
            whisper: Mutex::new(HashMap::new()),
            voices: Mutex::default(),
            lanes: Arc::default(),
        })
    }

    /// The installed models.
    pub fn store(&self) -> &ModelStore {
        &self.store
    }

    /// Resolves every model a session needs and loads Whisper (the VAD, translator and voice
    /// are made inside their stages' threads).
    pub fn pipeline_config(&self, options: &SessionOptions) -> Result<(PipelineConfig, ModelNames), RuntimeError> {
        let recognition = &options.recognition;
        let pair = Pair::new(&recognition.language, &options.target);
        let (engine, mt, mt_note) = self.choose_engine(&pair, options.mt)?;
        let auto_whisper = self.auto_whisper(&recognition.whisper)?;
        let recognition = &RecognitionOptions {
            whisper: auto_whisper.as_ref().map_or(recognition.whisper.clone(), |(size, _)| size.to_string()),
            ..recognition.clone()
        };
        let (whisper, whisper_dir) = self.whisper(recognition, options.pace.real_time())?;
        let note = match (auto_whisper, mt_note) {
            (None, None) => None,
            (whisper, mt_note) => Some(auto_note(&recognition.whisper, whisper.map(|(_, why)| why), &mt, mt_note)),
        };
        let voice = self.session_voice(options)?;
        let stages = StageFactories {
            detector: self.detector()?,
            recognizer: recognizer_factory(whisper.clone(), &recognition.language),
            translator: translator_factory(&engine, whisper, &recognition.language),
            synthesizer: voice.as_deref().map(|id| self.synthesizer(id)).transpose()?,
        };
        let config = PipelineConfig {
            stages: self.in_lane(stages, options.lane),
            segmenter: match options.pace.real_time() {
                true => options.segmenter,
                false => options.segmenter.whole_sentences(),
            },
            pace: options.pace,
            english_first: matches!(engine, MtEngine::Direct),
            unsure: options.unsure,
        };
        config.check().map_err(|source| RuntimeError::Config { source, mt: mt.clone() })?;
        let names = ModelNames {
            vad: VAD_NAME,
            stt: SttModel {
                engine: STT_ENGINE,
                model: recognition.whisper.clone(),
                path: whisper_dir.display().to_string(),
                language: recognition.language.clone(),
            },
            mt,
            tts: voice,
            to: options.target.clone(),
            note,
        };
        Ok((config, names))
    }

    /// Whisper for `recognition`, loaded once per model directory and thread count (sessions
    /// with other decoding options share its weights); fails if the
    /// model does not know the language.
    pub fn whisper(
        &self,
        recognition: &RecognitionOptions,
        real_time: bool,
    ) -> Result<(Arc<WhisperModel>, PathBuf), RuntimeError> {
        let dir = self.whisper_dir(&recognition.whisper)?;
        let mut options = WhisperOptions { real_time, ..WhisperOptions::default() };
        if let Some(threads) = recognition.threads {
            options.threads = threads.max(1);
        }
        options.transcribe_budget = recognition.decode_budget;
        options.fixed_decode_tokens = recognition.fixed_decode_tokens;
        let key = (dir.clone(), options.threads);
        let mut loaded = self.whisper.lock().unwrap_or_else(PoisonError::into_inner);
        let model = match loaded.get(&key) {
            Some(model) if model.options() == &options => model.clone(),
            Some(model) => Arc::new(model.with_options(options)),
            None => {
                let library = self.store.require("ctranslate2")?.join(ct2::LIBRARY_FILE);
                let model = Arc::new(WhisperModel::load(&library, &dir, options).map_err(RuntimeError::LoadWhisper)?);
                loaded.insert(key, model.clone());
                model
            }
        };
        model.language_token(&recognition.language)?;
        Ok((model, dir))
    }

    /// Makes a Silero VAD (small, and it keeps per-stream state, so each run has its own).
    pub fn detector(&self) -> Result<Factory<dyn SpeechDetector>, RuntimeError> {
        let (library, model) = (self.onnx_runtime.clone(), self.store.require(VAD_MODEL)?.join("silero_vad.onnx"));
        Ok(Arc::new(move || Ok(Box::new(SileroVad::try_new(&library, &model)?))))
    }

    /// The English voice, loaded now if it was not yet.
    pub fn voice(&self) -> Result<Arc<PiperVoice>, RuntimeError> {
        let model = self.voice_model(ENGLISH_VOICE)?;
        let voice = self.shared_voice(ENGLISH_VOICE);
        Ok(voice.get_or_load(|| PiperVoice::load(&self.onnx_runtime, &model, TTS_THREADS))?)
    }

    /// The voice of a session: none for the other side of a call, which is captioned only (its
    /// speech on the speakers would reach its own capture, the speakers' monitor); else the
    /// target's, when one is installed.
    fn session_voice(&self, options: &SessionOptions) -> Result<Option<String>, RuntimeError> {
        if options.lane == Lane::OtherSide {
            return Ok(None);
        }
        voice_for(&self.store, &options.target)
    }

    fn shared_voice(&self, id: &str) -> Arc<Shared<PiperVoice>> {
        let mut voices = self.voices.lock().unwrap_or_else(PoisonError::into_inner);
        voices.entry(id.to_string()).or_insert_with(|| Arc::new(Shared::new())).clone()
    }

    /// Speaks with the shared voice `id`, loading it in the first run's synthesis thread.
    fn synthesizer(&self, id: &str) -> Result<Factory<dyn Synthesizer>, RuntimeError> {
        let (library, model, voice) = (self.onnx_runtime.clone(), self.voice_model(id)?, self.shared_voice(id));
        Ok(Arc::new(move || {
            let voice = voice.get_or_load(|| PiperVoice::load(&library, &model, TTS_THREADS))?;
            Ok(Box::new(PiperSynthesizer::new(voice)))
        }))
    }

    /// Each engine that competes for the CPU (recognition, translation, the voice) in `lane`.
    fn in_lane(&self, stages: StageFactories, lane: Lane) -> StageFactories {
        let gate = self.lanes.clone();
        let StageFactories { detector, recognizer, translator, synthesizer } = stages;
        let recognizer: Factory<dyn Recognizer> = {
            let gate = gate.clone();
            Arc::new(move || Ok(Box::new(InLane::new(lane, gate.clone(), recognizer()?))))
        };
        let translator: Factory<dyn Translator> = {
            let gate = gate.clone();
            Arc::new(move || Ok(Box::new(InLane::new(lane, gate.clone(), translator()?))))
        };
        let synthesizer = synthesizer.map(|synthesizer| -> Factory<dyn Synthesizer> {
            Arc::new(move || Ok(Box::new(InLane::new(lane, gate.clone(), synthesizer()?))))
        });
        StageFactories { detector, recognizer, translator, synthesizer }
    }

    fn voice_model(&self, id: &str) -> Result<PathBuf, RuntimeError> {
        Ok(self.store.require(id)?.join(crate::models::import::VOICE_FILE))
    }

    /// For `auto`, the size it stands for on this machine and why; None for any other choice.
    fn auto_whisper(&self, choice: &str) -> Result<Option<(&'static str, String)>, RuntimeError> {
        if choice != AUTO_WHISPER {
            return Ok(None);
        }
        let installed: Vec<&str> = choice::WHISPER_SIZES
            .into_iter()
            .filter(|size| matches!(self.store.installed(&format!("whisper-{size}")), Ok(Some(_))))
            .collect();
        let profile = MachineProfile::of(self.store.root());
        let Some(chosen) = choice::choose_whisper(&profile, &installed, 0.0) else {
            // Nothing installed: base's own error says how to install it.
            self.store.require("whisper-base")?;
            return Err(RuntimeError::UnknownWhisper(AUTO_WHISPER.into()));
        };
        let why = if installed.len() == 1 {
            format!("the only Whisper installed, {}", chosen.why(&profile))
        } else if chosen.keeps_up {
            format!("the most accurate installed Whisper that keeps up here, {}", chosen.why(&profile))
        } else {
            format!("the fastest installed, though none keeps up live here: {}", chosen.why(&profile))
        };
        Ok(Some((chosen.size, why)))
    }

    /// `whisper`: an installed size, `auto`, or a model directory.
    fn whisper_dir(&self, choice: &str) -> Result<PathBuf, RuntimeError> {
        if let Some((size, _)) = self.auto_whisper(choice)? {
            return self.whisper_dir(size);
        }
        let path = Path::new(choice);
        if path.is_dir() {
            if !path.join("model.bin").is_file() {
                return Err(RuntimeError::NotWhisperDir(path.display().to_string()));
            }
            return Ok(path.to_path_buf());
        }
        let id = format!("whisper-{choice}");
        if self.store.manifest().get(&id).is_none() {
            return Err(RuntimeError::UnknownWhisper(choice.to_string()));
        }
        Ok(self.store.require(&id)?)
    }
}

fn recognizer_factory(whisper: Arc<WhisperModel>, language: &str) -> Factory<dyn Recognizer> {
    let language = language.to_string();
    Arc::new(move || Ok(Box::new(WhisperCt2Recognizer::try_new(whisper.clone(), &language)?)))
}
