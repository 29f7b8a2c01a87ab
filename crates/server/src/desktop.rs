//! The live virtual microphone of the computer the server runs on, started and stopped from the
//! page: `live`'s session (a sound-server input into "LinguaStream Microphone") in the background,
//! and, when asked, the other side of the call captioned beside it (`live --call-input`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use linguastream_core::audio::pulse::{PulseError, PulseServer};
use linguastream_core::live::{self, CallSide, DesktopSession, InputError, LiveEvent, CALL_LANGUAGE};
use linguastream_core::mt::{MtChoice, UnknownEngine};
use linguastream_core::output::virtual_mic::{is_own_output, MIC_DESCRIPTION};
use linguastream_core::runtime::{RuntimeError, SessionOptions};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{error, Choices, Server, Slot};

/// The captions kept for the page to show, of each side.
const RECENT_CAPTIONS: usize = 10;

#[derive(Default)]
pub(crate) struct Desktop {
    running: Mutex<Option<Running>>,
    captions: Arc<Mutex<VecDeque<Value>>>,
}

struct Running {
    session: DesktopSession,
    /// The language the user speaks.
    from: String,
    call: Option<Call>,
    /// A live session counts among `--max-sessions`: it uses the CPU as a page's does.
    _slot: Slot,
}

/// The other side of the call, captioned beside the user's session.
struct Call {
    session: DesktopSession,
    /// What its status tells the page: the input, the languages and the engine.
    about: Value,
    /// It counts among `--max-sessions` too: a second pipeline on the CPU.
    _slot: Slot,
}

impl Desktop {
    /// Stops the session, if any, and the other side's; its microphone is removed. How many
    /// utterances each side had.
    pub(crate) fn stop(&self) -> Option<(usize, Option<usize>)> {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        let utterances = |report: Result<live::LiveReport, _>| report.map_or(0, |r| r.utterances.len());
        let call = running.call.map(|call| utterances(call.session.stop()));
        Some((utterances(running.session.stop()), call))
    }

    fn status(&self) -> Value {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.as_ref().is_some_and(|r| !r.session.is_running()) {
            // It ended by itself: its input vanished for good.
            running.take();
        }
        if let Some(r) = running.as_mut().filter(|r| r.call.as_ref().is_some_and(|c| !c.session.is_running())) {
            // The other side's input vanished for good; the user's session goes on.
            r.call.take();
        }
        let (inputs, server_error) = match inputs() {
            Ok(inputs) => (inputs, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let captions: Vec<Value> = self.captions.lock().unwrap().iter().cloned().collect();
        json!({
            "running": running.is_some(),
            "input": running.as_ref().map(|r| r.session.source()),
            "from": running.as_ref().map(|r| &r.from),
            "call": running.as_ref().and_then(|r| r.call.as_ref()).map(|c| &c.about),
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
    /// Also caption the other side of the call from this source (`default`: the monitor of the
    /// default output, where call apps play), as `live --call-input` does.
    call_input: Option<String>,
    /// The engine for the other side (`auto` when absent: English captions alone if none is
    /// installed), as `live --call-mt`.
    call_mt: Option<String>,
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
    let call_mt = match request.call_mt {
        Some(mt) => {
            Some(MtChoice::for_call_side(&mt).map_err(|e: UnknownEngine| (StatusCode::BAD_REQUEST, e.to_string()))?)
        }
        None => None,
    };
    let slot = server.take_slot().map_err(|busy| (busy.status, busy.message))?;
    let internal = |e: &dyn std::fmt::Display| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let (config, _) = server.runtime.pipeline_config(&options).map_err(|e| internal(&e))?;
    let voice_rate = server.runtime.voice().map_err(|e| internal(&e))?.sample_rate();
    server.desktop.captions.lock().unwrap().clear();
    // An input the other side may not be heard from is refused before the microphone exists.
    let call_input = match request.call_input {
        Some(wanted) => Some(
            PulseServer::connect()
                .map_err(InputError::from)
                .and_then(|mut pulse| live::call_source(&mut pulse, &wanted, None))
                .map_err(input_error)?,
        ),
        None => None,
    };
    let captions = server.desktop.keep("user", &options.recognition.language, &options.target);
    let session = DesktopSession::virtual_mic(config, voice_rate, request.input, captions).map_err(input_error)?;
    // The other side after the microphone: PulseAudio moves a capture of the default source onto
    // a source that appears and becomes the default, as the new microphone can (our own English).
    let call = match call_input {
        Some(input) => Some(start_call(server, &options, input, call_mt.unwrap_or(MtChoice::Auto))?),
        None => None,
    };
    let input = session.source().to_string();
    let about = call.as_ref().map(|c| c.about.clone());
    let from = options.recognition.language;
    *running = Some(Running { session, from, call, _slot: slot });
    Ok(json!({ "running": true, "input": input, "call": about, "microphone": MIC_DESCRIPTION }))
}

/// The other side of the call from `input`: English recognised and translated into the user's
/// language (or captioned alone when `auto` finds no engine), as `live --call-input` does.
fn start_call(
    server: &Arc<Server>,
    user: &SessionOptions,
    input: String,
    mt: MtChoice,
) -> Result<Call, (StatusCode, String)> {
    let slot = server.take_slot().map_err(|busy| (busy.status, busy.message))?;
    let options = live::call_side_options(user, mt);
    let CallSide { config, names, untranslated } =
        live::call_side_config(&server.runtime, &options).map_err(|e| (runtime_status(&e), e.to_string()))?;
    let to = if untranslated.is_some() { CALL_LANGUAGE } else { &options.target };
    let captions = server.desktop.keep("call", CALL_LANGUAGE, to);
    let session = DesktopSession::call_side(config, input, captions).map_err(input_error)?;
    let about = json!({
        "input": session.source(),
        "from": CALL_LANGUAGE,
        "to": to,
        "mt": names.mt,
        "note": untranslated.map(|why| format!("{why}, so the other side is captioned in {CALL_LANGUAGE} alone")),
    });
    Ok(Call { session, about, _slot: slot })
}

impl Desktop {
    /// What keeps a side's captions for the page (`side`: `user`, or `call` for the other side of
    /// the call): its latest [`RECENT_CAPTIONS`], each marked with its side and its languages
    /// (`from` heard, `to` its translation's), so the page lays out Persian right to left.
    fn keep(&self, side: &'static str, from: &str, to: &str) -> impl FnMut(LiveEvent<'_>) + Send + 'static {
        let (captions, from, to) = (self.captions.clone(), from.to_string(), to.to_string());
        move |event| {
            let LiveEvent::Caption { segment, latency, .. } = event else { return };
            let mut captions = captions.lock().unwrap();
            if captions.iter().filter(|c| c["side"] == side).count() == RECENT_CAPTIONS {
                if let Some(oldest) = captions.iter().position(|c| c["side"] == side) {
                    captions.remove(oldest);
                }
            }
            captions.push_back(json!({
                "side": side,
                "from": from,
                "to": to,
                "source_text": segment.source_text,
                "translated_text": segment.translated_text,
                "e2e_ms": latency.latency_ms.map(|l| l.e2e),
                "caption_ms": latency.caption_ms,
            }));
        }
    }
}

fn input_error(e: InputError) -> (StatusCode, String) {
    let status = match e {
        InputError::Feedback(_) | InputError::Pulse(PulseError::NoSuchSource(_)) => StatusCode::BAD_REQUEST,
        InputError::Pulse(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, e.to_string())
}

/// A session that cannot be set up: the request's fault (an engine that cannot translate the
/// pair, a model not installed) unless a model failed to load.
fn runtime_status(e: &RuntimeError) -> StatusCode {
    match e {
        RuntimeError::LoadWhisper(_) | RuntimeError::Stt(_) | RuntimeError::Tts(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// `POST /v1/live/stop`: the utterance under way is finished, then the microphone removed.
pub(crate) async fn stop(State(server): State<Arc<Server>>) -> Response {
    match tokio::task::spawn_blocking(move || server.desktop.stop()).await {
        Ok(Some((utterances, call))) => {
            Json(json!({ "running": false, "utterances": utterances, "call_utterances": call })).into_response()
        }
        Ok(None) => error(StatusCode::CONFLICT, "the virtual microphone is not running"),
        Err(panic) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{panic}")),
    }
}
