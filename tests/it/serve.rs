//! `linguastream serve`: the real server on a free port, spoken to as a browser and an API
//! client would (a WebSocket with real Persian speech, HTTP uploads of real files).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use linguastream_core::audio::{decode_file, Audio, STT_RATE};
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

use super::util::{bin, fails, hear_english, sample, store, translate_report, words};

/// A running server, stopped when dropped.
pub struct Served {
    child: Child,
    pub address: SocketAddr,
}

impl Served {
    pub fn start(extra: &[&str]) -> Self {
        store();
        let mut child = bin()
            .args(["serve", "--listen", "127.0.0.1:0", "--mt", "direct"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = loop {
            let line = lines.next().expect("the server said where it listens").unwrap();
            if let Some(rest) = line.strip_prefix("listening on http://") {
                break rest.split('/').next().unwrap().parse().unwrap();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Served { child, address }
    }

    /// One HTTP/1.1 request; the status code and the body.
    pub fn request(&self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(b"\r\n").unwrap();
        stream.write_all(body).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response");
        let status_line = String::from_utf8_lossy(&response[..split]).to_string();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(!status_line.to_lowercase().contains("transfer-encoding: chunked"), "{status_line}");
        (status, response[split + 4..].to_vec())
    }

    pub fn get_json(&self, path: &str, headers: &[&str]) -> (u16, Value) {
        let (status, body) = self.request("GET", path, headers, b"");
        (status, serde_json::from_slice(&body).unwrap())
    }

    /// Opens a WebSocket session; the HTTP status when the server refuses it.
    fn connect(&self, path: &str) -> Result<WebSocket<TcpStream>, u16> {
        let stream = TcpStream::connect(self.address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        match tungstenite::client(format!("ws://{}{path}", self.address), stream) {
            Ok((socket, _)) => Ok(socket),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("WebSocket handshake: {e}"),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send_json(socket: &mut WebSocket<TcpStream>, value: Value) {
    socket.send(Message::text(value.to_string())).unwrap();
}

/// Sends a recording as 20 ms messages of 16 kHz s16le (`paced`: as it would be spoken), then
/// `stop`.
fn send_speech(socket: &mut WebSocket<TcpStream>, audio: &Audio, paced: bool) {
    let started = Instant::now();
    for (n, frame) in audio.samples.chunks(320).enumerate() {
        if paced {
            std::thread::sleep(
                (started + Duration::from_millis(20 * n as u64)).saturating_duration_since(Instant::now()),
            );
        }
        let bytes: Vec<u8> = frame.iter().flat_map(|&s| ((s * 32767.0) as i16).to_le_bytes()).collect();
        socket.send(Message::binary(bytes)).unwrap();
    }
    send_json(socket, json!({ "type": "stop" }));
}

/// Everything the server sends until `end`: the JSON events, and the English speech joined.
fn receive_all(socket: &mut WebSocket<TcpStream>) -> (Vec<Value>, Vec<i16>, u32) {
    let (mut events, mut speech, mut rate, mut expected) = (Vec::new(), Vec::new(), 0, None);
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        match socket.read().expect("the session runs to its end") {
            Message::Text(text) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                assert!(expected.is_none(), "a speech header without its audio before {event}");
                if event["type"] == "speech" {
                    expected = Some(event["samples"].as_u64().unwrap() as usize);
                    rate = event["rate"].as_u64().unwrap() as u32;
                }
                let end = event["type"] == "end";
                events.push(event);
                if end {
                    return (events, speech, rate);
                }
            }
            Message::Binary(bytes) => {
                let samples = expected.take().expect("audio comes after its speech header");
                assert_eq!(bytes.len(), samples * 2, "the header's sample count");
                speech.extend(bytes.chunks_exact(2).map(|p| i16::from_le_bytes([p[0], p[1]])));
            }
            other => panic!("unexpected message {other:?}"),
        }
    }
    panic!("no end within five minutes");
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[test]
fn a_browser_session_gets_both_captions_and_english_speech() {
    let server = Served::start(&[]);
    let (status, page) = server.request("GET", "/", &[], b"");
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("getUserMedia") && page.contains("AudioWorklet") && page.contains("/v1/stream"));

    let mut socket = server.connect("/v1/stream").unwrap();
    send_json(&mut socket, json!({ "type": "start", "from": "fa", "partials": true }));
    let audio = decode_file(&sample("fa-sentence-virgool.wav"), STT_RATE).unwrap();
    send_speech(&mut socket, &audio, true);
    let (events, speech, rate) = receive_all(&mut socket);

    assert_eq!(events[0]["type"], "ready", "{events:?}");
    assert_eq!(events[0]["speech_rate"], 22_050);
    assert_eq!(rate, 22_050);
    let finals = of_type(&events, "final");
    assert!(!finals.is_empty(), "no caption: {events:?}");
    let english: String = finals.iter().map(|f| f["translated_text"].as_str().unwrap()).collect::<Vec<_>>().join(" ");
    assert!(finals.iter().all(|f| !f["source_text"].as_str().unwrap().is_empty()));
    assert!(finals.iter().any(|f| f["latency_ms"]["e2e"].as_f64().is_some_and(|ms| ms > 0.0)), "{finals:?}");
    assert!(speech.len() > rate as usize / 2, "{} samples of English", speech.len());
    // Partial captions of the utterance under way, each before its own final caption.
    let partials = of_type(&events, "partial");
    assert!(!partials.is_empty(), "no partial caption for {:.1} s of speech", audio.samples.len() as f64 / 16e3);
    for partial in &partials {
        let at = |e: &Value| events.iter().position(|x| x == e).unwrap();
        let own_final = events.iter().find(|e| e["type"] != "partial" && e["start_s"] == partial["start_s"]);
        let own_final = own_final.unwrap_or_else(|| panic!("no final caption for {partial}"));
        assert!(at(partial) < at(own_final), "{partial} came after {own_final}");
        assert!(!partial["unstable"].as_str().unwrap().is_empty() || !partial["stable"].as_str().unwrap().is_empty());
    }

    let (status, metrics) = server.request("GET", "/metrics", &[], b"");
    let metrics = String::from_utf8(metrics).unwrap();
    assert_eq!(status, 200);
    let value = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in\n{metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let spoken = finals.iter().filter(|f| f["latency_ms"].is_object()).count() as f64;
    assert_eq!(value("linguastream_utterances_spoken_total"), spoken);
    assert_eq!(value("linguastream_latency_seconds_count{stage=\"e2e\"}"), spoken);
    let received = value("linguastream_audio_received_seconds_total");
    assert!((received - audio.samples.len() as f64 / 16_000.0).abs() < 0.01, "{received} s received");

    // The PCM that came back says the caption's English.
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("heard.wav");
    let spec =
        hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    speech.iter().for_each(|&s| writer.write_sample(s).unwrap());
    writer.finalize().unwrap();
    let heard = words(&hear_english(&wav));
    let said = words(&english);
    let common = said.iter().filter(|w| heard.contains(w)).count();
    assert!(common * 2 >= said.len(), "sent {said:?}, heard {heard:?}");
}

#[test]
fn a_token_and_the_session_limit_are_enforced() {
    let server = Served::start(&["--token", "s3cret", "--max-sessions", "1"]);
    assert_eq!(server.get_json("/v1/status", &[]).0, 401);
    assert_eq!(server.request("GET", "/healthz", &[], b""), (200, b"ok".to_vec()));
    assert_eq!(server.get_json("/v1/models", &[]).0, 401);
    let (status, body) = server.get_json("/v1/status", &["Authorization: Bearer s3cret"]);
    assert_eq!(status, 200);
    assert_eq!(body["sessions"], json!({ "active": 0, "max": 1 }));
    assert_eq!(server.connect("/v1/stream").err(), Some(401));
    assert_eq!(server.connect("/v1/stream?token=wrong").err(), Some(401));

    let mut first = server.connect("/v1/stream?token=s3cret").unwrap();
    send_json(&mut first, json!({ "type": "start" }));
    let ready: Value = serde_json::from_str(first.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(ready["type"], "ready");
    assert_eq!(server.connect("/v1/stream?token=s3cret").err(), Some(503), "a second session beyond --max-sessions 1");

    first.close(None).unwrap();
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get_json("/v1/status?token=s3cret", &[]).1["sessions"]["active"] != 0 {
        assert!(Instant::now() < deadline, "a closed session still holds its place");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut again = server.connect("/v1/stream?token=s3cret").unwrap();
    send_json(&mut again, json!({ "type": "start", "mt": "nonsense" }));
    let refused: Value = serde_json::from_str(again.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(refused["type"], "error");
    assert!(refused["message"].as_str().unwrap().contains("nonsense"), "{refused}");
}

#[test]
fn an_uploaded_recording_comes_back_as_captions_and_speech() {
    let server = Served::start(&[]);
    let recording = std::fs::read(sample("fa-sentence-virgool.wav")).unwrap();
    let duration_s = decode_file(&sample("fa-sentence-virgool.wav"), STT_RATE).unwrap().samples.len() as f64 / 16_000.0;

    let (status, body) = server.request("POST", "/v1/translate", &[], &recording);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let report: Value = serde_json::from_slice(&body).unwrap();
    let segments = report["segments"].as_array().unwrap();
    assert!(!segments.is_empty() && segments.iter().all(|s| !s["translated_text"].as_str().unwrap().is_empty()));

    // The same as the command line on the same file.
    let (cli, _) = translate_report(&sample("fa-sentence-virgool.wav"), &["--mt", "direct"]);
    let texts = |report: &Value| -> Vec<(String, String)> {
        report["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["source_text"].as_str().unwrap().into(), s["translated_text"].as_str().unwrap().into()))
            .collect()
    };
    assert_eq!(texts(&report), texts(&cli));
    assert_eq!(report["dropped"].as_array().unwrap().len(), cli["dropped"].as_array().unwrap().len());

    let (status, srt) = server.request("POST", "/v1/translate?format=srt", &[], &recording);
    assert_eq!(status, 200);
    let srt = String::from_utf8(srt).unwrap();
    assert!(srt.starts_with("1\n") && srt.contains(" --> "), "{srt}");

    let (status, wav) = server.request("POST", "/v1/translate?format=wav", &[], &recording);
    assert_eq!(status, 200);
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    assert_eq!(reader.spec().sample_rate, 22_050);
    let seconds = f64::from(reader.duration()) / 22_050.0;
    assert!(seconds >= duration_s - 0.1, "{seconds:.2} s of English for {duration_s:.2} s of speech");

    let (status, error) = server.request("POST", "/v1/translate", &[], b"not audio at all, just text");
    assert_eq!(status, 422);
    let error: Value = serde_json::from_slice(&error).unwrap();
    assert!(!error["error"].as_str().unwrap().is_empty());
    assert!(!error["error"].as_str().unwrap().contains("linguastream-upload"), "a temporary path leaked: {error}");
    assert_eq!(server.request("POST", "/v1/translate?format=mp4", &[], &recording).0, 400);
    assert_eq!(server.request("POST", "/v1/translate", &[], b"").0, 422);
}

#[test]
fn listening_beyond_this_machine_needs_a_token() {
    let message = fails(bin().args(["serve", "--listen", "0.0.0.0:0"]));
    assert!(message.contains("--token"), "{message}");
}
