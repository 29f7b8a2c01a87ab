//! Where models live on disk and whether they are intact.
//!
//! Layout: `<root>/models/<id>/` holds the files plus `installed.json` (sha256, BLAKE3 and size of
//! each file). A model directory only appears, by rename, once every file has been verified, so
//! an interrupted install is never used. Every load re-hashes every file with BLAKE3 (a few
//! milliseconds per 100 MB with SIMD), so a changed byte is caught whatever its mtime says;
//! `models verify` re-hashes with the sha256 pinned in the manifest.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::manifest::{Manifest, ModelEntry, Source};
use crate::outfile::write_atomic;

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
    #[error("model '{id}' is corrupted: checksum mismatch in {file} (expected {expected}, found {actual}); reinstall with `linguastream models fetch {id} --force`")]
    Corrupt { id: String, file: String, expected: String, actual: String },
    #[error("cannot read model files in {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the model store: {path}: {source}{hint}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
        hint: String,
    },
    #[error("model '{id}' has a damaged install record ({path}: {source}); reinstall with `linguastream models fetch {id} --force`")]
    DamagedRecord {
        id: String,
        path: String,
        #[source]
        source: RecordError,
    },
}

/// Why an install record (`installed.json`) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("it describes '{id}' with {files} files")]
    OtherModel { id: String, files: usize },
    #[error("'{0}' is not a file name inside the model's folder")]
    OutsideFolder(String),
}

/// What `installed.json` records about one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledFile {
    pub name: String,
    pub sha256: String,
    /// Checked at every load; records written before it existed fall back to sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstalledModel {
    pub id: String,
    pub files: Vec<InstalledFile>,
}

impl InstalledModel {
    /// Reads the `installed.json` of model `id`, refusing a record of another model, one without
    /// files, or one whose file names reach outside the model's folder.
    pub fn parse(id: &str, json: &str) -> Result<Self, RecordError> {
        let record: Self = serde_json::from_str(json)?;
        if record.id != id || record.files.is_empty() {
            return Err(RecordError::OtherModel { id: record.id, files: record.files.len() });
        }
        let plain = |name: &str| {
            let mut parts = Path::new(name).components();
            matches!((parts.next(), parts.next()), (Some(std::path::Component::Normal(_)), None))
        };
        if let Some(file) = record.files.iter().find(|f| !plain(&f.name)) {
            return Err(RecordError::OutsideFolder(file.name.clone()));
        }
        Ok(record)
    }
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
        Self { manifest: Manifest::with_local(&root), root }
    }

    pub fn open_default() -> Self {
        Self::open(Self::default_root())
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The LinguaStream home: `models/`, the local model list and tool environments.
    pub fn root(&self) -> &Path {
        &self.root
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

    /// The install record of `id`: `None` when it is not installed; an error when the record
    /// cannot be read (permissions) or is damaged.
    pub fn installed(&self, id: &str) -> Result<Option<InstalledModel>, StoreError> {
        let path = self.model_dir(id).join(INSTALLED_FILE);
        let json = match fs::read_to_string(&path) {
            Ok(json) => json,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.absent_or_unreadable(id),
            Err(e) => return Err(self.unreadable(&path, e)),
        };
        let record = InstalledModel::parse(id, &json).map_err(|source| StoreError::DamagedRecord {
            id: id.into(),
            path: path.display().to_string(),
            source,
        })?;
        Ok(Some(record))
    }

    /// A missing record means "not installed" only if the folders on the way could be read.
    fn absent_or_unreadable(&self, id: &str) -> Result<Option<InstalledModel>, StoreError> {
        for dir in [self.root.clone(), self.models_dir(), self.model_dir(id)] {
            match fs::read_dir(&dir) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(self.unreadable(&dir, e)),
            }
        }
        Ok(None)
    }

    fn unreadable(&self, path: &Path, source: std::io::Error) -> StoreError {
        let hint = if source.kind() == std::io::ErrorKind::PermissionDenied {
            format!(" (check the permissions of {}, or set LINGUASTREAM_HOME)", self.root.display())
        } else {
            String::new()
        };
        StoreError::Unreadable { path: path.display().to_string(), source, hint }
    }

    fn require_record(&self, id: &str) -> Result<InstalledModel, StoreError> {
        let entry = self.entry(id)?;
        self.installed(id)?.ok_or_else(|| StoreError::NotInstalled {
            id: id.into(),
            dir: self.models_dir().display().to_string(),
            hint: install_hint(entry),
        })
    }

    /// The directory of an installed, intact model: every file is re-hashed (BLAKE3).
    pub fn require(&self, id: &str) -> Result<PathBuf, StoreError> {
        let installed = self.require_record(id)?;
        let dir = self.model_dir(id);
        for file in &installed.files {
            let path = dir.join(&file.name);
            let meta = fs::metadata(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => StoreError::Missing { id: id.into(), file: file.name.clone() },
                _ => self.unreadable(&path, e),
            })?;
            if meta.len() != file.bytes {
                return Err(StoreError::Corrupt {
                    id: id.into(),
                    file: path.display().to_string(),
                    expected: format!("{} bytes", file.bytes),
                    actual: format!("{} bytes", meta.len()),
                });
            }
            match &file.blake3 {
                Some(expected) => self.check(id, &path, expected, Checksum::Blake3)?,
                None => self.check(id, &path, &file.sha256, Checksum::Sha256)?,
            }
        }
        Ok(dir)
    }

    /// Re-hashes every file of an installed model against the manifest (or, for hub models,
    /// against the hash recorded at download).
    pub fn verify(&self, id: &str) -> Result<(), StoreError> {
        let entry = self.entry(id)?;
        let installed = self.require_record(id)?;
        let dir = self.model_dir(id);
        for file in &installed.files {
            let pinned = entry.files.iter().find(|f| f.name == file.name).and_then(|f| f.sha256.clone());
            let expected = pinned.unwrap_or_else(|| file.sha256.clone());
            let path = dir.join(&file.name);
            if !path.exists() {
                return Err(StoreError::Missing { id: id.into(), file: file.name.clone() });
            }
            self.check(id, &path, &expected, Checksum::Sha256)?;
        }
        Ok(())
    }

    fn check(&self, id: &str, path: &Path, expected: &str, checksum: Checksum) -> Result<(), StoreError> {
        let (name, hash) = match checksum {
            Checksum::Blake3 => ("BLAKE3", blake3_file as fn(&Path) -> std::io::Result<String>),
            Checksum::Sha256 => ("sha256", sha256_file as fn(&Path) -> std::io::Result<String>),
        };
        let actual = hash(path).map_err(|source| StoreError::Io { path: path.display().to_string(), source })?;
        if actual != expected {
            return Err(StoreError::Corrupt {
                id: id.into(),
                file: path.display().to_string(),
                expected: format!("{name} {expected}"),
                actual: format!("{name} {actual}"),
            });
        }
        Ok(())
    }

    /// Total size in bytes of an installed model's files.
    pub fn installed_bytes(&self, id: &str) -> Option<u64> {
        self.installed(id).ok().flatten().map(|m| m.files.iter().map(|f| f.bytes).sum())
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
        Source::Local => format!(
            "it was made on this machine: run `linguastream models {}` again for {}",
            match entry.role.as_str() {
                "tts" => "import-voice",
                "llm" => "import-gguf",
                _ => "import-hf",
            },
            entry.id
        ),
    }
}

/// Feeds a file's contents to `update` in 1 MiB pieces.
fn read_through(path: &Path, mut update: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        update(&buf[..n]);
    }
}

/// Hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    read_through(path, |piece| hasher.update(piece))?;
    Ok(hex(&hasher.finalize()))
}

/// Which digest an install record's hash is (named in the message when a file does not match).
#[derive(Clone, Copy)]
enum Checksum {
    Blake3,
    Sha256,
}

/// Hex BLAKE3 of a file's contents.
pub fn blake3_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    read_through(path, |piece| {
        hasher.update(piece);
    })?;
    Ok(hasher.finalize().to_hex().to_string())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records the files now in `dir` as verified (their sha256 given, their BLAKE3 computed here,
/// for the checks at load), in `dir/installed.json`.
pub(crate) fn write_installed(dir: &Path, id: &str, hashes: &[(String, String)]) -> std::io::Result<()> {
    let files = hashes
        .iter()
        .map(|(name, sha256)| {
            let path = dir.join(name);
            Ok(InstalledFile {
                name: name.clone(),
                sha256: sha256.clone(),
                blake3: Some(blake3_file(&path)?),
                bytes: fs::metadata(&path)?.len(),
            })
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let record = InstalledModel { id: id.into(), files };
    let json = serde_json::to_string_pretty(&record).expect("serialisable");
    write_atomic(&dir.join(INSTALLED_FILE), json.as_bytes()).map_err(std::io::Error::other)
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

        // The mtime is put back, as a careful tamperer (or a restored backup) would.
        let path = dir.join("silero_vad.onnx");
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        fs::write(&path, b"weightz").unwrap();
        fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
        let err = store.require("silero-vad").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        // Every load checks BLAKE3; the message names the digest it compared.
        let message = err.to_string();
        assert!(message.contains("expected BLAKE3 ") && message.contains("found BLAKE3 "), "{message}");
        assert!(!message.contains("sha256"), "{message}");
    }

    #[test]
    fn records_without_blake3_are_checked_with_sha256() {
        let root = tempfile::tempdir().unwrap();
        let store = ModelStore::open(root.path().to_path_buf());
        let dir = store.model_dir("silero-vad");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("silero_vad.onnx"), b"weights").unwrap();
        let sha = sha256_file(&dir.join("silero_vad.onnx")).unwrap();
        let old = format!(
            r#"{{"id":"silero-vad","files":[{{"name":"silero_vad.onnx","sha256":"{sha}","bytes":7,"mtime_ns":1}}]}}"#
        );
        fs::write(dir.join(INSTALLED_FILE), old).unwrap();
        assert!(store.require("silero-vad").is_ok());
        fs::write(dir.join("silero_vad.onnx"), b"weightz").unwrap();
        let err = store.require("silero-vad").unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("expected sha256 "), "{err}");
    }

    #[test]
    fn a_damaged_record_is_not_mistaken_for_a_missing_model() {
        let root = tempfile::tempdir().unwrap();
        let store = ModelStore::open(root.path().to_path_buf());
        let dir = store.model_dir("silero-vad");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(INSTALLED_FILE), "{ not json").unwrap();
        let err = store.require("silero-vad").unwrap_err();
        assert!(matches!(err, StoreError::DamagedRecord { source: RecordError::Json(_), .. }), "{err}");
        assert!(err.to_string().contains("damaged install record"), "{err}");
        let escaping = r#"{"id":"silero-vad","files":[{"name":"/dev/zero","sha256":"x","bytes":0}]}"#;
        fs::write(dir.join(INSTALLED_FILE), escaping).unwrap();
        let err = store.require("silero-vad").unwrap_err().to_string();
        assert!(err.contains("not a file name inside the model's folder"), "{err}");
        // Not a folder where the store should be: unreadable, not "not installed".
        let file_root = root.path().join("file");
        fs::write(&file_root, "").unwrap();
        let err = ModelStore::open(file_root).require("silero-vad").unwrap_err();
        assert!(matches!(err, StoreError::Unreadable { .. }), "{err}");
        let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<std::io::Error>());
        assert!(source.is_some(), "the io::Error is kept as the source: {err:?}");
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
