//! The live virtual microphone of the computer the server runs on, started and stopped from the
//! page: `live`'s session (a sound-server input into "LinguaStream Microphone") in the background.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use linguastream_core::audio::pulse::{PulseError, PulseServer};
use linguastream_core::live::{InputError, LiveEvent, VirtualMicSession};
use linguastream_core::output::virtual_mic::{is_own_output, MIC_DESCRIPTION};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{error, Choices, Server, Slot};

/// The captions kept for the page to show.
const RECENT_CAPTIONS: usize = 10;

#[derive(Default)]
pub(crate) struct Desktop {
    running: Mutex<Option<Running>>,
    captions: Arc<Mutex<VecDeque<Value>>>,
}

struct Running {
    session: VirtualMicSession,
    /// A live session counts among `--max-sessions`: it uses the CPU as a page's does.
    _slot: Slot,
}

impl Desktop {
    /// Stops the session, if any; its microphone is removed.
    pub(crate) fn stop(&self) -> Option<usize> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        let report = running.session.stop();
        Some(report.map_or(0, |r| r.utterances.len()))
    }

    fn status(&self) -> Value {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.as_ref().is_some_and(|r| !r.session.is_running()) {
            // It ended by itself: its input vanished for good.
            running.take();
        }
        let (inputs, server_error) = match inputs() {
            Ok(inputs) => (inputs, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let captions: Vec<Value> = self.captions.lock().unwrap().iter().cloned().collect();
        json!({
            "running": running.is_some(),
            "input": running.as_ref().map(|r| r.session.source()),
            "microphone": MIC_DESCRIPTION,
            "inputs": inputs,
            "captions": captions,
            "error": server_error,
        })
    }
}

/// The sound server's sources a session may translate (not LinguaStream's own output).
fn inputs() -> Result<Vec<Value>, String> {
    let sources = PulseServer::connect().and_then(|mut server| server.sources()).map_err(|e| e.to_string())?;
    Ok(sources
        .into_iter()
        .filter(|d| !is_own_output(&d.name))
        .map(|d| json!({ "name": d.name, "description": d.description }))
        .collect())
}

/// `GET /v1/live`: whether the virtual microphone is being fed, from which input, the inputs
/// there are, and the latest captions.
pub(crate) async fn status(State(server): State<Arc<Server>>) -> Response {
    match tokio::task::spawn_blocking(move || server.desktop.status()).await {
        Ok(status) => Json(status).into_response(),
        Err(panic) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{panic}")),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartLive {
    /// A source's name or description; the sound server's default source when absent.
    input: Option<String>,
    /// Spoken language and translation engine, as a stream's start message gives them.
    from: Option<String>,
    mt: Option<String>,
}

/// `POST /v1/live/start`: feeds the virtual microphone from an input until stopped.
pub(crate) async fn start(State(server): State<Arc<Server>>, Json(request): Json<StartLive>) -> Response {
    let work = tokio::task::spawn_blocking(move || start_session(&server, request));
    match work.await {
        Ok(Ok(status)) => Json(status).into_response(),
        Ok(Err((status, message))) => error(status, &message),
        Err(panic) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("the live session crashed: {panic}")),
    }
}

fn start_session(server: &Arc<Server>, request: StartLive) -> Result<Value, (StatusCode, String)> {
    let mut running = server.desktop.running.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = running.as_ref().filter(|r| r.session.is_running()) {
        return Err((
            StatusCode::CONFLICT,
            format!("already translating '{}' into the virtual microphone", r.session.source()),
        ));
    }
    let choices = Choices { from: request.from, mt: request.mt, partials: false, unsure: None };
    let options = choices.apply(&server.live).map_err(|m| (StatusCode::BAD_REQUEST, m))?;
    let slot = server.take_slot().map_err(|busy| (busy.status, busy.message))?;
    let internal = |e: &dyn std::fmt::Display| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let (config, _) = server.runtime.pipeline_config(&options).map_err(|e| internal(&e))?;
    let voice_rate = server.runtime.voice().map_err(|e| internal(&e))?.sample_rate();
    let captions = server.desktop.captions.clone();
    captions.lock().unwrap().clear();
    let session = VirtualMicSession::start(config, voice_rate, request.input, move |event| {
        if let LiveEvent::Caption { segment, latency, .. } = event {
            let mut captions = captions.lock().unwrap();
            if captions.len() == RECENT_CAPTIONS {
                captions.pop_front();
            }
            captions.push_back(json!({
                "source_text": segment.source_text,
                "translated_text": segment.translated_text,
                "e2e_ms": latency.latency_ms.map(|l| l.e2e),
            }));
        }
    })
    .map_err(|e| {
        let status = match e {
            InputError::Feedback(_) | InputError::Pulse(PulseError::NoSuchSource(_)) => StatusCode::BAD_REQUEST,
            InputError::Pulse(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, e.to_string())
    })?;
    let input = session.source().to_string();
    *running = Some(Running { session, _slot: slot });
    Ok(json!({ "running": true, "input": input, "microphone": MIC_DESCRIPTION }))
}

/// `POST /v1/live/stop`: the utterance under way is finished, then the microphone removed.
pub(crate) async fn stop(State(server): State<Arc<Server>>) -> Response {
    match tokio::task::spawn_blocking(move || server.desktop.stop()).await {
        Ok(Some(utterances)) => Json(json!({ "running": false, "utterances": utterances })).into_response(),
        Ok(None) => error(StatusCode::CONFLICT, "the virtual microphone is not running"),
        Err(panic) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{panic}")),
    }
}
