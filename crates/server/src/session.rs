//! One WebSocket session: a start message, then 16 kHz s16le audio in; JSON events and English
//! PCM out, as the pipeline produces them (protocol in docs/api.md).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket};
use linguastream_core::audio::Chunk;
use linguastream_core::live::UtteranceReport;
use linguastream_core::pipeline::{self, Event};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::metrics::Metrics;
use super::{Choices, Server, Slot};

/// Audio waiting for the voice-activity detector, in samples: a minute at 16 kHz. The detector
/// keeps up easily; the backlog only absorbs a client that sends faster than real time, and
/// reading stops while it is full.
const BACKLOG_SAMPLES: usize = 60 * 16_000;
/// The longest message a client may send: 10 s of audio (the page sends 20 ms at a time).
pub(super) const MAX_MESSAGE_BYTES: usize = 10 * 16_000 * 2;
/// A session that sends nothing for this long is closed, so a vanished client frees its place.
const IDLE: Duration = Duration::from_secs(60);

/// The first message a client sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Control {
    Start {
        #[serde(flatten)]
        choices: Choices,
    },
    /// No more audio: the utterance in progress is finished, its events sent, then `end`.
    Stop,
}

pub(super) async fn run(mut socket: WebSocket, server: Arc<Server>, slot: Slot) {
    if let Err(message) = session(&mut socket, &server, slot).await {
        let _ = send_json(&mut socket, json!({ "type": "error", "message": message })).await;
    }
    let _ = socket.send(Message::Close(None)).await;
}

/// `slot` is given back when the session's pipeline has stopped, not merely its socket.
async fn session(socket: &mut WebSocket, server: &Server, slot: Slot) -> Result<(), String> {
    // A connection that never starts would hold its place for ever.
    let deadline = server.limits.start_timeout;
    let Ok(first) = tokio::time::timeout(deadline, socket.recv()).await else {
        return Err(format!("no start message within {} s; closing the session", deadline.as_secs()));
    };
    let choices = match first {
        Some(Ok(Message::Text(text))) => match serde_json::from_str(&text) {
            Ok(Control::Start { choices }) => choices,
            Ok(Control::Stop) => return Ok(()),
            Err(e) => return Err(format!("the first message must be {{\"type\": \"start\", …}}: {e}")),
        },
        Some(Ok(_)) => return Err("the first message must be the JSON start message".into()),
        _ => return Ok(()),
    };
    let options = choices.apply(&server.live)?;
    let (config, names) =
        tokio::task::block_in_place(|| server.runtime.pipeline_config(&options)).map_err(|e| e.to_string())?;
    // The channel is bounded by the permits its messages carry, one per sample, given back as
    // the pipeline takes each message.
    let backlog = Arc::new(Semaphore::new(BACKLOG_SAMPLES));
    let (audio_tx, mut audio_rx) = mpsc::unbounded_channel::<(Vec<f32>, OwnedSemaphorePermit)>();
    let source = std::iter::from_fn(move || {
        audio_rx.blocking_recv().map(|(samples, _permit)| Chunk { samples, captured_at: Instant::now() })
    });
    let handle = pipeline::start(source, &config).map_err(|e| e.to_string())?;
    Metrics::count(&server.metrics.sessions, 1);
    let cancel = handle.cancel_handle();
    // The run's events come on a blocking channel: a thread hands them to this task. Unbounded,
    // so a slow client never stalls the pipeline (and with it the audio it is still sending).
    let (events_tx, mut events) = mpsc::unbounded_channel();
    // It keeps the session's place until the run has ended: a client that leaves frees it once
    // the work it started has stopped, so leaving and coming back cannot pile work up.
    std::thread::spawn(move || {
        let _slot = slot;
        let mut forwarding = true;
        for event in handle.events() {
            forwarding = forwarding && events_tx.send(event).is_ok();
            if !forwarding {
                handle.cancel_handle().cancel();
            }
        }
    });
    let models = serde_json::to_value(&names).map_err(|e| e.to_string())?;
    let mut audio = Some(audio_tx);
    let mut first_speech_sent: HashMap<u64, Instant> = HashMap::new();
    let mut heard_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(heard_at + IDLE), if audio.is_some() => {
                cancel.cancel();
                return Err(format!("nothing received for {} s; closing the session", IDLE.as_secs()));
            }
            message = socket.recv(), if audio.is_some() => match message {
                Some(Ok(Message::Binary(bytes))) => {
                    heard_at = tokio::time::Instant::now();
                    let samples = pcm16_to_f32(&bytes)?;
                    Metrics::count(&server.metrics.audio_samples, samples.len() as u64);
                    if let Some(sender) = &audio {
                        // A message is at most MAX_MESSAGE_BYTES, far below the backlog.
                        let permit = backlog.clone().acquire_many_owned(samples.len() as u32).await;
                        let permit = permit.expect("the backlog is never closed");
                        if sender.send((samples, permit)).is_err() {
                            audio = None;
                        }
                    }
                }
                Some(Ok(Message::Text(text))) => match serde_json::from_str(&text) {
                    Ok(Control::Stop) => audio = None,
                    Ok(Control::Start { .. }) => return Err("the session has already started".into()),
                    Err(e) => return Err(format!("unknown message: {e}")),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    // The client is gone: nobody hears the rest.
                    cancel.cancel();
                    return Ok(());
                }
                Some(Ok(_)) => {}
            },
            event = events.recv() => match event {
                Some(event) => {
                    if send_event(socket, event, &models, &server.metrics, &mut first_speech_sent).await.is_err() {
                        cancel.cancel();
                        return Ok(());
                    }
                }
                None => break,
            },
        }
    }
    send_json(socket, json!({ "type": "end" })).await.map_err(|e| e.to_string())
}

/// Little-endian 16-bit samples to floats.
fn pcm16_to_f32(bytes: &[u8]) -> Result<Vec<f32>, String> {
    if bytes.len() % 2 != 0 {
        return Err(format!("an audio message of {} bytes: 16-bit samples come in pairs of bytes", bytes.len()));
    }
    Ok(bytes.chunks_exact(2).map(|pair| f32::from(i16::from_le_bytes([pair[0], pair[1]])) / 32768.0).collect())
}

fn f32_to_pcm16(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|&s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect()
}

async fn send_json(socket: &mut WebSocket, value: Value) -> Result<(), axum::Error> {
    socket.send(Message::Text(value.to_string().into())).await
}

async fn send_event(
    socket: &mut WebSocket,
    event: Event,
    models: &Value,
    metrics: &Metrics,
    first_speech_sent: &mut HashMap<u64, Instant>,
) -> Result<(), axum::Error> {
    match event {
        Event::Ready { speech_rate } => {
            send_json(socket, json!({ "type": "ready", "speech_rate": speech_rate, "models": models })).await
        }
        Event::Speech { seq, samples, rate, .. } => {
            first_speech_sent.entry(seq).or_insert_with(Instant::now);
            send_json(socket, json!({ "type": "speech", "seq": seq, "rate": rate, "samples": samples.len() })).await?;
            socket.send(Message::Binary(f32_to_pcm16(&samples).into())).await
        }
        Event::Translated { seq, segment, marks } => {
            let report = UtteranceReport::new(seq, &segment, &marks, first_speech_sent.remove(&seq));
            metrics.utterance(report.latency_ms.as_ref(), report.confidence.level);
            let mut value = serde_json::to_value(&report).unwrap_or_default();
            value["type"] = json!("final");
            value["mt_failed"] = json!(segment.mt_failed);
            send_json(socket, value).await
        }
        Event::Dropped(dropped) => {
            Metrics::count(&metrics.refused, 1);
            let mut value = serde_json::to_value(&dropped).unwrap_or_default();
            value["type"] = json!("dropped");
            send_json(socket, value).await
        }
        Event::Warning(warning) => {
            send_json(socket, json!({ "type": "warning", "message": warning.to_string(), "warning": warning })).await
        }
        Event::Partial { start_s, stable, unstable } => {
            send_json(socket, json!({ "type": "partial", "start_s": start_s, "stable": stable, "unstable": unstable }))
                .await
        }
        Event::Failed(error) => send_json(socket, json!({ "type": "error", "message": error.to_string() })).await,
    }
}
