//! The library as a server would drive it: one runtime, several sessions at once, real models.

use std::sync::Arc;

use linguastream_core::audio::{chunks_of, decode_file, STT_RATE};
use linguastream_core::pipeline::{self, Event, Pace};
use linguastream_core::runtime::{MtChoice, RecognitionOptions, Runtime, SessionOptions};
use linguastream_core::vad::SegmenterOptions;

use crate::util::{sample, store};

fn options(language: &str) -> SessionOptions {
    SessionOptions {
        unsure: Default::default(),
        recognition: RecognitionOptions {
            language: language.into(),
            whisper: "base".into(),
            threads: Some(1),
            decode_budget: 1.0,
            fixed_decode_tokens: None,
        },
        target: "en".into(),
        mt: MtChoice::Direct,
        segmenter: SegmenterOptions::default(),
        pace: Pace::Streamed,
        lane: Default::default(),
    }
}

#[test]
fn heavy_models_load_once_and_concurrent_sessions_share_them() {
    let runtime = Runtime::new(store()).unwrap();
    let (fa, _) = runtime.whisper(&options("fa").recognition, false).unwrap();
    let (en, _) = runtime.whisper(&options("en").recognition, false).unwrap();
    assert!(Arc::ptr_eq(&fa, &en), "one Whisper model for both languages");
    let mut live = options("fa").recognition;
    live.decode_budget = 2.0;
    let (live, _) = runtime.whisper(&live, true).unwrap();
    assert!(live.shares_weights_with(&fa), "a live session loaded Whisper again");
    assert!(live.options().real_time && !fa.options().real_time, "the live session has its own options");
    assert!(Arc::ptr_eq(&runtime.voice().unwrap(), &runtime.voice().unwrap()), "one voice");

    let (config, _) = runtime.pipeline_config(&options("fa")).unwrap();
    let audio = decode_file(&sample("fa-sentence-virgool.wav"), STT_RATE).unwrap();
    let sessions: Vec<_> =
        (0..2).map(|_| pipeline::start(chunks_of(audio.samples.clone()), &config).unwrap()).collect();
    let results: Vec<(Vec<String>, usize, Vec<u32>)> = std::thread::scope(|scope| {
        let threads: Vec<_> = sessions
            .into_iter()
            .map(|session| {
                scope.spawn(move || {
                    let (mut texts, mut speech, mut rates) = (Vec::new(), 0, Vec::new());
                    for event in session.events() {
                        match event {
                            Event::Translated { segment, .. } => texts.push(segment.source_text),
                            Event::Speech { samples, rate, .. } => {
                                speech += samples.len();
                                rates.push(rate);
                            }
                            Event::Failed(e) => panic!("session failed: {e}"),
                            _ => {}
                        }
                    }
                    (texts, speech, rates)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let (first, second) = (&results[0], &results[1]);
    assert!(!first.0.is_empty() && first.1 > 0, "the first session produced nothing: {first:?}");
    assert_eq!(first.0, second.0, "both sessions heard the same");
    assert!(first.2.iter().chain(&second.2).all(|&rate| rate == runtime.voice().unwrap().sample_rate()));
}
