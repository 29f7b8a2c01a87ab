//! `linguastream bench`: latency, resources and accuracy on a manifest of clips.

use std::process::ExitCode;

use anyhow::{Context, Result};
use linguastream::bench::{self, read_manifest};
use linguastream::runtime::Runtime;

use super::{pipeline_config, LIVE_PAUSE_MS};
use crate::cli::BenchArgs;

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let clips = read_manifest(&args.manifest)?;
    let baseline: Option<serde_json::Value> = match &args.baseline {
        Some(path) => Some(serde_json::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        )?),
        None => None,
    };
    let runtime = Runtime::open()?;
    let (config, names) = pipeline_config(&runtime, &args.recognition, LIVE_PAUSE_MS, args.mt, true, args.realtime)?;
    eprintln!(
        "benchmarking {} clips from {} ({})…",
        clips.len(),
        args.manifest.display(),
        if args.realtime { "real-time pace" } else { "as fast as possible" }
    );
    let mut report = bench::run(&clips, &config, args.realtime)?;
    report.models = serde_json::json!({
        "vad": "silero-vad v6",
        "stt": { "model": args.recognition.whisper, "path": names.whisper_dir, "language": args.recognition.from },
        "mt": names.mt,
        "tts": "piper-en-us-joe-medium",
    });
    let table = report.markdown(baseline.as_ref());
    println!("{table}");
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
