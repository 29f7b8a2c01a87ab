//! The "LinguaStream Microphone": a null sink the English speech is played into, and a source
//! remapped from its monitor that call apps can pick as their microphone.
//!
//! Each module is tagged with its owner (`linguastream.owner=PID:START`, the process id and its
//! start time, so a reused PID does not pass for the owner). A process that is killed cannot
//! remove its modules; the next `live` adopts modules whose owner is dead and removes them when
//! it exits. Modules of a live owner, or untagged ones someone made by hand, are used as they are.

use crate::audio::pulse::{Module, PulseError, PulseServer};

/// Sink LinguaStream plays into; its monitor feeds the microphone.
pub const SINK: &str = "linguastream_out";
/// The microphone call apps see.
pub const MIC: &str = "linguastream_mic";
pub const MIC_DESCRIPTION: &str = "LinguaStream Microphone";
/// The device property that names the process that loaded a module.
const OWNER_PROPERTY: &str = "linguastream.owner";

/// True for devices that carry LinguaStream's own output: capturing them would translate our
/// own voice in a loop.
pub fn is_own_output(device: &str) -> bool {
    device == MIC || device == SINK || device == format!("{SINK}.monitor")
}

/// A process, told apart from a later one with the same PID by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    pid: u32,
    start: u64,
}

impl Owner {
    fn this_process() -> Self {
        let pid = std::process::id();
        Self { pid, start: start_time(pid).unwrap_or(0) }
    }

    fn tag(&self) -> String {
        format!("{OWNER_PROPERTY}={}:{}", self.pid, self.start)
    }

    /// The owner a module's argument names, if it carries the tag.
    fn of(module: &Module) -> Option<Self> {
        let rest = module.argument.split(&format!("{OWNER_PROPERTY}=")).nth(1)?;
        let value: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == ':').collect();
        let (pid, start) = value.split_once(':')?;
        Some(Self { pid: pid.parse().ok()?, start: start.parse().ok()? })
    }

    fn is_alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }
}

/// When process `pid` started (clock ticks since boot, field 22 of /proc/PID/stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields after it do not.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Holds the virtual microphone; unloads the modules it loaded (or adopted) when dropped.
pub struct VirtualMic {
    server: PulseServer,
    loaded: Vec<u32>,
    /// PIDs of dead processes whose modules were adopted.
    adopted_from: Vec<u32>,
}

impl VirtualMic {
    /// Creates the sink and the microphone, reusing either if it already exists, and adopting
    /// those left behind by a process that died.
    pub fn ensure() -> Result<Self, PulseError> {
        let mut mic = Self { server: PulseServer::connect()?, loaded: Vec::new(), adopted_from: Vec::new() };
        let mut orphans: Vec<(u32, Owner)> = mic
            .server
            .modules()?
            .iter()
            .filter_map(|m| Owner::of(m).filter(|owner| !owner.is_alive()).map(|owner| (m.index, owner)))
            .collect();
        orphans.sort_by_key(|(index, _)| *index);
        for (index, owner) in orphans {
            mic.loaded.push(index);
            if !mic.adopted_from.contains(&owner.pid) {
                mic.adopted_from.push(owner.pid);
            }
        }
        let tag = Owner::this_process().tag();
        if !mic.server.sinks()?.iter().any(|d| d.name == SINK) {
            let index = mic.server.load_module(
                "module-null-sink",
                &format!("sink_name={SINK} rate=22050 channels=1 sink_properties=\"device.description='LinguaStream Output' {tag}\""),
            )?;
            mic.loaded.push(index);
        }
        if !mic.server.sources()?.iter().any(|d| d.name == MIC) {
            let default_source = mic.server.defaults()?.source;
            let index = mic.server.load_module(
                "module-remap-source",
                &format!("master={SINK}.monitor source_name={MIC} source_properties=\"device.description='{MIC_DESCRIPTION}' {tag}\""),
            )?;
            mic.loaded.push(index);
            mic.keep_default_source(&default_source)?;
        }
        Ok(mic)
    }

    /// PulseAudio makes a new source the default when it outranks the old one (a monitor, on a
    /// machine with no microphone), and every capture that follows the default moves onto it:
    /// a capture already running (another session's, another app's) would then hear our English.
    /// The default is put back, so the microphone is only ever used where it is chosen.
    fn keep_default_source(&mut self, before: &str) -> Result<(), PulseError> {
        if before.is_empty() || self.server.defaults()?.source != MIC {
            return Ok(());
        }
        self.server.set_default_source(before)
    }

    /// True when this process will remove the devices on exit (it created or adopted them).
    pub fn created(&self) -> bool {
        !self.loaded.is_empty()
    }

    /// The dead processes whose leftover devices this one adopted.
    pub fn adopted_from(&self) -> &[u32] {
        &self.adopted_from
    }
}

impl Drop for VirtualMic {
    fn drop(&mut self) {
        let present: Option<Vec<u32>> = self.server.modules().ok().map(|m| m.iter().map(|m| m.index).collect());
        for &index in self.loaded.iter().rev() {
            // Removing the sink takes the microphone remapped from it along.
            if present.as_ref().is_some_and(|p| !p.contains(&index)) {
                continue;
            }
            match self.server.unload_module(index) {
                // The modules went away with the server that held them.
                Ok(()) | Err(PulseError::NoServer(_)) => {}
                Err(e) => eprintln!("warning: could not remove the virtual microphone (module {index}): {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tags_round_trip_and_this_process_is_alive() {
        let me = Owner::this_process();
        assert!(me.start > 0 && me.is_alive());
        let module = Module {
            index: 3,
            name: "module-null-sink".into(),
            argument: format!("sink_name=x sink_properties=\"device.description='X' {}\"", me.tag()),
        };
        assert_eq!(Owner::of(&module), Some(me));
        let reused_pid = Owner { pid: me.pid, start: me.start + 1 };
        assert!(!reused_pid.is_alive());
        assert!(!Owner { pid: 4_999_999, start: 1 }.is_alive());
        assert_eq!(Owner::of(&Module { argument: "sink_name=y".into(), ..module }), None);
    }
}
