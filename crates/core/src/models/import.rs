//! `models import-hf`: a Whisper checkpoint (a Transformers fine-tune, or a CTranslate2
//! conversion) made into an installed, verified, registered model; `models import-gguf`: the
//! same for a GGUF language model a user brings for `--mt llm`; `models import-voice`: a Piper
//! voice (`.onnx` with its `.onnx.json`), for speech in its language.
//!
//! A Transformers checkpoint is converted to CTranslate2 int8 by CTranslate2's own converter,
//! run from a private virtual environment in the LinguaStream home (created on first use). A
//! conversion is copied from its folder, or downloaded from the hub with each file checked
//! against the hub's hashes. The result is checked by loading it, installed like any other
//! model, and listed in the local model list (`models.toml`), so `--whisper NAME` finds it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::{io_error, FetchError};
use super::fetch::{partial_dir, Staging};
use super::http::Http;
use super::hub::{Hub, RepoFile};
use super::manifest::{Manifest, LOCAL_MANIFEST};
use super::store::{sha256_file, ModelStore};
use crate::tts::PiperVoiceConfig;

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

/// `name` when it can name a model folder: letters, digits, `-`, `_` and `.`, not starting with
/// `.`, so `--name ../x` cannot install outside the store.
fn checked_name(name: &str) -> Result<&str, FetchError> {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.starts_with('.') || !plain {
        return Err(FetchError::Other(format!(
            "'{name}' cannot name a model: use letters, digits, '-', '_' and '.' (not first)"
        )));
    }
    Ok(name)
}

/// Converts (when needed), verifies with `verify`, installs and registers. Returns the id.
pub fn import_whisper(
    store: &ModelStore,
    source: &str,
    name: &str,
    verify: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<String, FetchError> {
    let id = whisper_id(checked_name(name)?);
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
    let description = format!("Whisper imported from {source}, CTranslate2 int8");
    register(store, &id, "stt", &description, &names)?;
    Ok(id)
}

/// The id a GGUF language model named `name` is installed under.
pub fn llm_id(name: &str) -> String {
    format!("llm-{}", name.trim_start_matches("llm-"))
}

/// The file name an installed GGUF model has in its folder.
pub const GGUF_FILE: &str = "model.gguf";

/// Checks that `file` starts as a GGUF file does (magic `GGUF`, format version 1–3), so a
/// wrong file is named as such before it is copied or handed to llama.cpp.
pub fn check_gguf_header(file: &Path) -> Result<(), FetchError> {
    use std::io::Read;
    let mut header = [0u8; 8];
    let read = fs::File::open(file).and_then(|mut f| f.read(&mut header)).map_err(io_error(file))?;
    if read < header.len() || &header[..4] != b"GGUF" {
        let start = String::from_utf8_lossy(&header[..read.min(4)]).escape_debug().to_string();
        return Err(FetchError::Other(format!(
            "{} is not a GGUF model: a GGUF file starts with \"GGUF\", this one with \"{start}\"",
            file.display()
        )));
    }
    let version = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if !(1..=3).contains(&version) {
        return Err(FetchError::Other(format!(
            "{} is GGUF version {version}, which this build of llama.cpp does not read (1–3)",
            file.display()
        )));
    }
    Ok(())
}

/// Installs a GGUF file as `llm-NAME`: its header checked, copied, checked by `verify`
/// (loading it), its sha256 recorded, and listed with the `llm` role. Returns the id.
pub fn import_gguf(
    store: &ModelStore,
    file: &Path,
    name: &str,
    verify: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<String, FetchError> {
    let id = llm_id(checked_name(name)?);
    if Manifest::builtin().get(&id).is_some() {
        return Err(FetchError::Other(format!("{id} is a built-in model; choose another --name")));
    }
    if !file.is_file() {
        return Err(FetchError::Other(format!("{} is not a file", file.display())));
    }
    check_gguf_header(file)?;
    fs::create_dir_all(store.models_dir()).map_err(io_error(&store.models_dir()))?;
    let staging = Staging::new(store, &id)?;
    let files = staging.dir.join("files");
    fs::create_dir_all(&files).map_err(io_error(&files))?;
    let target = files.join(GGUF_FILE);
    fs::copy(file, &target).map_err(io_error(&target))?;
    verify(&target).map_err(|e| FetchError::Other(format!("{} does not load: {e}", file.display())))?;
    let sha256 = sha256_file(&target).map_err(io_error(&target))?;
    staging.install(store, &id, &[(GGUF_FILE.to_string(), sha256)])?;
    let description = format!("GGUF language model imported from {}, for --mt llm", file.display());
    register(store, &id, "llm", &description, &[GGUF_FILE.to_string()])?;
    Ok(id)
}

/// The id a Piper voice named `name` is installed under.
pub fn voice_id(name: &str) -> String {
    format!("piper-{}", name.trim_start_matches("piper-"))
}

/// The names an installed voice's files have in its folder, as the built-in voice's.
pub const VOICE_FILE: &str = "voice.onnx";
const VOICE_CONFIG_FILE: &str = "voice.onnx.json";

/// The config beside a Piper voice `model` (`model` + `.json`), read and checked to be a voice
/// this code speaks with, so a wrong file is named as such before anything is copied.
pub fn read_voice_config(model: &Path) -> Result<PiperVoiceConfig, FetchError> {
    let config = PathBuf::from(format!("{}.json", model.display()));
    if !model.is_file() {
        return Err(FetchError::Other(format!("{} is not a file", model.display())));
    }
    if !config.is_file() {
        return Err(FetchError::Other(format!(
            "{} is not beside {}: a Piper voice is the .onnx and its .onnx.json, downloaded together (rhasspy/piper-voices)",
            config.display(),
            model.display()
        )));
    }
    let parsed = PiperVoiceConfig::read(model)
        .map_err(|e| FetchError::Other(format!("{} is not a Piper voice's config: {e}", config.display())))?;
    match parsed.phoneme_type.as_deref() {
        None | Some("espeak") if !parsed.phoneme_id_map.is_empty() => Ok(parsed),
        None | Some("espeak") => Err(FetchError::Other(format!("{} has an empty phoneme_id_map", config.display()))),
        Some(other) => Err(FetchError::Other(format!(
            "{} takes '{other}' input; only voices fed with espeak-ng phonemes are supported",
            model.display()
        ))),
    }
}

/// Installs a Piper voice as `piper-NAME`: its config checked, both files copied, checked by
/// `verify` (speaking with it), their sha256 recorded, and listed with the `tts` role. Returns
/// the id and the voice's config.
pub fn import_voice(
    store: &ModelStore,
    model: &Path,
    name: &str,
    verify: &dyn Fn(&Path) -> Result<(), String>,
) -> Result<(String, PiperVoiceConfig), FetchError> {
    let id = voice_id(checked_name(name)?);
    if Manifest::builtin().get(&id).is_some() {
        return Err(FetchError::Other(format!("{id} is a built-in model; choose another --name")));
    }
    let config = read_voice_config(model)?;
    fs::create_dir_all(store.models_dir()).map_err(io_error(&store.models_dir()))?;
    let staging = Staging::new(store, &id)?;
    let files = staging.dir.join("files");
    fs::create_dir_all(&files).map_err(io_error(&files))?;
    let config_source = PathBuf::from(format!("{}.json", model.display()));
    let mut hashes = Vec::new();
    for (from, name) in [(model, VOICE_FILE), (config_source.as_path(), VOICE_CONFIG_FILE)] {
        let to = files.join(name);
        fs::copy(from, &to).map_err(io_error(&to))?;
        hashes.push((name.to_string(), sha256_file(&to).map_err(io_error(&to))?));
    }
    verify(&files.join(VOICE_FILE))
        .map_err(|e| FetchError::Other(format!("{} does not speak: {e}", model.display())))?;
    staging.install(store, &id, &hashes)?;
    let file_name = model.file_name().map_or(String::new(), |n| n.to_string_lossy().to_string());
    let code = config.language.as_ref().map_or(config.language(), |l| l.code.clone());
    let description = format!("Piper voice {file_name} (imported), {code}, {} Hz", config.audio.sample_rate);
    register(store, &id, "tts", &description, &[VOICE_FILE.to_string(), VOICE_CONFIG_FILE.to_string()])?;
    Ok((id, config))
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
fn register(store: &ModelStore, id: &str, role: &str, description: &str, names: &[String]) -> Result<(), FetchError> {
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
        ("role".into(), role.into()),
        ("description".into(), description.into()),
        ("license".into(), "that of its source (see its model card)".into()),
        ("default".into(), false.into()),
        ("source".into(), "local".into()),
        ("files".into(), toml::Value::Array(files)),
    ]);
    models.push(toml::Value::Table(entry));
    let text = toml::to_string(&list)
        .map_err(|source| FetchError::ListUnwritable { path: path.display().to_string(), source })?;
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
    fn a_file_that_does_not_start_as_gguf_is_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        fs::write(&path, b"<html>not found</html>").unwrap();
        let error = check_gguf_header(&path).unwrap_err().to_string();
        assert!(error.contains("not a GGUF model") && error.contains("\"<htm\""), "{error}");
        fs::write(&path, b"GGU").unwrap();
        assert!(check_gguf_header(&path).unwrap_err().to_string().contains("not a GGUF model"));
        fs::write(&path, b"GGUF\x09\0\0\0").unwrap();
        assert!(check_gguf_header(&path).unwrap_err().to_string().contains("GGUF version 9"));
        fs::write(&path, b"GGUF\x03\0\0\0rest").unwrap();
        check_gguf_header(&path).unwrap();
    }

    #[test]
    fn a_name_cannot_reach_outside_the_store() {
        for bad in ["../x", "a/b", "", ".hidden", "a b"] {
            assert!(checked_name(bad).unwrap_err().to_string().contains("cannot name a model"), "{bad}");
        }
        assert_eq!(checked_name("fa_IR-amir-medium.v2").unwrap(), "fa_IR-amir-medium.v2");
    }

    #[test]
    fn names_come_from_the_source() {
        assert_eq!(default_name("someone/Whisper-Small-FA"), "small-fa");
        assert_eq!(whisper_id("whisper-small-fa"), "whisper-small-fa");
        assert_eq!(whisper_id("tiny-test"), "whisper-tiny-test");
        assert_eq!(llm_id("llm-qwen"), "llm-qwen");
        assert_eq!(default_name("Qwen2.5-1.5B-Instruct-Q4_K_M"), "qwen2-5-1-5b-instruct-q4-k-m");
    }
}
