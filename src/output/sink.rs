//! Live speech outputs: sound-server sinks (speakers, or the virtual microphone's sink).

use libpulse_simple_binding::Simple;

use crate::audio::pulse::{as_bytes, playback_stream, PulseError};

/// Keep little audio buffered in the server: latency matters more than underruns between
/// sentences, which are silence anyway.
const BUFFER_MS: u32 = 100;

/// A playback stream to one sink that reopens itself once if the server drops it.
pub struct PulseSink {
    device: String,
    rate: u32,
    stream: Option<Simple>,
}

impl PulseSink {
    pub fn open(device: &str, rate: u32) -> Result<Self, PulseError> {
        Ok(Self { device: device.to_string(), rate, stream: Some(playback_stream(device, rate, BUFFER_MS)?) })
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// Queues `samples` for playback; blocks while the server's buffer is full (real-time pace).
    pub fn write(&mut self, samples: &[f32]) -> Result<(), PulseError> {
        let bytes = as_bytes(samples);
        if let Some(stream) = &self.stream {
            if stream.write(&bytes).is_ok() {
                return Ok(());
            }
        }
        let stream = playback_stream(&self.device, self.rate, BUFFER_MS)?;
        stream.write(&bytes).map_err(|e| PulseError::Stream {
            device: self.device.clone(),
            reason: e.to_string().unwrap_or_default(),
        })?;
        self.stream = Some(stream);
        Ok(())
    }

    /// Waits until everything written has been played.
    pub fn drain(&mut self) {
        if let Some(stream) = &self.stream {
            let _ = stream.drain();
        }
    }
}
