//! PulseAudio (and PipeWire's Pulse server): listing devices, loading and unloading modules,
//! and the record/playback streams live mode uses.

use std::cell::RefCell;
use std::rc::Rc;

use libpulse_binding as pulse;
use libpulse_binding::callbacks::ListResult;
use libpulse_binding::context::{Context, FlagSet, State};
use libpulse_binding::mainloop::standard::{IterateResult, Mainloop};
use libpulse_binding::operation::{Operation, State as OperationState};
use libpulse_binding::sample::{Format, Spec};
use libpulse_binding::stream::Direction;
use libpulse_simple_binding::Simple;

/// Why talking to the sound server failed.
#[derive(Debug, thiserror::Error)]
pub enum PulseError {
    #[error(
        "no PulseAudio/PipeWire sound server is reachable ({0}); start one (`pulseaudio --start`, or `systemctl --user start pipewire-pulse`), or run `live --input-file FILE --output none` without one"
    )]
    NoServer(String),
    #[error("the sound server refused {what}: {reason}")]
    Refused { what: String, reason: String },
    #[error("there is no audio source called '{0}' (see `linguastream devices`)")]
    NoSuchSource(String),
    #[error("there is no audio sink called '{0}' (see `linguastream devices`)")]
    NoSuchSink(String),
    #[error("the audio stream on '{device}' failed: {source}")]
    Stream {
        device: String,
        #[source]
        source: pulse::error::PAErr,
    },
}

/// An audio device as the server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub name: String,
    pub description: String,
}

/// A module loaded in the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Module {
    pub index: u32,
    pub name: String,
    pub argument: String,
}

/// Names of the server's default devices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Defaults {
    pub source: String,
    pub sink: String,
}

/// A control connection to the sound server (devices and modules, not audio).
pub struct PulseServer {
    // Declared before the main loop it runs on, so it is dropped first.
    context: Context,
    mainloop: Mainloop,
}

impl Drop for PulseServer {
    fn drop(&mut self) {
        self.context.disconnect();
    }
}

impl PulseServer {
    pub fn connect() -> Result<Self, PulseError> {
        let mut mainloop = Mainloop::new().ok_or_else(|| PulseError::NoServer("cannot create a main loop".into()))?;
        let mut context = Context::new(&mainloop, "LinguaStream")
            .ok_or_else(|| PulseError::NoServer("cannot create a context".into()))?;
        context.connect(None, FlagSet::NOAUTOSPAWN, None).map_err(|e| {
            PulseError::NoServer(format!(
                "nothing answered at {} (libpulse: {})",
                server_location(),
                e.to_string().unwrap_or_default()
            ))
        })?;
        loop {
            match mainloop.iterate(true) {
                IterateResult::Success(_) => {}
                IterateResult::Quit(_) | IterateResult::Err(_) => {
                    return Err(PulseError::NoServer("main loop failed".into()))
                }
            }
            match context.get_state() {
                State::Ready => return Ok(Self { context, mainloop }),
                State::Failed | State::Terminated => {
                    let reason = context.errno().to_string().unwrap_or_else(|| "connection failed".into());
                    return Err(PulseError::NoServer(format!(
                        "nothing answered at {} (libpulse: {reason})",
                        server_location()
                    )));
                }
                _ => {}
            }
        }
    }

    /// Fails instead of calling into a dead connection, which libpulse-binding answers with a panic.
    fn ready(&self) -> Result<(), PulseError> {
        if self.context.get_state() == State::Ready {
            Ok(())
        } else {
            Err(PulseError::NoServer("the connection to the sound server was lost".into()))
        }
    }

    fn wait<T: ?Sized>(&mut self, operation: Operation<T>) -> Result<(), PulseError> {
        while operation.get_state() == OperationState::Running {
            if let IterateResult::Quit(_) | IterateResult::Err(_) = self.mainloop.iterate(true) {
                return Err(PulseError::NoServer("connection lost".into()));
            }
        }
        if self.context.get_state() != State::Ready {
            return Err(PulseError::NoServer("connection lost".into()));
        }
        Ok(())
    }

    pub fn sources(&mut self) -> Result<Vec<Device>, PulseError> {
        self.ready()?;
        let found = Rc::new(RefCell::new(Vec::new()));
        let sink = found.clone();
        let op = self.context.introspect().get_source_info_list(move |item| {
            if let ListResult::Item(info) = item {
                sink.borrow_mut().push(device(info.name.as_deref(), info.description.as_deref()));
            }
        });
        self.wait(op)?;
        Ok(found.take())
    }

    pub fn sinks(&mut self) -> Result<Vec<Device>, PulseError> {
        self.ready()?;
        let found = Rc::new(RefCell::new(Vec::new()));
        let sink = found.clone();
        let op = self.context.introspect().get_sink_info_list(move |item| {
            if let ListResult::Item(info) = item {
                sink.borrow_mut().push(device(info.name.as_deref(), info.description.as_deref()));
            }
        });
        self.wait(op)?;
        Ok(found.take())
    }

    /// The loaded modules: index, name and argument.
    pub fn modules(&mut self) -> Result<Vec<Module>, PulseError> {
        self.ready()?;
        let found = Rc::new(RefCell::new(Vec::new()));
        let sink = found.clone();
        let op = self.context.introspect().get_module_info_list(move |item| {
            if let ListResult::Item(info) = item {
                sink.borrow_mut().push(Module {
                    index: info.index,
                    name: info.name.as_deref().unwrap_or_default().to_string(),
                    argument: info.argument.as_deref().unwrap_or_default().to_string(),
                });
            }
        });
        self.wait(op)?;
        Ok(found.take())
    }

    pub fn load_module(&mut self, name: &str, argument: &str) -> Result<u32, PulseError> {
        self.ready()?;
        let index = Rc::new(RefCell::new(None));
        let slot = index.clone();
        let op = self.context.introspect().load_module(name, argument, move |i| *slot.borrow_mut() = Some(i));
        self.wait(op)?;
        let index = index.take().filter(|&i| i != pulse::def::INVALID_INDEX);
        index.ok_or_else(|| PulseError::Refused {
            what: format!("to load {name} {argument}"),
            reason: self.context.errno().to_string().unwrap_or_default(),
        })
    }

    pub fn unload_module(&mut self, index: u32) -> Result<(), PulseError> {
        self.ready()?;
        let ok = Rc::new(RefCell::new(false));
        let slot = ok.clone();
        let op = self.context.introspect().unload_module(index, move |success| *slot.borrow_mut() = success);
        self.wait(op)?;
        if ok.take() {
            Ok(())
        } else {
            Err(PulseError::Refused { what: format!("to unload module {index}"), reason: "unknown module".into() })
        }
    }

    /// Makes `name` the default source; captures that follow the default move onto it.
    pub fn set_default_source(&mut self, name: &str) -> Result<(), PulseError> {
        self.ready()?;
        let ok = Rc::new(RefCell::new(false));
        let slot = ok.clone();
        let op = self.context.set_default_source(name, move |success| *slot.borrow_mut() = success);
        self.wait(op)?;
        match ok.take() {
            true => Ok(()),
            false => Err(PulseError::Refused {
                what: format!("to make {name} the default source"),
                reason: "no such source".into(),
            }),
        }
    }

    /// The server's default source and default sink.
    pub fn defaults(&mut self) -> Result<Defaults, PulseError> {
        self.ready()?;
        let found = Rc::new(RefCell::new(Defaults::default()));
        let slot = found.clone();
        let op = self.context.introspect().get_server_info(move |info| {
            *slot.borrow_mut() = Defaults {
                source: info.default_source_name.as_deref().unwrap_or_default().to_string(),
                sink: info.default_sink_name.as_deref().unwrap_or_default().to_string(),
            };
        });
        self.wait(op)?;
        Ok(found.take())
    }
}

/// Where libpulse looks for the server, for messages: libpulse's own errors ("Access denied")
/// do not say.
fn server_location() -> String {
    if let Some(server) = std::env::var_os("PULSE_SERVER") {
        return format!("PULSE_SERVER={}", server.to_string_lossy());
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => format!("{}/pulse/native", dir.to_string_lossy()),
        None => "the default socket (XDG_RUNTIME_DIR is not set)".into(),
    }
}

fn device(name: Option<&str>, description: Option<&str>) -> Device {
    Device { name: name.unwrap_or_default().to_string(), description: description.unwrap_or_default().to_string() }
}

fn spec(rate: u32) -> Spec {
    Spec { format: Format::F32le, channels: 1, rate }
}

/// A mono float32 record stream from `source` at `rate`, in `fragment_ms` pieces.
pub fn record_stream(source: &str, rate: u32, fragment_ms: u32) -> Result<Simple, PulseError> {
    let bytes = rate * 4 * fragment_ms / 1000;
    let attr = pulse::def::BufferAttr {
        maxlength: u32::MAX,
        tlength: u32::MAX,
        prebuf: u32::MAX,
        minreq: u32::MAX,
        fragsize: bytes,
    };
    Simple::new(None, "LinguaStream", Direction::Record, Some(source), "capture", &spec(rate), None, Some(&attr))
        .map_err(|e| PulseError::Stream { device: source.into(), source: e })
}

/// A mono float32 playback stream to `sink` at `rate` with about `buffer_ms` of buffering.
pub fn playback_stream(sink: &str, rate: u32, buffer_ms: u32) -> Result<Simple, PulseError> {
    let bytes = rate * 4 * buffer_ms / 1000;
    let attr = pulse::def::BufferAttr {
        maxlength: u32::MAX,
        tlength: bytes,
        prebuf: u32::MAX,
        minreq: u32::MAX,
        fragsize: u32::MAX,
    };
    Simple::new(None, "LinguaStream", Direction::Playback, Some(sink), "English speech", &spec(rate), None, Some(&attr))
        .map_err(|source| PulseError::Stream { device: sink.into(), source })
}

/// Reinterprets float samples as the little-endian bytes the streams carry.
pub fn as_bytes(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Float samples from little-endian bytes.
pub fn from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}
