//! `models import-hf`: a Whisper checkpoint (a Transformers fine-tune, or a CTranslate2
//! conversion) made into an installed, verified, registered model.
//!
//! A Transformers checkpoint is converted to CTranslate2 int8 by CTranslate2's own converter,
//! run from a private virtual environment in the LinguaStream home (created on first use). A
//! conversion is copied from its folder, or downloaded from the hub with each file checked
//! against the hub's hashes. The result is checked by loading it, installed like any other
//! model, and listed in the local model list (`models.toml`), so `--whisper NAME` finds it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::fetch::{io_error, partial_dir, FetchError, Staging};
use super::http::Http;
use super::hub::{Hub, RepoFile};
use super::manifest::{Manifest, LOCAL_MANIFEST};
use super::store::{sha256_file, ModelStore};

/// The converter, at the version of the CTranslate2 library that runs the result, and what it
/// needs to read Transformers checkpoints, at the versions it was tested with.
const CONVERTER_PACKAGES: [&str; 3] = ["ctranslate2==4.8.4", "transformers==5.24.0", "torch==2.15.0"];

/// What `REPO_OR_DIR` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    /// Already converted: `model.bin`, `config.json`, a vocabulary.
    Ctranslate2(PathBuf),
    /// A Transformers Whisper folder (`config.json` with `model_type: whisper`).
    Transformers(PathBuf),
    /// A Hugging Face repository id: a CTranslate2 conversion is downloaded, a Transformers
    /// checkpoint is left to the converter to download.
    HubRepo(String),
}

impl Checkpoint {
    pub fn identify(source: &str) -> Result<Self, FetchError> {
        let path = Path::new(source);
        if !path.is_dir() {
            let looks_like_repo = source.split('/').count() == 2 && !source.starts_with('.') && !source.contains(' ');
            return if looks_like_repo {
                Ok(Checkpoint::HubRepo(source.to_string()))
            } else {
                Err(FetchError::Other(format!(
                    "{source} is neither a folder nor a Hugging Face repository id (owner/name)"
                )))
            };
        }
        if path.join("model.bin").is_file() {
            return Ok(Checkpoint::Ctranslate2(path.to_path_buf()));
        }
        let config = fs::read_to_string(path.join("config.json")).unwrap_or_default();
        let model_type = serde_json::from_str::<serde_json::Value>(&config)
            .ok()
            .and_then(|c| c["model_type"].as_str().map(str::to_string));
        match model_type.as_deref() {
            Some("whisper") => Ok(Checkpoint::Transformers(path.to_path_buf())),
            Some(other) => Err(FetchError::Other(format!("{source} holds a '{other}' model, not Whisper"))),
            None => Err(FetchError::Other(format!(
                "{source} has neither model.bin (CTranslate2) nor a config.json with model_type \"whisper\" (Transformers)"
            ))),
        }
    }
}

/// The id a Whisper named `name` is installed under (`--whisper name`).
pub fn whisper_id(name: &str) -> String {
    format!("whisper-{}", name.trim_start_matches("whisper-"))
}

/// A default name from a repository id or folder: its last part, lower case.
pub fn default_name(source: &str) -> String {
    let last = source.trim_end_matches('/').rsplit('/').next().unwrap_or(source);
    last.to_lowercase().trim_start_matches("whisper-").replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-")
}

/// Converts (when needed), verifies with `verify`, installs and registers. Returns the id.
pub fn import_whisper(
    store: &ModelStore,
    source: &str,
    name: &str,
    verify: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<String, FetchError> {
    let id = whisper_id(name);
    if Manifest::builtin().get(&id).is_some() {
        return Err(FetchError::Other(format!("{id} is a built-in model; choose another --name")));
    }
    let checkpoint = Checkpoint::identify(source)?;
    fs::create_dir_all(store.models_dir()).map_err(io_error(&store.models_dir()))?;
    let staging = Staging::new(store, &id)?;
    let files = staging.dir.join("files");
    fs::create_dir_all(&files).map_err(io_error(&files))?;
    match &checkpoint {
        Checkpoint::Ctranslate2(dir) => copy_conversion(dir, &files)?,
        Checkpoint::Transformers(dir) => convert(store, &dir.display().to_string(), &files)?,
        Checkpoint::HubRepo(repo) => {
            if !download_conversion(store, repo, &files)? {
                convert(store, repo, &files)?;
            }
        }
    }
    verify(&files).map_err(|e| FetchError::Other(format!("the converted model does not load: {e}")))?;
    let mut hashes = Vec::new();
    let mut names: Vec<String> = fs::read_dir(&files)
        .map_err(io_error(&files))?
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    for file in &names {
        let path = files.join(file);
        hashes.push((file.clone(), sha256_file(&path).map_err(io_error(&path))?));
    }
    staging.install(store, &id, &hashes)?;
    register(store, &id, source, &names)?;
    Ok(id)
}

/// The files of a CTranslate2 Whisper conversion: (name, required).
const CONVERSION_FILES: [(&str, bool); 6] = [
    ("model.bin", true),
    ("config.json", true),
    ("vocabulary.txt", false),
    ("vocabulary.json", false),
    ("tokenizer.json", false),
    ("preprocessor_config.json", false),
];

/// Downloads `repo` from the hub, each file checked against the hub's own hashes, when it is a
/// CTranslate2 conversion (it has `model.bin`); false when it is not.
fn download_conversion(store: &ModelStore, repo: &str, files: &Path) -> Result<bool, FetchError> {
    let hub = Hub::from_env();
    let http = Http::new(partial_dir(store));
    let file = |name| RepoFile { repo, revision: "main", name };
    match hub.metadata(&http, &format!("model.bin of {repo}"), file("model.bin")) {
        Ok(_) => {}
        Err(FetchError::Http { status: 404, .. }) => return Ok(false),
        Err(e) => return Err(e),
    }
    for (name, required) in CONVERSION_FILES {
        match hub.download(&http, &format!("{name} of {repo}"), file(name), None, &files.join(name)) {
            Ok(_) => {}
            Err(FetchError::Http { status: 404, .. }) if !required => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn copy_conversion(dir: &Path, files: &Path) -> Result<(), FetchError> {
    for (name, _) in CONVERSION_FILES {
        let from = dir.join(name);
        if from.is_file() {
            let to = files.join(name);
            fs::copy(&from, &to).map_err(io_error(&to))?;
        }
    }
    Ok(())
}

/// CTranslate2's converter: `LINGUASTREAM_CT2_CONVERTER` if set (an existing installation),
/// else a private environment in the LinguaStream home, created on first use.
fn converter(store: &ModelStore) -> Result<PathBuf, FetchError> {
    if let Some(tool) = std::env::var_os("LINGUASTREAM_CT2_CONVERTER").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(tool));
    }
    let venv = store.root().join("converter-venv");
    let tool = venv.join("bin/ct2-transformers-converter");
    if tool.is_file() {
        return Ok(tool);
    }
    let python = std::env::var("LINGUASTREAM_PYTHON").unwrap_or_else(|_| "python3".into());
    eprintln!("setting up CTranslate2's converter in {} (once; downloads PyTorch, a few GB)…", venv.display());
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        "creating the converter's virtual environment (install python3-venv?)",
    )?;
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check"])
            .args(CONVERTER_PACKAGES),
        "installing the converter (ctranslate2, transformers, torch)",
    )?;
    Ok(tool)
}

fn convert(store: &ModelStore, model: &str, files: &Path) -> Result<(), FetchError> {
    let tool = converter(store)?;
    eprintln!("converting {model} to CTranslate2 int8…");
    // The converter refuses an existing output folder unless forced; ours is fresh and empty.
    run(
        Command::new(tool).args(["--model", model, "--quantization", "int8", "--force"]).arg("--output_dir").arg(files),
        "converting the checkpoint",
    )
}

fn run(command: &mut Command, what: &str) -> Result<(), FetchError> {
    let output = command.output().map_err(|e| FetchError::Other(format!("{what}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    Err(FetchError::Other(format!("{what} failed: {last}")))
}

/// Adds (or replaces) the model's entry in the local model list.
fn register(store: &ModelStore, id: &str, source: &str, names: &[String]) -> Result<(), FetchError> {
    let path = store.root().join(LOCAL_MANIFEST);
    let text = fs::read_to_string(&path).unwrap_or_default();
    let mut list: toml::Table = toml::from_str(&text).map_err(|e| {
        FetchError::Other(format!("{} is not a valid model list ({e}); fix or remove it", path.display()))
    })?;
    let models = list.entry("model").or_insert_with(|| toml::Value::Array(Vec::new()));
    let toml::Value::Array(models) = models else {
        return Err(FetchError::Other(format!("{}: `model` is not a list", path.display())));
    };
    models.retain(|m| m.get("id").and_then(|v| v.as_str()) != Some(id));
    let files: Vec<toml::Value> =
        names.iter().map(|n| toml::Value::Table(toml::Table::from_iter([("name".into(), n.clone().into())]))).collect();
    let entry = toml::Table::from_iter([
        ("id".to_string(), toml::Value::from(id)),
        ("role".into(), "stt".into()),
        ("description".into(), format!("Whisper imported from {source}, CTranslate2 int8").into()),
        ("license".into(), "that of its source (see its model card)".into()),
        ("default".into(), false.into()),
        ("source".into(), "local".into()),
        ("files".into(), toml::Value::Array(files)),
    ]);
    models.push(toml::Value::Table(entry));
    let text = toml::to_string(&list).map_err(|e| FetchError::Other(e.to_string()))?;
    fs::create_dir_all(store.root()).map_err(io_error(store.root()))?;
    fs::write(&path, text).map_err(io_error(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Checkpoint::identify("someone/whisper-small-fa"), Ok(Checkpoint::HubRepo(_))));
        assert!(Checkpoint::identify("not a repo").is_err());
        let error = Checkpoint::identify(&dir.path().display().to_string()).unwrap_err().to_string();
        assert!(error.contains("neither model.bin"), "{error}");
        fs::write(dir.path().join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
        let error = Checkpoint::identify(&dir.path().display().to_string()).unwrap_err().to_string();
        assert!(error.contains("'bert' model, not Whisper"), "{error}");
        fs::write(dir.path().join("config.json"), r#"{"model_type": "whisper"}"#).unwrap();
        assert!(matches!(Checkpoint::identify(&dir.path().display().to_string()), Ok(Checkpoint::Transformers(_))));
    }

    #[test]
    fn names_come_from_the_source() {
        assert_eq!(default_name("someone/Whisper-Small-FA"), "small-fa");
        assert_eq!(whisper_id("whisper-small-fa"), "whisper-small-fa");
        assert_eq!(whisper_id("tiny-test"), "whisper-tiny-test");
    }
}
