//! `--mt auto` and `--whisper auto` (the defaults): the best installed combination, and one
//! line saying which and why.

use std::path::Path;

use crate::util::{bin, home_with_default_models, json, sample, stderr, store};

/// `translate` of the bundled sentence in `home` with the default engines: its report and log.
fn translate_in(home: &Path) -> (serde_json::Value, String) {
    let out = tempfile::tempdir().unwrap();
    let report = out.path().join("report.json");
    let output = bin()
        .env("LINGUASTREAM_HOME", home)
        .args(["translate", "-o"])
        .arg(out.path().join("en.wav"))
        .arg("--json")
        .arg(&report)
        .arg(sample("fa-sentence-virgool.wav"))
        .output()
        .unwrap();
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    (json(&report), log)
}

fn auto_line(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("auto chose")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    lines[0].to_string()
}

#[test]
fn auto_keeps_whisper_s_own_translation_over_the_registry_gemma_and_says_why() {
    let gemma = store().require("gemma3-270m").unwrap_or_else(|e| {
        panic!("this test needs Gemma 3 270M ({e}); run `make test` or `linguastream models fetch gemma3-270m`")
    });
    let home = home_with_default_models(&[]);
    std::os::unix::fs::symlink(gemma, home.path().join("models/gemma3-270m")).unwrap();
    let (report, log) = translate_in(home.path());
    assert_eq!(report["model"]["mt"], "direct (Whisper translate task)");
    assert_eq!(report["model"]["stt"]["model"], "base");
    let line = auto_line(&log);
    assert!(line.contains("Whisper base + direct"), "{line}");
    // Gemma's figure (measured here on speech) is below direct's, and the line says both.
    assert!(line.contains("no installed text model beats it (gemma3-270m BLEU 0.6)"), "{line}");
    assert!(line.contains("Whisper's own translation: BLEU 1.3"), "{line}");
    assert!(line.contains("the only Whisper installed"), "{line}");
}

#[test]
fn a_named_engine_and_size_are_used_as_named_and_auto_speaks_only_for_itself() {
    let home = home_with_default_models(&[]);
    let out = tempfile::tempdir().unwrap();
    let output = bin()
        .env("LINGUASTREAM_HOME", home.path())
        .args(["translate", "--whisper", "base", "--mt", "direct", "-o"])
        .arg(out.path().join("en.wav"))
        .arg(sample("fa-sentence-virgool.wav"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("auto chose"), "{}", stderr(&output));
}
