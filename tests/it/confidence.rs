//! Confidence and the policy for unsure English, on real speech Whisper base hears badly: the
//! bundled "one" (`fa-one-ali.wav`), which it reads as «یق» with a mean token probability near 0.3
//! (low confidence), and the sentence sample, which it reads with medium or high confidence.

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use linguastream_core::audio::{decode_file, STT_RATE};
use serde_json::json;
use tungstenite::Message;

use super::serve::Served;
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

/// One WebSocket session of `serve` on the unsure sample, paced as spoken: every JSON event and
/// the samples of English speech received.
fn serve_session(server: &Served, start: serde_json::Value) -> (Vec<serde_json::Value>, usize) {
    let stream = TcpStream::connect(server.address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let (mut socket, _) = tungstenite::client(format!("ws://{}/v1/stream", server.address), stream).unwrap();
    socket.send(Message::text(start.to_string())).unwrap();
    let audio = decode_file(&sample("fa-one-ali.wav"), STT_RATE).unwrap();
    let started = Instant::now();
    for (n, frame) in audio.samples.chunks(320).enumerate() {
        std::thread::sleep((started + Duration::from_millis(20 * n as u64)).saturating_duration_since(Instant::now()));
        let bytes: Vec<u8> = frame.iter().flat_map(|&s| ((s * 32767.0) as i16).to_le_bytes()).collect();
        socket.send(Message::binary(bytes)).unwrap();
    }
    socket.send(Message::text(json!({ "type": "stop" }).to_string())).unwrap();
    let (mut events, mut samples) = (Vec::new(), 0);
    loop {
        match socket.read().expect("the session runs to its end") {
            Message::Text(text) => {
                let event: serde_json::Value = serde_json::from_str(&text).unwrap();
                let end = event["type"] == "end";
                events.push(event);
                if end {
                    return (events, samples);
                }
            }
            Message::Binary(bytes) => samples += bytes.len() / 2,
            _ => {}
        }
    }
}

#[test]
fn serve_sends_the_confidence_and_follows_the_sessions_policy() {
    let server = Served::start(&[]);
    let (events, cued) = serve_session(&server, json!({ "type": "start", "from": "fa" }));
    let last = |events: &[serde_json::Value], kind: &str| events.iter().rfind(|e| e["type"] == kind).cloned();
    let final_ = last(&events, "final").unwrap_or_else(|| panic!("no final: {events:?}"));
    assert_eq!((&final_["confidence"]["level"], &final_["delivery"]), (&"low".into(), &"spoken_with_cue".into()));
    assert!(cued > 22_050 * 3 / 10, "the English and its cue: {cued} samples");

    let (events, silent) = serve_session(&server, json!({ "type": "start", "from": "fa", "unsure": "caption_only" }));
    let final_ = last(&events, "final").unwrap_or_else(|| panic!("no final: {events:?}"));
    assert_eq!(final_["delivery"], "caption_only", "{final_}");
    assert_eq!(silent, 0, "nothing spoken");
    let warning = last(&events, "warning").expect("the speaker is told");
    assert_eq!(warning["warning"]["kind"], "unsure", "{warning}");

    let (_, metrics) = server.request("GET", "/metrics", &[], b"");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("linguastream_utterances_by_confidence_total{level=\"low\"} 2"), "{metrics}");
}
