//! Live translation on this computer's sound server: which input may be translated, and a session
//! from that input into the virtual microphone (or, for the other side of a call, into captions)
//! that runs in the background until it is stopped (`serve` starts and stops it from the page;
//! `live` runs the same in the foreground).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::call::call_source;
use super::{LiveEvent, LiveReport};
use crate::audio::capture::{capture_pulse, Capture};
use crate::audio::pulse::{PulseError, PulseServer};
use crate::output::sink::PulseSink;
use crate::output::virtual_mic::is_own_output;
use crate::output::AudioSink;
use crate::pipeline::{PipelineConfig, PipelineError};

/// How long a vanished input device or restarted server is waited for.
pub const RECONNECT_FOR: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(transparent)]
    Pulse(#[from] PulseError),
    #[error(
        "refusing to capture from '{0}': it carries LinguaStream's own English speech, and translating it would feed back in a loop; pick your microphone (see `linguastream devices`)"
    )]
    Feedback(String),
}

/// The source to translate: `input` (a source's name or description) or the server's default
/// source. A source that carries LinguaStream's own speech (the virtual microphone, or the
/// monitor of `speakers` when the English also plays there) is refused.
pub fn microphone_source(
    server: &mut PulseServer,
    input: Option<&str>,
    speakers: Option<&str>,
) -> Result<String, InputError> {
    let own = |source: &str| is_own_output(source) || speakers.is_some_and(|sink| source == format!("{sink}.monitor"));
    if let Some(wanted) = input.filter(|wanted| own(wanted)) {
        // Refused by name too: LinguaStream's own devices may not exist yet.
        return Err(InputError::Feedback(wanted.to_string()));
    }
    let source = match input {
        None => server.defaults()?.source,
        Some(wanted) => {
            let sources = server.sources()?;
            sources
                .iter()
                .find(|d| d.name == wanted)
                .or_else(|| sources.iter().find(|d| d.description.eq_ignore_ascii_case(wanted)))
                .map(|d| d.name.clone())
                .ok_or_else(|| PulseError::NoSuchSource(wanted.to_string()))?
        }
    };
    if own(&source) {
        return Err(InputError::Feedback(source));
    }
    Ok(source)
}

/// A sound-server input run through the pipeline on a thread of its own: translated into the
/// virtual microphone, or (the other side of a call) captioned only. Stopped (the utterance under
/// way finished, the microphone removed) by [`DesktopSession::stop`] or when dropped.
pub struct DesktopSession {
    source: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<LiveReport, PipelineError>>>,
}

/// What a session opens on its own thread: the source it captures, the capture and its sinks.
type Opened = (String, Capture, Vec<Box<dyn AudioSink>>);

impl DesktopSession {
    /// Opens `input` (see [`microphone_source`]) and the virtual microphone, then translates
    /// until stopped; `on_event` hears the captions. Fails before anything runs if the sound
    /// server, the input or the microphone cannot be had.
    pub fn virtual_mic(
        config: PipelineConfig,
        voice_rate: u32,
        input: Option<String>,
        on_event: impl FnMut(LiveEvent<'_>) + Send + 'static,
    ) -> Result<Self, InputError> {
        Self::start(config, on_event, move |stop| {
            let source = microphone_source(&mut PulseServer::connect()?, input.as_deref(), None)?;
            let sink = PulseSink::virtual_mic(voice_rate)?;
            let capture = capture_pulse(source.clone(), stop, RECONNECT_FOR)?;
            Ok((source, capture, vec![Box::new(sink)]))
        })
    }

    /// Captions the other side of a call from `input` (see [`call_source`]) until stopped;
    /// nothing is spoken. Fails before anything runs if the input cannot be had or carries
    /// LinguaStream's own English.
    pub fn call_side(
        config: PipelineConfig,
        input: String,
        on_event: impl FnMut(LiveEvent<'_>) + Send + 'static,
    ) -> Result<Self, InputError> {
        Self::start(config, on_event, move |stop| {
            let source = call_source(&mut PulseServer::connect()?, &input, None)?;
            let capture = capture_pulse(source.clone(), stop, RECONNECT_FOR)?;
            Ok((source, capture, Vec::new()))
        })
    }

    fn start(
        config: PipelineConfig,
        mut on_event: impl FnMut(LiveEvent<'_>) + Send + 'static,
        open: impl FnOnce(Arc<AtomicBool>) -> Result<Opened, InputError> + Send + 'static,
    ) -> Result<Self, InputError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (opened, result) = sync_channel(1);
        let thread_stop = stop.clone();
        // The sound-server objects are made on the thread that uses them: they are not `Send`.
        let thread = std::thread::spawn(move || {
            let (source, capture, sinks) = match open(thread_stop) {
                Ok(parts) => parts,
                Err(e) => {
                    let _ = opened.send(Err(e));
                    return Ok(LiveReport::default());
                }
            };
            let _ = opened.send(Ok(source));
            super::run(capture, sinks, &config, &mut on_event)
        });
        match result.recv() {
            Ok(Ok(source)) => Ok(Self { source, stop, thread: Some(thread) }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(InputError::Pulse(PulseError::Refused {
                what: "the live session".into(),
                reason: "its thread ended before it started".into(),
            })),
        }
    }

    /// The sound-server source being translated.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// False once the session has ended by itself (its input could not be reconnected).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Finishes the utterance under way, removes the virtual microphone (if it has one) and
    /// reports the session.
    /// A panic on the session's thread goes on here.
    pub fn stop(mut self) -> Result<LiveReport, PipelineError> {
        match self.finish() {
            Some(Ok(report)) => report,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Ok(LiveReport::default()),
        }
    }

    fn finish(&mut self) -> Option<std::thread::Result<Result<LiveReport, PipelineError>>> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().map(JoinHandle::join)
    }
}

impl Drop for DesktopSession {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
