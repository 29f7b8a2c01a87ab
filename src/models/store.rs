//! Where models live on disk and whether they are intact.
//!
//! Layout: `<root>/models/<id>/` holds the files plus `installed.json` (hash, size and mtime of
//! each file). A model directory only appears, by rename, once every file has been verified, so
//! an interrupted install is never used. Loading re-hashes a file only when its size or mtime
//! changed since it was verified; `models verify` always re-hashes.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::manifest::{Manifest, ModelEntry, Source};

pub const INSTALLED_FILE: &str = "installed.json";

/// Why a model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unknown model '{id}' (known: {known})")]
    Unknown { id: String, known: String },
    #[error("model '{id}' is not installed in {dir}; {hint}")]
    NotInstalled { id: String, dir: String, hint: String },
    #[error("model '{id}' is damaged: {file} is missing; reinstall with `linguastream models fetch {id} --force`")]
    Missing { id: String, file: String },
    #[error("model '{id}' is corrupted: checksum mismatch in {file} (expected sha256 {expected}, found {actual}); reinstall with `linguastream models fetch {id} --force`")]
    Corrupt { id: String, file: String, expected: String, actual: String },
    #[error("cannot read model files in {path}: {reason}")]
    Io { path: String, reason: String },
}

/// What `installed.json` records about one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledFile {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
    pub mtime_ns: u128,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledModel {
    pub id: String,
    pub files: Vec<InstalledFile>,
}

/// The installed models under one root directory.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
    manifest: Manifest,
}

impl ModelStore {
    /// `$LINGUASTREAM_HOME`, else `$XDG_DATA_HOME/linguastream`, else `~/.local/share/linguastream`.
    pub fn default_root() -> PathBuf {
        if let Some(home) = std::env::var_os("LINGUASTREAM_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(home);
        }
        if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(data).join("linguastream");
        }
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        home.join(".local/share/linguastream")
    }

    pub fn open(root: PathBuf) -> Self {
        Self { root, manifest: Manifest::builtin() }
    }

    pub fn open_default() -> Self {
        Self::open(Self::default_root())
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    pub fn model_dir(&self, id: &str) -> PathBuf {
        self.models_dir().join(id)
    }

    pub fn entry(&self, id: &str) -> Result<&ModelEntry, StoreError> {
        self.manifest
            .get(id)
            .ok_or_else(|| StoreError::Unknown { id: id.into(), known: self.manifest.ids().join(", ") })
    }

    pub fn installed(&self, id: &str) -> Option<InstalledModel> {
        let json = fs::read_to_string(self.model_dir(id).join(INSTALLED_FILE)).ok()?;
        serde_json::from_str(&json).ok()
    }

    /// The directory of an installed, intact model.
    pub fn require(&self, id: &str) -> Result<PathBuf, StoreError> {
        let entry = self.entry(id)?;
        let dir = self.model_dir(id);
        let installed = self.installed(id).ok_or_else(|| StoreError::NotInstalled {
            id: id.into(),
            dir: self.models_dir().display().to_string(),
            hint: install_hint(entry),
        })?;
        for file in &installed.files {
            let path = dir.join(&file.name);
            let meta =
                fs::metadata(&path).map_err(|_| StoreError::Missing { id: id.into(), file: file.name.clone() })?;
            if meta.len() != file.bytes || mtime_ns(&meta) != file.mtime_ns {
                self.check_hash(id, &path, &file.sha256)?;
            }
        }
        Ok(dir)
    }

    /// Re-hashes every file of an installed model against the manifest (or, for hub models,
    /// against the hash recorded at download).
    pub fn verify(&self, id: &str) -> Result<(), StoreError> {
        let entry = self.entry(id)?;
        let installed = self.installed(id).ok_or_else(|| StoreError::NotInstalled {
            id: id.into(),
            dir: self.models_dir().display().to_string(),
            hint: install_hint(entry),
        })?;
        let dir = self.model_dir(id);
        for file in &installed.files {
            let pinned = entry.files.iter().find(|f| f.name == file.name).and_then(|f| f.sha256.clone());
            let expected = pinned.unwrap_or_else(|| file.sha256.clone());
            let path = dir.join(&file.name);
            if !path.exists() {
                return Err(StoreError::Missing { id: id.into(), file: file.name.clone() });
            }
            self.check_hash(id, &path, &expected)?;
        }
        Ok(())
    }

    fn check_hash(&self, id: &str, path: &Path, expected: &str) -> Result<(), StoreError> {
        let actual = sha256_file(path)
            .map_err(|e| StoreError::Io { path: path.display().to_string(), reason: e.to_string() })?;
        if actual != expected {
            return Err(StoreError::Corrupt {
                id: id.into(),
                file: path.display().to_string(),
                expected: expected.into(),
                actual,
            });
        }
        Ok(())
    }

    /// Total size in bytes of an installed model's files.
    pub fn installed_bytes(&self, id: &str) -> Option<u64> {
        self.installed(id).map(|m| m.files.iter().map(|f| f.bytes).sum())
    }
}

fn install_hint(entry: &ModelEntry) -> String {
    match entry.source {
        Source::Pypi => format!("run `linguastream models fetch {}`", entry.id),
        Source::Huggingface => format!("run `linguastream models fetch {}` (downloads from Hugging Face; needs internet)", entry.id),
        Source::Firefox => format!(
            "run `linguastream models fetch {id}` (downloads from Mozilla; needs internet) or put its files in a folder and run `linguastream models import {id} FOLDER`",
            id = entry.id
        ),
    }
}

pub(crate) fn mtime_ns(meta: &fs::Metadata) -> u128 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos())
}

/// Hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records the files now in `dir` as verified, in `dir/installed.json`.
pub(crate) fn write_installed(dir: &Path, id: &str, hashes: &[(String, String)]) -> std::io::Result<()> {
    let files = hashes
        .iter()
        .map(|(name, sha256)| {
            let meta = fs::metadata(dir.join(name))?;
            Ok(InstalledFile {
                name: name.clone(),
                sha256: sha256.clone(),
                bytes: meta.len(),
                mtime_ns: mtime_ns(&meta),
            })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let record = InstalledModel { id: id.into(), files };
    fs::write(dir.join(INSTALLED_FILE), serde_json::to_string_pretty(&record).expect("serialisable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_byte_is_caught_on_load() {
        let root = tempfile::tempdir().unwrap();
        let store = ModelStore::open(root.path().to_path_buf());
        let dir = store.model_dir("silero-vad");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("silero_vad.onnx"), b"weights").unwrap();
        let hash = sha256_file(&dir.join("silero_vad.onnx")).unwrap();
        write_installed(&dir, "silero-vad", &[("silero_vad.onnx".into(), hash)]).unwrap();
        assert!(store.require("silero-vad").is_ok());

        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(dir.join("silero_vad.onnx"), b"weightz").unwrap();
        let err = store.require("silero-vad").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("checksum mismatch"));
    }

    #[test]
    fn missing_models_say_how_to_install_them() {
        let root = tempfile::tempdir().unwrap();
        let store = ModelStore::open(root.path().to_path_buf());
        let err = store.require("firefox-faen").unwrap_err().to_string();
        assert!(err.contains("models import firefox-faen"), "{err}");
        assert!(matches!(store.require("nope"), Err(StoreError::Unknown { .. })));
    }
}
