//! Which translation engine a session runs and how it is made: the engine asked for, or for
//! `auto` the best installed one for the language pair, and the factory that builds it.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use super::{Runtime, RuntimeError};
use crate::ct2;
use crate::models::choice::{self, TextCandidate};
use crate::models::{ModelEntry, StoreError};
use crate::mt::{
    nllb_code, CachedTranslator, DirectWhisperTranslator, FirefoxTranslator, MtChoice, NllbTranslator, Pair,
    Translator, Untranslated,
};
#[cfg(feature = "llm")]
use crate::mt::{LlmOptions, LlmTranslator};
use crate::pipeline::Factory;
use crate::stt::WhisperModel;

/// Translations remembered per run.
const TRANSLATION_CACHE: usize = 1024;
/// CTranslate2 threads for NLLB.
const NLLB_THREADS: usize = 2;

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

/// What to use when the model list has no Firefox model for `pair`: Whisper's own translation
/// reaches English only, the LLM translates Persian ↔ English, and a mirror may list its own copy.
pub(super) fn instead_of_firefox(pair: &Pair) -> String {
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

impl Runtime {
    /// The engine asked for, or for `auto` the installed text model that beats direct
    /// ([`choice::choose_text`]); with the name reports show and, for `auto`, why. `direct` is
    /// Whisper's own translation, into English only.
    pub(super) fn choose_engine(
        &self,
        pair: &Pair,
        choice: MtChoice,
    ) -> Result<(MtEngine, String, Option<String>), RuntimeError> {
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
pub(super) fn auto_note(whisper: &str, whisper_why: Option<String>, mt: &str, mt_why: Option<String>) -> String {
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
