//! `linguastream serve`: the command line's settings handed to the server crate.

use std::process::ExitCode;

use anyhow::Result;
use linguastream_server::ServeOptions;

use super::{session_options, LIVE_PAUSE_MS, TRANSLATE_PAUSE_MS};
use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    linguastream_server::run(ServeOptions {
        listen: args.listen,
        token: args.token,
        max_sessions: usize::from(args.max_sessions),
        live: session_options(&args.recognition, LIVE_PAUSE_MS, args.mt, true, true),
        file: session_options(&args.recognition, TRANSLATE_PAUSE_MS, args.mt, false, false),
    })?;
    Ok(ExitCode::SUCCESS)
}
