//! `linguastream models`: fetch, list, verify, import, and their failures.

use crate::util::{bin, fails, home_with_default_models, ok, store};

#[test]
fn list_shows_the_installed_default_set() {
    store();
    let list = ok(bin().args(["models", "list"]));
    for id in ["whisper-base", "silero-vad", "piper-en-us-joe-medium", "onnxruntime", "ctranslate2", "firefox-pten"] {
        let line = list.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id} not listed:\n{list}"));
        assert!(line.contains("installed") && line.contains("MB"), "{line}");
    }
    assert!(list.lines().any(|l| l.starts_with("firefox-faen") && l.contains("not installed")));
    // A model not installed shows about how much it would download.
    let small = list.lines().find(|l| l.starts_with("whisper-small")).unwrap();
    assert!(!small.contains("not installed") || small.contains("≈ 484 MB"), "{small}");
}

#[test]
fn list_into_a_reader_that_stops_early_is_not_an_error() {
    store();
    // The reading end is closed before the list is written, as `models list | head -1` does.
    let mut child = bin()
        .args(["models", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && !log.contains("panicked"), "{:?}: {log}", output.status);
}

#[test]
fn fetch_is_idempotent_and_verify_passes() {
    store();
    let output = bin().args(["models", "fetch", "silero-vad"]).output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("already installed"));
    let verified = ok(bin().args(["models", "verify", "whisper-base", "silero-vad"]));
    assert!(verified.contains("ok       whisper-base") && verified.contains("ok       silero-vad"), "{verified}");
}

#[test]
fn fetch_installs_from_the_package_registry_into_a_fresh_home() {
    let home = tempfile::tempdir().unwrap();
    ok(bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "fetch", "silero-vad"]));
    let verified = ok(bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "verify"]));
    assert!(verified.contains("ok       silero-vad"), "{verified}");
    let leftovers: Vec<_> =
        std::fs::read_dir(home.path().join("models")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers, vec!["silero-vad"], "staging left behind");
}

#[test]
fn missing_python_is_a_clear_error() {
    let home = tempfile::tempdir().unwrap();
    let error =
        fails(bin().env("LINGUASTREAM_HOME", home.path()).env("LINGUASTREAM_PYTHON", "/nonexistent/python3").args([
            "models",
            "fetch",
            "silero-vad",
        ]));
    assert!(error.contains("python3 is needed"), "{error}");
    assert!(!home.path().join("models/silero-vad").exists());
}

#[test]
fn unreachable_hugging_face_fails_fast_and_installs_nothing() {
    let home = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let error = fails(bin().env("LINGUASTREAM_HOME", home.path()).env("HF_ENDPOINT", "http://127.0.0.1:9").args([
        "models",
        "fetch",
        "whisper-small",
    ]));
    assert!(error.contains("cannot download model.bin of whisper-small") && error.contains("127.0.0.1:9"), "{error}");
    assert!(started.elapsed().as_secs() < 30);
    let entries: Vec<_> = std::fs::read_dir(home.path().join("models")).unwrap().flatten().collect();
    assert!(entries.is_empty(), "something was left installed");
}

#[test]
fn unreachable_remote_settings_is_a_clear_error_for_the_persian_model() {
    let home = tempfile::tempdir().unwrap();
    let error = fails(
        bin().env("LINGUASTREAM_HOME", home.path()).env("LINGUASTREAM_REMOTE_SETTINGS", "http://127.0.0.1:9").args([
            "models",
            "fetch",
            "firefox-faen",
        ]),
    );
    assert!(error.contains("Firefox-Translations model list from http://127.0.0.1:9/"), "{error}");
}

#[test]
fn import_checks_files_against_the_pinned_hashes() {
    let home = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let error = fails(
        bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "import", "firefox-faen"]).arg(folder.path()),
    );
    assert!(error.contains("model.faen.intgemm.alphas.bin is missing"), "{error}");
    for name in ["model.faen.intgemm.alphas.bin", "lex.50.50.faen.s2t.bin", "vocab.faen.spm"] {
        std::fs::write(folder.path().join(name), b"not the real model").unwrap();
    }
    let error = fails(
        bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "import", "firefox-faen"]).arg(folder.path()),
    );
    assert!(error.contains("checksum mismatch for model.faen.intgemm.alphas.bin"), "{error}");
    assert!(!home.path().join("models/firefox-faen").exists());
}

#[test]
fn recommend_times_every_installed_whisper_on_this_machine_and_models_list_shows_it() {
    // A home with the default models only, so the measurements land there.
    let home = home_with_default_models(&[]);
    let out = ok(bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "recommend"]));
    let row = out.lines().find(|l| l.starts_with("base ") && l.contains("direct")).unwrap_or_else(|| panic!("{out}"));
    let numbers: Vec<f64> = row.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    assert!(numbers.len() >= 5 && numbers[0] > 0.0, "no measured figures in {row:?}");
    assert!(out.contains("recommended: --whisper base --mt direct"), "{out}");

    let list = ok(bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "list"]));
    let measured = format!("measured here: recognition {:.0} ms per utterance", numbers[0]);
    assert!(list.contains(&measured), "{measured:?} not in\n{list}");
}
