//! Firefox-Translations (Bergamot) models: a Marian encoder-decoder in int8, run by `fxtranslate`.

use std::path::{Path, PathBuf};

use fxtranslate::engine::Engine;

use super::{MtError, SourceSegment, Translator};

/// The three files of a Firefox-Translations model (vocabulary shared by both sides).
#[derive(Debug, Clone)]
pub struct FirefoxModelFiles {
    pub model: PathBuf,
    pub vocab: PathBuf,
    pub lex: Option<PathBuf>,
}

impl FirefoxModelFiles {
    /// Finds `model.*.intgemm.alphas.bin`, `vocab.*.spm` and (optional) `lex.*.s2t.bin` in `dir`.
    pub fn find(dir: &Path) -> Result<Self, MtError> {
        let load_error = |reason: String| MtError::Load { path: dir.display().to_string(), reason };
        let entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| MtError::LoadIo { path: dir.display().to_string(), source })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let pick = |prefix: &str, suffix: &str| {
            entries.iter().find(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.starts_with(prefix) && name.ends_with(suffix)
            })
        };
        let model = pick("model.", ".bin").ok_or_else(|| load_error("no model.*.bin file".into()))?;
        let vocab = pick("vocab.", ".spm").ok_or_else(|| load_error("no vocab.*.spm file".into()))?;
        Ok(Self { model: model.clone(), vocab: vocab.clone(), lex: pick("lex.", ".bin").cloned() })
    }
}

/// A loaded Firefox-Translations model for one language pair.
pub struct FirefoxTranslator {
    engine: Engine,
}

impl FirefoxTranslator {
    pub fn try_new(dir: &Path) -> Result<Self, MtError> {
        let files = FirefoxModelFiles::find(dir)?;
        let load_error = |reason: String| MtError::Load { path: dir.display().to_string(), reason };
        let mut engine = Engine::load_mmapped(&files.model, &files.vocab, &files.vocab).map_err(load_error)?;
        // fxtranslate's own loader skips the lexical shortlist; Firefox uses it, and with it the
        // output matches Firefox's.
        if let Some(lex) = &files.lex {
            let bytes =
                std::fs::read(lex).map_err(|source| MtError::LoadIo { path: dir.display().to_string(), source })?;
            engine = engine.with_shortlist_bytes(&bytes);
        }
        Ok(Self { engine })
    }
}

impl Translator for FirefoxTranslator {
    fn name(&self) -> &str {
        "firefox"
    }

    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
        let text = source.text.trim();
        if text.is_empty() {
            return Err(MtError::Empty);
        }
        let engine = &self.engine;
        let translated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.translate_long(text)))
            .map_err(|_| MtError::Engine("the Firefox-Translations engine panicked".into()))?;
        if translated.trim().is_empty() {
            return Err(MtError::Empty);
        }
        Ok(translated.trim().to_string())
    }
}
