//! The Hugging Face hub's download protocol, as `huggingface_hub` speaks it.
//!
//! `HEAD {endpoint}/{repo}/resolve/{revision}/{file}` answers with the file's metadata: for a
//! file stored in LFS a redirect to the storage host with its sha256 in `X-Linked-Etag` and its
//! size in `X-Linked-Size`; for a small file `200` with the git blob id in `ETag`. A relative
//! redirect means the repository was renamed and is followed; errors carry `X-Error-Code`
//! (`RepoNotFound`, `GatedRepo`, `RevisionNotFound`, `EntryNotFound`). The file is then fetched
//! from where the redirect points, resumably, and checked against that metadata.

use std::path::Path;

use super::error::FetchError;
use super::http::{host_of, Expected, Http, RequestError};

/// Redirects followed inside the hub (renamed repositories) before giving up.
const MAX_HOPS: usize = 5;

/// One file of a repository at a revision (branch, tag or commit).
#[derive(Debug, Clone, Copy)]
pub struct RepoFile<'a> {
    pub repo: &'a str,
    pub revision: &'a str,
    pub name: &'a str,
}

/// `HF_ENDPOINT` (the hub's own variable) points at a mirror; `HF_TOKEN` opens gated repos.
pub struct Hub {
    endpoint: String,
    token: Option<String>,
}

/// Where a file is and what it must be.
#[derive(Debug)]
pub struct FileMeta {
    pub url: String,
    pub expected: Expected,
}

impl Hub {
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "https://huggingface.co".into())
            .trim_end_matches('/')
            .to_string();
        let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty());
        Self { endpoint, token }
    }

    /// The hub's address (`HF_ENDPOINT`, else huggingface.co).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> String {
        format!("{}/{repo}/resolve/{revision}/{file}", self.endpoint)
    }

    /// The token goes to the hub only, never to the storage host a redirect points at.
    fn headers_for(&self, url: &str) -> Vec<(&'static str, String)> {
        match &self.token {
            Some(token) if host_of(url) == host_of(&self.endpoint) => {
                vec![("Authorization", format!("Bearer {token}"))]
            }
            _ => Vec::new(),
        }
    }

    /// Asks the hub where `file` is and what its hash and size are.
    pub fn metadata(&self, http: &Http, what: &str, file: RepoFile) -> Result<FileMeta, FetchError> {
        let RepoFile { repo, revision, name } = file;
        let mut url = self.resolve_url(repo, revision, name);
        for _ in 0..MAX_HOPS {
            let response = http
                .request("HEAD", &url, &self.headers_for(&url))
                .map_err(|e| hub_error(e, what, &url, repo, revision))?;
            let sha256 = response.header("x-linked-etag").and_then(etag).filter(|e| e.len() == 64);
            let size = response
                .header("x-linked-size")
                .or_else(|| response.header("content-length"))
                .and_then(|v| v.trim().parse().ok());
            if (300..400).contains(&response.status()) {
                let location = response.header("location").unwrap_or_default().to_string();
                if location.starts_with('/') {
                    url = format!("{}{location}", origin(&url));
                    continue;
                }
                if location.is_empty() || sha256.is_none() {
                    return Err(FetchError::Network {
                        what: what.into(),
                        url,
                        detail: "the hub redirected without the file's hash (X-Linked-Etag); not an LFS file?".into(),
                    });
                }
                return Ok(FileMeta { url: location, expected: Expected { sha256, git_sha1: None, size } });
            }
            if response.header("content-type").is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html")) {
                return Err(FetchError::NotAFile { file: what.into(), url });
            }
            // Served in place: an LFS file (sha256 ETag) from a mirror, or a small git file.
            let etag = response.header("etag").and_then(etag).unwrap_or_default();
            let expected = match etag.len() {
                64 => Expected { sha256: Some(etag), git_sha1: None, size },
                40 => Expected { sha256, git_sha1: Some(etag), size },
                _ => Expected { sha256, git_sha1: None, size },
            };
            return Ok(FileMeta { url, expected });
        }
        Err(FetchError::Network { what: what.into(), url, detail: format!("more than {MAX_HOPS} redirects") })
    }

    /// Downloads one file of a repository into `target`; returns its sha256.
    pub fn download(
        &self,
        http: &Http,
        what: &str,
        file: RepoFile,
        pinned_sha256: Option<&str>,
        target: &Path,
    ) -> Result<String, FetchError> {
        let mut meta = self.metadata(http, what, file)?;
        if let Some(pinned) = pinned_sha256 {
            if meta.expected.sha256.as_deref().is_some_and(|announced| announced != pinned) {
                return Err(FetchError::Other(format!(
                    "{what}: the hub announces sha256 {} but the manifest pins {pinned}; the repository changed (pin a revision) — nothing was downloaded",
                    meta.expected.sha256.as_deref().unwrap_or_default()
                )));
            }
            meta.expected.sha256 = Some(pinned.to_string());
        }
        if meta.expected.sha256.is_none() && meta.expected.git_sha1.is_none() {
            return Err(FetchError::Other(format!(
                "{what}: {} gave no hash for the file (neither X-Linked-Etag nor a git ETag), so it cannot be verified; nothing was downloaded",
                host_of(&meta.url)
            )));
        }
        http.download(what, &meta.url, &self.headers_for(&meta.url), &meta.expected, target)
    }
}

/// `"abc"` and `W/"abc"` → `abc`.
fn etag(value: &str) -> Option<String> {
    let value = value.trim().trim_start_matches("W/").trim_matches('"');
    (!value.is_empty()).then(|| value.to_ascii_lowercase())
}

fn origin(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or(rest)),
        None => url.to_string(),
    }
}

/// The hub says why in `X-Error-Code`; turn that into what the user can do.
fn hub_error(error: RequestError, what: &str, url: &str, repo: &str, revision: &str) -> FetchError {
    let (status, code) = match &error {
        RequestError::Status(status, response) => {
            (*status, response.header("x-error-code").unwrap_or_default().to_string())
        }
        RequestError::Transport(_) => return error.into_fetch_error(what, url),
    };
    let detail = match (code.as_str(), status) {
        ("GatedRepo", _) => {
            format!("{repo} is gated: accept its terms on the hub, then set HF_TOKEN to a token of that account")
        }
        ("RepoNotFound", _) | (_, 401) => {
            format!("repository {repo} does not exist, or is private (set HF_TOKEN to a token that can read it)")
        }
        ("RevisionNotFound", _) => format!("revision {revision} does not exist in {repo}"),
        ("EntryNotFound", _) | (_, 404) => format!("{repo} has no such file at revision {revision}"),
        _ => return error.into_fetch_error(what, url),
    };
    FetchError::Http { what: what.into(), url: url.into(), status, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_unquoted_and_weak_markers_dropped() {
        assert_eq!(etag("\"ABCdef\"").as_deref(), Some("abcdef"));
        assert_eq!(etag("W/\"1234\"").as_deref(), Some("1234"));
        assert_eq!(etag("\"\""), None);
    }

    #[test]
    fn relative_redirects_stay_on_the_hub() {
        assert_eq!(origin("http://127.0.0.1:9/a/b/resolve/main/x"), "http://127.0.0.1:9");
    }
}
