//! `linguastream bench`: the report's schema, its accuracy fields and deterministic content.

use std::path::Path;

use crate::util::{bin, fails, ok, sample};

fn manifest(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("manifest.tsv");
    let row = |id: &str, file: &str| {
        format!(
            "{id}\t{}\tیک دو سه چهار پنج شش هفت هشت نه صفر\tone two three four five six seven eight nine zero\n",
            sample(file).display()
        )
    };
    let text = format!(
        "id\taudio\tfa_transcript\ten_reference\n{}{}",
        row("fateme", "fa-digits-fateme.wav"),
        row("elyas", "fa-digits-elyas.wav")
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn bench_json(dir: &Path, manifest: &Path) -> serde_json::Value {
    let (json, markdown) = (dir.join("report.json"), dir.join("report.md"));
    let table =
        ok(bin().current_dir(dir).arg("bench").arg(manifest).arg("--json").arg(&json).arg("--markdown").arg(&markdown));
    assert!(table.contains("| KPI | target | LinguaStream |") && table.contains("≤ 0.8 s"), "{table}");
    assert_eq!(std::fs::read_to_string(&markdown).unwrap(), table.trim_end_matches('\n').to_string() + "\n");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

#[test]
fn report_has_the_documented_fields_and_deterministic_content() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest(dir.path());
    let first = bench_json(dir.path(), &manifest);
    assert_eq!(first["clips"], 2);
    assert!(first["audio_s"].as_f64().unwrap() > 10.0);
    for key in ["p50", "p95", "max"] {
        assert!(first["e2e_latency_s"][key].as_f64().is_some(), "e2e {key}");
        assert!(first["output_lag_s"][key].as_f64().is_some(), "output lag {key}");
    }
    assert!(first["english_s"]["p50"].as_f64().is_some_and(|s| s > 0.2), "how long the English lasts: {first}");
    for stage in ["vad", "stt", "mt", "tts_first_audio"] {
        for key in ["p50", "p95"] {
            assert!(first["stages_ms"][stage][key].as_f64().is_some(), "{stage} {key}");
        }
    }
    for key in ["rtf", "peak_rss_mb", "cpu_percent", "wer", "cer", "bleu", "chrf"] {
        assert!(first[key].as_f64().is_some_and(|v| v >= 0.0), "{key}: {first}");
    }
    assert!(first["wer"].as_f64().unwrap() <= 1.5 && first["bleu"].as_f64().unwrap() <= 100.0);
    assert!(first["machine"]["cpus"].as_u64().unwrap() >= 1 && first["machine"]["model"].is_string());
    assert!(first["models"]["stt"].is_object());

    let again = tempfile::tempdir().unwrap();
    let second = bench_json(again.path(), &manifest);
    assert_eq!(first["results"], second["results"], "transcripts differ between two runs");

    let written: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
    let mut written = written;
    written.sort();
    assert_eq!(written, ["manifest.tsv", "report.json", "report.md"], "bench wrote other files");
}

#[test]
fn a_manifest_without_references_has_no_accuracy_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tsv");
    std::fs::write(&path, format!("id\taudio\nx\t{}\n", sample("fa-digits-fateme.wav").display())).unwrap();
    let json = dir.path().join("r.json");
    ok(bin().arg("bench").arg(&path).arg("--json").arg(&json));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in ["wer", "cer", "bleu", "chrf"] {
        assert!(report.get(key).is_none(), "{key} without references: {report}");
    }
}

#[test]
fn a_bad_manifest_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tsv");
    std::fs::write(&path, "id\tfa_transcript\nx\tسلام\n").unwrap();
    let error = fails(bin().arg("bench").arg(&path));
    assert!(error.contains("no `audio` column"), "{error}");
    let error = fails(bin().arg("bench").arg(&path).arg("--speak-early"));
    assert!(error.contains("--speak-early needs --realtime"), "{error}");
}
