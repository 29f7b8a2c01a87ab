//! `linguastream models`: install, list, verify.

use std::process::ExitCode;

use anyhow::{bail, Result};
use std::path::Path;

use linguastream_core::ct2;
use linguastream_core::models::fetch::{fetch, import};
use linguastream_core::models::import as hf_import;
use linguastream_core::models::{ModelStore, Source, StoreError};
use linguastream_core::stt::{WhisperModel, WhisperOptions};

use crate::cli::{ModelsCommand, SourceChoice};

pub fn run(command: ModelsCommand) -> Result<ExitCode> {
    let store = ModelStore::open_default();
    match command {
        ModelsCommand::List => list(&store),
        ModelsCommand::Fetch { ids, force, source } => fetch_models(&store, &ids, source.map(to_source), force),
        ModelsCommand::Verify { ids } => verify(&store, &ids),
        ModelsCommand::Import { id, folder } => {
            let entry = store.entry(&id)?;
            import(&store, entry, &folder)?;
            println!("installed {id} from {}", folder.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::ImportHf { source, name } => import_hf(&store, &source, name),
        ModelsCommand::ImportGguf { file, name } => import_gguf(&store, &file, name),
        ModelsCommand::Recommend { clip } => super::recommend::run(&store, clip.as_deref()),
        ModelsCommand::Path => {
            println!("{}", store.models_dir().display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Converts (when needed), checks by loading it with Persian, installs and lists the Whisper.
fn import_hf(store: &ModelStore, source: &str, name: Option<String>) -> Result<ExitCode> {
    let name = name.unwrap_or_else(|| hf_import::default_name(source));
    let library = store.require("ctranslate2")?.join(ct2::LIBRARY_FILE);
    let loads = |dir: &Path| {
        let model = WhisperModel::load(&library, dir, WhisperOptions::default()).map_err(|e| e.to_string())?;
        model.language_token("fa").map(|_| ()).map_err(|e| e.to_string())
    };
    let id = hf_import::import_whisper(store, source, &name, &loads)?;
    println!("installed {id} from {source}; use it with --whisper {}", id.trim_start_matches("whisper-"));
    Ok(ExitCode::SUCCESS)
}

/// Checks, loads, installs and lists a GGUF language model for `--mt llm`.
fn import_gguf(store: &ModelStore, file: &Path, name: Option<String>) -> Result<ExitCode> {
    use linguastream_core::mt::{LlmOptions, LlmTranslator, Pair};
    let stem = file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let name = name.unwrap_or_else(|| hf_import::default_name(&stem));
    let prompt = std::cell::RefCell::new(String::new());
    let loads = |gguf: &Path| {
        *prompt.borrow_mut() = LlmTranslator::try_new(gguf, &Pair::new("fa", "en"), LlmOptions::default())
            .map_err(|e| e.to_string())?
            .prompt_kind();
        Ok(())
    };
    let id = hf_import::import_gguf(store, file, &name, &loads)?;
    println!("installed {id} from {}; `--mt llm` uses it, {}", file.display(), prompt.borrow());
    Ok(ExitCode::SUCCESS)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn list(store: &ModelStore) -> Result<ExitCode> {
    println!("models in {}", store.models_dir().display());
    println!("{:<24} {:<8} {:<13} {:>10}  description", "id", "role", "status", "size");
    let mut problems = 0;
    let measurements = super::recommend::load_measurements(store);
    for entry in &store.manifest().models {
        let checked = store.require(&entry.id);
        let status = match &checked {
            Ok(_) => "installed",
            Err(StoreError::NotInstalled { .. }) if entry.default => "missing",
            Err(StoreError::NotInstalled { .. }) => "not installed",
            Err(StoreError::Unreadable { .. }) => "UNREADABLE",
            Err(_) => "DAMAGED",
        };
        let size = store
            .installed_bytes(&entry.id)
            .map(megabytes)
            .or_else(|| entry.size_mb.map(|mb| format!("≈ {mb} MB")))
            .unwrap_or_default();
        let files: Vec<&str> = entry.files.iter().map(|f| f.name.as_str()).collect();
        println!("{:<24} {:<8} {:<13} {:>10}  {}", entry.id, entry.role, status, size, entry.description);
        let sources: Vec<String> = entry.sources().iter().map(|s| s.to_string()).collect();
        println!("{:<58}licence: {}; from: {}", "", entry.license, sources.join(", "));
        if let Some(line) =
            checked.as_ref().ok().and_then(|_| super::recommend::measured_line(&measurements, &entry.id))
        {
            println!("{:<58}{line}", "");
        }
        match checked {
            Ok(_) => {}
            Err(StoreError::NotInstalled { .. }) => println!("{:<58}files: {}", "", files.join(", ")),
            Err(e) => {
                problems += 1;
                println!("{:<58}{e}", "");
            }
        }
    }
    Ok(if problems > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn to_source(choice: SourceChoice) -> Source {
    match choice {
        SourceChoice::Pypi => Source::Pypi,
        SourceChoice::Huggingface => Source::Huggingface,
        SourceChoice::Firefox => Source::Firefox,
    }
}

fn fetch_models(store: &ModelStore, ids: &[String], source: Option<Source>, force: bool) -> Result<ExitCode> {
    let entries = if ids.is_empty() {
        store.manifest().defaults().collect::<Vec<_>>()
    } else {
        ids.iter().map(|id| store.entry(id)).collect::<Result<Vec<_>, _>>()?
    };
    let mut failures = 0;
    for entry in entries {
        match fetch(store, entry, source, force) {
            Ok(true) => {
                eprintln!(
                    "installed {} ({})",
                    entry.id,
                    store.installed_bytes(&entry.id).map(megabytes).unwrap_or_default()
                );
                if let Some(notice) = &entry.notice {
                    eprintln!("  {notice}");
                }
            }
            Ok(false) => eprintln!("{} is already installed and intact", entry.id),
            Err(e) => {
                failures += 1;
                eprintln!("error: {}: {e}", entry.id);
            }
        }
    }
    if failures > 0 {
        bail!("{failures} model(s) could not be installed");
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(store: &ModelStore, ids: &[String]) -> Result<ExitCode> {
    let ids: Vec<String> = if ids.is_empty() {
        // A model whose record is damaged or unreadable is checked (and fails), not skipped.
        store
            .manifest()
            .models
            .iter()
            .filter(|m| !matches!(store.installed(&m.id), Ok(None)))
            .map(|m| m.id.clone())
            .collect()
    } else {
        ids.to_vec()
    };
    if ids.is_empty() {
        bail!("no models are installed in {}; run `linguastream models fetch`", store.models_dir().display());
    }
    let mut bad = 0;
    for id in &ids {
        match store.verify(id) {
            Ok(()) => println!("ok       {id}"),
            Err(e) => {
                bad += 1;
                println!("FAILED   {id}: {e}");
            }
        }
    }
    Ok(if bad > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
