//! Whisper's own speed through CTranslate2, per utterance: encoder time, decoding passes, tokens,
//! milliseconds per decoded token, and the text (to check that a faster build decodes the same).
//!
//! cargo run --release --example whisper_speed -- [--threads N] [--budget S] [--window S] WAV...
//!
//! `--window`: the shortest encoder window in seconds (default 10; Whisper's own is 30).
//!
//! Each WAV is one utterance (16 kHz after decoding; no VAD). Uses the installed `whisper-base`
//! and `ctranslate2` models. Prints one tab-separated line per file, then medians.

use std::path::PathBuf;
use std::process::ExitCode;

use linguastream_core::audio::{decode_file, STT_RATE};
use linguastream_core::ct2;
use linguastream_core::models::ModelStore;
use linguastream_core::stt::{Task, WhisperModel, WhisperOptions};

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn main() -> ExitCode {
    let mut options = WhisperOptions::default();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse::<f32>().ok());
        match arg.as_str() {
            "--threads" => options.threads = value().map_or(options.threads, |v| v as usize),
            "--window" => {
                options.min_window_samples = value().map_or(options.min_window_samples, |s| (s * 16_000.0) as usize);
            }
            "--budget" => {
                options.transcribe_budget = value().unwrap_or(options.transcribe_budget);
            }
            _ => files.push(PathBuf::from(arg)),
        }
    }
    let store = ModelStore::open_default();
    let (Ok(library), Ok(dir)) = (store.require("ctranslate2"), store.require("whisper-base")) else {
        eprintln!("install the models first: linguastream models fetch");
        return ExitCode::FAILURE;
    };
    let model = match WhisperModel::load(&library.join(ct2::LIBRARY_FILE), &dir, options) {
        Ok(model) => model,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    println!("file\taudio_s\tencode_ms\tpasses\ttokens\tdecode_ms\tms_per_token\ttext");
    let (mut encode, mut per_token, mut total) = (Vec::new(), Vec::new(), Vec::new());
    for file in &files {
        let result = decode_file(file, STT_RATE).map_err(|e| e.to_string()).and_then(|audio| {
            let encoded = model.encode(&audio.samples).map_err(|e| e.to_string())?;
            let transcript = model.recognize(&encoded, "fa", Task::Transcribe, None).map_err(|e| e.to_string())?;
            Ok((encoded.audio_s, encoded.encode_ms, transcript))
        });
        match result {
            Ok((audio_s, encode_ms, t)) => {
                let d = &t.decoding;
                let decoding_ms = d.decode_ms - encode_ms;
                // Only a lone first pass gives a clean per-token figure.
                let ms_per_token = (d.passes.len() == 1 && d.tokens > 0).then(|| decoding_ms / d.tokens as f64);
                println!(
                    "{}\t{audio_s:.2}\t{encode_ms:.0}\t{}\t{}\t{:.0}\t{}\t{}",
                    file.display(),
                    d.passes.join("+"),
                    d.tokens,
                    d.decode_ms,
                    ms_per_token.map_or("-".into(), |v| format!("{v:.1}")),
                    t.text
                );
                encode.push(encode_ms);
                total.push(d.decode_ms);
                per_token.extend(ms_per_token);
            }
            Err(e) => eprintln!("{}: {e}", file.display()),
        }
    }
    println!(
        "median\tencode_ms {:.0}\tms_per_token {:.1} (over {} single-pass files)\tdecode_ms {:.0}",
        median(&mut encode),
        median(&mut per_token),
        per_token.len(),
        median(&mut total)
    );
    ExitCode::SUCCESS
}
