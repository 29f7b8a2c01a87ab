//! Live speech outputs: the [`AudioSink`] trait, and sound-server sinks (speakers, or the
//! virtual microphone's sink).

use libpulse_simple_binding::Simple;

use super::virtual_mic::{VirtualMic, SINK};
use crate::audio::pulse::{as_bytes, playback_stream, PulseError};

/// Where live English speech goes: the virtual microphone, speakers, a file, a network client.
pub trait AudioSink {
    /// What to call it in messages (a device name, a path).
    fn name(&self) -> &str;
    /// Plays or stores mono `samples` at `rate` Hz; may block to keep real-time pace.
    fn write(&mut self, samples: &[f32], rate: u32) -> Result<Written, SinkError>;
    /// Waits until everything written has been played or stored.
    fn finish(&mut self) -> Result<(), SinkError>;
}

/// How a write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// The output had broken (the sound server restarted, say) and was reopened.
    Reopened,
}

/// Why an output cannot take speech.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Pulse(#[from] PulseError),
    #[error("cannot write {path}: {reason}")]
    File { path: String, reason: String },
}

/// Keep little audio buffered in the server: latency matters more than underruns between
/// sentences, which are silence anyway.
const BUFFER_MS: u32 = 100;

/// A playback stream to one sound-server sink that reopens itself once if the server drops it,
/// and follows the rate of the speech written to it.
pub struct PulseSink {
    device: String,
    rate: u32,
    stream: Option<Simple>,
    /// The virtual microphone behind this sink, re-created after a server restart.
    virtual_mic: Option<VirtualMic>,
    is_virtual_mic: bool,
}

impl PulseSink {
    pub fn open(device: &str, rate: u32) -> Result<Self, PulseError> {
        let stream = Some(playback_stream(device, rate, BUFFER_MS)?);
        Ok(Self { device: device.to_string(), rate, stream, virtual_mic: None, is_virtual_mic: false })
    }

    /// The sink behind the "LinguaStream Microphone", creating the microphone (or reusing it).
    /// The microphone is removed when this is dropped, if this process created it.
    pub fn virtual_mic(rate: u32) -> Result<Self, PulseError> {
        let mic = VirtualMic::ensure()?;
        let stream = Some(playback_stream(SINK, rate, BUFFER_MS)?);
        Ok(Self { device: SINK.to_string(), rate, stream, virtual_mic: Some(mic), is_virtual_mic: true })
    }

    /// True when this process created the virtual microphone (rather than reusing one).
    pub fn created_virtual_mic(&self) -> bool {
        self.virtual_mic.as_ref().is_some_and(VirtualMic::created)
    }

    /// The dead processes whose leftover virtual microphone this one adopted (and will remove).
    pub fn adopted_from(&self) -> &[u32] {
        self.virtual_mic.as_ref().map_or(&[], VirtualMic::adopted_from)
    }

    /// A new stream after the old one broke.
    fn reopen(&mut self) -> Result<Simple, PulseError> {
        if self.is_virtual_mic {
            // The old microphone went with the old server; dropping it removes what is left.
            self.virtual_mic = None;
            self.virtual_mic = Some(VirtualMic::ensure()?);
        }
        playback_stream(&self.device, self.rate, BUFFER_MS)
    }
}

impl AudioSink for PulseSink {
    fn name(&self) -> &str {
        &self.device
    }

    /// Queues `samples` for playback; blocks while the server's buffer is full (real-time pace).
    fn write(&mut self, samples: &[f32], rate: u32) -> Result<Written, SinkError> {
        let bytes = as_bytes(samples);
        if rate != self.rate {
            // Speech at another rate: let what was queued play out, then reopen at the new rate.
            self.finish()?;
            self.stream = Some(playback_stream(&self.device, rate, BUFFER_MS)?);
            self.rate = rate;
        }
        if let Some(stream) = &self.stream {
            if stream.write(&bytes).is_ok() {
                return Ok(Written::Done);
            }
        }
        self.stream = None;
        let stream = self.reopen()?;
        stream.write(&bytes).map_err(|source| PulseError::Stream { device: self.device.clone(), source })?;
        self.stream = Some(stream);
        Ok(Written::Reopened)
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if let Some(stream) = &self.stream {
            let _ = stream.drain();
        }
        Ok(())
    }
}
