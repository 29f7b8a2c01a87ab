//! What a process loads once and every run (session) shares: the installed models resolved to
//! files, and the heavy engines (Whisper, the voice) loaded on first use and kept.
//!
//! [`Runtime::pipeline_config`] turns one session's choices into a [`PipelineConfig`]; the
//! stage factories are built here, and [`translator_factory`] is the one place that maps a
//! translation engine to its code.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::ct2;
use crate::lanes::{InLane, Lane, LaneGate};
use crate::models::choice::{self, MachineProfile, TextCandidate};
use crate::models::{ModelEntry, ModelStore, StoreError};
use crate::mt::{
    nllb_code, CachedTranslator, DirectWhisperTranslator, FirefoxTranslator, NllbTranslator, Pair, Translator,
    Untranslated,
};
#[cfg(feature = "llm")]
use crate::mt::{LlmOptions, LlmTranslator};
use crate::pipeline::{Factory, PipelineConfig, StageFactories, UnsurePolicy};
use crate::stt::{Recognizer, SttError, WhisperCt2Recognizer, WhisperModel, WhisperOptions};
use crate::tts::{PiperSynthesizer, PiperVoice, Synthesizer, TtsError};
use crate::vad::{SegmenterOptions, SileroVad, SpeechDetector};

const VAD_MODEL: &str = "silero-vad";
const VOICE_MODEL: &str = "piper-en-us-joe-medium";
/// Translations remembered per run.
const TRANSLATION_CACHE: usize = 1024;
/// ONNX Runtime threads for the voice.
const TTS_THREADS: usize = 2;
/// CTranslate2 threads for NLLB.
const NLLB_THREADS: usize = 2;

pub use crate::mt::MtChoice;

/// The translation engine a session runs, with its model.
#[derive(Debug, Clone)]
pub enum MtEngine {
    /// Whisper's translate task on the audio.
    Direct,
    /// A Firefox-Translations model in this directory.
    Firefox(PathBuf),
    /// A GGUF language model (llama.cpp) in this file, for `pair`.
    #[cfg(feature = "llm")]
    Llm { gguf: PathBuf, pair: Pair },
    /// An NLLB conversion in `dir`, run by the CTranslate2 `library`, for `pair`.
    Nllb { library: PathBuf, dir: PathBuf, pair: Pair },
    /// None: captions in the language spoken (`auto` for a pair no installed engine translates).
    Untranslated,
}

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
    /// Audio arrives as it is spoken, so decoding also keeps up with the clock; see
    /// [`WhisperOptions::real_time`].
    pub real_time: bool,
    /// Benchmarks of random-weight models only: see [`WhisperOptions::fixed_decode_tokens`].
    pub fixed_decode_tokens: Option<usize>,
}

/// What one session asks for.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub recognition: RecognitionOptions,
    /// The language the speech is translated into (ISO 639-1).
    pub target: String,
    pub mt: MtChoice,
    pub segmenter: SegmenterOptions,
    /// See [`PipelineConfig::stream_speech`].
    pub stream_speech: bool,
    /// See [`PipelineConfig::unsure`].
    pub unsure: UnsurePolicy,
    /// The user's speech, or the other side of a call (which yields to it: [`crate::lanes`]).
    pub lane: Lane,
}

/// `--whisper auto`: the most accurate installed size that keeps up live here.
pub const AUTO_WHISPER: &str = "auto";

/// Which models a session runs, for reports.
#[derive(Debug, Clone)]
pub struct ModelNames {
    /// The Whisper size or directory (`auto` resolved).
    pub whisper: String,
    pub whisper_dir: String,
    pub mt: String,
    /// What `auto` chose and why, in one line.
    pub note: Option<String>,
}

/// What to use when the model list has no Firefox model for `pair`: Whisper's own translation
/// reaches English only, the LLM translates Persian ↔ English, and a mirror may list its own copy.
fn instead_of_firefox(pair: &Pair) -> String {
    if pair.to == "en" {
        return "use --mt direct".into();
    }
    let engines = if pair.from == "en" && pair.to == "fa" { "--mt nllb or --mt llm" } else { "--mt nllb" };
    format!(
        "use {engines}, or list a mirror's Firefox-Translations {pair} model in models.toml in the LinguaStream \
         home (pair = \"{}-{}\", source = \"firefox\")",
        pair.from, pair.to
    )
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
    voice: Arc<Shared<PiperVoice>>,
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
            voice: Arc::new(Shared::new()),
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
        let (whisper, whisper_dir) = self.whisper(recognition)?;
        let note = match (auto_whisper, mt_note) {
            (None, None) => None,
            (whisper, mt_note) => Some(auto_note(&recognition.whisper, whisper.map(|(_, why)| why), &mt, mt_note)),
        };
        let stages = StageFactories {
            detector: self.detector()?,
            recognizer: recognizer_factory(whisper.clone(), &recognition.language),
            translator: translator_factory(&engine, whisper, &recognition.language),
            // The voice is English: a session into another language is captioned.
            synthesizer: if options.target == "en" { Some(self.synthesizer()?) } else { None },
        };
        let stages = self.in_lane(stages, options.lane);
        let config = PipelineConfig {
            stages,
            segmenter: options.segmenter,
            stream_speech: options.stream_speech,
            real_time: options.recognition.real_time,
            partial_captions: false,
            english_first: matches!(engine, MtEngine::Direct),
            speak_early: false,
            unsure: options.unsure,
        };
        let whisper = recognition.whisper.clone();
        Ok((config, ModelNames { whisper, whisper_dir: whisper_dir.display().to_string(), mt, note }))
    }

    /// Whisper for `recognition`, loaded once per model directory and thread count (sessions
    /// with other decoding options share its weights); fails if the
    /// model does not know the language.
    pub fn whisper(&self, recognition: &RecognitionOptions) -> Result<(Arc<WhisperModel>, PathBuf), RuntimeError> {
        let dir = self.whisper_dir(&recognition.whisper)?;
        let mut options = WhisperOptions { real_time: recognition.real_time, ..WhisperOptions::default() };
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

    /// The voice, loaded now if it was not yet.
    pub fn voice(&self) -> Result<Arc<PiperVoice>, RuntimeError> {
        let model = self.voice_model()?;
        Ok(self.voice.get_or_load(|| PiperVoice::load(&self.onnx_runtime, &model, TTS_THREADS))?)
    }

    /// Speaks with the shared voice, loading it in the first run's synthesis thread.
    fn synthesizer(&self) -> Result<Factory<dyn Synthesizer>, RuntimeError> {
        let (library, model, voice) = (self.onnx_runtime.clone(), self.voice_model()?, self.voice.clone());
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

    fn voice_model(&self) -> Result<PathBuf, RuntimeError> {
        Ok(self.store.require(VOICE_MODEL)?.join("voice.onnx"))
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

    /// The engine asked for, or for `auto` the installed text model that beats direct
    /// ([`choice::choose_text`]); with the name reports show and, for `auto`, why. `direct` is
    /// Whisper's own translation, into English only.
    fn choose_engine(&self, pair: &Pair, choice: MtChoice) -> Result<(MtEngine, String, Option<String>), RuntimeError> {
        if choice == MtChoice::Auto {
            return self.auto_engine(pair);
        }
        let model = self.pair_model(pair).map(|e| (e.id.clone(), self.store.require(&e.id)));
        match (choice, model) {
            (MtChoice::None, _) => Ok((MtEngine::Untranslated, "none (captions as heard)".into(), None)),
            (MtChoice::Direct | MtChoice::Auto, _) if pair.to == "en" => Ok((MtEngine::Direct, DIRECT.into(), None)),
            (MtChoice::Direct | MtChoice::Auto, _) => Err(RuntimeError::DirectIntoEnglishOnly(pair.clone())),
            #[cfg(feature = "llm")]
            (MtChoice::Llm, _) => self.llm_engine(pair),
            #[cfg(not(feature = "llm"))]
            (MtChoice::Llm, _) => Err(RuntimeError::LlmNotBuilt),
            (MtChoice::Nllb, _) => self.nllb_engine(pair),
            (MtChoice::Firefox, Some((id, Ok(dir)))) => Ok((MtEngine::Firefox(dir), format!("firefox ({id})"), None)),
            (MtChoice::Firefox, Some((_, Err(e)))) => Err(e.into()),
            (MtChoice::Firefox, None) => Err(RuntimeError::NoTranslationModel(pair.clone())),
        }
    }

    /// The Firefox-Translations model for `pair`: the last installed in the model list (a
    /// mirror's own before the built-in one), else the first listed.
    fn pair_model(&self, pair: &Pair) -> Option<&ModelEntry> {
        let pair = format!("{}-{}", pair.from, pair.to);
        let listed: Vec<&ModelEntry> = self
            .store
            .manifest()
            .models
            .iter()
            .filter(|m| m.role == "mt" && m.pair.as_deref() == Some(&pair))
            .collect();
        listed.iter().rev().find(|m| self.is_installed(&m.id)).or(listed.first()).copied()
    }

    fn is_installed(&self, id: &str) -> bool {
        matches!(self.store.installed(id), Ok(Some(_)))
    }

    /// `--mt auto`: every installed text model that can translate `pair` weighed against
    /// Whisper's own translation by its figure. Into a language other than English there is no
    /// Whisper translation to weigh against: the pair's Firefox model, else NLLB, else the LLM.
    fn auto_engine(&self, pair: &Pair) -> Result<(MtEngine, String, Option<String>), RuntimeError> {
        // The figures in the model list are Persian→English; for another language only the
        // pair's Firefox model is weighed, as before figures were kept.
        let firefox_pair = format!("{}-{}", pair.from, pair.to);
        let from_persian = pair.from == "fa" && pair.to == "en";
        let usable = |m: &&ModelEntry| match m.role.as_str() {
            "mt" => m.pair.as_deref() == Some(firefox_pair.as_str()),
            "nllb" if pair.to == "en" => from_persian,
            "nllb" => nllb_code(&pair.from).is_some() && nllb_code(&pair.to).is_some(),
            #[cfg(feature = "llm")]
            "llm" if pair.to == "en" => from_persian,
            #[cfg(feature = "llm")]
            "llm" => LlmTranslator::translates(pair),
            _ => false,
        };
        let installed: Vec<&ModelEntry> =
            self.store.manifest().models.iter().filter(usable).filter(|m| self.is_installed(&m.id)).collect();
        let (pick, why) = if pair.to == "en" {
            let candidates: Vec<TextCandidate> = installed.iter().map(|m| TextCandidate::of(m)).collect();
            choice::choose_text(&pair.from, &candidates)
        } else {
            let rank = |m: &&ModelEntry| ["mt", "nllb", "llm"].iter().position(|role| *role == m.role);
            let best = (0..installed.len()).min_by_key(|&i| (rank(&installed[i]), std::cmp::Reverse(i)));
            (best, format!("the installed {pair} text model"))
        };
        let Some(entry) = pick.map(|i| installed[i]) else {
            if pair.to != "en" {
                return Err(RuntimeError::NoModelForPair(pair.clone()));
            }
            return Ok((MtEngine::Direct, DIRECT.into(), Some(why)));
        };
        let dir = self.store.require(&entry.id)?;
        let (engine, name) = match entry.role.as_str() {
            "nllb" => {
                let library = self.store.require("ctranslate2")?.join(ct2::LIBRARY_FILE);
                (MtEngine::Nllb { library, dir, pair: pair.clone() }, format!("nllb ({})", entry.id))
            }
            #[cfg(feature = "llm")]
            "llm" => (
                MtEngine::Llm { gguf: dir.join(crate::models::import::GGUF_FILE), pair: pair.clone() },
                format!("llm ({})", entry.id),
            ),
            _ => (MtEngine::Firefox(dir), format!("firefox ({})", entry.id)),
        };
        Ok((engine, name, Some(why)))
    }
}

const DIRECT: &str = "direct (Whisper translate task)";

/// One line on what `auto` chose and why.
fn auto_note(whisper: &str, whisper_why: Option<String>, mt: &str, mt_why: Option<String>) -> String {
    let mut parts: Vec<String> = whisper_why.map(|why| format!("Whisper {whisper} is {why}")).into_iter().collect();
    parts.extend(mt_why);
    format!("auto chose Whisper {whisper} + {mt}: {}", parts.join("; "))
}

impl Runtime {
    /// A translator of text alone (`bench --text`), with its name.
    pub fn text_translator(
        &self,
        pair: &Pair,
        choice: MtChoice,
    ) -> Result<(Factory<dyn Translator>, String), RuntimeError> {
        let (engine, name, _) = self.choose_engine(pair, choice)?;
        Ok((text_translator_factory(engine)?, name))
    }

    /// The installed GGUF model a user imported last, else the registry's; it translates
    /// Persian ↔ English.
    #[cfg(feature = "llm")]
    fn llm_engine(&self, pair: &Pair) -> Result<(MtEngine, String, Option<String>), RuntimeError> {
        if !LlmTranslator::translates(pair) {
            return Err(RuntimeError::LlmLanguage(pair.clone()));
        }
        let (id, dir) = self.model_of_role("llm").ok_or(RuntimeError::NoLlm)??;
        let engine = MtEngine::Llm { gguf: dir.join(crate::models::import::GGUF_FILE), pair: pair.clone() };
        Ok((engine, format!("llm ({id})"), None))
    }
}

impl Runtime {
    /// The installed NLLB conversion from the local model list, else the built-in one.
    fn nllb_engine(&self, pair: &Pair) -> Result<(MtEngine, String, Option<String>), RuntimeError> {
        if nllb_code(&pair.from).is_none() || nllb_code(&pair.to).is_none() {
            return Err(RuntimeError::NllbLanguage(pair.clone()));
        }
        let (id, dir) = self.model_of_role("nllb").ok_or(RuntimeError::NoNllb)??;
        let library = self.store.require("ctranslate2")?.join(ct2::LIBRARY_FILE);
        let engine = MtEngine::Nllb { library, dir, pair: pair.clone() };
        Ok((engine, format!("nllb ({id})"), None))
    }

    /// The last installed model of `role` in the model list, with its folder: a user's own
    /// model (the local list comes after the built-in one, the latest import last) before the
    /// registry's. If none is installed, the first listed, with why it cannot be used. None when
    /// no model of `role` is listed.
    fn model_of_role(&self, role: &str) -> Option<Result<(String, PathBuf), StoreError>> {
        let manifest = self.store.manifest();
        let listed: Vec<_> = manifest.models.iter().filter(|m| m.role == role).collect();
        let entry = listed.iter().rev().find(|m| self.store.require(&m.id).is_ok()).or(listed.first())?;
        Some(self.store.require(&entry.id).map(|dir| (entry.id.clone(), dir)))
    }
}

fn recognizer_factory(whisper: Arc<WhisperModel>, language: &str) -> Factory<dyn Recognizer> {
    let language = language.to_string();
    Arc::new(move || Ok(Box::new(WhisperCt2Recognizer::try_new(whisper.clone(), &language)?)))
}

/// Every translation engine, by its [`MtEngine`]. A new engine is a new arm here (a text engine
/// in [`text_translator_factory`]).
pub fn translator_factory(engine: &MtEngine, whisper: Arc<WhisperModel>, language: &str) -> Factory<dyn Translator> {
    match engine.clone() {
        MtEngine::Direct => {
            let language = language.to_string();
            Arc::new(move || Ok(Box::new(DirectWhisperTranslator::new(whisper.clone(), &language))))
        }
        text => text_translator_factory(text).expect("every engine but direct translates text"),
    }
}

/// The engines that translate text alone (all but `direct`).
fn text_translator_factory(engine: MtEngine) -> Result<Factory<dyn Translator>, RuntimeError> {
    let cache = NonZeroUsize::new(TRANSLATION_CACHE).expect("non-zero");
    Ok(match engine {
        MtEngine::Direct => return Err(RuntimeError::DirectNeedsAudio),
        MtEngine::Untranslated => Arc::new(|| Ok(Box::new(Untranslated))),
        MtEngine::Firefox(dir) => {
            Arc::new(move || Ok(Box::new(CachedTranslator::new(FirefoxTranslator::try_new(&dir)?, cache))))
        }
        MtEngine::Nllb { library, dir, pair } => Arc::new(move || {
            let nllb = NllbTranslator::try_new(&library, &dir, &pair, NLLB_THREADS)?;
            Ok(Box::new(CachedTranslator::new(nllb, cache)))
        }),
        #[cfg(feature = "llm")]
        MtEngine::Llm { gguf, pair } => Arc::new(move || {
            Ok(Box::new(CachedTranslator::new(LlmTranslator::try_new(&gguf, &pair, LlmOptions::default())?, cache)))
        }),
    })
}
