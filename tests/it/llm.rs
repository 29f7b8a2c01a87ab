//! The `llm` translator on the registry's Gemma 3 270M: in the library, in `translate` and in
//! `live`.

use std::path::PathBuf;
use std::time::Duration;

use linguastream_core::mt::{LlmOptions, LlmTranslator, MtError, SourceSegment, Translator};

use crate::util::{bin, fails, ok, read_wav, sample, store};

fn gemma() -> PathBuf {
    match store().require("gemma3-270m") {
        Ok(dir) => dir.join("model.gguf"),
        Err(e) => {
            panic!("the LLM tests need Gemma 3 270M ({e}); run `make test` or `linguastream models fetch gemma3-270m`")
        }
    }
}

fn has_persian(text: &str) -> bool {
    text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

fn text(text: &str) -> SourceSegment<'_> {
    SourceSegment { text, audio: &[], encoded: None }
}

#[test]
fn gemma_translates_persian_sentences_and_keeps_to_one_line() {
    // What it translates, not how fast: with the default 4 s budget, the other tests loading
    // the CPU beside it cut the sentence short ("I").
    let options = LlmOptions { time_budget: Duration::from_secs(60), ..LlmOptions::default() };
    let mut llm = LlmTranslator::try_new(&gemma(), options).unwrap();
    let english = llm.translate(text("من امروز خیلی خسته هستم.")).unwrap();
    assert!(!has_persian(&english) && !english.contains('\n'), "{english}");
    assert!(english.to_lowercase().contains("tired"), "'I am very tired today' came out as: {english}");
    let english = llm.translate(text("یک، دو، سه، چهار، پنج")).unwrap();
    // A 270M model drops or swaps a number now and then; most of them must come out in English.
    let lower = english.to_lowercase();
    let numbers = ["one", "two", "three", "four", "five"].iter().filter(|w| lower.contains(*w)).count();
    assert!(numbers >= 3 || english.contains('1'), "digits came out as: {english}");
}

#[test]
fn the_time_budget_bounds_each_translation() {
    let options = LlmOptions { time_budget: Duration::from_millis(1), ..LlmOptions::default() };
    let mut llm = LlmTranslator::try_new(&gemma(), options).unwrap();
    let long = "امروز صبح زود از خواب بیدار شدم و بعد از خوردن صبحانه با دوستانم به پارک رفتیم و تا ظهر آنجا ماندیم.";
    let result = llm.translate(text(long));
    // Prompt evaluation is not interruptible; decoding stops at the first token past the budget.
    match result {
        Ok(english) => assert!(english.split_whitespace().count() <= 2, "{english}"),
        Err(e) => assert!(matches!(e, MtError::Empty), "{e}"),
    }
}

#[test]
fn a_file_that_is_not_a_gguf_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("model.gguf");
    std::fs::write(&fake, b"not a model").unwrap();
    let error = LlmTranslator::try_new(&fake, LlmOptions::default()).err().expect("loading must fail").to_string();
    assert!(error.contains("not a GGUF model llama.cpp can load"), "{error}");
}

#[test]
fn translate_with_mt_llm_speaks_english() {
    gemma();
    let dir = tempfile::tempdir().unwrap();
    let (wav, report) = (dir.path().join("out.wav"), dir.path().join("out.json"));
    let captions = ok(bin()
        .args(["translate", "--mt", "llm"])
        .arg(sample("fa-digits-fateme.wav"))
        .arg("-o")
        .arg(&wav)
        .arg("--json")
        .arg(&report));
    assert!(captions.contains("en: "), "{captions}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["model"]["mt"], "llm (gemma3-270m)");
    let segments = report["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    for segment in segments {
        let english = segment["translated_text"].as_str().unwrap();
        assert_eq!(segment["mt_failed"], false, "{segment}");
        assert!(english.chars().any(|c| c.is_ascii_alphanumeric()) && !has_persian(english), "{english}");
    }
    let (_, samples) = read_wav(&wav);
    let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt();
    assert!(rms > 0.01, "no English speech (rms {rms})");
}

#[test]
fn live_with_mt_llm_captions_english() {
    gemma();
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.json");
    let output = crate::util::run(
        bin()
            .args(["live", "--output", "none", "--mt", "llm", "--input-file"])
            .arg(sample("fa-digits-elyas.wav"))
            .arg("--metrics-json")
            .arg(&metrics),
    );
    let (captions, log) = (crate::util::stdout(&output), crate::util::stderr(&output));
    assert!(output.status.success(), "{log}");
    assert!(log.contains("translation: llm (gemma3-270m)"), "{log}");
    let english: Vec<&str> = captions.lines().filter_map(|l| l.strip_prefix("en: ")).collect();
    assert!(!english.is_empty() && english.iter().all(|l| l.chars().any(|c| c.is_ascii_alphabetic())), "{captions}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    assert!(report["utterances"].as_array().unwrap().iter().any(|u| !u["latency_ms"].is_null()), "{report}");
}

#[test]
fn mt_llm_is_refused_for_languages_its_prompt_does_not_cover() {
    let error = fails(bin().args(["translate", "--mt", "llm", "--from", "pt"]).arg(sample("fa-digits-fateme.wav")));
    assert!(error.contains("--mt llm translates Persian"), "{error}");
}

#[test]
fn bench_text_scores_a_text_engine_and_refuses_direct() {
    gemma();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.tsv");
    std::fs::write(
        &manifest,
        "id\taudio\tfa_transcript\ten_reference\na\t\tمن امروز خیلی خسته هستم.\tI am very tired today.\nb\t\tسلام\t\n",
    )
    .unwrap();
    let report = dir.path().join("r.json");
    let out = ok(bin().args(["bench", "--text", "--mt", "llm", "--json"]).arg(&report).arg(&manifest));
    assert!(out.contains("1 sentences, 0 failed: BLEU"), "{out}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["sentences"], 1, "the row without a reference is left out");
    let english = report["translations"][0][2].as_str().unwrap();
    assert!(!english.is_empty() && !has_persian(english), "{english}");
    let error = fails(bin().args(["bench", "--text", "--mt", "direct"]).arg(&manifest));
    assert!(error.contains("the direct engine translates audio, not text"), "{error}");
}
