//! Live speech outputs: sound-server sinks (speakers, or the virtual microphone's sink).

use libpulse_simple_binding::Simple;

use super::virtual_mic::{VirtualMic, SINK};
use crate::audio::pulse::{as_bytes, playback_stream, PulseError};

/// Keep little audio buffered in the server: latency matters more than underruns between
/// sentences, which are silence anyway.
const BUFFER_MS: u32 = 100;

/// A playback stream to one sink that reopens itself once if the server drops it.
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

    pub fn device(&self) -> &str {
        &self.device
    }

    /// Queues `samples` for playback; blocks while the server's buffer is full (real-time pace).
    /// Returns true when the stream had to be reopened (the server restarted, say).
    pub fn write(&mut self, samples: &[f32]) -> Result<bool, PulseError> {
        let bytes = as_bytes(samples);
        if let Some(stream) = &self.stream {
            if stream.write(&bytes).is_ok() {
                return Ok(false);
            }
        }
        self.stream = None;
        if self.is_virtual_mic {
            // The old microphone went with the old server; dropping it removes what is left.
            self.virtual_mic = None;
            self.virtual_mic = Some(VirtualMic::ensure()?);
        }
        let stream = playback_stream(&self.device, self.rate, BUFFER_MS)?;
        stream.write(&bytes).map_err(|e| PulseError::Stream {
            device: self.device.clone(),
            reason: e.to_string().unwrap_or_default(),
        })?;
        self.stream = Some(stream);
        Ok(true)
    }

    /// Waits until everything written has been played.
    pub fn drain(&mut self) {
        if let Some(stream) = &self.stream {
            let _ = stream.drain();
        }
    }
}
