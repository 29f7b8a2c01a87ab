//! `POST /v1/translate`: a recording in the body, its translation out as JSON (default), SRT,
//! VTT or the English speech as WAV.
//!
//! What an upload may cost is settled before it costs it: the declared length against the byte
//! limit and a session place before the body is read; the body goes to a temporary file as it
//! arrives (never whole into memory), and its audio is decoded piece by piece straight into the
//! pipeline, which stops once the decoded length passes the limit. A client that leaves stops
//! the work.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use linguastream_core::audio::{AudioReader, Chunk, DecodeError, STT_RATE};
use linguastream_core::output::{self, DroppedSegment, RunReport, Timeline, TranslatedSegment};
use linguastream_core::pipeline::{self, CancelHandle, Event, UnsurePolicy};
use linguastream_core::runtime::SessionOptions;
use serde::Deserialize;
use serde_json::json;

use super::{error, Choices, Failure, Server};

#[derive(Debug, Deserialize)]
pub(crate) struct TranslateQuery {
    format: Option<String>,
    from: Option<String>,
    mt: Option<String>,
    unsure: Option<UnsurePolicy>,
}

/// How often the work looks whether its client is still there.
const CLIENT_CHECK: Duration = Duration::from_millis(200);

pub(crate) async fn translate(
    State(server): State<Arc<Server>>,
    Query(query): Query<TranslateQuery>,
    request: Request,
) -> Response {
    let format = query.format.clone().unwrap_or_else(|| "json".into());
    if !["json", "srt", "vtt", "wav"].contains(&format.as_str()) {
        return error(StatusCode::BAD_REQUEST, &format!("unknown format '{format}' (json, srt, vtt or wav)"));
    }
    let choices = Choices { from: query.from.clone(), mt: query.mt.clone(), partials: false, unsure: query.unsure };
    let options = match choices.apply(&server.file) {
        Ok(options) => options,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let limits = &server.limits;
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if let Some(bytes) = declared.filter(|&b| b > limits.upload_bytes) {
        return too_many_bytes(Some(bytes), limits.upload_bytes).into_response();
    }
    let slot = match server.take_slot() {
        Ok(slot) => slot,
        Err(busy) => return busy.into_response(),
    };
    let file = match receive(request.into_body(), limits.upload_bytes, limits.read_timeout).await {
        Ok(file) => file,
        Err(failure) => return failure.into_response(),
    };
    // Dropped with this request, also when hyper drops it because the client went away.
    let gone = CancelHandle::default();
    let _cancel_when_dropped = CancelOnDrop(gone.clone());
    let wants_speech = format == "wav";
    let work = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        translate_file(&server, &options, file, wants_speech, &gone)
    });
    match work.await {
        Ok(Ok(translation)) => translation.into_response(&format),
        Ok(Err(failure)) => failure.into_response(),
        Err(panic) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("the translation crashed: {panic}")),
    }
}

struct CancelOnDrop(CancelHandle);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// 413 for a body over `limit` bytes (`bytes`: as its Content-Length declared it).
fn too_many_bytes(bytes: Option<u64>, limit: u64) -> Failure {
    let mb = |b: u64| b as f64 / 1e6;
    let size = bytes.map_or_else(|| "over the limit".into(), |b| format!("{:.1} MB", mb(b)));
    Failure::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the upload is {size}; this server takes up to {:.1} MB (--max-upload-mb)", mb(limit)),
    )
}

/// The body, into a private temporary file as it arrives: at most `limit` bytes, and each piece
/// within `timeout` of the one before.
async fn receive(mut body: Body, limit: u64, timeout: Duration) -> Result<tempfile::NamedTempFile, Failure> {
    let store_error =
        |e: std::io::Error| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot store the upload: {e}"));
    let mut file = tempfile::Builder::new().prefix("linguastream-upload-").tempfile().map_err(store_error)?;
    let mut received = 0u64;
    loop {
        let frame = match tokio::time::timeout(timeout, body.frame()).await {
            Err(_) => {
                return Err(Failure::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the upload stalled: nothing arrived for {} s", timeout.as_secs()),
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(Failure::new(StatusCode::BAD_REQUEST, format!("the upload broke off: {e}")))
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            received += data.len() as u64;
            if received > limit {
                return Err(too_many_bytes(None, limit));
            }
            file.write_all(&data).map_err(store_error)?;
        }
    }
    if received == 0 {
        return Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the request body is empty: send the recording's bytes",
        ));
    }
    Ok(file)
}

pub(crate) struct Translation {
    segments: Vec<TranslatedSegment>,
    dropped: Vec<DroppedSegment>,
    speech_rate: u32,
    /// The English speech as 16-bit samples, each utterance where its source started (for
    /// `format=wav` only).
    speech: Vec<i16>,
    duration_s: f64,
    models: serde_json::Value,
}

/// The recording being decoded, shared with the pipeline's source thread.
struct Input {
    reader: AudioReader,
    /// The temporary file's path, which messages call "the upload".
    path: String,
    error: Option<Failure>,
}

fn translate_file(
    server: &Server,
    options: &SessionOptions,
    file: tempfile::NamedTempFile,
    wants_speech: bool,
    gone: &CancelHandle,
) -> Result<Translation, Failure> {
    let path = file.path().display().to_string();
    let reader = AudioReader::open(file.path(), STT_RATE).map_err(|e| unreadable(&e, &path))?;
    let limit_s = server.limits.upload_seconds;
    if let Some(declared) = reader.declared_duration_s().filter(|&s| s > limit_s) {
        return Err(too_long(declared, limit_s));
    }
    let (config, names) =
        server.runtime.pipeline_config(options).map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e))?;
    let input = Arc::new(Mutex::new(Input { reader, path, error: None }));
    let run = pipeline::start(chunks(input.clone(), limit_s, gone.clone()), &config)
        .map_err(|e| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let (mut segments, mut dropped, mut speech_rate) = (Vec::new(), Vec::new(), 0);
    let (mut speech, mut timeline) = (Vec::new(), Timeline::new(1));
    loop {
        let event = match run.events().recv_timeout(CLIENT_CHECK) {
            Ok(event) => event,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if gone.is_cancelled() => {
                // The session's place is kept until the stages have stopped (the events end),
                // so a client that leaves and comes back cannot pile work up.
                run.cancel_handle().cancel();
                run.events().iter().for_each(drop);
                return Err(Failure::new(StatusCode::REQUEST_TIMEOUT, "the client went away"));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match event {
            Event::Ready { speech_rate: rate } => {
                speech_rate = rate;
                timeline = Timeline::new(rate.max(1));
            }
            Event::Translated { mut segment, .. } => {
                // Only `format=wav` keeps the English speech, at 16 bits.
                if wants_speech {
                    let silence = timeline.place(&mut segment);
                    speech.resize(speech.len() + silence as usize, 0);
                    speech.extend(segment.speech.iter().map(|&s| to_i16(s)));
                }
                segment.speech = Vec::new();
                segments.push(segment);
            }
            Event::Dropped(d) => dropped.push(d),
            Event::Failed(e) => return Err(Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e)),
            _ => {}
        }
    }
    let mut input = input.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(failure) = input.error.take() {
        return Err(failure);
    }
    let duration_s = input.reader.duration_s();
    if wants_speech {
        speech.resize(speech.len() + timeline.pad_to(duration_s) as usize, 0);
    }
    let models = serde_json::to_value(&names).map_err(|e| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(Translation { segments, dropped, speech_rate, speech, duration_s, models })
}

/// The decoded recording a piece at a time; ends early (keeping why) at a decoding error, at
/// `limit_s` of audio, or when the client has gone.
fn chunks(input: Arc<Mutex<Input>>, limit_s: f64, gone: CancelHandle) -> impl Iterator<Item = Chunk> + Send {
    std::iter::from_fn(move || {
        if gone.is_cancelled() {
            return None;
        }
        let mut input = input.lock().unwrap_or_else(PoisonError::into_inner);
        let piece = input.reader.next_chunk();
        let decoded_s = input.reader.duration_s();
        match piece {
            Ok(Some(_)) if decoded_s > limit_s => {
                input.error = Some(too_long(decoded_s, limit_s));
                None
            }
            Ok(piece) => piece.map(|samples| Chunk { samples, captured_at: Instant::now() }),
            Err(e) => {
                input.error = Some(unreadable(&e, &input.path));
                None
            }
        }
    })
}

fn too_long(seconds: f64, limit_s: f64) -> Failure {
    let what = if seconds > limit_s * 1.5 { format!("{seconds:.0} s long") } else { "longer".into() };
    Failure::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the recording is {what}; this server takes up to {limit_s:.0} s of audio (--max-upload-seconds)"),
    )
}

fn unreadable(e: &DecodeError, path: &str) -> Failure {
    Failure::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string().replace(path, "the upload"))
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32767.0) as i16
}

impl Translation {
    fn into_response(self, format: &str) -> Response {
        let text =
            |content_type: &'static str, body: String| ([(header::CONTENT_TYPE, content_type)], body).into_response();
        match format {
            "srt" => text("application/x-subrip; charset=utf-8", output::srt(&self.segments)),
            "vtt" => text("text/vtt; charset=utf-8", output::vtt(&self.segments)),
            "wav" => ([(header::CONTENT_TYPE, "audio/wav")], wav_bytes(&self.speech, self.speech_rate.max(1)))
                .into_response(),
            _ => {
                let report = RunReport {
                    segments: &self.segments,
                    dropped: &self.dropped,
                    model: self.models.clone(),
                    input: json!({ "duration_s": self.duration_s }),
                };
                text("application/json", output::json(&report))
            }
        }
    }
}

/// 16-bit mono WAV.
fn wav_bytes(samples: &[i16], rate: u32) -> Vec<u8> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    {
        let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("writing to memory");
        for &sample in samples {
            writer.write_sample(sample).expect("writing to memory");
        }
        writer.finalize().expect("writing to memory");
    }
    bytes.into_inner()
}
