//! `linguastream serve`: the real server on a free port, spoken to as a browser and an API
//! client would (a WebSocket with real Persian speech, HTTP uploads of real files).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use linguastream_core::audio::{decode_file, Audio, STT_RATE};
use serde_json::{json, Value};
use tungstenite::client::IntoClientRequest;
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
        let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        if !headers.iter().any(|h| h.to_ascii_lowercase().starts_with("host:")) {
            head.push_str("Host: localhost\r\n");
        }
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
        self.connect_from(path, None)
    }

    /// Opens a WebSocket session as a page at `origin` would.
    fn connect_from(&self, path: &str, origin: Option<&str>) -> Result<WebSocket<TcpStream>, u16> {
        let stream = TcpStream::connect(self.address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut request = format!("ws://{}{path}", self.address).into_client_request().unwrap();
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", origin.parse().unwrap());
        }
        match tungstenite::client(request, stream) {
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
    assert_eq!(server.get_json("/v1/status", &["Authorization: bearer s3cret"]).0, 200, "the scheme has no case");
    let (status, body) = server.get_json("/v1/status", &["Authorization: Bearer s3cre"]);
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    let (status, body) = server.get_json("/v1/status?token=s3cret&token=s3cret", &[]);
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("duplicate"), "{body}");
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
    // Noise that a decoder might take for MP3 frames is not a recording either.
    let mut noise = vec![0u8; 100_000];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for byte in &mut noise {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let (status, error) = server.request("POST", "/v1/translate", &[], &noise);
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&error));
    let error: Value = serde_json::from_slice(&error).unwrap();
    assert!(error["error"].as_str().unwrap().contains("the upload"), "{error}");
    // Every error is JSON, also those the HTTP layer gives.
    let (status, error) = server.request("POST", "/v1/translate?format=srt&format=vtt", &[], &recording);
    assert_eq!(status, 400);
    assert!(serde_json::from_slice::<Value>(&error).unwrap()["error"].as_str().unwrap().contains("duplicate"));
    let (status, error) = server.request("POST", "/v1/live/start", &[], b"{}");
    assert_eq!(status, 415);
    assert!(serde_json::from_slice::<Value>(&error).unwrap()["error"].as_str().unwrap().contains("Content-Type"));
    let (status, error) = server.request("GET", "/v1/nowhere", &[], b"");
    assert_eq!((status, serde_json::from_slice::<Value>(&error).unwrap()["error"].clone()), (404, json!("not found")));
}

#[test]
fn listening_beyond_this_machine_needs_a_token() {
    let message = fails(bin().args(["serve", "--listen", "0.0.0.0:0"]));
    assert!(message.contains("--token"), "{message}");
}

/// `sessions.active` of `/v1/status`.
fn sessions_active(server: &Served) -> u64 {
    server.get_json("/v1/status", &[]).1["sessions"]["active"].as_u64().unwrap()
}

/// Waits up to `limit` for `sessions.active` to be `n`; how long it took.
fn wait_for_sessions(server: &Served, n: u64, limit: Duration) -> Duration {
    let started = Instant::now();
    while sessions_active(server) != n {
        assert!(started.elapsed() < limit, "sessions.active is not {n} after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

/// Starts a POST to `/v1/translate` that announces `length` bytes and sends `sent` of them.
fn start_upload(server: &Served, length: u64, sent: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(server.address).unwrap();
    let head = format!("POST /v1/translate HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(sent).unwrap();
    stream
}

/// The status and JSON body of the answer on `stream`, which must come within `limit`.
fn answer_within(stream: &mut TcpStream, limit: Duration) -> (u16, Value) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut response = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buffer[..n]),
            Err(e) if response.is_empty() => panic!("no answer within {limit:?}: {e}"),
            Err(_) => break,
        }
        if let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length: ")).map(|l| l.parse().unwrap());
            if length.is_some_and(|length: usize| response.len() >= split + 4 + length) {
                break;
            }
        }
    }
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response");
    let status = String::from_utf8_lossy(&response[..split]).split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_slice(&response[split + 4..])
        .unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {}", String::from_utf8_lossy(&response)));
    (status, body)
}

/// A mono 8-bit WAV of silence at `rate`; its header declares its length, or not (`0xFFFFFFFF`,
/// as a writer streaming to a pipe leaves it).
fn wav_u8(rate: u32, seconds: u32, declared: bool) -> Vec<u8> {
    let data = rate * seconds;
    let size = |n: u32| if declared { n } else { u32::MAX };
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&size(data + 36).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    for field in [16u32.to_le_bytes().to_vec(), 1u16.to_le_bytes().to_vec(), 1u16.to_le_bytes().to_vec()] {
        bytes.extend_from_slice(&field);
    }
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&8u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&size(data).to_le_bytes());
    bytes.resize(bytes.len() + data as usize, 0x80);
    bytes
}

#[test]
fn idle_and_departed_clients_give_their_session_back() {
    let server = Served::start(&["--max-sessions", "2", "--start-timeout", "2"]);
    let mut idle: Vec<_> = (0..2).map(|_| server.connect("/v1/stream").unwrap()).collect();
    assert_eq!(server.connect("/v1/stream").err(), Some(503), "two idle WebSockets hold both places");
    // Each is told why, and closed, at the start deadline.
    for socket in &mut idle {
        let said: Value = serde_json::from_str(socket.read().unwrap().to_text().unwrap()).unwrap();
        assert_eq!(said["type"], "error");
        assert!(said["message"].as_str().unwrap().contains("no start message within 2 s"), "{said}");
    }
    wait_for_sessions(&server, 0, Duration::from_secs(2));
    let mut third = server.connect("/v1/stream").unwrap();
    send_json(&mut third, json!({ "type": "start" }));
    let ready: Value = serde_json::from_str(third.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(ready["type"], "ready");
    drop(third);
    wait_for_sessions(&server, 0, Duration::from_secs(5));

    // An upload takes its place before its body is read, and gives it back when its client
    // leaves halfway.
    let upload = start_upload(&server, 10_000_000, &[0; 100_000]);
    wait_for_sessions(&server, 1, Duration::from_secs(5));
    drop(upload);
    let freed = wait_for_sessions(&server, 0, Duration::from_secs(2));
    eprintln!("an upload left halfway freed its place in {freed:?}");

    // So does one whose client leaves while it is translated, once its work has stopped (the
    // Whisper pass under way finishes): three minutes of speech, far longer to translate.
    let audio = decode_file(&sample("fa-sentence-virgool.wav"), STT_RATE).unwrap();
    let mut long = Audio { samples: Vec::new(), rate: STT_RATE };
    while long.duration_s() < 180.0 {
        long.samples.extend_from_slice(&audio.samples);
        long.samples.extend(std::iter::repeat_n(0.0, STT_RATE as usize * 5 / 2));
    }
    let dir = tempfile::tempdir().unwrap();
    super::util::write_wav_i16(&dir.path().join("long.wav"), &long, 1);
    let recording = std::fs::read(dir.path().join("long.wav")).unwrap();
    let upload = start_upload(&server, recording.len() as u64, &recording);
    wait_for_sessions(&server, 1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    drop(upload);
    let freed = wait_for_sessions(&server, 0, Duration::from_secs(5));
    eprintln!("a translation whose client left freed its place in {freed:?}");
}

#[test]
fn only_the_servers_own_pages_and_names_are_answered() {
    let server = Served::start(&[]);
    let own = format!("http://{}", server.address);
    let host = format!("Host: {}", server.address);
    assert_eq!(server.connect_from("/v1/stream", Some("http://evil.example")).err(), Some(403));
    let mut socket = server.connect_from("/v1/stream", Some(&own)).unwrap();
    send_json(&mut socket, json!({ "type": "start" }));
    assert_eq!(serde_json::from_str::<Value>(socket.read().unwrap().to_text().unwrap()).unwrap()["type"], "ready");
    drop(socket);

    // A cross-site form post (text/plain needs no preflight) is refused before any work.
    let recording = std::fs::read(sample("fa-sentence-virgool.wav")).unwrap();
    let evil = ["Origin: http://evil.example", "Content-Type: text/plain"];
    let (status, body) = server.request("POST", "/v1/translate", &evil, &recording);
    assert_eq!(status, 403);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body["error"].as_str().unwrap().contains("--allow-origin"), "{body}");
    assert_eq!(server.request("POST", "/v1/live/stop", &evil, b"").0, 403);
    assert_eq!(server.request("POST", "/v1/translate", &["Origin: null"], &recording).0, 403);
    // The page's own upload, and a program's (no Origin), are served.
    let origin = format!("Origin: {own}");
    assert_eq!(server.request("POST", "/v1/translate?format=srt", &[&origin, &host], &recording).0, 200);
    assert_eq!(server.request("POST", "/v1/live/stop", &[], b"").0, 409, "nothing runs");

    // A page that points a name of its own at this machine (DNS rebinding) reads nothing.
    for path in ["/v1/live", "/v1/status", "/"] {
        let (status, body) = server.request("GET", path, &["Host: rebind.attacker.example:8080"], b"");
        assert_eq!(status, 403, "{path}");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(body["error"].as_str().unwrap().contains("--allow-host rebind.attacker.example"), "{body}");
    }
    assert_eq!(server.get_json("/v1/status", &["Host: localhost:1234"]).0, 200);
    assert_eq!(server.get_json("/v1/status", &[&host]).0, 200);
    drop(server);

    // Behind a reverse proxy: its public name and origin are allowed by name.
    let proxied =
        Served::start(&["--allow-host", "translate.example.org", "--allow-origin", "https://translate.example.org"]);
    let public = ["Host: translate.example.org", "Origin: https://translate.example.org"];
    assert_eq!(proxied.get_json("/v1/status", &public[..1]).0, 200);
    assert_eq!(proxied.request("POST", "/v1/live/stop", &public, b"").0, 409, "it passed the guard");
    assert!(proxied.connect_from("/v1/stream", Some("https://translate.example.org")).is_ok());
    assert_eq!(proxied.connect_from("/v1/stream", Some("https://example.org")).err(), Some(403));
}

#[test]
fn uploads_are_limited_before_they_cost_memory() {
    let server = Served::start(&["--max-sessions", "1", "--max-upload-seconds", "30", "--max-upload-mb", "5"]);
    // A body announced too large is refused at once, without reading it.
    let mut huge = start_upload(&server, 800_000_000, b"");
    let (status, body) = answer_within(&mut huge, Duration::from_secs(2));
    assert_eq!(status, 413);
    assert!(body["error"].as_str().unwrap().contains("800.0 MB"), "{body}");
    // One sent without a length is cut off at the limit.
    let mut stream = TcpStream::connect(server.address).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = "POST /v1/translate HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    for _ in 0..6 {
        let piece = vec![0u8; 1_000_000];
        let _ = write!(stream, "{:x}\r\n", piece.len())
            .and_then(|()| stream.write_all(&piece))
            .and_then(|()| stream.write_all(b"\r\n"));
    }
    assert_eq!(answer_within(&mut stream, Duration::from_secs(10)).0, 413);

    // Audio is counted in seconds as decoded: an 8-bit 1 kHz WAV is small but long. Its header
    // says so before any work; without a length in its header the decoding stops at the limit.
    let (status, body) = server.request("POST", "/v1/translate", &[], &wav_u8(1_000, 600, true));
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("600 s long")
            && body["error"].as_str().unwrap().contains("up to 30 s"),
        "{body}"
    );
    let (status, body) = server.request("POST", "/v1/translate", &[], &wav_u8(1_000, 600, false));
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    let (status, _) = server.request("POST", "/v1/translate", &[], &wav_u8(1_000, 20, false));
    assert_eq!(status, 200, "20 s is within the limit");

    // The session limit is checked before the body is read: with the only place taken by an
    // upload under way, the next is refused at once.
    let _first = start_upload(&server, 4_000_000, &[0; 1000]);
    wait_for_sessions(&server, 1, Duration::from_secs(5));
    let mut second = start_upload(&server, 4_000_000, b"");
    assert_eq!(answer_within(&mut second, Duration::from_secs(2)).0, 503);
}

#[test]
fn slow_clients_and_oversized_messages_are_cut_off() {
    let server = Served::start(&["--read-timeout", "1", "--max-connections", "3"]);
    // Headers never finished: closed after the read timeout.
    let mut slow = TcpStream::connect(server.address).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let _ = slow.read(&mut [0; 1024]);
    assert!(started.elapsed() < Duration::from_secs(4), "held for {:?}", started.elapsed());

    // Three idle connections fill the cap; a fourth client is served once they are timed out.
    let idle: Vec<_> = (0..3).map(|_| TcpStream::connect(server.address).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(server.request("GET", "/healthz", &[], b""), (200, b"ok".to_vec()));
    let waited = started.elapsed();
    assert!(waited > Duration::from_millis(500) && waited < Duration::from_secs(5), "waited {waited:?}");
    drop(idle);

    // A WebSocket message longer than 10 s of audio ends the session.
    let mut socket = server.connect("/v1/stream").unwrap();
    send_json(&mut socket, json!({ "type": "start" }));
    assert_eq!(serde_json::from_str::<Value>(socket.read().unwrap().to_text().unwrap()).unwrap()["type"], "ready");
    let _ = socket.send(Message::binary(vec![0u8; 16_000 * 2 * 11]));
    let closed = (0..20).any(|_| matches!(socket.read(), Err(_) | Ok(Message::Close(_))));
    assert!(closed, "the session went on after an 11 s message");
    wait_for_sessions(&server, 0, Duration::from_secs(5));
}
