//! Confidence and the policy for unsure English, on real speech Whisper base hears badly: the
//! bundled "one" (`fa-one-ali.wav`), which it reads as «یق» with a mean token probability near 0.3
//! (low confidence), and the sentence sample, which it reads with medium or high confidence.

use std::path::Path;

use super::util::{bin, json, ok, read_wav, sample};

/// The second of the last audible sample: where the English (or its cue) ends.
fn last_sound_s(samples: &[f32], rate: u32) -> f64 {
    samples.iter().rposition(|s| s.abs() > 0.01).map_or(0.0, |i| i as f64 / f64::from(rate))
}

/// `translate` of the unsure sample with `--unsure POLICY`: the report, the English speech and the
/// SRT.
fn translate_unsure(policy: &str, dir: &Path) -> (serde_json::Value, Vec<f32>, String, String) {
    let (wav, report, srt) =
        (dir.join(format!("{policy}.wav")), dir.join(format!("{policy}.json")), dir.join(format!("{policy}.srt")));
    let output = bin()
        .args(["translate", "--mt", "direct", "--unsure", policy])
        .arg(sample("fa-one-ali.wav"))
        .arg("-o")
        .arg(&wav)
        .arg("--json")
        .arg(&report)
        .arg("--srt")
        .arg(&srt)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (json(&report), read_wav(&wav).1, std::fs::read_to_string(srt).unwrap(), stderr)
}

#[test]
fn unsure_english_follows_the_policy_in_translate_and_is_marked_in_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let (spoken, plain, srt, _) = translate_unsure("speak", dir.path());
    let segment = &spoken["segments"][0];
    assert_eq!(segment["confidence"]["level"], "low", "{spoken}");
    assert_eq!(segment["delivery"], "spoken");
    let lines: Vec<&str> = srt.lines().collect();
    assert!(lines[2].starts_with("(?) ") && lines[3].starts_with("(?) "), "both lines marked: {srt}");

    let (cued, with_cue, _, _) = translate_unsure("cue", dir.path());
    assert_eq!(cued["segments"][0]["delivery"], "spoken_with_cue");
    let later = last_sound_s(&with_cue, 22_050) - last_sound_s(&plain, 22_050);
    // The cue (0.3 s) and the quiet end of the sentence before it.
    assert!((0.25..0.6).contains(&later), "the cue follows the English: it ends {later:.2} s later");

    let (silent, nothing, srt, stderr) = translate_unsure("caption-only", dir.path());
    assert_eq!(silent["segments"][0]["delivery"], "caption_only");
    assert!(nothing.iter().all(|s| s.abs() < 0.01), "nothing spoken");
    assert!(srt.contains("(?, not spoken) "), "{srt}");
    assert!(stderr.contains("not spoken") && stderr.contains("low confidence"), "{stderr}");
}

#[test]
fn live_captions_and_metrics_carry_the_confidence() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.json");
    let captions = ok(bin()
        .args(["live", "--output", "none", "--mt", "direct", "--unsure", "caption-only", "--input-file"])
        .arg(sample("fa-one-ali.wav"))
        .arg("--metrics-json")
        .arg(&metrics));
    assert!(captions.contains("fa: (?) ") && captions.contains("en: (?) "), "{captions}");
    assert!(captions.contains("not spoken: low confidence"), "{captions}");
    let report = json(&metrics);
    let utterance = &report["utterances"][0];
    assert_eq!((&utterance["confidence"]["level"], &utterance["delivery"]), (&"low".into(), &"caption_only".into()));
    assert!(utterance["latency_ms"].is_null(), "not spoken: {utterance}");

    let sure = ok(bin()
        .args(["live", "--output", "none", "--mt", "direct", "--input-file"])
        .arg(sample("fa-digits-fateme.wav"))
        .arg("--metrics-json")
        .arg(&metrics));
    assert!(!sure.contains("(?)"), "{sure}");
    assert_ne!(json(&metrics)["utterances"][0]["confidence"]["level"], "low");
}
