//! `linguastream serve`: the pipeline behind HTTP and a WebSocket, with a browser page.
//!
//! A thin front end: every session is one [`linguastream_core::pipeline::start`] run on the models
//! the shared [`Runtime`] loads once per process; this crate only moves audio, events and files
//! between the network and those runs (the WebSocket side is in `session.rs`, the virtual
//! microphone of the computer it runs on in `desktop.rs`). It is the only crate with an async
//! runtime. The API is described in `docs/api.md`.

mod desktop;
mod metrics;
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use linguastream_core::audio::{chunks_of, decode_file, STT_RATE};
use linguastream_core::output::{self, DroppedSegment, RunReport, Timeline, TranslatedSegment};
use linguastream_core::pipeline::{self, Event, UnsurePolicy};
use linguastream_core::runtime::{self, Runtime, SessionOptions};
use serde::Deserialize;
use serde_json::json;

const PAGE: &str = include_str!("page.html");
/// The largest recording `POST /v1/translate` takes (about an hour of 16-bit 48 kHz stereo).
const MAX_UPLOAD_BYTES: usize = 700 * 1024 * 1024;

/// What every request handler shares.
pub(crate) struct Server {
    runtime: Runtime,
    /// Settings from the command line for live sessions and for uploads (as `live` and
    /// `translate` use them); a session's start message or an upload's query may change the
    /// language and the translation engine.
    live: SessionOptions,
    file: SessionOptions,
    token: Option<String>,
    max_sessions: usize,
    active: AtomicUsize,
    models: serde_json::Value,
    metrics: metrics::Metrics,
    desktop: desktop::Desktop,
}

/// How the server listens and what its sessions run.
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Required from every client of the API when set; required to listen beyond loopback.
    pub token: Option<String>,
    /// Live sessions at once (the WebSocket and the virtual microphone); more are refused.
    pub max_sessions: usize,
    /// Settings for live sessions, as `live` uses them; a session's start message may change the
    /// language and the translation engine.
    pub live: SessionOptions,
    /// Settings for uploads, as `translate` uses them; an upload's query may change the same two.
    pub file: SessionOptions,
}

/// Loads the models, then serves until Ctrl-C.
pub fn run(options: ServeOptions) -> Result<()> {
    let ServeOptions { listen, token, max_sessions, live, file } = options;
    if !listen.ip().is_loopback() && token.is_none() {
        bail!(
            "listening on {listen} would let anyone on the network use this machine: give --token (or \
             LINGUASTREAM_TOKEN), or listen on 127.0.0.1"
        );
    }
    let runtime = Runtime::open()?;
    // Load the models before listening: a missing model fails now, and the first session does
    // not wait for them.
    let (_, names) = runtime.pipeline_config(&live)?;
    runtime.pipeline_config(&file)?;
    runtime.voice()?;
    if let Some(note) = &names.note {
        eprintln!("note: {note}");
    }
    let models = json!({ "whisper": names.whisper_dir, "mt": names.mt, "note": names.note });
    let server_token = token.is_some();
    let server = Arc::new(Server {
        runtime,
        live,
        file,
        token,
        max_sessions,
        active: AtomicUsize::new(0),
        models,
        metrics: metrics::Metrics::default(),
        desktop: desktop::Desktop::default(),
    });
    let api = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/models", get(installed_models))
        .route("/v1/stream", get(stream))
        .route("/v1/live", get(desktop::status))
        .route("/v1/live/start", post(desktop::start))
        .route("/v1/live/stop", post(desktop::stop))
        .route("/metrics", get(prometheus))
        .route("/v1/translate", post(translate).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)))
        .route_layer(middleware::from_fn_with_state(server.clone(), require_token));
    let app = Router::new()
        .route("/", get(page))
        .route("/healthz", get(|| async { "ok" }))
        .merge(api)
        .with_state(server.clone());
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    tokio.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        let access = if server_token { "a token is required" } else { "no token: this machine only" };
        eprintln!("listening on http://{address}/ ({access}; Ctrl-C stops)");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    })?;
    // The virtual microphone goes with the server (its session holds a reference to it).
    server.desktop.stop();
    Ok(())
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// A token given as `?token=`, the one way a browser's WebSocket can send one.
#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Guards every API route: with `--token`, a request without it gets 401.
async fn require_token(
    State(server): State<Arc<Server>>,
    Query(query): Query<TokenQuery>,
    request: Request,
    next: Next,
) -> Response {
    match server.authorize(request.headers(), &query) {
        Ok(()) => next.run(request).await,
        Err(denied) => denied.into_response(),
    }
}

impl Server {
    fn authorize(&self, headers: &HeaderMap, query: &TokenQuery) -> Result<(), Failure> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if bearer == Some(token.as_str()) || query.token.as_deref() == Some(token.as_str()) {
            return Ok(());
        }
        Err(Failure::new(StatusCode::UNAUTHORIZED, "a token is required: Authorization: Bearer TOKEN or ?token=TOKEN"))
    }

    /// A place among the sessions, or 503 when all are taken.
    fn take_slot(self: &Arc<Self>) -> Result<Slot, Failure> {
        let max = self.max_sessions;
        self.active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
            .map(|_| Slot(self.clone()))
            .map_err(|_| {
                Failure::new(StatusCode::SERVICE_UNAVAILABLE, format!("all {max} sessions are busy; try again later"))
            })
    }
}

/// A taken session place, given back when dropped.
pub(crate) struct Slot(Arc<Server>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        error(self.status, &self.message)
    }
}

async fn status(State(server): State<Arc<Server>>) -> Response {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "models": server.models,
        "sessions": { "active": server.active.load(Ordering::SeqCst), "max": server.max_sessions },
    }))
    .into_response()
}

async fn prometheus(State(server): State<Arc<Server>>) -> Response {
    let text = server.metrics.render(server.active.load(Ordering::SeqCst));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn installed_models(State(server): State<Arc<Server>>) -> Response {
    Json(json!({ "models": server.models })).into_response()
}

async fn stream(State(server): State<Arc<Server>>, upgrade: WebSocketUpgrade) -> Response {
    match server.take_slot() {
        Ok(slot) => upgrade.on_upgrade(move |socket| session::run(socket, server, slot)),
        Err(busy) => busy.into_response(),
    }
}

/// A session's or an upload's choices, where they differ from the server's defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Choices {
    /// Spoken language (ISO 639-1).
    from: Option<String>,
    mt: Option<String>,
    /// Partial captions of the utterance under way (see `live --partial-captions`); streams only.
    #[serde(default)]
    pub(crate) partials: bool,
    /// What to do with English of low confidence (`cue`, `speak` or `caption_only`).
    unsure: Option<UnsurePolicy>,
}

impl Choices {
    fn apply(&self, defaults: &SessionOptions) -> Result<SessionOptions, String> {
        let mut options = defaults.clone();
        if let Some(from) = &self.from {
            options.recognition.language = from.clone();
        }
        if let Some(mt) = &self.mt {
            options.mt = match mt.as_str() {
                "auto" => runtime::MtChoice::Auto,
                "direct" => runtime::MtChoice::Direct,
                "firefox" => runtime::MtChoice::Firefox,
                "llm" => runtime::MtChoice::Llm,
                "nllb" => runtime::MtChoice::Nllb,
                other => {
                    return Err(format!("unknown translation engine '{other}' (auto, direct, firefox, llm or nllb)"))
                }
            };
        }
        if let Some(unsure) = self.unsure {
            options.unsure = unsure;
        }
        Ok(options)
    }
}

#[derive(Debug, Deserialize)]
struct TranslateQuery {
    format: Option<String>,
    from: Option<String>,
    mt: Option<String>,
    unsure: Option<UnsurePolicy>,
}

/// `POST /v1/translate`: a recording in the body, its translation out as JSON (default), SRT,
/// VTT or the English speech as WAV.
async fn translate(State(server): State<Arc<Server>>, Query(query): Query<TranslateQuery>, body: Bytes) -> Response {
    let format = query.format.clone().unwrap_or_else(|| "json".into());
    if !["json", "srt", "vtt", "wav"].contains(&format.as_str()) {
        return error(StatusCode::BAD_REQUEST, &format!("unknown format '{format}' (json, srt, vtt or wav)"));
    }
    let choices = Choices { from: query.from.clone(), mt: query.mt.clone(), partials: false, unsure: query.unsure };
    let options = match choices.apply(&server.file) {
        Ok(options) => options,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let slot = match server.take_slot() {
        Ok(slot) => slot,
        Err(busy) => return busy.into_response(),
    };
    let work = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        translate_upload(&server, &options, &body)
    });
    match work.await {
        Ok(Ok(translation)) => translation.into_response(&format),
        Ok(Err(failure)) => failure.into_response(),
        Err(panic) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("the translation crashed: {panic}")),
    }
}

struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        Self { status, message: message.to_string() }
    }
}

struct Translation {
    segments: Vec<TranslatedSegment>,
    dropped: Vec<DroppedSegment>,
    speech_rate: u32,
    duration_s: f64,
    models: serde_json::Value,
}

fn translate_upload(server: &Server, options: &SessionOptions, body: &[u8]) -> Result<Translation, Failure> {
    let audio = decode_upload(body).map_err(|e| Failure::new(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let duration_s = audio.len() as f64 / f64::from(STT_RATE);
    let (config, names) =
        server.runtime.pipeline_config(options).map_err(|e| Failure::new(StatusCode::BAD_REQUEST, e))?;
    let (mut segments, mut dropped, mut speech_rate) = (Vec::new(), Vec::new(), 0);
    pipeline::run(chunks_of(audio), &config, |event| match event {
        Event::Ready { speech_rate: rate } => speech_rate = rate,
        Event::Translated { segment, .. } => segments.push(segment),
        Event::Dropped(d) => dropped.push(d),
        _ => {}
    })
    .map_err(|e| Failure::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let models = json!({ "whisper": names.whisper_dir, "mt": names.mt });
    Ok(Translation { segments, dropped, speech_rate, duration_s, models })
}

/// The decoder reads files, so the body goes through a private temporary file.
fn decode_upload(body: &[u8]) -> Result<Vec<f32>, String> {
    if body.is_empty() {
        return Err("the request body is empty: send the recording's bytes".into());
    }
    let file = tempfile::Builder::new()
        .prefix("linguastream-upload-")
        .tempfile()
        .map_err(|e| format!("cannot store the upload: {e}"))?;
    std::fs::write(file.path(), body).map_err(|e| format!("cannot store the upload: {e}"))?;
    let path: PathBuf = file.path().to_path_buf();
    let audio =
        decode_file(&path, STT_RATE).map_err(|e| e.to_string().replace(&path.display().to_string(), "the upload"))?;
    Ok(audio.samples)
}

impl Translation {
    fn into_response(mut self, format: &str) -> Response {
        let text =
            |content_type: &'static str, body: String| ([(header::CONTENT_TYPE, content_type)], body).into_response();
        match format {
            "srt" => text("application/x-subrip; charset=utf-8", output::srt(&self.segments)),
            "vtt" => text("text/vtt; charset=utf-8", output::vtt(&self.segments)),
            "wav" => ([(header::CONTENT_TYPE, "audio/wav")], self.wav()).into_response(),
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

    /// The English speech, each utterance where its source started (as `translate` writes it).
    fn wav(&mut self) -> Vec<u8> {
        let rate = self.speech_rate.max(1);
        let mut timeline = Timeline::new(rate);
        let mut samples = Vec::new();
        for segment in &mut self.segments {
            let silence = timeline.place(segment);
            samples.resize(samples.len() + silence as usize, 0.0);
            samples.append(&mut segment.speech);
        }
        samples.resize(samples.len() + timeline.pad_to(self.duration_s) as usize, 0.0);
        wav_bytes(&samples, rate)
    }
}

/// 16-bit mono WAV.
fn wav_bytes(samples: &[f32], rate: u32) -> Vec<u8> {
    let spec =
        hound::WavSpec { channels: 1, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut bytes = std::io::Cursor::new(Vec::new());
    {
        let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("writing to memory");
        for &sample in samples {
            writer.write_sample((sample.clamp(-1.0, 1.0) * 32767.0) as i16).expect("writing to memory");
        }
        writer.finalize().expect("writing to memory");
    }
    bytes.into_inner()
}
