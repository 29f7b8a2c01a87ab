//! `linguastream devices`: the sound server's inputs and outputs.

use std::process::ExitCode;

use anyhow::Result;
use linguastream_core::audio::pulse::PulseServer;
use linguastream_core::output::virtual_mic::is_own_output;

pub fn run() -> Result<ExitCode> {
    let mut server = PulseServer::connect()?;
    let defaults = server.defaults()?;
    println!("inputs (use with `live --input NAME`):");
    for device in server.sources()? {
        println!("  {}", line(&device.name, &device.description, device.name == defaults.source));
    }
    println!("outputs:");
    for device in server.sinks()? {
        println!("  {}", line(&device.name, &device.description, device.name == defaults.sink));
    }
    Ok(ExitCode::SUCCESS)
}

fn line(name: &str, description: &str, is_default: bool) -> String {
    let mut notes = Vec::new();
    if is_default {
        notes.push("default");
    }
    if is_own_output(name) {
        notes.push("LinguaStream's own output");
    }
    let notes = if notes.is_empty() { String::new() } else { format!(" [{}]", notes.join(", ")) };
    format!("{name:<40} {description}{notes}")
}
