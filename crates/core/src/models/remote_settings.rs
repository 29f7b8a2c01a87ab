//! Mozilla's Remote Settings, where Firefox finds its translation models.
//!
//! As Firefox does: the server root (`GET {server}/`) names the attachment host in
//! `capabilities.attachments.base_url`; the `translations-models-v2` collection lists one record
//! per file with its language pair, file type, version, architecture and the sha256 of the
//! decompressed file; each attachment is a zstd file whose own sha256 and size the record gives.
//! `LINGUASTREAM_REMOTE_SETTINGS` points at a mirror (Mozilla asks products to mirror the files).

use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::error::{io_error, FetchError};
use super::http::{sha256_bytes, Expected, Http};
use super::manifest::{FileEntry, ModelEntry};

pub const DEFAULT_SERVER: &str = "https://firefox.settings.services.mozilla.com/v1";
pub const COLLECTION: &str = "translations-models-v2";

/// One model-file record (the fields used here).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub name: String,
    pub file_type: String,
    pub source_language: String,
    pub target_language: String,
    #[serde(default)]
    pub version: String,
    pub architecture: Option<String>,
    pub decompressed_hash: Option<String>,
    pub attachment: Attachment,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Attachment {
    pub hash: String,
    pub size: u64,
    pub location: String,
}

#[derive(Deserialize)]
struct Records {
    data: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct ServerInfo {
    capabilities: Capabilities,
}

#[derive(Deserialize)]
struct Capabilities {
    attachments: AttachmentsCapability,
}

#[derive(Deserialize)]
struct AttachmentsCapability {
    base_url: String,
}

pub struct RemoteSettings {
    server: String,
}

impl RemoteSettings {
    pub fn from_env() -> Self {
        let server = std::env::var("LINGUASTREAM_REMOTE_SETTINGS")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVER.into())
            .trim_end_matches('/')
            .to_string();
        Self { server }
    }

    /// The server root (`LINGUASTREAM_REMOTE_SETTINGS`, else Mozilla's).
    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn records_url(&self) -> String {
        format!("{}/buckets/main/collections/{COLLECTION}/records", self.server)
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, http: &Http, what: &str, url: &str) -> Result<T, FetchError> {
        let response = http.request("GET", url, &[]).map_err(|e| e.into_fetch_error(what, url))?;
        let mut body = String::new();
        std::io::Read::read_to_string(&mut response.into_reader(), &mut body).map_err(|e| FetchError::Network {
            what: what.into(),
            url: url.into(),
            detail: e.to_string(),
        })?;
        serde_json::from_str(&body).map_err(|e| FetchError::Network {
            what: what.into(),
            url: url.into(),
            detail: format!("not a Remote Settings answer ({e})"),
        })
    }

    /// The attachment host, from the server root, with a trailing slash.
    pub fn attachments_base(&self, http: &Http) -> Result<String, FetchError> {
        let url = format!("{}/", self.server);
        let info: ServerInfo = self.get_json(http, "the Remote Settings server's capabilities", &url)?;
        let base = info.capabilities.attachments.base_url;
        Ok(if base.ends_with('/') { base } else { format!("{base}/") })
    }

    /// Every well-formed record of the collection; other shapes are skipped.
    pub fn records(&self, http: &Http) -> Result<Vec<Record>, FetchError> {
        let records: Records = self.get_json(http, "the Firefox-Translations model list", &self.records_url())?;
        Ok(records.data.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
    }

    /// Installs every file of `entry` into `files_dir`; returns (name, sha256) pairs.
    pub fn fetch_model(
        &self,
        http: &Http,
        entry: &ModelEntry,
        files_dir: &Path,
    ) -> Result<Vec<(String, String)>, FetchError> {
        let (src, trg) = entry
            .pair
            .as_deref()
            .and_then(|p| p.split_once('-'))
            .ok_or_else(|| FetchError::Other(format!("{} has no language pair", entry.id)))?;
        let records = self.records(http)?;
        let base = self.attachments_base(http)?;
        let mut hashes = Vec::new();
        for file in &entry.files {
            let record = pick(&records, entry, file, src, trg)?;
            let url = format!("{base}{}", record.attachment.location.trim_start_matches('/'));
            let compressed = files_dir.join(format!("{}.zst", file.name));
            let expected = Expected {
                sha256: Some(record.attachment.hash.to_ascii_lowercase()),
                git_sha1: None,
                size: Some(record.attachment.size),
            };
            http.download(&format!("{} of {}", file.name, entry.id), &url, &[], &expected, &compressed)?;
            let packed = fs::read(&compressed).map_err(io_error(&compressed))?;
            let bytes = fxtranslate::cache::zstd_decode(&packed)
                .map_err(|e| FetchError::Other(format!("{}: the attachment is not valid zstd: {e}", file.name)))?;
            fs::remove_file(&compressed).map_err(io_error(&compressed))?;
            let actual = sha256_bytes(&bytes);
            let wanted = file.sha256.as_deref().or(record.decompressed_hash.as_deref());
            if let Some(want) = wanted.filter(|w| *w != actual) {
                return Err(FetchError::Checksum { file: file.name.clone(), expected: want.into(), actual });
            }
            let target = files_dir.join(&file.name);
            fs::write(&target, &bytes).map_err(io_error(&target))?;
            hashes.push((file.name.clone(), actual));
        }
        Ok(hashes)
    }
}

/// The record for one file: the pair, file type and architecture asked for, the pinned
/// decompressed hash when there is one, the newest version among what is left.
fn pick<'a>(
    records: &'a [Record],
    entry: &ModelEntry,
    file: &FileEntry,
    src: &str,
    trg: &str,
) -> Result<&'a Record, FetchError> {
    let kind = file.kind.as_deref().unwrap_or("model");
    let for_pair: Vec<&Record> = records
        .iter()
        .filter(|r| r.source_language == src && r.target_language == trg && r.file_type == kind)
        .collect();
    let found = for_pair
        .iter()
        .filter(|r| entry.architecture.is_none() || r.architecture == entry.architecture)
        .filter(|r| file.sha256.is_none() || r.decompressed_hash == file.sha256)
        .max_by(|a, b| version_key(&a.version).cmp(&version_key(&b.version)));
    found.copied().ok_or_else(|| {
        let offered: Vec<String> =
            for_pair.iter().map(|r| format!("{} {}", r.version, r.architecture.as_deref().unwrap_or("?"))).collect();
        FetchError::Other(format!(
            "Remote Settings has no {kind} file for {src}→{trg}{} matching the pinned hash (it offers: {})",
            entry.architecture.as_deref().map(|a| format!(" ({a})")).unwrap_or_default(),
            if offered.is_empty() { "nothing for this pair".into() } else { offered.join(", ") }
        ))
    })
}

fn version_key(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.trim_matches(|c: char| !c.is_ascii_digit()).parse().unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_in_firefox_shape_and_odd_ones_are_skipped() {
        let body = r#"{"data":[
            {"name":"model.faen.intgemm.alphas.bin","fileType":"model","sourceLanguage":"fa","targetLanguage":"en",
             "version":"1.0","architecture":"tiny","decompressedHash":"ab","attachment":{"hash":"cd","size":3,"location":"x/y.zst"}},
            {"id":"something-else"}
        ]}"#;
        let records: Records = serde_json::from_str(body).unwrap();
        let parsed: Vec<Record> = records.data.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].attachment.location, "x/y.zst");
        assert!(version_key("3.0a1") < version_key("3.1"));
    }
}
