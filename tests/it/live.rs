//! `linguastream live` through a real PulseAudio server (started by `make test` through
//! scripts/with-pulse.sh): a null sink `test_in` plays the speech, its monitor is the microphone,
//! and the test records what comes out of the "LinguaStream Microphone".

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use linguastream_core::audio::{decode_file, resample, Audio};
use linguastream_core::output::sink::PulseSink;
use linguastream_core::output::{AudioSink, Written};
use serde_json::json;

use crate::serve::Served;
use crate::translate::white_noise;

use crate::util::{bin, fails, hear_english, ok, read_wav, sample, store, words, write_wav_i16};

/// Live tests share the server's device names, so they run one at a time.
static SERVER: Mutex<()> = Mutex::new(());

pub(crate) fn server() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    let running = Command::new("pactl").arg("info").output().is_ok_and(|o| o.status.success());
    assert!(running, "the live tests need a PulseAudio server: run them through `make test` (scripts/with-pulse.sh)");
    store();
    guard
}

pub(crate) fn pactl(args: &[&str]) -> String {
    let output = Command::new("pactl").args(args).output().expect("pactl runs");
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn virtual_mic_exists() -> bool {
    pactl(&["list", "short", "sources"]).contains("linguastream_mic")
}

pub(crate) fn no_linguastream_modules() -> bool {
    !pactl(&["list", "short", "modules"]).contains("linguastream")
}

fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_live(args: &[&str], metrics: Option<&Path>) -> Child {
    let mut command = bin();
    command.arg("live").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(path) = metrics {
        command.arg("--metrics-json").arg(path);
    }
    command.spawn().expect("live starts")
}

fn record(path: &Path, device: &str) -> Child {
    Command::new("parecord")
        .arg(format!("--device={device}"))
        .args(["--rate=16000", "--channels=1", "--format=s16le", "--file-format=wav"])
        .arg(path)
        .spawn()
        .expect("parecord starts")
}

fn stop(child: &mut Child, signal: &str) {
    Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
}

pub(crate) fn play_into_test_sink(path: &Path) {
    let status = Command::new("paplay").arg("--device=test_in").arg(path).status().expect("paplay runs");
    assert!(status.success());
}

/// A Portuguese sentence spoken by espeak-ng, [`padded`].
fn portuguese_clip(dir: &Path) -> PathBuf {
    let raw = dir.join("raw.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", "pt", "-s", "140", "-w"])
        .arg(&raw)
        .arg("O tempo está muito bom hoje.")
        .status()
        .unwrap();
    assert!(status.success());
    padded(&raw, &dir.join("clip.wav"))
}

/// `raw` at 16 kHz with 0.5 s of silence before and after (the first ~100 ms written to an idle
/// null sink never reach its monitor), written to `clip`.
fn padded(raw: &Path, clip: &Path) -> PathBuf {
    let speech = resample(&decode_file(raw, 16_000).unwrap(), 16_000);
    let mut samples = vec![0.0; 8_000];
    samples.extend(&speech.samples);
    samples.extend(vec![0.0; 8_000]);
    write_wav_i16(clip, &Audio { samples, rate: 16_000 }, 1);
    clip.to_path_buf()
}

#[test]
fn speech_from_a_device_comes_out_of_the_virtual_microphone_in_english() {
    let _server = server();
    let dir = tempfile::tempdir().unwrap();
    let clip = portuguese_clip(dir.path());
    let metrics = dir.path().join("metrics.json");
    let mut live = start_live(
        &["--input", "test_in.monitor", "--from", "pt", "--mt", "firefox", "--duration", "60"],
        Some(&metrics),
    );
    wait_for("the virtual microphone", virtual_mic_exists);
    let (heard_path, said_path) = (dir.path().join("mic.wav"), dir.path().join("input.wav"));
    let mut recorders = [record(&heard_path, "linguastream_mic"), record(&said_path, "test_in.monitor")];
    std::thread::sleep(Duration::from_secs(2)); // let the streams settle before the clip starts
    play_into_test_sink(&clip);
    // Room for the English to finish even on a loaded machine (a cut-off recording is misheard).
    std::thread::sleep(Duration::from_secs(10));
    // Stopped together, so the two recordings end at the same moment and can be aligned by it.
    for recorder in &mut recorders {
        Command::new("kill").args(["-INT", &recorder.id().to_string()]).status().unwrap();
    }
    for recorder in &mut recorders {
        recorder.wait().unwrap();
    }
    stop(&mut live, "INT");

    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    let heard = words(&hear_english(&heard_path));
    let said: Vec<&str> =
        report["utterances"].as_array().unwrap().iter().filter_map(|u| u["translated_text"].as_str()).collect();
    assert!(heard.contains(&"weather".to_string()), "heard {heard:?} from the virtual microphone; said {said:?}");

    let (_, english) = read_wav(&heard_path);
    let (_, input) = read_wav(&said_path);
    let from_end = |samples: &[f32], index: usize| (samples.len() - index) as f64 / 16_000.0;
    let first_english = english.iter().position(|s| s.abs() > 0.02).expect("the virtual microphone carried sound");
    let speech_end = input.iter().rposition(|s| s.abs() > 0.02).expect("the input carried the clip");
    let measured = from_end(&input, speech_end) - from_end(&english, first_english);
    eprintln!("measured through PulseAudio: speech end → first English sample recorded = {measured:.2} s");
    assert!(measured > 0.0 && measured < 10.0, "implausible latency {measured:.2} s");

    let p50 = report["e2e_latency_s"]["p50"].as_f64().unwrap();
    assert!(p50 > 0.0, "{report}");
    let first = &report["utterances"][0]["latency_ms"];
    for stage in ["vad", "stt", "mt", "tts_first_audio", "e2e", "output_lag"] {
        assert!(first[stage].as_f64().is_some(), "{stage} missing: {report}");
    }
    let (lag, english) = (first["output_lag"].as_f64().unwrap(), first["english"].as_f64().unwrap());
    assert!(english > 200.0 && english < lag, "its English ({english} ms) within its output lag ({lag} ms)");
    assert!(report["peak_rss_mb"].as_f64().unwrap() > 0.0 && report["cpu_percent"].as_f64().is_some());
    assert!(no_linguastream_modules());
}

#[test]
fn a_sound_server_output_plays_speech_at_the_rate_it_comes_with() {
    let _server = server();
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("test_in.wav");
    let mut recorder = record(&recording, "test_in.monitor");
    std::thread::sleep(Duration::from_millis(500));
    let mut sink = PulseSink::open("test_in", 22_050).unwrap();
    // Silence first: the start of what an idle null sink gets never reaches its monitor.
    assert_eq!(sink.write(&vec![0.0; 11_025], 22_050).unwrap(), Written::Done);
    let tone: Vec<f32> =
        (0..16_000).map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / 16_000.0).sin() * 0.5).collect();
    assert_eq!(sink.write(&tone, 16_000).unwrap(), Written::Done);
    sink.write(&vec![0.0; 8_000], 16_000).unwrap();
    sink.finish().unwrap();
    stop(&mut recorder, "INT");
    let (_, recorded) = read_wav(&recording);
    let first = recorded.iter().position(|s| s.abs() > 0.1).expect("the tone was played");
    let last = recorded.iter().rposition(|s| s.abs() > 0.1).unwrap();
    let seconds = (last - first) as f64 / 16_000.0;
    // Played as if it were 22,050 Hz audio, the one-second tone would last 0.73 s.
    assert!((seconds - 1.0).abs() < 0.05, "the tone lasted {seconds:.3} s");
}

#[test]
fn sigterm_removes_the_virtual_microphone() {
    let _server = server();
    let mut live = start_live(&["--input", "test_in.monitor"], None);
    wait_for("the virtual microphone", virtual_mic_exists);
    stop(&mut live, "TERM");
    assert!(no_linguastream_modules(), "modules left: {}", pactl(&["list", "short", "modules"]));
    assert!(!virtual_mic_exists());
}

#[test]
fn an_error_after_start_removes_the_virtual_microphone() {
    let _server = server();
    let error = fails(bin().args(["live", "--input", "no_such_microphone"]));
    assert!(error.contains("created \"LinguaStream Microphone\""), "{error}");
    assert!(error.contains("no audio source called 'no_such_microphone'"), "{error}");
    assert!(no_linguastream_modules(), "modules left: {}", pactl(&["list", "short", "modules"]));
}

#[test]
fn capturing_its_own_output_is_refused() {
    let _server = server();
    for own in ["linguastream_out.monitor", "linguastream_mic"] {
        let error = fails(bin().args(["live", "--input", own]));
        assert!(error.contains("refusing to capture") && error.contains("loop"), "{error}");
    }
    let error = fails(bin().args(["live", "--output", "speakers", "--input", "test_in.monitor"]));
    assert!(error.contains("refusing to capture"), "speakers' own monitor: {error}");
    assert!(no_linguastream_modules());
}

/// PulseAudio makes a new source the default when it outranks the old one, and moves captures
/// onto it: a capture already running would hear our English.
#[test]
fn a_capture_already_running_is_not_moved_onto_the_virtual_microphone() {
    let _server = server();
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = record(&dir.path().join("call.wav"), "test_in.monitor");
    let capture_is_on_test_in = || {
        let index = pactl(&["list", "short", "sources"])
            .lines()
            .find(|line| line.split('\t').nth(1) == Some("test_in.monitor"))
            .and_then(|line| line.split('\t').next().map(str::to_string))
            .unwrap();
        pactl(&["list", "short", "source-outputs"]).lines().any(|line| line.split('\t').nth(1) == Some(index.as_str()))
    };
    wait_for("the capture of test_in.monitor", capture_is_on_test_in);
    let mut live = start_live(&["--input", "test_in.monitor", "--duration", "20"], None);
    wait_for("the virtual microphone", virtual_mic_exists);
    std::thread::sleep(Duration::from_millis(300));
    let default_source = pactl(&["get-default-source"]);
    assert_eq!(default_source.trim(), "test_in.monitor", "the virtual microphone became the default source");
    assert!(capture_is_on_test_in(), "the running capture was moved: {}", pactl(&["list", "short", "source-outputs"]));
    stop(&mut live, "INT");
    stop(&mut recorder, "INT");
}

#[test]
fn silence_and_noise_produce_no_english_on_the_virtual_microphone() {
    let _server = server();
    let dir = tempfile::tempdir().unwrap();
    let mut samples = vec![0.0; 30 * 16_000];
    samples.extend(white_noise(30.0, 0.3, 16_000).samples);
    let clip = dir.path().join("silence-then-noise.wav");
    write_wav_i16(&clip, &Audio { samples, rate: 16_000 }, 1);
    let metrics = dir.path().join("metrics.json");
    let mut live = start_live(&["--input", "test_in.monitor", "--duration", "63"], Some(&metrics));
    wait_for("the virtual microphone", virtual_mic_exists);
    let recording = dir.path().join("mic.wav");
    let mut recorder = record(&recording, "linguastream_mic");
    std::thread::sleep(Duration::from_millis(500));
    play_into_test_sink(&clip);
    assert!(live.wait().unwrap().success());
    stop(&mut recorder, "INT");
    let (_, recorded) = read_wav(&recording);
    assert!(recorded.len() > 50 * 16_000, "recorded only {} samples", recorded.len());
    assert!(recorded.iter().all(|s| s.abs() < 0.01), "the virtual microphone carried sound");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    assert!(report["utterances"].as_array().unwrap().is_empty(), "{report}");
}

#[test]
fn devices_lists_inputs_and_marks_its_own() {
    let _server = server();
    let listing = ok(bin().arg("devices"));
    assert!(listing.contains("test_in.monitor"), "{listing}");
    let mut live = start_live(&["--input", "test_in.monitor"], None);
    wait_for("the virtual microphone", virtual_mic_exists);
    let listing = ok(bin().arg("devices"));
    stop(&mut live, "INT");
    let line = listing.lines().find(|l| l.trim_start().starts_with("linguastream_mic")).expect("mic listed");
    assert!(line.contains("LinguaStream Microphone") && line.contains("own output"), "{line}");
}

#[test]
fn input_file_runs_without_a_sound_server() {
    let empty = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (metrics, wav) = (dir.path().join("m.json"), dir.path().join("english.wav"));
    let captions = ok(bin()
        .env("XDG_RUNTIME_DIR", empty.path())
        .env("PULSE_SERVER", "unix:/nonexistent")
        .args(["live", "--output", "none", "--input-file"])
        .arg(sample("fa-sentence-virgool.wav"))
        .arg("--metrics-json")
        .arg(&metrics)
        .arg("--wav")
        .arg(&wav));
    assert!(captions.contains("fa: ") && captions.contains("en: "), "{captions}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    assert!(!report["utterances"].as_array().unwrap().is_empty(), "{report}");
    // The file output gets the speech at the voice's own rate (the joe voice: 22,050 Hz).
    let (spec, english) = read_wav(&wav);
    assert_eq!(spec.sample_rate, 22_050);
    assert!(english.len() > 11_025 && english.iter().any(|s| s.abs() > 0.05), "{} samples", english.len());

    let error = fails(bin().env("XDG_RUNTIME_DIR", empty.path()).env("PULSE_SERVER", "unix:/nonexistent").arg("live"));
    assert!(error.contains("no PulseAudio/PipeWire sound server is reachable"), "{error}");
}

#[test]
fn speaking_early_runs_on_real_speech_and_needs_whispers_own_translation() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.json");
    let captions = ok(bin()
        .args(["live", "--output", "none", "--mt", "direct", "--speak-early", "--partial-captions", "--input-file"])
        .arg(sample("fa-sentence-virgool.wav"))
        .arg("--metrics-json")
        .arg(&metrics));
    assert!(captions.contains("en: "), "{captions}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    assert!(report["clauses_said_ahead"].is_u64() && report["ahead_lag_s"]["p95"].is_f64(), "{report}");
    let spoken = report["utterances"].as_array().unwrap().iter().filter(|u| u["latency_ms"].is_object()).count();
    assert!(spoken > 0, "{report}");

    let error = fails(
        bin()
            .args(["live", "--output", "none", "--from", "pt", "--mt", "firefox", "--speak-early", "--input-file"])
            .arg(sample("fa-sentence-virgool.wav")),
    );
    assert!(error.contains("--speak-early needs Whisper's own translation (--mt direct)"), "{error}");
}

#[test]
fn a_killed_session_leaves_a_microphone_the_next_one_adopts_and_removes() {
    let _server = server();
    let dir = tempfile::tempdir().unwrap();
    let quiet = dir.path().join("quiet.wav");
    write_wav_i16(&quiet, &Audio { samples: vec![0.0; 32_000], rate: 16_000 }, 1);
    let short_session = || {
        let output = bin().args(["live", "--output", "virtual-mic", "--input-file"]).arg(&quiet).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stderr).to_string()
    };

    // A session that is still running keeps its microphone while another one comes and goes.
    let mut first = start_live(&["--input", "test_in.monitor"], None);
    wait_for("the virtual microphone", virtual_mic_exists);
    let error = short_session();
    assert!(error.contains("using the existing") && !error.contains("adopted"), "{error}");
    assert!(virtual_mic_exists(), "the second session removed the first one's microphone");

    // Killed, it cannot clean up: its modules stay, tagged with its PID.
    let pid = first.id();
    stop(&mut first, "KILL");
    let modules = pactl(&["list", "short", "modules"]);
    assert!(modules.contains(&format!("linguastream.owner={pid}:")), "{modules}");
    let error = short_session();
    assert!(error.contains(&format!("adopted the virtual microphone left by process {pid}")), "{error}");
    assert!(no_linguastream_modules(), "modules left: {}", pactl(&["list", "short", "modules"]));
}

#[test]
fn the_server_feeds_the_virtual_microphone_from_the_input_the_page_chose() {
    let _server = server();
    let served = Served::start(&[]);
    let json_body = ["Content-Type: application/json"];
    let (status, live) = served.get_json("/v1/live", &[]);
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["running"], false);
    let inputs: Vec<&str> = live["inputs"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert!(inputs.contains(&"test_in.monitor"), "{inputs:?}");
    assert!(!inputs.iter().any(|name| name.starts_with("linguastream")), "its own output offered: {inputs:?}");

    for own in ["linguastream_out.monitor", "linguastream_mic"] {
        let body = format!(r#"{{"input":"{own}"}}"#);
        let (status, reply) = served.request("POST", "/v1/live/start", &json_body, body.as_bytes());
        let reply = String::from_utf8_lossy(&reply).to_string();
        assert_eq!(status, 400, "{own}: {reply}");
        assert!(reply.contains("refusing to capture"), "{reply}");
    }
    assert!(no_linguastream_modules(), "a refused start left modules behind");

    let start = br#"{"input":"test_in.monitor","from":"pt","mt":"firefox"}"#;
    let (status, reply) = served.request("POST", "/v1/live/start", &json_body, start);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    assert!(virtual_mic_exists(), "no virtual microphone while running");
    let (status, _) = served.request("POST", "/v1/live/start", &json_body, start);
    assert_eq!(status, 409, "a second session on the one microphone");

    let dir = tempfile::tempdir().unwrap();
    play_into_test_sink(&portuguese_clip(dir.path()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let english = loop {
        let (_, live) = served.get_json("/v1/live", &[]);
        assert_eq!(live["running"], true, "{live}");
        assert_eq!(live["input"], "test_in.monitor");
        let caption =
            live["captions"].as_array().unwrap().iter().find_map(|c| c["translated_text"].as_str().map(String::from));
        if let Some(english) = caption.filter(|t| !t.is_empty()) {
            break english;
        }
        assert!(Instant::now() < deadline, "no caption within 60 s: {live}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        words(&english).iter().any(|w| ["weather", "time", "good", "today", "very"].contains(&w.as_str())),
        "{english}"
    );

    let (status, reply) = served.request("POST", "/v1/live/stop", &[], b"");
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(status, 200, "{reply}");
    assert!(reply["utterances"].as_u64().unwrap() >= 1, "{reply}");
    wait_for("the virtual microphone to go", no_linguastream_modules);
    let (status, _) = served.request("POST", "/v1/live/stop", &[], b"");
    assert_eq!(status, 409, "stopping what is not running");
}

/// The desktop part of `serve` with the other side of the call: English played into the sink that
/// stands for the call app's output comes back from `/v1/live` as the call's captions, translated
/// into Persian, apart from the user's lane; our own virtual microphone is refused as that side.
#[test]
fn the_server_captions_the_other_side_of_the_call_apart_from_the_users_lane() {
    let _server = server();
    let served = Served::start(&[]);
    let json_body = ["Content-Type: application/json"];
    let _quiet = quiet_microphone();

    for own in ["linguastream_mic", "linguastream_out.monitor"] {
        let body = json!({ "input": "quiet_mic.monitor", "call_input": own }).to_string();
        let (status, reply) = served.request("POST", "/v1/live/start", &json_body, body.as_bytes());
        let reply = String::from_utf8_lossy(&reply).to_string();
        assert_eq!(status, 400, "{own}: {reply}");
        assert!(reply.contains("refusing to capture") && reply.contains("loop"), "{own}: {reply}");
    }
    assert!(no_linguastream_modules(), "a refused call side left the microphone behind");
    let body = json!({ "input": "quiet_mic.monitor", "call_input": "default", "call_mt": "google" }).to_string();
    assert_eq!(served.request("POST", "/v1/live/start", &json_body, body.as_bytes()).0, 400, "an unknown engine");
    assert_eq!(served.get_json("/v1/live", &[]).1["running"], false);

    // `default`: the monitor of the default output, where call apps play.
    let body = json!({ "input": "quiet_mic.monitor", "call_input": "default", "call_mt": "llm" }).to_string();
    let (status, reply) = served.request("POST", "/v1/live/start", &json_body, body.as_bytes());
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["call"]["input"], "test_in.monitor", "{reply}");
    assert_eq!((&reply["call"]["from"], &reply["call"]["to"]), (&json!("en"), &json!("fa")), "{reply}");
    assert_eq!(reply["call"]["mt"], "llm (gemma3-270m)", "{reply}");
    let (_, status) = served.get_json("/v1/status", &[]);
    assert_eq!(status["sessions"]["active"], 2, "the other side counts as a session of its own: {status}");

    let dir = tempfile::tempdir().unwrap();
    play_into_test_sink(&english_clip(dir.path(), "Good morning. Thank you very much for your help yesterday."));
    let deadline = Instant::now() + Duration::from_secs(90);
    let (live, call) = loop {
        let (_, live) = served.get_json("/v1/live", &[]);
        assert_eq!(live["running"], true, "{live}");
        let captions = live["captions"].as_array().unwrap().clone();
        let call: Vec<serde_json::Value> = captions.into_iter().filter(|c| c["side"] == "call").collect();
        let heard: String = call.iter().map(|c| c["source_text"].as_str().unwrap().to_lowercase()).collect();
        if heard.contains("morning") && heard.contains("thank") {
            break (live, call);
        }
        assert!(Instant::now() < deadline, "the call's English not captioned within 90 s: {live}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(live["call"]["input"], "test_in.monitor", "{live}");
    for caption in &call {
        eprintln!(
            "the other side: {} → {} in {} ms",
            caption["source_text"], caption["translated_text"], caption["caption_ms"]
        );
        assert_eq!((&caption["from"], &caption["to"]), (&json!("en"), &json!("fa")), "{caption}");
        assert!(caption["e2e_ms"].is_null(), "the other side is never spoken: {caption}");
        assert!(caption["caption_ms"].as_f64().unwrap() > 0.0, "{caption}");
    }
    let persian = call.iter().flat_map(|c| c["translated_text"].as_str().unwrap().chars());
    assert!(persian.filter(|c| ('\u{0600}'..='\u{06ff}').contains(c)).count() >= 3, "no Persian: {call:?}");
    let user: Vec<_> = live["captions"].as_array().unwrap().iter().filter(|c| c["side"] != "call").collect();
    assert!(user.iter().all(|c| c["side"] == "user"), "{user:?}");
    assert!(user.is_empty(), "the user said nothing, yet: {user:?}");

    let (status, reply) = served.request("POST", "/v1/live/stop", &[], b"");
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["utterances"], 0, "{reply}");
    assert!(reply["call_utterances"].as_u64().unwrap() >= 1, "{reply}");
    wait_for("the virtual microphone to go", no_linguastream_modules);
    assert_eq!(served.get_json("/v1/status", &[]).1["sessions"]["active"], 0);
}

/// A silent microphone for the user's lane, `quiet_mic.monitor` (a sink of its own that nobody
/// plays into), until dropped.
pub(crate) fn quiet_microphone() -> Unload {
    Unload(pactl(&["load-module", "module-null-sink", "sink_name=quiet_mic"]).trim().to_string())
}

/// A PulseAudio module loaded by a test, unloaded when dropped.
pub(crate) struct Unload(String);

impl Drop for Unload {
    fn drop(&mut self) {
        pactl(&["unload-module", &self.0]);
    }
}

/// English said by our own voice (Piper), [`padded`].
pub(crate) fn english_clip(dir: &Path, text: &str) -> PathBuf {
    let raw = dir.join("english-raw.wav");
    ok(bin().args(["speak", text, "-o"]).arg(&raw));
    padded(&raw, &dir.join("english.wav"))
}

/// The other side of a call: English played into the sink that stands for the call app's output
/// is captioned (and translated when an engine can), in its own lane of the metrics.
#[test]
fn the_other_side_of_the_call_is_captioned_from_what_the_computer_plays() {
    let _server = server();
    let dir = tempfile::tempdir().unwrap();
    let clip = english_clip(dir.path(), "Good morning. Thank you very much for your help yesterday.");
    let quiet = dir.path().join("quiet.wav");
    write_wav_i16(&quiet, &Audio { samples: vec![0.0; 14 * 16_000], rate: 16_000 }, 1);
    let metrics = dir.path().join("metrics.json");
    let live = bin()
        .args(["live", "--output", "none", "--call-input", "test_in.monitor", "--call-mt", "llm", "--input-file"])
        .arg(&quiet)
        .arg("--metrics-json")
        .arg(&metrics)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    play_into_test_sink(&clip);
    let output = live.wait_with_output().unwrap();
    let (captions, log) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{log}");
    assert!(log.contains("the other side: en → fa (llm (gemma3-270m))"), "{log}");
    assert!(captions.contains("them en: "), "{captions}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    assert!(report["utterances"].as_array().unwrap().is_empty(), "the user said nothing: {report}");
    let call = &report["call_side"];
    let heard: String = call["utterances"].as_array().unwrap().iter().map(|u| u["source_text"].to_string()).collect();
    assert!(heard.to_lowercase().contains("morning"), "{call}");
    for utterance in call["utterances"].as_array().unwrap() {
        assert_eq!(utterance["delivery"], "captioned", "never spoken: {utterance}");
    }
    assert!(call["caption_latency_s"]["p50"].as_f64().unwrap() > 0.0, "{call}");
}

/// Our own English, on the virtual microphone while the user speaks, never reaches the lane that
/// listens to the call's side; and a call side that would carry it is refused.
#[test]
fn our_own_english_is_never_captured_as_the_other_side() {
    let _server = server();
    for (output, call_input) in
        [("speakers", "default"), ("both", "test_in.monitor"), ("virtual-mic", "linguastream_out.monitor")]
    {
        let error = fails(bin().args(["live", "--output", output, "--call-input", call_input]));
        assert!(error.contains("refusing to capture") && error.contains("loop"), "{output}, {call_input}: {error}");
    }
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("metrics.json");
    let output = crate::util::run(
        bin()
            .args(["live", "--output", "virtual-mic", "--call-input", "default", "--mt", "direct", "--input-file"])
            .arg(sample("fa-digits-fateme.wav"))
            .arg("--metrics-json")
            .arg(&metrics),
    );
    assert!(output.status.success(), "{}", crate::util::stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    assert!(!report["utterances"].as_array().unwrap().is_empty(), "the user's English was spoken: {report}");
    let call = &report["call_side"];
    assert!(call["utterances"].as_array().unwrap().is_empty(), "our English came back: {call}");
    assert!(no_linguastream_modules());
}

/// `live` with a silent user and an English sentence as the other side, given `args`: its
/// captions and its log.
fn other_side_captions(home: Option<&Path>, args: &[&str]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let clip = english_clip(dir.path(), "Thank you very much for your help yesterday.");
    let quiet = dir.path().join("quiet.wav");
    write_wav_i16(&quiet, &Audio { samples: vec![0.0; 9 * 16_000], rate: 16_000 }, 1);
    let mut command = bin();
    if let Some(home) = home {
        command.env("LINGUASTREAM_HOME", home);
    }
    command.args(["live", "--output", "none", "--mt", "direct"]).args(args);
    let output = crate::util::run(command.arg("--input-file").arg(&quiet).arg("--call-input-file").arg(&clip));
    let (captions, log) = (crate::util::stdout(&output), crate::util::stderr(&output));
    assert!(output.status.success(), "{log}");
    assert!(captions.to_lowercase().contains("them en: thank you"), "{captions}");
    assert!(!captions.contains("them fa:"), "{captions}");
    (captions, log)
}

/// With no English → Persian engine installed, the other side is captioned in English alone,
/// and the user is told so in one line.
#[test]
fn without_an_engine_for_the_other_side_it_is_captioned_as_heard() {
    let home = crate::util::home_with_default_models(&[]);
    let (_, log) = other_side_captions(Some(home.path()), &[]);
    assert!(log.contains("no translation model for en→fa is installed") && log.contains("in en alone"), "{log}");
}

#[test]
fn the_other_side_can_be_left_untranslated_with_an_engine_installed() {
    // The default home has the registry Gemma, which `auto` would translate English with.
    let (_, log) = other_side_captions(None, &["--call-mt", "none"]);
    assert!(log.contains("none (captions as heard)"), "{log}");
}
