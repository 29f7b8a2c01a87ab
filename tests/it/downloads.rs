//! The download paths against local servers that speak the real protocols (the Hugging Face
//! hub, Mozilla's Remote Settings, a Python package index), serving the real model files
//! installed for the other tests: success, resume after a cut connection, corruption, a slow or
//! stalled server, a web page instead of the file, and the servers' error answers.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use linguastream_core::models::http::sha256_bytes;
use sha1::{Digest, Sha1};

use crate::model_servers::{Fault, Request, Response, TestServer};
use crate::util::{bin, fails, home_with_default_models, ok, stderr, store};

const BASE_REPO: &str = "Systran/faster-whisper-base";
const BASE_REVISION: &str = "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66";
const SMALL_REPO: &str = "Systran/faster-whisper-small";

/// An installed model file, read once for all tests.
fn installed(id: &str, name: &str) -> Arc<Vec<u8>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Vec<u8>>>>> = OnceLock::new();
    let key = format!("{id}/{name}");
    let cache = CACHE.get_or_init(Default::default);
    if let Some(bytes) = cache.lock().unwrap().get(&key) {
        return bytes.clone();
    }
    let bytes = Arc::new(std::fs::read(store().model_dir(id).join(name)).unwrap());
    cache.lock().unwrap().insert(key, bytes.clone());
    bytes
}

fn git_blob_id(bytes: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A repository file on the fake hub: its bytes and whether it is stored in LFS.
struct HubFile {
    bytes: Arc<Vec<u8>>,
    lfs: bool,
}

/// What the fake hub does besides serving files.
#[derive(Default)]
struct HubBehaviour {
    /// Faults for successive downloads from the storage host, in order; then none.
    storage_faults: Mutex<VecDeque<Fault>>,
    /// Answers for successive resolve requests, in order, before normal service.
    resolve_answers: Mutex<VecDeque<Response>>,
}

/// The hub: `/{repo}/resolve/{revision}/{file}` (LFS files redirect to `/storage/{sha256}`
/// with `X-Linked-Etag`/`X-Linked-Size`; small files answer in place with their git blob id as
/// ETag), `X-Error-Code` on errors, and a renamed repository that redirects relatively.
fn fake_hub(
    repo: &'static str,
    revision: &'static str,
    files: Vec<(&str, HubFile)>,
    behaviour: Arc<HubBehaviour>,
) -> TestServer {
    let files: HashMap<String, HubFile> = files.into_iter().map(|(n, f)| (n.to_string(), f)).collect();
    let by_hash: HashMap<String, Arc<Vec<u8>>> =
        files.values().map(|f| (sha256_bytes(&f.bytes), f.bytes.clone())).collect();
    TestServer::start(move |request: &Request, base| {
        if let Some(hash) = request.path.strip_prefix("/storage/") {
            let fault = behaviour.storage_faults.lock().unwrap().pop_front().unwrap_or_default();
            return match by_hash.get(hash) {
                Some(bytes) => Response::file(request, bytes.clone()).fault(fault),
                None => Response::new(404),
            };
        }
        let Some((path_repo, rest)) = request.path.trim_start_matches('/').split_once("/resolve/") else {
            return Response::new(404);
        };
        if let Some(answer) = behaviour.resolve_answers.lock().unwrap().pop_front() {
            return answer;
        }
        if path_repo == "Systran/old-name-of-whisper" {
            return Response::new(307).header("Location", format!("/{repo}/resolve/{rest}"));
        }
        if path_repo != repo {
            return Response::new(401)
                .header("X-Error-Code", "RepoNotFound")
                .header("X-Error-Message", "Repository not found");
        }
        let (path_revision, name) = rest.split_once('/').unwrap_or((rest, ""));
        if path_revision != revision {
            return Response::new(404).header("X-Error-Code", "RevisionNotFound");
        }
        let Some(file) = files.get(name) else {
            return Response::new(404).header("X-Error-Code", "EntryNotFound");
        };
        let commit = "0123456789abcdef0123456789abcdef01234567";
        if file.lfs {
            let sha = sha256_bytes(&file.bytes);
            // The storage host is another name for this server, as the hub's CDN is another
            // host: the client must not send it the hub's token.
            let storage = base.replace("127.0.0.1", "localhost");
            Response::new(302)
                .header("Location", format!("{storage}/storage/{sha}"))
                .header("X-Linked-Etag", format!("\"{sha}\""))
                .header("X-Linked-Size", file.bytes.len().to_string())
                .header("ETag", format!("\"{}\"", git_blob_id(b"version https://git-lfs.github.com/spec/v1")))
                .header("X-Repo-Commit", commit)
        } else {
            Response::file(request, file.bytes.clone())
                .header("ETag", format!("\"{}\"", git_blob_id(&file.bytes)))
                .header("X-Repo-Commit", commit)
        }
    })
}

/// The real Whisper base files, as the hub holds them.
fn whisper_base_files() -> Vec<(&'static str, HubFile)> {
    let file = |name: &str, lfs| HubFile { bytes: installed("whisper-base", name), lfs };
    vec![
        ("model.bin", file("model.bin", true)),
        ("config.json", file("config.json", false)),
        ("vocabulary.txt", file("vocabulary.txt", false)),
        ("tokenizer.json", file("tokenizer.json", true)),
    ]
}

/// Small real files under the names of an unpinned hub model (whisper-small): the hub's own
/// metadata is all there is to check them against.
fn small_files() -> Vec<(&'static str, HubFile)> {
    vec![
        ("model.bin", HubFile { bytes: installed("silero-vad", "silero_vad.onnx"), lfs: true }),
        ("config.json", HubFile { bytes: installed("whisper-base", "config.json"), lfs: false }),
        ("vocabulary.txt", HubFile { bytes: installed("whisper-base", "vocabulary.txt"), lfs: false }),
        ("tokenizer.json", HubFile { bytes: installed("whisper-base", "tokenizer.json"), lfs: true }),
    ]
}

fn in_home(home: &Path) -> Command {
    let mut command = bin();
    command.env("LINGUASTREAM_HOME", home).env_remove("HF_TOKEN");
    command
}

fn partials(home: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(home.join("models/.partial")).map_or(Vec::new(), |d| d.flatten().map(|e| e.path()).collect())
}

#[test]
fn hub_download_of_whisper_base_resumes_after_a_cut_connection() {
    let behaviour = Arc::new(HubBehaviour::default());
    behaviour.storage_faults.lock().unwrap().push_back(Fault::CutAfter(50_000_000));
    let hub = fake_hub(BASE_REPO, BASE_REVISION, whisper_base_files(), behaviour);
    let home = tempfile::tempdir().unwrap();
    let fetch = || {
        let mut command = in_home(home.path());
        command.env("HF_ENDPOINT", hub.url()).env("HF_TOKEN", "hf_test").args([
            "models",
            "fetch",
            "whisper-base",
            "--source",
            "huggingface",
        ]);
        command
    };

    let error = fails(&mut fetch());
    assert!(error.contains("stopped after 50.0 MB of 145.2 MB") && error.contains("resume"), "{error}");
    assert!(!home.path().join("models/whisper-base").exists(), "a half-downloaded model was installed");
    let partial = partials(home.path());
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert_eq!(std::fs::metadata(&partial[0]).unwrap().len(), 50_000_000);

    let output = fetch().output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("resuming model.bin of whisper-base at 50.0 MB"), "{}", stderr(&output));
    let requests = hub.requests();
    let storage: Vec<&Request> = requests.iter().filter(|r| r.path.starts_with("/storage/")).collect();
    let resumed = storage.iter().filter(|r| r.header("range") == Some("bytes=50000000-")).count();
    assert_eq!(resumed, 1, "the second run did not ask for the rest: {storage:?}");
    assert!(requests
        .iter()
        .any(|r| r.method == "HEAD" && r.path == format!("/{BASE_REPO}/resolve/{BASE_REVISION}/model.bin")));
    // The token goes to the hub, never to the storage host.
    assert!(requests
        .iter()
        .filter(|r| r.path.contains("/resolve/"))
        .all(|r| r.header("authorization") == Some("Bearer hf_test")));
    assert!(storage.iter().all(|r| r.header("authorization").is_none()));

    let verified = ok(in_home(home.path()).args(["models", "verify", "whisper-base"]));
    assert!(verified.contains("ok       whisper-base"), "{verified}");
    assert!(partials(home.path()).is_empty(), "the partial file was left behind");
}

#[test]
fn hub_corrupted_transfer_is_rejected_and_started_over() {
    let behaviour = Arc::new(HubBehaviour::default());
    behaviour.storage_faults.lock().unwrap().push_back(Fault::FlipByte(1_000_000));
    let hub = fake_hub(SMALL_REPO, "main", small_files(), behaviour);
    let home = tempfile::tempdir().unwrap();
    let fetch = || {
        let mut command = in_home(home.path());
        command.env("HF_ENDPOINT", hub.url()).args(["models", "fetch", "whisper-small"]);
        command
    };
    let error = fails(&mut fetch());
    assert!(error.contains("checksum mismatch for model.bin of whisper-small"), "{error}");
    assert!(!home.path().join("models/whisper-small").exists());
    assert!(partials(home.path()).is_empty(), "a corrupted partial file would be resumed");
    ok(&mut fetch());
    let model = std::fs::read(home.path().join("models/whisper-small/model.bin")).unwrap();
    assert_eq!(model, *installed("silero-vad", "silero_vad.onnx"));
}

#[test]
fn hub_slow_server_shows_progress_and_a_stalled_one_times_out_then_resumes() {
    let behaviour = Arc::new(HubBehaviour::default());
    let model_len = installed("silero-vad", "silero_vad.onnx").len();
    behaviour.storage_faults.lock().unwrap().extend([
        // The slow run: model.bin trickles, tokenizer.json (also in LFS) comes normally.
        Fault::Trickle(64 * 1024, Duration::from_millis(150)),
        Fault::None,
        // The stalled run: model.bin stops after 1 MB.
        Fault::StallAfter(1_000_000, Duration::from_secs(8)),
    ]);
    let hub = fake_hub(SMALL_REPO, "main", small_files(), behaviour);
    let fetch = |home: &Path| {
        let mut command = in_home(home);
        command.env("HF_ENDPOINT", hub.url()).env("LINGUASTREAM_HTTP_TIMEOUT_S", "1").args([
            "models",
            "fetch",
            "whisper-small",
        ]);
        command
    };

    let slow_home = tempfile::tempdir().unwrap();
    let output = fetch(slow_home.path()).output().unwrap();
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    let progress_lines =
        log.lines().filter(|l| l.contains("model.bin of whisper-small: ") && l.contains("of 2.3 MB")).count();
    assert!(progress_lines >= 1, "no progress shown for a slow download:\n{log}");

    let stalled_home = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let error = fails(&mut fetch(stalled_home.path()));
    assert!(error.contains("stopped after 1.0 MB of 2.3 MB (no data for 1 s)"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(7), "the stall was not cut short by the timeout");
    ok(&mut fetch(stalled_home.path()));
    let asked = hub.requests().iter().filter(|r| r.header("range") == Some("bytes=1000000-")).count();
    assert_eq!(asked, 1);
    assert_eq!(
        std::fs::metadata(stalled_home.path().join("models/whisper-small/model.bin")).unwrap().len() as usize,
        model_len
    );
}

#[test]
fn hub_web_page_instead_of_the_file_is_refused() {
    let behaviour = Arc::new(HubBehaviour::default());
    let login = b"<!DOCTYPE html><html><body>Please sign in</body></html>".to_vec();
    // A captive portal that answers with its page, then one that labels its page a file.
    behaviour.resolve_answers.lock().unwrap().extend([
        Response::new(200).header("Content-Type", "text/html; charset=utf-8").body(login.clone()),
        Response::new(200)
            .header("Content-Type", "application/octet-stream")
            .header("ETag", format!("\"{}\"", git_blob_id(&login)))
            .body(login.clone()),
        Response::new(200)
            .header("Content-Type", "application/octet-stream")
            .header("ETag", format!("\"{}\"", git_blob_id(&login)))
            .body(login),
    ]);
    let hub = fake_hub(SMALL_REPO, "main", small_files(), behaviour);
    for _ in 0..2 {
        let home = tempfile::tempdir().unwrap();
        let error =
            fails(in_home(home.path()).env("HF_ENDPOINT", hub.url()).args(["models", "fetch", "whisper-small"]));
        assert!(error.contains("answered with a web page instead of model.bin of whisper-small"), "{error}");
        assert!(!home.path().join("models/whisper-small").exists());
    }
}

#[test]
fn hub_errors_say_what_to_do() {
    let cases: Vec<(Response, &str)> = vec![
        (Response::new(401).header("X-Error-Code", "GatedRepo"), "is gated: accept its terms"),
        (Response::new(401).header("X-Error-Code", "RepoNotFound"), "does not exist, or is private (set HF_TOKEN"),
        (Response::new(404).header("X-Error-Code", "EntryNotFound"), "has no such file at revision main"),
        (Response::new(404).header("X-Error-Code", "RevisionNotFound"), "revision main does not exist"),
        (Response::new(429).header("Retry-After", "3600"), "HTTP 429, too many requests; try again later"),
    ];
    for (answer, expected) in cases {
        let behaviour = Arc::new(HubBehaviour::default());
        behaviour.resolve_answers.lock().unwrap().push_back(answer);
        let hub = fake_hub(SMALL_REPO, "main", small_files(), behaviour);
        let home = tempfile::tempdir().unwrap();
        let error =
            fails(in_home(home.path()).env("HF_ENDPOINT", hub.url()).args(["models", "fetch", "whisper-small"]));
        assert!(error.contains(expected), "expected '{expected}' in:\n{error}");
        assert!(!home.path().join("models/whisper-small").exists());
    }
}

#[test]
fn hub_busy_answers_are_retried_and_renamed_repositories_followed() {
    let behaviour = Arc::new(HubBehaviour::default());
    behaviour.resolve_answers.lock().unwrap().push_back(Response::new(429).header("Retry-After", "1"));
    let hub = fake_hub(SMALL_REPO, "main", small_files(), behaviour);
    let home = tempfile::tempdir().unwrap();
    let output =
        in_home(home.path()).env("HF_ENDPOINT", hub.url()).args(["models", "fetch", "whisper-small"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("answered 429 (busy); retrying in 1 s"), "{}", stderr(&output));

    // A local model list naming the repository by its old name: the hub redirects (relative).
    let renamed = tempfile::tempdir().unwrap();
    std::fs::write(
        renamed.path().join("models.toml"),
        r#"[[model]]
id = "whisper-renamed"
role = "stt"
description = "test"
license = "MIT"
default = false
source = "huggingface"
repo = "Systran/old-name-of-whisper"
files = [{ name = "model.bin" }, { name = "config.json" }]
"#,
    )
    .unwrap();
    ok(in_home(renamed.path()).env("HF_ENDPOINT", hub.url()).args(["models", "fetch", "whisper-renamed"]));
    let verified = ok(in_home(renamed.path()).args(["models", "verify", "whisper-renamed"]));
    assert!(verified.contains("ok       whisper-renamed"), "{verified}");
}

// --- Remote Settings -------------------------------------------------------------------------

fn zstd(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("zstd")
        .args(["-q", "-c", "-3"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("zstd is installed by scripts/setup.sh");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    output.stdout
}

const PTEN_FILES: [(&str, &str); 3] =
    [("model", "model.pten.intgemm.alphas.bin"), ("lex", "lex.50.50.pten.s2t.bin"), ("vocab", "vocab.pten.spm")];

/// The pt→en Firefox model as a local model list names it (the built-in entry comes from a
/// package; an organisation's mirror lists its own models the same way).
fn mirror_manifest(home: &Path) {
    write_mirror(home, "mirror-pten", "pt-en", "");
}

/// A model list naming the installed pt→en Firefox files as model `id` for `pair`, with `extra`
/// fields (each ending in a newline).
fn write_mirror(home: &Path, id: &str, pair: &str, extra: &str) {
    let files: Vec<String> = PTEN_FILES
        .iter()
        .map(|(kind, name)| {
            let hash = sha256_bytes(&installed("firefox-pten", name));
            format!("  {{ name = \"{name}\", sha256 = \"{hash}\", kind = \"{kind}\" }},")
        })
        .collect();
    let manifest = format!(
        "[[model]]\nid = \"{id}\"\nrole = \"mt\"\npair = \"{pair}\"\ndescription = \"test\"\nlicense = \"MPL-2.0\"\ndefault = false\nsource = \"firefox\"\narchitecture = \"base\"\n{extra}files = [\n{}\n]\n",
        files.join("\n")
    );
    std::fs::write(home.join("models.toml"), manifest).unwrap();
}

struct Attachments {
    faults: Mutex<VecDeque<Fault>>,
    html: bool,
}

/// Remote Settings: the server root names the attachment host; the collection lists the pt→en
/// files (zstd attachments with their hashes) beside a newer model of another architecture and
/// a fa→en model whose hashes match nothing pinned.
fn fake_remote_settings(attachments: Arc<Attachments>) -> TestServer {
    fake_remote_settings_from("pt", attachments)
}

/// The same, the real pt→en files listed as a model from `source_language`.
fn fake_remote_settings_from(source_language: &'static str, attachments: Arc<Attachments>) -> TestServer {
    let mut blobs: HashMap<String, Arc<Vec<u8>>> = HashMap::new();
    let mut records = Vec::new();
    for (i, (kind, name)) in PTEN_FILES.iter().enumerate() {
        let raw = installed("firefox-pten", name);
        let packed = zstd(&raw);
        let location = format!("main-workspace/translations-models-v2/0000000{i}-pten.zst");
        records.push(serde_json::json!({
            "name": name, "fileType": kind, "sourceLanguage": source_language, "targetLanguage": "en", "version": "1.0",
            "architecture": "base", "decompressedHash": sha256_bytes(&raw), "decompressedSize": raw.len(),
            "filter_expression": "", "id": format!("rec-{i}"), "last_modified": 1700000000000u64 + i as u64,
            "attachment": { "hash": sha256_bytes(&packed), "size": packed.len(), "filename": format!("{name}.zst"),
                            "location": location, "mimetype": "application/zstd" }
        }));
        blobs.insert(location, Arc::new(packed));
    }
    records.push(serde_json::json!({
        "name": "model.pten.intgemm.alphas.bin", "fileType": "model", "sourceLanguage": "pt", "targetLanguage": "en",
        "version": "3.1", "architecture": "tiny", "decompressedHash": "f".repeat(64),
        "attachment": { "hash": "e".repeat(64), "size": 10, "location": "main-workspace/translations-models-v2/newer.zst" }
    }));
    records.push(serde_json::json!({ "id": "an-unrelated-record-shape", "schema": 1 }));
    let body = serde_json::json!({ "data": records }).to_string().into_bytes();
    let body = Arc::new(body);
    TestServer::start(move |request: &Request, base| match request.path.as_str() {
        "/v1/" => Response::new(200).header("Content-Type", "application/json").body(
            serde_json::json!({
                "project_name": "Remote Settings PROD",
                "capabilities": { "attachments": { "base_url": format!("{base}/attachments/"), "bundled": true } }
            })
            .to_string()
            .into_bytes(),
        ),
        "/v1/buckets/main/collections/translations-models-v2/records" => {
            Response::new(200).header("Content-Type", "application/json").body(body.clone())
        }
        path => match path.strip_prefix("/attachments/").and_then(|l| blobs.get(l)) {
            Some(_) if attachments.html => {
                Response::new(200).header("Content-Type", "text/html").body(b"<html>blocked</html>".to_vec())
            }
            Some(blob) => {
                let fault = attachments.faults.lock().unwrap().pop_front().unwrap_or_default();
                Response::file(request, blob.clone()).fault(fault)
            }
            None => Response::new(404),
        },
    })
}

fn rs_fetch(home: &Path, server: &TestServer, id: &str) -> Command {
    let mut command = in_home(home);
    command.env("LINGUASTREAM_REMOTE_SETTINGS", format!("{}/v1", server.url())).args(["models", "fetch", id]);
    command
}

#[test]
fn remote_settings_installs_a_mirrored_firefox_model_and_resumes() {
    let attachments =
        Arc::new(Attachments { faults: Mutex::new(VecDeque::from([Fault::CutAfter(4_000_000)])), html: false });
    let server = fake_remote_settings(attachments);
    let home = tempfile::tempdir().unwrap();
    mirror_manifest(home.path());

    let error = fails(&mut rs_fetch(home.path(), &server, "mirror-pten"));
    assert!(error.contains("download of model.pten.intgemm.alphas.bin of mirror-pten stopped after 4.0 MB"), "{error}");
    assert!(!home.path().join("models/mirror-pten").exists());

    let output = rs_fetch(home.path(), &server, "mirror-pten").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let requests = server.requests();
    assert!(requests.iter().any(|r| r.path == "/v1/"), "the attachment host was not asked of the server root");
    assert!(requests.iter().any(|r| r.header("range") == Some("bytes=4000000-")), "no resume");
    for (_, name) in PTEN_FILES {
        let got = std::fs::read(home.path().join("models/mirror-pten").join(name)).unwrap();
        assert!(got == *installed("firefox-pten", name), "{name} differs from the real file");
    }
    let verified = ok(in_home(home.path()).args(["models", "verify", "mirror-pten"]));
    assert!(verified.contains("ok       mirror-pten"), "{verified}");
}

#[test]
fn remote_settings_corruption_and_web_pages_are_refused() {
    let home = tempfile::tempdir().unwrap();
    mirror_manifest(home.path());
    let corrupt = fake_remote_settings(Arc::new(Attachments {
        faults: Mutex::new(VecDeque::from([Fault::FlipByte(100)])),
        html: false,
    }));
    let error = fails(&mut rs_fetch(home.path(), &corrupt, "mirror-pten"));
    assert!(error.contains("checksum mismatch for model.pten.intgemm.alphas.bin of mirror-pten"), "{error}");
    assert!(!home.path().join("models/mirror-pten").exists());
    assert!(partials(home.path()).is_empty());

    let portal = fake_remote_settings(Arc::new(Attachments { faults: Mutex::new(VecDeque::new()), html: true }));
    let error = fails(&mut rs_fetch(home.path(), &portal, "mirror-pten"));
    assert!(error.contains("answered with a web page"), "{error}");
    assert!(!home.path().join("models/mirror-pten").exists());
}

#[test]
fn remote_settings_without_the_pinned_files_says_what_it_offers() {
    let server = fake_remote_settings(Arc::new(Attachments { faults: Mutex::new(VecDeque::new()), html: false }));
    let home = tempfile::tempdir().unwrap();
    let error = fails(&mut rs_fetch(home.path(), &server, "firefox-faen"));
    assert!(error.contains("Remote Settings has no model file for fa→en (tiny) matching the pinned hash (it offers: nothing for this pair)"), "{error}");
    let unreachable = fails(in_home(home.path()).env("LINGUASTREAM_REMOTE_SETTINGS", "http://127.0.0.1:9/v1").args([
        "models",
        "fetch",
        "firefox-faen",
    ]));
    assert!(unreachable.contains("cannot download the Firefox-Translations model list from http://127.0.0.1:9/v1/buckets/main/collections/translations-models-v2/records"), "{unreachable}");
}

// --- The best set for this machine ------------------------------------------------------------

/// `models recommend`'s table as it would be on a machine where Whisper base takes 100 ms an
/// utterance: small (≈ 4.5 times base's work) then fits the live budget, medium does not.
fn fast_machine(home: &Path) {
    let rows = serde_json::json!({ "rows": [
        { "whisper": "whisper-base", "mt": "direct", "stt_ms": 100.0, "mt_ms": 0.0, "rtf": 0.2, "peak_rss_mb": 450.0 }
    ] });
    std::fs::write(home.join("measured.json"), rows.to_string()).unwrap();
}

/// An organisation's mirror of a Persian→English Firefox model, listed with Firefox fa→en's
/// published figure (the files here are the real pt→en ones: the mechanics, not the English).
fn mirror_faen_manifest(home: &Path) {
    write_mirror(home, "mirror-faen", "fa-en", "bleu = 32.0\nbleu_source = \"firefox-faen's, mirrored\"\n");
}

#[test]
fn best_set_installs_what_it_chose_and_translate_uses_it() {
    let hub = fake_hub(SMALL_REPO, "main", whisper_base_files(), Arc::new(HubBehaviour::default()));
    let settings =
        fake_remote_settings_from("fa", Arc::new(Attachments { faults: Mutex::new(VecDeque::new()), html: false }));
    let home = home_with_default_models(&[]);
    mirror_faen_manifest(home.path());
    fast_machine(home.path());
    let best = || {
        let mut command = in_home(home.path());
        command
            .env("HF_ENDPOINT", hub.url())
            .env("LINGUASTREAM_REMOTE_SETTINGS", format!("{}/v1", settings.url()))
            .args(["models", "fetch", "--best"]);
        command
    };

    let output = best().output().unwrap();
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("installed the best set for this machine: Whisper small + mirror-faen"), "{log}");
    // What the hub served (Whisper base's real files under small's name) is what was installed.
    let small = home.path().join("models/whisper-small");
    assert!(std::fs::read(small.join("model.bin")).unwrap() == *installed("whisper-base", "model.bin"));
    ok(in_home(home.path()).args(["models", "verify", "whisper-small", "mirror-faen"]));

    let out = tempfile::tempdir().unwrap();
    let report_path = out.path().join("report.json");
    let output = in_home(home.path())
        .args(["translate", "-o"])
        .arg(out.path().join("en.wav"))
        .arg("--json")
        .arg(&report_path)
        .arg(crate::util::sample("fa-sentence-virgool.wav"))
        .output()
        .unwrap();
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    let report = crate::util::json(&report_path);
    assert_eq!(report["model"]["stt"]["model"], "small", "{report}");
    assert_eq!(report["model"]["stt"]["path"], small.display().to_string());
    assert_eq!(report["model"]["mt"], "firefox (mirror-faen)");
    let auto = log.lines().filter(|l| l.contains("auto chose")).collect::<Vec<_>>();
    assert_eq!(auto.len(), 1, "{log}");
    assert!(auto[0].contains("Whisper small + firefox (mirror-faen)") && auto[0].contains("beats"), "{log}");
    assert!(report["segments"].as_array().is_some_and(|s| !s.is_empty()), "{report}");

    // Once there, nothing is downloaded again.
    let before = hub.requests().len() + settings.requests().len();
    let again = best().output().unwrap();
    assert!(again.status.success());
    assert!(stderr(&again).contains("the best set for this machine is installed"), "{}", stderr(&again));
    assert_eq!(hub.requests().len() + settings.requests().len(), before);
}

#[test]
fn best_set_with_the_hosts_out_of_reach_says_so_in_one_line_and_keeps_the_installed_set() {
    let home = home_with_default_models(&[]);
    fast_machine(home.path());
    let closed = {
        let spare = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        spare.local_addr().unwrap().port()
    };
    let started = std::time::Instant::now();
    // The hub at an address that is not routed (or, behind a filtering proxy, answered with
    // 404); the Remote Settings server at a closed port (refused at once).
    let output = in_home(home.path())
        .env("HF_ENDPOINT", "http://10.255.255.1:81")
        .env("LINGUASTREAM_REMOTE_SETTINGS", format!("http://localhost:{closed}/v1"))
        .args(["models", "fetch", "--best"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains(&format!("no answer from 10.255.255.1:81, localhost:{closed}")), "{log}");
    assert!(
        lines[0].contains("whisper-small and firefox-faen") && lines[0].contains("keeping Whisper base + direct"),
        "{log}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert!(!home.path().join("models/whisper-small").exists() && !home.path().join("models/firefox-faen").exists());
}

// --- Python package index --------------------------------------------------------------------

/// A wheel holding `path` with `bytes`, with the metadata pip reads.
fn wheel(name: &str, version: &str, path: &str, bytes: &[u8]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let dist = format!("{}-{version}.dist-info", name.replace('-', "_"));
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut add = |file: &str, content: &[u8]| {
        out.start_file(file, options).unwrap();
        out.write_all(content).unwrap();
    };
    add(path, bytes);
    add(&format!("{dist}/METADATA"), format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").as_bytes());
    add(
        &format!("{dist}/WHEEL"),
        b"Wheel-Version: 1.0\nGenerator: linguastream-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    );
    add(&format!("{dist}/RECORD"), b"");
    out.finish().unwrap().into_inner()
}

/// A PEP 503 simple index serving one wheel of silero-vad 6.2.3.
fn fake_index(onnx: &[u8]) -> TestServer {
    let file = "silero_vad-6.2.3-py3-none-any.whl";
    let wheel = Arc::new(wheel("silero-vad", "6.2.3", "silero_vad/data/silero_vad.onnx", onnx));
    let hash = sha256_bytes(&wheel);
    TestServer::start(move |request: &Request, _| match request.path.as_str() {
        "/simple/silero-vad/" => Response::new(200).header("Content-Type", "text/html").body(
            format!("<!DOCTYPE html><html><body><a href=\"/files/{file}#sha256={hash}\">{file}</a></body></html>")
                .into_bytes(),
        ),
        path if path == format!("/files/{file}") => Response::file(request, wheel.clone()),
        _ => Response::new(404),
    })
}

fn pip_fetch(home: &Path, index: &TestServer) -> Command {
    let mut command = in_home(home);
    command
        .env("PIP_INDEX_URL", format!("{}/simple/", index.url()))
        .env("PIP_NO_CACHE_DIR", "1")
        .env("PIP_RETRIES", "0")
        .args(["models", "fetch", "silero-vad"]);
    command
}

#[test]
fn package_index_mirror_installs_and_a_wrong_file_is_refused() {
    let real = installed("silero-vad", "silero_vad.onnx");
    let index = fake_index(&real);
    let home = tempfile::tempdir().unwrap();
    ok(&mut pip_fetch(home.path(), &index));
    assert!(index.requests().iter().any(|r| r.path.ends_with(".whl")), "the wheel did not come from the local index");
    assert!(ok(in_home(home.path()).args(["models", "verify", "silero-vad"])).contains("ok       silero-vad"));

    let mut altered = real.to_vec();
    altered[1000] ^= 0xff;
    let bad_index = fake_index(&altered);
    let bad_home = tempfile::tempdir().unwrap();
    let error = fails(&mut pip_fetch(bad_home.path(), &bad_index));
    assert!(error.contains("checksum mismatch for silero_vad.onnx"), "{error}");
    assert!(!bad_home.path().join("models/silero-vad").exists());

    let empty = TestServer::start(|_: &Request, _| Response::new(404));
    let error = fails(&mut pip_fetch(bad_home.path(), &empty));
    assert!(error.contains("pip could not download silero-vad==6.2.3"), "{error}");
}

#[test]
fn import_hf_downloads_a_conversion_from_the_hub_and_leaves_a_checkpoint_to_the_converter() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-whisper-ct2");
    let tokens: Vec<String> = String::from_utf8(installed("whisper-base", "vocabulary.txt").to_vec())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let files = vec![
        ("model.bin", HubFile { bytes: Arc::new(std::fs::read(fixture.join("model.bin")).unwrap()), lfs: true }),
        ("config.json", HubFile { bytes: Arc::new(std::fs::read(fixture.join("config.json")).unwrap()), lfs: false }),
        ("vocabulary.json", HubFile { bytes: Arc::new(serde_json::to_vec(&tokens).unwrap()), lfs: false }),
    ];
    let hub = fake_hub("someone/whisper-tiny-fa-ct2", "main", files, Arc::new(HubBehaviour::default()));
    // `import-hf` loads what it imports, so the home has the installed models.
    let home = home_with_default_models(&[]);
    let installed = ok(in_home(home.path()).env("HF_ENDPOINT", hub.url()).args([
        "models",
        "import-hf",
        "someone/whisper-tiny-fa-ct2",
    ]));
    assert!(installed.contains("installed whisper-tiny-fa-ct2") && installed.contains("--whisper tiny-fa-ct2"));
    let dir = home.path().join("models/whisper-tiny-fa-ct2");
    assert_eq!(std::fs::read(dir.join("model.bin")).unwrap(), std::fs::read(fixture.join("model.bin")).unwrap());
    assert!(dir.join("vocabulary.json").is_file() && !dir.join("tokenizer.json").exists());
    ok(in_home(home.path()).args(["models", "verify", "whisper-tiny-fa-ct2"]));

    // A repository without model.bin is a Transformers checkpoint: it goes to the converter
    // (here one that fails), and nothing is installed.
    let transformers = fake_hub("someone/whisper-small-fa", "main", vec![], Arc::new(HubBehaviour::default()));
    let error = fails(
        in_home(home.path()).env("HF_ENDPOINT", transformers.url()).env("LINGUASTREAM_CT2_CONVERTER", "false").args([
            "models",
            "import-hf",
            "someone/whisper-small-fa",
        ]),
    );
    assert!(error.contains("converting the checkpoint failed"), "{error}");
    assert!(!home.path().join("models/whisper-small-fa").exists());
}
