//! Resumable, verified HTTP downloads of model files.
//!
//! A file whose sha256 is known before the transfer (pinned in the manifest, or announced by the
//! server) is downloaded into `<models>/.partial/<sha256>`; when the transfer stops, the next run
//! asks for the rest with an HTTP `Range` request. A file is handed over only once its whole
//! content matches the expected hash; a corrupted transfer is deleted, never resumed.

use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::error::{io_error, megabytes, FetchError};
use super::store::{hex, sha256_file};

/// Attempts per request when the server says "too many requests" or "unavailable".
const ATTEMPTS: u32 = 3;
/// The longest `Retry-After` honoured; longer waits are reported instead.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);
/// Without a terminal, progress is a line this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What a downloaded file must be.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// Known before the transfer: the download is resumable and checked against it.
    pub sha256: Option<String>,
    /// A git blob id (the hub's ETag for files not stored in LFS).
    pub git_sha1: Option<String>,
    pub size: Option<u64>,
}

/// An HTTP client for model downloads: timeouts, retries on 429/503, no automatic redirects
/// (the hub protocol needs to see them).
pub struct Http {
    agent: ureq::Agent,
    partial_dir: PathBuf,
    idle_timeout: Duration,
}

impl Http {
    /// `LINGUASTREAM_HTTP_TIMEOUT_S` bounds connecting and each wait for data (default 15 s / 60 s).
    pub fn new(partial_dir: PathBuf) -> Self {
        let configured = std::env::var("LINGUASTREAM_HTTP_TIMEOUT_S").ok().and_then(|v| v.parse::<f64>().ok());
        let idle_timeout = Duration::from_secs_f64(configured.unwrap_or(60.0).max(0.1));
        let connect = configured.map_or(Duration::from_secs(15), |_| idle_timeout);
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(connect)
            .timeout_read(idle_timeout)
            .redirects(0)
            .user_agent(concat!("linguastream/", env!("CARGO_PKG_VERSION")))
            .build();
        Self { agent, partial_dir, idle_timeout }
    }

    /// A request that returns 3xx responses as they are; retries 429 and 503 (honouring
    /// `Retry-After`). Any other status ≥ 400 is an error carrying the response.
    pub fn request(&self, method: &str, url: &str, headers: &[(&str, String)]) -> Result<ureq::Response, RequestError> {
        let mut attempt = 1;
        loop {
            let mut request = self.agent.request(method, url).set("Accept-Encoding", "identity");
            for (name, value) in headers {
                request = request.set(name, value);
            }
            match request.call() {
                Ok(response) => return Ok(response),
                Err(ureq::Error::Status(code @ (429 | 503), response)) if attempt < ATTEMPTS => {
                    let wait = retry_after(&response).unwrap_or(Duration::from_secs(1 << attempt));
                    if wait > MAX_RETRY_WAIT {
                        return Err(RequestError::Status(code, Box::new(response)));
                    }
                    eprintln!("  {} answered {code} (busy); retrying in {} s", host_of(url), wait.as_secs_f32());
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                Err(ureq::Error::Status(code, response)) => return Err(RequestError::Status(code, Box::new(response))),
                Err(ureq::Error::Transport(t)) => return Err(RequestError::Transport(transport_detail(&t))),
            }
        }
    }

    /// Downloads `url` into `target`, resuming an earlier partial transfer of the same content,
    /// and checks it. Returns the file's sha256.
    pub fn download(
        &self,
        label: &str,
        url: &str,
        headers: &[(&str, String)],
        expected: &Expected,
        target: &Path,
    ) -> Result<String, FetchError> {
        fs::create_dir_all(&self.partial_dir).map_err(io_error(&self.partial_dir))?;
        let partial = match &expected.sha256 {
            Some(hash) => self.partial_dir.join(hash),
            None => target.to_path_buf(),
        };
        let mut have = if expected.sha256.is_some() { fs::metadata(&partial).map_or(0, |m| m.len()) } else { 0 };
        if expected.size.is_some_and(|size| have > size) {
            have = 0;
        }
        if expected.size != Some(have) || have == 0 {
            if let Err(e) = self.transfer(label, url, headers, expected.size, have, &partial) {
                if expected.sha256.is_none() {
                    let _ = fs::remove_file(&partial);
                }
                return Err(e);
            }
        }
        let actual = check_content(label, &partial, expected).inspect_err(|_| {
            let _ = fs::remove_file(&partial);
        })?;
        if partial != target {
            fs::rename(&partial, target).map_err(io_error(target))?;
        }
        Ok(actual)
    }

    /// One GET, from byte `have` on when there is a partial file.
    fn transfer(
        &self,
        label: &str,
        url: &str,
        headers: &[(&str, String)],
        size: Option<u64>,
        have: u64,
        partial: &Path,
    ) -> Result<(), FetchError> {
        let mut headers = headers.to_vec();
        if have > 0 {
            headers.push(("Range", format!("bytes={have}-")));
        }
        let response = match self.request("GET", url, &headers) {
            Err(RequestError::Status(416, _)) if have > 0 => {
                // The partial file no longer matches what the server has: start over.
                fs::remove_file(partial).map_err(io_error(partial))?;
                return self.transfer(label, url, &headers[..headers.len() - 1], size, 0, partial);
            }
            other => other.map_err(|e| e.into_fetch_error(label, url))?,
        };
        if (300..400).contains(&response.status()) {
            return Err(FetchError::Network {
                what: label.into(),
                url: url.into(),
                detail: format!(
                    "unexpected redirect ({}) to {}",
                    response.status(),
                    response.header("location").unwrap_or("?")
                ),
            });
        }
        let resumed = response.status() == 206 && content_range_start(&response) == Some(have);
        let start = if resumed { have } else { 0 };
        if response.header("content-type").is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("text/html"))
        {
            return Err(FetchError::NotAFile { file: label.into(), url: url.into() });
        }
        let length: Option<u64> = response.header("content-length").and_then(|v| v.trim().parse().ok());
        let total = length.map(|l| l + start).or(size);
        if resumed {
            eprintln!("  resuming {label} at {} of {}", megabytes(start), total.map_or("?".into(), megabytes));
        }
        let mut out = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(partial)
            .map_err(io_error(partial))?;
        let mut progress = Progress::new(label, total, start);
        let copied = self.copy_body(&mut response.into_reader(), &mut out, partial, &mut progress);
        progress.finish();
        let written = copied.map_err(|e| match e {
            CopyError::Fetch(e) => e,
            CopyError::Html => FetchError::NotAFile { file: label.into(), url: url.into() },
            CopyError::Read(detail, written) => {
                FetchError::Interrupted { file: label.into(), got: start + written, total, detail }
            }
        })?;
        out.sync_all().map_err(io_error(partial))?;
        if let Some(length) = length.filter(|&l| l != written) {
            return Err(FetchError::Interrupted {
                file: label.into(),
                got: start + written,
                total: Some(start + length),
                detail: "the connection closed early".into(),
            });
        }
        Ok(())
    }

    fn copy_body(
        &self,
        body: &mut dyn Read,
        out: &mut fs::File,
        path: &Path,
        progress: &mut Progress,
    ) -> Result<u64, CopyError> {
        let mut buf = vec![0u8; 1 << 16];
        let mut written = 0u64;
        loop {
            let n = match body.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    let detail = if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock) {
                        format!("no data for {:.0} s", self.idle_timeout.as_secs_f64())
                    } else {
                        e.to_string()
                    };
                    return Err(CopyError::Read(detail, written));
                }
            };
            if n == 0 {
                return Ok(written);
            }
            if written == 0 && progress.start == 0 && looks_like_html(&buf[..n]) {
                return Err(CopyError::Html);
            }
            out.write_all(&buf[..n]).map_err(|e| CopyError::Fetch(io_error(path)(e)))?;
            written += n as u64;
            progress.advance(n as u64);
        }
    }
}

enum CopyError {
    Fetch(FetchError),
    /// The body is a web page.
    Html,
    /// Reading the body failed after this many bytes.
    Read(String, u64),
}

/// A failed request: an HTTP status (with the response, whose headers say more) or no answer.
#[derive(Debug)]
pub enum RequestError {
    Status(u16, Box<ureq::Response>),
    Transport(String),
}

impl RequestError {
    pub fn into_fetch_error(self, what: &str, url: &str) -> FetchError {
        match self {
            RequestError::Transport(detail) => FetchError::Network { what: what.into(), url: url.into(), detail },
            RequestError::Status(status, response) => {
                let detail = match status {
                    401 | 403 => "access denied (a private or gated repository needs a token: set HF_TOKEN)".into(),
                    404 => "not found".into(),
                    429 => "too many requests; try again later".into(),
                    _ => response.status_text().to_string(),
                };
                FetchError::Http { what: what.into(), url: url.into(), status, detail }
            }
        }
    }
}

fn retry_after(response: &ureq::Response) -> Option<Duration> {
    response.header("retry-after")?.trim().parse::<f64>().ok().map(|s| Duration::from_secs_f64(s.max(0.0)))
}

fn content_range_start(response: &ureq::Response) -> Option<u64> {
    // "bytes 100-199/200"
    let value = response.header("content-range")?;
    value.trim().strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}

/// A model file never starts like a web page; a login page or captive portal does.
fn looks_like_html(first_bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&first_bytes[..first_bytes.len().min(64)]).trim_start().to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

/// Hashes a finished download and compares it with what was expected.
fn check_content(label: &str, path: &Path, expected: &Expected) -> Result<String, FetchError> {
    let actual = sha256_file(path).map_err(io_error(path))?;
    if let Some(want) = &expected.sha256 {
        if *want != actual {
            return Err(FetchError::Checksum { file: label.into(), expected: want.clone(), actual });
        }
    }
    if let Some(want) = &expected.git_sha1 {
        let got = git_blob_sha1(path).map_err(io_error(path))?;
        if *want != got {
            return Err(FetchError::Checksum { file: label.into(), expected: format!("git blob {want}"), actual: got });
        }
    }
    Ok(actual)
}

/// The id git gives a file's content: sha1 of "blob <length>\0" and the bytes.
pub fn git_blob_sha1(path: &Path) -> std::io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", file.metadata()?.len()).as_bytes());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// The sha256 of bytes in memory.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A progress bar on a terminal, else a line every few seconds (logs, CI).
struct Progress {
    label: String,
    total: Option<u64>,
    start: u64,
    done: u64,
    bar: Option<ProgressBar>,
    last_line: Instant,
    began: Instant,
}

impl Progress {
    fn new(label: &str, total: Option<u64>, start: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(label.to_string());
            bar.set_position(start);
            bar
        });
        let now = Instant::now();
        Self { label: label.into(), total, start, done: start, bar, last_line: now, began: now }
    }

    fn advance(&mut self, bytes: u64) {
        self.done += bytes;
        match &self.bar {
            Some(bar) => bar.set_position(self.done),
            None if self.last_line.elapsed() >= PROGRESS_EVERY => {
                self.last_line = Instant::now();
                let rate = (self.done - self.start) as f64 / self.began.elapsed().as_secs_f64().max(1e-3);
                let of = self.total.map_or(String::new(), |t| {
                    format!(" of {} ({:.0}%)", megabytes(t), 100.0 * self.done as f64 / t.max(1) as f64)
                });
                eprintln!("  {}: {}{of}, {}/s", self.label, megabytes(self.done), megabytes(rate as u64));
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// What went wrong on the way, without the URL ureq puts first: every caller names the URL.
fn transport_detail(transport: &ureq::Transport) -> String {
    let mut detail = transport.kind().to_string();
    if let Some(message) = transport.message() {
        detail.push_str(&format!(": {message}"));
    }
    if let Some(source) = std::error::Error::source(transport) {
        detail.push_str(&format!(": {source}"));
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_blob_ids_match_git() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"hello\n").unwrap();
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(git_blob_sha1(&path).unwrap(), "ce013625030ba8dba906f756967f9e9ca394464a");
    }

    #[test]
    fn web_pages_are_told_from_model_files() {
        assert!(looks_like_html(b"\n  <!DOCTYPE html><html><body>Sign in"));
        assert!(looks_like_html(b"<HTML><head>"));
        assert!(!looks_like_html(b"{\"alignment_heads\": []}"));
        assert!(!looks_like_html(&[0x28, 0xb5, 0x2f, 0xfd]));
    }

    #[test]
    fn hosts_are_taken_from_urls() {
        assert_eq!(host_of("https://huggingface.co/a/b"), "huggingface.co");
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1:8080");
    }
}
