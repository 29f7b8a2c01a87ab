//! Load on `linguastream serve`: N WebSocket sessions at once, each streaming the same real speech
//! at real-time pace, for N = 1, 2, …; per-session end-of-speech → first-English latency, how
//! many sessions the server refused, and whether every admitted session got every utterance (the
//! same count as a session alone).
//!
//! cargo run --release --example serve_load -- [--sessions 1,2,3,4] [--max-sessions 3]
//!     [--seconds 60] [--json FILE] WAV...
//!
//! The clips are joined with a second of silence between them, up to `--seconds`. The server is
//! the release binary (`target/release/linguastream`), started with `--mt direct`.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use linguastream_core::audio::{decode_file, STT_RATE};
use linguastream_core::memory::resident_mb;
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

struct Options {
    sessions: Vec<usize>,
    max_sessions: usize,
    seconds: f64,
    json: Option<String>,
    clips: Vec<String>,
}

fn options() -> Result<Options, String> {
    let mut o = Options { sessions: vec![1, 2, 3, 4], max_sessions: 3, seconds: 60.0, json: None, clips: Vec::new() };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--sessions" => {
                o.sessions =
                    value()?.split(',').map(|n| n.parse().map_err(|_| "--sessions: 1,2,3")).collect::<Result<_, _>>()?
            }
            "--max-sessions" => o.max_sessions = value()?.parse().map_err(|_| "--max-sessions: a number")?,
            "--seconds" => o.seconds = value()?.parse().map_err(|_| "--seconds: a number")?,
            "--json" => o.json = Some(value()?),
            _ => o.clips.push(arg),
        }
    }
    if o.clips.is_empty() {
        return Err("give one or more WAV files of speech".into());
    }
    Ok(o)
}

/// The clips joined with a second of silence, as 20 ms frames of s16le.
fn speech(o: &Options) -> Result<Vec<Vec<u8>>, String> {
    let mut samples: Vec<f32> = Vec::new();
    let limit = (o.seconds * f64::from(STT_RATE)) as usize;
    'fill: loop {
        for clip in &o.clips {
            let audio = decode_file(std::path::Path::new(clip), STT_RATE).map_err(|e| format!("{clip}: {e}"))?;
            samples.extend(audio.samples);
            samples.extend(std::iter::repeat_n(0.0, STT_RATE as usize));
            if samples.len() >= limit {
                break 'fill;
            }
        }
    }
    Ok(samples.chunks(320).map(|f| f.iter().flat_map(|&s| ((s * 32767.0) as i16).to_le_bytes()).collect()).collect())
}

fn start_server(max_sessions: usize) -> (Child, SocketAddr) {
    let mut child = Command::new("target/release/linguastream")
        .args(["serve", "--listen", "127.0.0.1:0", "--mt", "direct", "--max-sessions", &max_sessions.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .expect("target/release/linguastream runs (cargo build --release)");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("the server said where it listens").unwrap();
        if let Some(rest) = line.strip_prefix("listening on http://") {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, address)
}

/// What one session saw.
#[derive(Default)]
struct Session {
    refused: bool,
    finals: usize,
    dropped: usize,
    e2e_s: Vec<f64>,
    ended: bool,
}

fn connect(address: SocketAddr) -> Option<WebSocket<TcpStream>> {
    let stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(300))).ok()?;
    tungstenite::client(format!("ws://{address}/v1/stream"), stream).ok().map(|(socket, _)| socket)
}

/// Streams `frames` at real-time pace on one thread and reads the events on another.
fn session(mut socket: WebSocket<TcpStream>, frames: &[Vec<u8>]) -> Session {
    socket.send(Message::text(json!({ "type": "start", "from": "fa" }).to_string())).unwrap();
    let stream = socket.get_ref().try_clone().unwrap();
    let mut writer = tungstenite::WebSocket::from_raw_socket(stream, tungstenite::protocol::Role::Client, None);
    let frames = frames.to_vec();
    let sender = std::thread::spawn(move || {
        let started = Instant::now();
        for (n, frame) in frames.into_iter().enumerate() {
            std::thread::sleep(
                (started + Duration::from_millis(20 * n as u64)).saturating_duration_since(Instant::now()),
            );
            if writer.send(Message::binary(frame)).is_err() {
                return;
            }
        }
        let _ = writer.send(Message::text(json!({ "type": "stop" }).to_string()));
    });
    let mut seen = Session::default();
    while let Ok(message) = socket.read() {
        let Message::Text(text) = message else { continue };
        let event: Value = serde_json::from_str(&text).unwrap();
        match event["type"].as_str() {
            Some("final") => {
                seen.finals += 1;
                seen.e2e_s.extend(event["latency_ms"]["e2e"].as_f64().map(|ms| ms / 1000.0));
            }
            Some("dropped") => seen.dropped += 1,
            Some("end") => {
                seen.ended = true;
                break;
            }
            _ => {}
        }
    }
    let _ = sender.join();
    seen
}

/// The most memory the server held while `work` ran.
fn peak_rss_during<T>(pid: u32, work: impl FnOnce() -> T) -> (T, f64) {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0.0f64;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(resident_mb(Some(pid)));
            std::thread::sleep(Duration::from_millis(200));
        }
        peak
    });
    let result = work();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    (result, sampler.join().unwrap())
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get(((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or(f64::NAN)
}

fn main() -> ExitCode {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let frames = match speech(&o) {
        Ok(frames) => frames,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut server, address) = start_server(o.max_sessions);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "{:.0} s of speech per session, server with --max-sessions {} on {cores} cores",
        frames.len() as f64 / 50.0,
        o.max_sessions
    );
    println!(
        "| sessions | admitted | refused | utterances per admitted session | spoken | e2e p50 | e2e p95 | all ended | server RSS before / peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for &n in &o.sessions {
        let idle_rss = resident_mb(Some(server.id()));
        let (seen, peak_rss) = peak_rss_during(server.id(), || {
            let sockets: Vec<Option<WebSocket<TcpStream>>> = (0..n).map(|_| connect(address)).collect();
            let threads: Vec<_> = sockets
                .into_iter()
                .map(|socket| {
                    let frames = frames.clone();
                    std::thread::spawn(move || match socket {
                        Some(socket) => session(socket, &frames),
                        None => Session { refused: true, ..Session::default() },
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect::<Vec<Session>>()
        });
        let admitted: Vec<&Session> = seen.iter().filter(|s| !s.refused).collect();
        let e2e: Vec<f64> = admitted.iter().flat_map(|s| s.e2e_s.iter().copied()).collect();
        let counts: Vec<usize> = admitted.iter().map(|s| s.finals + s.dropped).collect();
        let row = json!({
            "sessions": n,
            "admitted": admitted.len(),
            "refused": seen.len() - admitted.len(),
            "utterances_per_session": counts,
            "spoken": e2e.len(),
            "e2e_p50_s": quantile(&e2e, 0.5),
            "e2e_p95_s": quantile(&e2e, 0.95),
            "all_ended": admitted.iter().all(|s| s.ended),
            "server_rss_mb": { "before": idle_rss, "peak": peak_rss },
        });
        println!(
            "| {n} | {} | {} | {:?} | {} | {:.2} s | {:.2} s | {} | {idle_rss:.0} / {peak_rss:.0} MB |",
            admitted.len(),
            seen.len() - admitted.len(),
            counts,
            e2e.len(),
            quantile(&e2e, 0.5),
            quantile(&e2e, 0.95),
            admitted.iter().all(|s| s.ended)
        );
        rows.push(row);
    }
    let _ = server.kill();
    let _ = server.wait();
    if let Some(path) = &o.json {
        let report = json!({ "cores": cores, "max_sessions": o.max_sessions, "speech_s": frames.len() as f64 / 50.0, "clips": o.clips, "runs": rows });
        if let Err(e) = std::fs::write(path, serde_json::to_string_pretty(&report).unwrap()) {
            eprintln!("error: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
