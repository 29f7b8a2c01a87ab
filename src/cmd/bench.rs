//! `linguastream bench`: latency, resources and accuracy on a manifest of clips.

use std::process::ExitCode;

use anyhow::{Context, Result};
use linguastream_core::bench::{self, read_manifest, read_text_pairs, Clip};
use linguastream_core::mt::Pair;
use linguastream_core::outfile;
use linguastream_core::pipeline::Pace;
use linguastream_core::runtime::Runtime;

use super::{check_outputs, live_pace, pipeline_config, LIVE_CUTS};
use crate::cli::BenchArgs;

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let mut outputs = Vec::new();
    outputs.extend(args.json.as_deref().map(|p| ("the JSON report (--json)", p)));
    outputs.extend(args.markdown.as_deref().map(|p| ("the Markdown table (--markdown)", p)));
    check_outputs(Some(&args.manifest), &outputs)?;
    let limit = args.limit.map(|n| n as usize);
    if args.text {
        return run_text(&args, limit);
    }
    if args.speak_early && !args.realtime {
        anyhow::bail!("--speak-early needs --realtime: only a listener in real time hears English said early");
    }
    let clips = bench::spread(read_manifest(&args.manifest)?, limit);
    warn_about_missing_references(&clips);
    let baseline: Option<serde_json::Value> = match &args.baseline {
        Some(path) => Some(serde_json::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        )?),
        None => None,
    };
    let runtime = Runtime::open()?;
    let pace = match args.realtime {
        true => live_pace(args.partial_captions, args.speak_early),
        false => Pace::Streamed,
    };
    let (config, names) = pipeline_config(&runtime, &args.recognition, "en", LIVE_CUTS, &args.translation, pace)?;
    eprintln!(
        "benchmarking {} clips from {} ({})…",
        clips.len(),
        args.manifest.display(),
        if args.realtime { "real-time pace" } else { "as fast as possible" }
    );
    let mut report = bench::run(&clips, &config, args.realtime)?;
    report.models = serde_json::to_value(&names)?;
    let table = report.markdown(baseline.as_ref());
    println!("{table}");
    let mut ready = Vec::new();
    if let Some(path) = &args.json {
        ready.push(outfile::prepare(path, serde_json::to_string_pretty(&report)?.as_bytes())?);
    }
    if let Some(path) = &args.markdown {
        ready.push(outfile::prepare(path, table.as_bytes())?);
    }
    for file in ready {
        file.commit()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Text translation alone: BLEU/chrF and time per sentence.
fn run_text(args: &BenchArgs, limit: Option<usize>) -> Result<ExitCode> {
    let pair = Pair::new(&args.recognition.from, &args.to);
    let pairs = read_text_pairs(&args.manifest, &pair, limit)?;
    let runtime = Runtime::open()?;
    let (factory, engine) = runtime.text_translator(&pair, args.translation.mt)?;
    let mut translator = factory()?;
    eprintln!("translating {} sentences ({pair}) from {} with {engine}…", pairs.len(), args.manifest.display());
    let report = bench::run_text(&pairs, translator.as_mut());
    println!(
        "{} sentences, {} failed: BLEU {:.1}, chrF {:.1}; per sentence p50 {:.0} ms, p95 {:.0} ms ({engine})",
        report.sentences,
        report.failed,
        report.bleu,
        report.chrf,
        report.ms_per_sentence.p50,
        report.ms_per_sentence.p95,
    );
    if let Some(path) = &args.json {
        outfile::prepare(path, serde_json::to_string_pretty(&report)?.as_bytes())?.commit()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Rows without a reference are left out of its score: say which, when other rows have one.
fn warn_about_missing_references(clips: &[Clip]) {
    type Has = fn(&Clip) -> bool;
    let scores: [(&str, &str, Has); 2] = [
        ("fa_transcript", "WER/CER", |c| c.transcript.is_some()),
        ("en_reference", "BLEU/chrF", |c| c.english.is_some()),
    ];
    for (column, metric, has) in scores {
        if !clips.iter().any(has) {
            continue;
        }
        for clip in clips.iter().filter(|c| !has(c)) {
            eprintln!("warning: manifest line {} ({}): no {column}, so {metric} leave it out", clip.line, clip.id);
        }
    }
}
