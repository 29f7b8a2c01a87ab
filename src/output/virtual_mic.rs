//! The "LinguaStream Microphone": a null sink the English speech is played into, and a source
//! remapped from its monitor that call apps can pick as their microphone.

use crate::audio::pulse::{PulseError, PulseServer};

/// Sink LinguaStream plays into; its monitor feeds the microphone.
pub const SINK: &str = "linguastream_out";
/// The microphone call apps see.
pub const MIC: &str = "linguastream_mic";
pub const MIC_DESCRIPTION: &str = "LinguaStream Microphone";

/// True for devices that carry LinguaStream's own output: capturing them would translate our
/// own voice in a loop.
pub fn is_own_output(device: &str) -> bool {
    device == MIC || device == SINK || device == format!("{SINK}.monitor")
}

/// Holds the virtual microphone; unloads the modules it loaded itself when dropped.
pub struct VirtualMic {
    server: PulseServer,
    loaded: Vec<u32>,
}

impl VirtualMic {
    /// Creates the sink and the microphone, reusing either if it already exists.
    pub fn ensure() -> Result<Self, PulseError> {
        let mut mic = Self { server: PulseServer::connect()?, loaded: Vec::new() };
        if !mic.server.sinks()?.iter().any(|d| d.name == SINK) {
            let index = mic.server.load_module(
                "module-null-sink",
                &format!("sink_name={SINK} rate=22050 channels=1 sink_properties=\"device.description='LinguaStream Output'\""),
            )?;
            mic.loaded.push(index);
        }
        if !mic.server.sources()?.iter().any(|d| d.name == MIC) {
            let index = mic.server.load_module(
                "module-remap-source",
                &format!("master={SINK}.monitor source_name={MIC} source_properties=\"device.description='{MIC_DESCRIPTION}'\""),
            )?;
            mic.loaded.push(index);
        }
        Ok(mic)
    }

    /// True when this process created (and will remove) the devices.
    pub fn created(&self) -> bool {
        !self.loaded.is_empty()
    }
}

impl Drop for VirtualMic {
    fn drop(&mut self) {
        for &index in self.loaded.iter().rev() {
            match self.server.unload_module(index) {
                // The modules went away with the server that held them.
                Ok(()) | Err(PulseError::NoServer(_)) => {}
                Err(e) => eprintln!("warning: could not remove the virtual microphone (module {index}): {e}"),
            }
        }
    }
}
