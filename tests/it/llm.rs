//! The `llm` translator on the registry's Gemma 3 270M: in the library, in `translate` and in
//! `live`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use linguastream_core::mt::{LlmOptions, LlmTranslator, MtError, Pair, SourceSegment, Translator};

use crate::util::{bin, fails, home_with_default_models, ok, read_wav, sample, store};

fn gemma() -> PathBuf {
    match store().require("gemma3-270m") {
        Ok(dir) => dir.join("model.gguf"),
        Err(e) => {
            panic!("the LLM tests need Gemma 3 270M ({e}); run `make test` or `linguastream models fetch gemma3-270m`")
        }
    }
}

fn fa_en() -> Pair {
    Pair::new("fa", "en")
}

fn has_persian(text: &str) -> bool {
    text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c))
}

fn text(text: &str) -> SourceSegment<'_> {
    SourceSegment { text, audio: &[] }
}

#[test]
fn gemma_translates_persian_sentences_and_keeps_to_one_line() {
    // What it translates, not how fast: with the default 4 s budget, the other tests loading
    // the CPU beside it cut the sentence short ("I").
    let options = LlmOptions { time_budget: Duration::from_secs(60), ..LlmOptions::default() };
    let mut llm = LlmTranslator::try_new(&gemma(), &fa_en(), options).unwrap();
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
fn gemma_translates_english_into_persian_for_the_other_side_of_a_call() {
    let options = LlmOptions { time_budget: Duration::from_secs(60), ..LlmOptions::default() };
    let mut llm = LlmTranslator::try_new(&gemma(), &Pair::new("en", "fa"), options).unwrap();
    let persian = llm.translate(text("Thank you very much, see you tomorrow.")).unwrap();
    let letters: Vec<char> = persian.chars().filter(|c| c.is_alphabetic()).collect();
    let latin = letters.iter().filter(|c| c.is_ascii_alphabetic()).count();
    assert!(has_persian(&persian) && latin * 4 < letters.len() && !persian.contains('\n'), "{persian}");
    assert!(
        llm.prompt_for("Thanks").ends_with("English: Thanks\nPersian:")
            || llm.prompt_for("Thanks").contains("to Persian")
    );
    assert_eq!(llm.translate(text("10, 20, ۳۰")).unwrap(), "10, 20, ۳۰", "nothing to translate");
    let other = LlmTranslator::try_new(&gemma(), &Pair::new("en", "pt"), LlmOptions::default()).err().unwrap();
    assert!(other.to_string().contains("Persian ↔ English, not en→pt"), "{other}");
}

#[test]
fn earlier_utterances_never_reach_a_later_prompt() {
    let options = || LlmOptions { time_budget: Duration::from_secs(60), ..LlmOptions::default() };
    let (later, earlier) = ("یک، دو، سه، چهار، پنج", "من امروز خیلی خسته هستم.");
    let mut fresh = LlmTranslator::try_new(&gemma(), &fa_en(), options()).unwrap();
    let alone = fresh.translate(text(later)).unwrap();
    let mut llm = LlmTranslator::try_new(&gemma(), &fa_en(), options()).unwrap();
    let english = llm.translate(text(earlier)).unwrap();
    let prompt = llm.prompt_for(later);
    assert!(!prompt.contains(&english) && !prompt.contains(earlier), "the earlier utterance is in: {prompt}");
    assert_eq!(prompt, fresh.prompt_for(later));
    // The KV cache keeps nothing of it either: the same sentence, the same English.
    assert_eq!(llm.translate(text(later)).unwrap(), alone);
}

#[test]
fn the_time_budget_bounds_each_translation() {
    let options = LlmOptions { time_budget: Duration::from_millis(1), ..LlmOptions::default() };
    let mut llm = LlmTranslator::try_new(&gemma(), &fa_en(), options).unwrap();
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
    let error =
        LlmTranslator::try_new(&fake, &fa_en(), LlmOptions::default()).err().expect("loading must fail").to_string();
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

/// Gemma 3's turn markers, as the chat template of its instruction-tuned releases writes them
/// (shortened: no system turn); llama.cpp recognises the template by `<start_of_turn>`.
const GEMMA_CHAT_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}<start_of_turn>\
{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n{{ message['content'] | trim }}\
<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}";

/// The registry Gemma (a base model, whose GGUF has no chat template) with
/// `tokenizer.chat_template` added to its metadata: the same weights in a GGUF that carries a
/// template, as instruction-tuned releases do.
fn gemma_with_chat_template(to: &Path) {
    let bytes = std::fs::read(gemma()).unwrap();
    let (tensors, values) = (le(&bytes, 8, 8), le(&bytes, 16, 8));
    let mut at = 24;
    for _ in 0..values {
        at += 8 + le(&bytes, at, 8);
        at = skip_value(&bytes, le(&bytes, at, 4), at + 4);
    }
    let values_end = at;
    for _ in 0..tensors {
        at += 8 + le(&bytes, at, 8);
        at += 4 + 8 * le(&bytes, at, 4) + 4 + 8;
    }
    // Tensor data starts at the next multiple of the alignment (32: the file sets no other).
    let (infos_end, data) = (at, at.next_multiple_of(32));
    let mut out = bytes[..values_end].to_vec();
    out[16..24].copy_from_slice(&(values as u64 + 1).to_le_bytes());
    for text in ["tokenizer.chat_template", GEMMA_CHAT_TEMPLATE] {
        if text == GEMMA_CHAT_TEMPLATE {
            out.extend_from_slice(&8u32.to_le_bytes()); // a string
        }
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&bytes[values_end..infos_end]);
    out.resize(out.len().next_multiple_of(32), 0);
    out.extend_from_slice(&bytes[data..]);
    std::fs::write(to, out).unwrap();
}

/// The little-endian unsigned integer of `size` bytes at `at`.
fn le(bytes: &[u8], at: usize, size: usize) -> usize {
    bytes[at..at + size].iter().rev().fold(0, |n, &b| (n << 8) | usize::from(b))
}

/// Where a GGUF value of type `kind` that starts at `at` ends.
fn skip_value(bytes: &[u8], kind: usize, at: usize) -> usize {
    match kind {
        0 | 1 | 7 => at + 1,
        2 | 3 => at + 2,
        4..=6 => at + 4,
        10..=12 => at + 8,
        8 => at + 8 + le(bytes, at, 8),
        9 => {
            let (kind, count) = (le(bytes, at, 4), le(bytes, at + 4, 8));
            (0..count).fold(at + 12, |at, _| skip_value(bytes, kind, at))
        }
        _ => panic!("unknown GGUF value type {kind}"),
    }
}

fn in_home(home: &Path) -> std::process::Command {
    let mut command = bin();
    command.env("LINGUASTREAM_HOME", home);
    command
}

/// `bench --text` on one Persian sentence in `home`: the engine's name and its English.
fn translate_text_in(home: &Path) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, report) = (dir.path().join("m.tsv"), dir.path().join("r.json"));
    std::fs::write(
        &manifest,
        "id\taudio\tfa_transcript\ten_reference\na\t\tمن امروز خیلی خسته هستم.\tI am very tired today.\n",
    )
    .unwrap();
    let output =
        crate::util::run(in_home(home).args(["bench", "--text", "--mt", "llm", "--json"]).arg(&report).arg(&manifest));
    let log = crate::util::stderr(&output);
    assert!(output.status.success(), "{log}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (log, report["translations"][0][2].as_str().unwrap().to_string())
}

fn well_formed_english(english: &str) -> bool {
    english.chars().any(|c| c.is_ascii_alphabetic()) && !has_persian(english) && !english.contains('\n')
}

#[test]
fn a_users_gguf_is_checked_installed_and_used_by_mt_llm_with_its_chat_template() {
    let home = home_with_default_models(&[]);
    // The registry's Gemma is installed too: a model the user imports is used before it.
    std::os::unix::fs::symlink(store().model_dir("gemma3-270m"), home.path().join("models/gemma3-270m")).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let plain = dir.path().join("Gemma-Copy.gguf");
    std::fs::copy(gemma(), &plain).unwrap();
    let installed = ok(in_home(home.path()).args(["models", "import-gguf"]).arg(&plain));
    assert!(
        installed.contains("installed llm-gemma-copy") && installed.contains("Persian→English examples"),
        "{installed}"
    );
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join("models/llm-gemma-copy/installed.json")).unwrap(),
    )
    .unwrap();
    let sha256 = store().manifest().get("gemma3-270m").unwrap().files[0].sha256.clone().unwrap();
    assert!(record.to_string().contains(&sha256), "the copy's sha256 is recorded: {record}");
    let (log, english) = translate_text_in(home.path());
    assert!(log.contains("llm (llm-gemma-copy)"), "{log}");
    assert!(well_formed_english(&english), "{english}");

    let templated = dir.path().join("gemma-chat.gguf");
    gemma_with_chat_template(&templated);
    let installed = ok(in_home(home.path()).args(["models", "import-gguf", "--name", "chat"]).arg(&templated));
    assert!(installed.contains("installed llm-chat") && installed.contains("its own chat template"), "{installed}");
    let list = ok(in_home(home.path()).args(["models", "list"]));
    assert!(list.lines().any(|l| l.starts_with("llm-chat") && l.contains("llm") && l.contains("installed")), "{list}");
    ok(in_home(home.path()).args(["models", "verify", "llm-chat", "llm-gemma-copy"]));
    let (log, english) = translate_text_in(home.path());
    assert!(log.contains("llm (llm-chat)"), "the model imported last is used: {log}");
    assert!(well_formed_english(&english), "{english}");
}

#[test]
fn a_file_that_is_not_gguf_or_does_not_load_is_refused_and_not_installed() {
    let home = home_with_default_models(&[]);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.gguf");
    std::fs::write(&page, "<!DOCTYPE html><html>Not found</html>").unwrap();
    let error = fails(in_home(home.path()).args(["models", "import-gguf"]).arg(&page));
    assert!(error.contains("is not a GGUF model") && error.contains("<!DO"), "{error}");
    // The right header, then a cut: llama.cpp cannot load it.
    let cut = dir.path().join("cut.gguf");
    let mut bytes = std::fs::read(gemma()).unwrap();
    bytes.truncate(4 << 20);
    std::fs::write(&cut, bytes).unwrap();
    let error = fails(in_home(home.path()).args(["models", "import-gguf"]).arg(&cut));
    assert!(error.contains("does not load"), "{error}");
    let list = ok(in_home(home.path()).args(["models", "list"]));
    assert!(!list.contains("llm-page") && !list.contains("llm-cut"), "{list}");
    assert!(!home.path().join("models/llm-cut").exists());
}

/// The other side of a call, from a file: English speech (our own voice says it) recognised with
/// English forced and captioned in Persian; no voice speaks Persian, so no speech is written.
#[test]
fn english_speech_is_captioned_in_persian() {
    gemma();
    let dir = tempfile::tempdir().unwrap();
    let english = dir.path().join("english.wav");
    ok(bin().args(["speak", "Good morning. Thank you very much for your help yesterday.", "-o"]).arg(&english));
    let (json, srt) = (dir.path().join("out.json"), dir.path().join("out.srt"));
    let translate = || {
        let mut command = bin();
        command.args(["translate", "--from", "en", "--to", "fa", "--mt", "llm"]).arg(&english);
        command
    };
    let refused = fails(translate().arg("-o").arg(dir.path().join("out.wav")));
    assert!(refused.contains("writes captions only"), "{refused}");
    ok(translate().arg("--json").arg(&json).arg("--srt").arg(&srt));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let segments = report["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "{report}");
    let heard: String = segments.iter().map(|s| s["source_text"].as_str().unwrap().to_lowercase()).collect();
    assert!(heard.contains("morning") && heard.contains("thank"), "English recognised as English: {heard}");
    assert!(segments.iter().all(|s| s["delivery"] == "captioned"), "{report}");
    assert!(segments.iter().any(|s| has_persian(s["translated_text"].as_str().unwrap())), "{report}");
    assert!(report["model"]["tts"].is_null() && report["model"]["to"] == "fa", "{report}");
    assert!(has_persian(&std::fs::read_to_string(&srt).unwrap()));
    assert!(!dir.path().join("out.wav").exists() && !dir.path().join("english.en.wav").exists());
}
