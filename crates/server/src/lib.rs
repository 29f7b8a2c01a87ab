//! `linguastream serve`: the pipeline behind HTTP and a WebSocket, with a browser page.
//!
//! A thin front end: every session is one [`linguastream_core::pipeline::start`] run on the models
//! the shared [`Runtime`] loads once per process; this crate only moves audio, events and files
//! between the network and those runs (the WebSocket side is in `session.rs`, the virtual
//! microphone of the computer it runs on in `desktop.rs`). It is the only crate with an async
//! runtime. The API is described in `docs/api.md`.

mod access;
mod desktop;
mod metrics;
mod session;
mod upload;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::{Query, Request, State, WebSocketUpgrade};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use linguastream_core::pipeline::{Pace, UnsurePolicy};
use linguastream_core::runtime::{Runtime, SessionOptions};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Semaphore;

pub use access::Access;

const PAGE: &str = include_str!("page.html");
/// The largest body a request other than an upload may have (a JSON start request is tiny).
const SMALL_BODY: usize = 64 * 1024;

/// What every request handler shares.
pub(crate) struct Server {
    runtime: Runtime,
    /// Settings from the command line for live sessions and for uploads (as `live` and
    /// `translate` use them); a session's start message or an upload's query may change the
    /// language and the translation engine.
    live: SessionOptions,
    file: SessionOptions,
    access: Access,
    limits: Limits,
    max_sessions: usize,
    active: AtomicUsize,
    models: serde_json::Value,
    metrics: metrics::Metrics,
    desktop: desktop::Desktop,
}

/// How the server listens and what its sessions run.
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The Host names, Origins and token the server accepts.
    pub access: Access,
    /// Live sessions and uploads at once (the WebSocket, the virtual microphone, uploads being
    /// received or translated); more are refused.
    pub max_sessions: usize,
    pub limits: Limits,
    /// Settings for live sessions, as `live` uses them; a session's start message may change the
    /// language and the translation engine.
    pub live: SessionOptions,
    /// Settings for uploads, as `translate` uses them; an upload's query may change the same two.
    pub file: SessionOptions,
}

/// What a client may cost the server, in the units it costs them.
pub struct Limits {
    /// The longest upload, in seconds of decoded audio.
    pub upload_seconds: f64,
    /// The largest upload body, in bytes as sent (compressed audio is counted as it arrives).
    pub upload_bytes: u64,
    /// How long a new WebSocket may take to send its start message.
    pub start_timeout: Duration,
    /// How long a client may take to send a request's headers, and between two pieces of its
    /// body; also how long an idle kept-alive connection stays open.
    pub read_timeout: Duration,
    /// Connections open at once (a WebSocket counts among the sessions instead once upgraded);
    /// more wait to be accepted.
    pub max_connections: usize,
}

/// Loads the models, then serves until Ctrl-C.
pub fn run(options: ServeOptions) -> Result<()> {
    let ServeOptions { listen, access, max_sessions, limits, live, file } = options;
    if !listen.ip().is_loopback() && !access.has_token() {
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
    let models = serde_json::to_value(&names)?;
    let server_token = access.has_token();
    let server = Arc::new(Server {
        runtime,
        live,
        file,
        access,
        limits,
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
        .route("/v1/translate", post(upload::translate))
        .route_layer(middleware::from_fn_with_state(server.clone(), require_token));
    let app = Router::new()
        .route("/", get(page))
        .route("/healthz", get(|| async { "ok" }))
        .merge(api)
        .layer(middleware::from_fn_with_state(server.clone(), guard))
        .layer(middleware::from_fn(json_errors))
        .with_state(server.clone());
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    tokio.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let address = listener.local_addr()?;
        let access = if server_token { "a token is required" } else { "no token: this machine only" };
        eprintln!("listening on http://{address}/ ({access}; Ctrl-C stops)");
        serve(listener, app, &server.limits).await;
        anyhow::Ok(())
    })?;
    // The virtual microphone goes with the server (its session holds a reference to it).
    server.desktop.stop();
    Ok(())
}

/// Accepts connections until Ctrl-C: at most `max_connections` at once, each given
/// `read_timeout` for its headers (a connection that sends nothing is closed too).
async fn serve(listener: tokio::net::TcpListener, app: Router, limits: &Limits) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.read_timeout);
    let mut stop = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut stop => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait for connections to close.
                    eprintln!("warning: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => return,
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone())).with_upgrades();
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// Every request: the Host and Origin rules, then (except for an upload, which streams its own)
/// the body read whole within the read timeout.
async fn guard(State(server): State<Arc<Server>>, request: Request, next: Next) -> Response {
    if let Err(refused) = server.access.check_request(request.method(), request.headers()) {
        return refused.into_response();
    }
    if request.uri().path() == "/v1/translate" {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let timeout = server.limits.read_timeout;
    let body = match tokio::time::timeout(timeout, axum::body::to_bytes(body, SMALL_BODY)).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            let message = format!("cannot read the request body (at most {} KB): {e}", SMALL_BODY / 1024);
            return error(StatusCode::BAD_REQUEST, &message);
        }
        Err(_) => {
            let message = format!("the request body did not arrive within {} s", timeout.as_secs());
            return error(StatusCode::REQUEST_TIMEOUT, &message);
        }
    };
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// Every error as `{"error": "…"}`, also those axum answers itself (a malformed query, a
/// missing content type, an unknown route).
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, SMALL_BODY).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { text };
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut answer = error(status, &message);
    answer.headers_mut().extend(parts.headers);
    answer
}

/// A token given as `?token=`, the one way a browser's WebSocket can send one.
#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Guards every API route: with `--token`, a request without it gets 401.
async fn require_token(State(server): State<Arc<Server>>, request: Request, next: Next) -> Response {
    let query = match Query::<TokenQuery>::try_from_uri(request.uri()) {
        Ok(Query(query)) => query,
        Err(rejection) => return error(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    match server.access.check_token(request.headers(), query.token.as_deref()) {
        Ok(()) => next.run(request).await,
        Err(denied) => denied.into_response(),
    }
}

impl Server {
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
        // glibc keeps what a finished session freed (a large upload's buffers, say); with no
        // session left, it goes back to the system.
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            linguastream_core::memory::return_freed_memory();
        }
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

pub(crate) struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        Self { status, message: message.to_string() }
    }
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
        Ok(slot) => upgrade
            .max_message_size(session::MAX_MESSAGE_BYTES)
            .max_frame_size(session::MAX_MESSAGE_BYTES)
            .on_upgrade(move |socket| session::run(socket, server, slot)),
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
    pub(crate) unsure: Option<UnsurePolicy>,
}

impl Choices {
    fn apply(&self, defaults: &SessionOptions) -> Result<SessionOptions, String> {
        let mut options = defaults.clone();
        if let Some(from) = &self.from {
            options.recognition.language = from.clone();
        }
        if let Some(mt) = &self.mt {
            options.mt = mt.parse().map_err(|e: linguastream_core::mt::UnknownEngine| e.to_string())?;
        }
        if let Some(unsure) = self.unsure {
            options.unsure = unsure;
        }
        if let Pace::RealTime(ahead) = &mut options.pace {
            ahead.partial_captions = self.partials;
        }
        Ok(options)
    }
}
