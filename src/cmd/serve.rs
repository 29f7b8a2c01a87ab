//! `linguastream serve`: the command line's settings handed to the server crate.

use std::process::ExitCode;

use anyhow::Result;
use linguastream_server::ServeOptions;

use super::{session_options, FILE_CUTS, LIVE_CUTS};
use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    linguastream_server::run(ServeOptions {
        listen: args.listen,
        token: args.token,
        max_sessions: usize::from(args.max_sessions),
        live: session_options(&args.recognition, LIVE_CUTS, &args.translation, true, true),
        file: session_options(&args.recognition, FILE_CUTS, &args.translation, false, false),
    })?;
    Ok(ExitCode::SUCCESS)
}
