//! `linguastream serve`: the command line's settings handed to the server crate.

use std::process::ExitCode;

use std::time::Duration;

use anyhow::Result;
use linguastream_core::pipeline::{Ahead, Pace};
use linguastream_server::{Access, Limits, ServeOptions};

use super::{session_options, FILE_CUTS, LIVE_CUTS};
use crate::cli::ServeArgs;

pub fn run(args: ServeArgs) -> Result<ExitCode> {
    linguastream_server::run(ServeOptions {
        listen: args.listen,
        access: Access::new(args.listen, &args.allow_host, &args.allow_origin, args.token),
        max_sessions: usize::from(args.max_sessions),
        limits: Limits {
            upload_seconds: f64::from(args.max_upload_seconds),
            upload_bytes: u64::from(args.max_upload_mb) * 1_000_000,
            start_timeout: Duration::from_secs(args.start_timeout.into()),
            read_timeout: Duration::from_secs(args.read_timeout.into()),
            max_connections: args.max_connections as usize,
        },
        live: session_options(&args.recognition, "en", LIVE_CUTS, &args.translation, Pace::RealTime(Ahead::default())),
        file: session_options(&args.recognition, "en", FILE_CUTS, &args.translation, Pace::Batch),
    })?;
    Ok(ExitCode::SUCCESS)
}
