//! Recognition's memory over many utterances of varying length: RSS every 25 utterances, so
//! growth that comes from Whisper and CTranslate2 alone (not the pipeline around it) shows as a
//! rising column.
//!
//! cargo run --release --example whisper_memory -- WAV [UTTERANCES (default 200)]
//!
//! Cuts utterances of 1–20 s from WAV (a fixed seed) and, like the live pipeline with `direct`
//! translation, encodes each once, then transcribes and translates it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use linguastream_core::audio::{decode_file, STT_RATE};
use linguastream_core::ct2;
use linguastream_core::models::ModelStore;
use linguastream_core::stt::{Task, WhisperModel, WhisperOptions};

/// A (start, length) in samples from a linear congruential generator: lengths vary like speech.
fn cut(seed: &mut u64, total: usize) -> (usize, usize) {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    let length = (STT_RATE as usize) * (1 + (*seed >> 33) as usize % 20);
    let length = length.min(total);
    let start = (*seed >> 11) as usize % (total - length + 1);
    (start, length)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(wav) = args.next().map(PathBuf::from) else {
        eprintln!("usage: whisper_memory WAV [UTTERANCES]");
        return ExitCode::FAILURE;
    };
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200);
    let store = ModelStore::open_default();
    let (Ok(library), Ok(dir)) = (store.require("ctranslate2"), store.require("whisper-base")) else {
        eprintln!("install the models first: linguastream models fetch");
        return ExitCode::FAILURE;
    };
    let result = decode_file(&wav, STT_RATE).map_err(|e| e.to_string()).and_then(|audio| {
        let model = WhisperModel::load(&library.join(ct2::LIBRARY_FILE), &dir, WhisperOptions::default())
            .map_err(|e| e.to_string())?;
        Ok((audio, model))
    });
    let (audio, model) = match result {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut seed, started) = (1u64, Instant::now());
    println!("utterances\trss_mb\tseconds");
    for n in 0..count {
        let (start, length) = cut(&mut seed, audio.samples.len());
        let recognized = model.encode(&audio.samples[start..start + length]).and_then(|encoded| {
            model.recognize(&encoded, "fa", Task::Transcribe, None)?;
            model.recognize(&encoded, "fa", Task::Translate, None)
        });
        if let Err(e) = recognized {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        if n % 25 == 0 || n + 1 == count {
            println!(
                "{}\t{:.1}\t{:.1}",
                n + 1,
                linguastream_core::memory::resident_mb(None),
                started.elapsed().as_secs_f64()
            );
        }
    }
    ExitCode::SUCCESS
}
