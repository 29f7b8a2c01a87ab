//! The voice's memory over many sentences of varying length: RSS every 50 sentences, so growth
//! that comes from the synthesiser alone (not the pipeline around it) shows as a rising column.
//!
//! cargo run --release --example tts_memory -- [SENTENCES (default 400)]
//!
//! Uses the installed Piper voice and ONNX Runtime. The sentences are generated (2–31 words, a
//! fixed seed), one in three spoken at the catch-up speed, as the live output does when behind.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use linguastream_core::models::ModelStore;
use linguastream_core::tts::{PiperSynthesizer, PiperVoice, Synthesizer};

const WORDS: [&str; 20] = [
    "the", "weather", "is", "very", "nice", "today", "and", "I", "would", "like", "to", "go", "out", "with", "my",
    "friends", "teacher", "school", "because", "however",
];

/// A sentence of 2–31 words from a linear congruential generator: lengths vary like real output.
fn sentence(seed: &mut u64, n: usize) -> String {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    let words = 2 + (*seed >> 33) as usize % 30;
    let text: Vec<&str> = (0..words).map(|k| WORDS[((*seed >> 7) as usize + k * 7 + n) % WORDS.len()]).collect();
    text.join(" ") + "."
}

fn main() -> ExitCode {
    let count: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(400);
    let store = ModelStore::open_default();
    let (Ok(runtime), Ok(voice)) = (store.require("onnxruntime"), store.require("piper-en-us-joe-medium")) else {
        eprintln!("install the models first: linguastream models fetch");
        return ExitCode::FAILURE;
    };
    let voice = match PiperVoice::load(&runtime.join("libonnxruntime.so"), &voice.join("voice.onnx"), 1) {
        Ok(voice) => Arc::new(voice),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut synthesizer = PiperSynthesizer::new(voice);
    let (mut seed, started) = (1u64, Instant::now());
    println!("sentences\trss_mb\tseconds");
    for n in 0..count {
        let speed = if n % 3 == 0 { 1.1 } else { 1.0 };
        if let Err(e) = synthesizer.synthesize(&sentence(&mut seed, n), speed, &mut |_| {}) {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
        if n % 50 == 0 || n + 1 == count {
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
