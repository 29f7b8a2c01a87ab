//! Live audio sources: a sound-server microphone, or a file played at real-time pace.
//!
//! The capture thread only reads and hands chunks to a bounded queue with `try_send`: it never
//! waits for the pipeline. The queue holds a minute of audio; the backlog is counted so it can
//! be shown, and anything beyond it is counted as lost rather than silently dropped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::pulse::{from_bytes, record_stream};
use super::{Audio, Chunk, STT_RATE};

/// Capture pieces of 20 ms.
pub const CHUNK_MS: u32 = 20;
const CHUNK: usize = (STT_RATE * CHUNK_MS / 1000) as usize;
/// A minute of audio may wait for the pipeline.
const QUEUE_CHUNKS: usize = 60_000 / CHUNK_MS as usize;

/// Counters shared between the capture thread and whoever shows progress.
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Samples captured but not yet taken by the pipeline.
    pub backlog: AtomicUsize,
    pub max_backlog: AtomicUsize,
    /// Samples lost because the queue was full.
    pub lost: AtomicUsize,
    /// The problem that ended capture early, if any.
    pub failure: Mutex<Option<String>>,
    /// Problems capture recovered from (device gone and back, server restarted).
    pub recovered: Mutex<Vec<String>>,
}

impl CaptureStats {
    pub fn backlog_s(&self) -> f64 {
        self.backlog.load(Ordering::Relaxed) as f64 / f64::from(STT_RATE)
    }
}

/// A running capture: chunks arrive on `chunks` until `stop` is set or the source ends.
pub struct Capture {
    pub chunks: Receiver<Chunk>,
    pub stats: Arc<CaptureStats>,
    pub thread: JoinHandle<()>,
}

impl Capture {
    /// The chunks, updating the backlog as the pipeline takes them.
    pub fn into_source(self) -> (impl Iterator<Item = Chunk> + Send, Arc<CaptureStats>, JoinHandle<()>) {
        let stats = self.stats.clone();
        let counter = self.stats.clone();
        let source = self.chunks.into_iter().inspect(move |chunk| {
            counter.backlog.fetch_sub(chunk.samples.len(), Ordering::Relaxed);
        });
        (source, stats, self.thread)
    }
}

fn offer(tx: &SyncSender<Chunk>, stats: &CaptureStats, chunk: Chunk) -> bool {
    let n = chunk.samples.len();
    match tx.try_send(chunk) {
        Ok(()) => {
            let backlog = stats.backlog.fetch_add(n, Ordering::Relaxed) + n;
            stats.max_backlog.fetch_max(backlog, Ordering::Relaxed);
            true
        }
        Err(TrySendError::Full(_)) => {
            stats.lost.fetch_add(n, Ordering::Relaxed);
            true
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

/// Records `source` from the sound server at 16 kHz mono. If the stream breaks (device
/// unplugged, server restarted) it reconnects for up to `reconnect_for`, then gives up and
/// records why in the stats.
pub fn capture_pulse(
    source: String,
    stop: Arc<AtomicBool>,
    reconnect_for: Duration,
) -> Result<Capture, super::pulse::PulseError> {
    let first = record_stream(&source, STT_RATE, CHUNK_MS)?;
    let (tx, rx) = sync_channel(QUEUE_CHUNKS);
    let stats = Arc::new(CaptureStats::default());
    let thread_stats = stats.clone();
    let thread = std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            let mut stream = Some(first);
            let mut bytes = vec![0u8; CHUNK * 4];
            while !stop.load(Ordering::Relaxed) {
                let Some(current) = &stream else { break };
                match current.read(&mut bytes) {
                    Ok(()) => {
                        let chunk = Chunk { samples: from_bytes(&bytes), captured_at: Instant::now() };
                        if !offer(&tx, &thread_stats, chunk) {
                            break;
                        }
                    }
                    Err(e) => {
                        let problem = format!("capture from '{source}' failed: {}", e.to_string().unwrap_or_default());
                        stream = reconnect(&source, &stop, reconnect_for);
                        match &stream {
                            Some(_) => thread_stats.recovered.lock().unwrap().push(format!("{problem}; reconnected")),
                            None => {
                                *thread_stats.failure.lock().unwrap() = Some(format!("{problem}; could not reconnect"))
                            }
                        }
                    }
                }
            }
        })
        .expect("can spawn the capture thread");
    Ok(Capture { chunks: rx, stats, thread })
}

fn reconnect(source: &str, stop: &AtomicBool, reconnect_for: Duration) -> Option<libpulse_simple_binding::Simple> {
    let deadline = Instant::now() + reconnect_for;
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        if let Ok(stream) = record_stream(source, STT_RATE, CHUNK_MS) {
            return Some(stream);
        }
    }
    None
}

/// Plays a decoded recording (16 kHz) into the pipeline at real-time pace, as a microphone would,
/// or, unpaced, as fast as the pipeline takes it (blocking instead of counting overflow).
pub fn capture_file(audio: Audio, stop: Arc<AtomicBool>, paced: bool) -> Capture {
    // Unpaced, a short queue: a long one would only add its own wait to every latency figure.
    let (tx, rx) = sync_channel(if paced { QUEUE_CHUNKS } else { 4 });
    let stats = Arc::new(CaptureStats::default());
    let thread_stats = stats.clone();
    let thread = std::thread::Builder::new()
        .name("capture-file".into())
        .spawn(move || {
            let started = Instant::now();
            for (i, piece) in audio.samples.chunks(CHUNK).enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if !paced {
                    thread_stats.backlog.fetch_add(piece.len(), Ordering::Relaxed);
                    if tx.send(Chunk { samples: piece.to_vec(), captured_at: Instant::now() }).is_err() {
                        break;
                    }
                    continue;
                }
                let due = started + Duration::from_millis(((i + 1) as u64) * u64::from(CHUNK_MS));
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                if !offer(&tx, &thread_stats, Chunk { samples: piece.to_vec(), captured_at: Instant::now() }) {
                    break;
                }
            }
        })
        .expect("can spawn the file capture thread");
    Capture { chunks: rx, stats, thread }
}
