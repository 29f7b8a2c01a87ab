//! The `nllb` engine on a tiny NLLB-style model with random seeded weights
//! (`tests/fixtures/tiny-nllb-ct2`, written by `tests/fixtures/make_tiny_nllb.py` with
//! CTranslate2's model writer and SentencePiece's trainer): mechanics, not quality.

use std::path::{Path, PathBuf};

use linguastream_core::ct2::LIBRARY_FILE;
use linguastream_core::mt::{MtError, NllbTranslator, Pair, SourceSegment, Translator};

use crate::util::{bin, fails, home_with_default_models, ok, sample, store};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-nllb-ct2")
}

fn library() -> PathBuf {
    store().require("ctranslate2").unwrap().join(LIBRARY_FILE)
}

fn text(text: &str) -> SourceSegment<'_> {
    SourceSegment { text, audio: &[] }
}

#[test]
fn the_engine_frames_the_source_and_returns_untagged_text() {
    let mut nllb = NllbTranslator::try_new(&library(), &fixture(), &Pair::new("fa", "en"), 1).unwrap();
    let mut translated = 0;
    for sentence in ["سلام، حال شما چطور است؟", "یک دو سه", "من فردا به دفتر می‌روم."]
    {
        match nllb.translate(text(sentence)) {
            Ok(english) => {
                translated += 1;
                assert!(!english.contains("eng_Latn") && !english.contains("</s>"), "{english}");
                assert!(!english.contains('\u{2581}'), "word markers are spaces: {english}");
            }
            Err(e) => assert!(matches!(e, MtError::Empty), "{e}"),
        }
    }
    assert!(translated > 0, "random weights still produce tokens");
    assert!(matches!(nllb.translate(text("  ")), Err(MtError::Empty)));
}

#[test]
fn a_missing_model_or_unknown_language_is_a_clear_error() {
    let fa_en = Pair::new("fa", "en");
    let missing = NllbTranslator::try_new(&library(), Path::new("/nonexistent"), &fa_en, 1).err().unwrap().to_string();
    assert!(missing.contains("cannot load translation model /nonexistent"), "{missing}");
    let language =
        NllbTranslator::try_new(&library(), &fixture(), &Pair::new("xx", "en"), 1).err().unwrap().to_string();
    assert!(language.contains("NLLB language code for 'xx' unknown"), "{language}");
}

/// A LinguaStream home with the installed default models (linked) and a model list naming the
/// tiny NLLB, installed with `models import`.
fn home_with_tiny_nllb() -> tempfile::TempDir {
    let home = home_with_default_models(&[]);
    std::fs::write(
        home.path().join("models.toml"),
        r#"[[model]]
id = "nllb-tiny-test"
role = "nllb"
description = "tiny random NLLB-style model"
license = "GPL-3.0-or-later (generated)"
default = false
source = "local"
files = [{ name = "model.bin" }, { name = "config.json" }, { name = "shared_vocabulary.json" }, { name = "sentencepiece.bpe.model" }]
"#,
    )
    .unwrap();
    ok(bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "import", "nllb-tiny-test"]).arg(fixture()));
    home
}

#[test]
fn translate_with_mt_nllb_runs_end_to_end_on_a_listed_model() {
    let home = home_with_tiny_nllb();
    let report = home.path().join("out.json");
    ok(bin()
        .env("LINGUASTREAM_HOME", home.path())
        .args(["translate", "--mt", "nllb"])
        .arg(sample("fa-digits-fateme.wav"))
        .arg("-o")
        .arg(home.path().join("out.wav"))
        .arg("--json")
        .arg(&report));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["model"]["mt"], "nllb (nllb-tiny-test)");
    let segments = report["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    for segment in segments {
        let english = segment["translated_text"].as_str().unwrap();
        assert!(segment["mt_failed"] == true || !english.contains("eng_Latn"), "{segment}");
    }
    let list = ok(bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "list"]));
    assert!(list.contains("CC-BY-NC-4.0 (non-commercial use only)"), "NLLB's licence is shown: {list}");
}

#[test]
fn mt_nllb_without_a_model_says_how_to_get_one() {
    let home = home_with_default_models(&[]);
    let error = fails(
        bin()
            .env("LINGUASTREAM_HOME", home.path())
            .args(["translate", "--mt", "nllb"])
            .arg(sample("fa-digits-fateme.wav"))
            .arg("-o")
            .arg(home.path().join("out.wav")),
    );
    assert!(error.contains("models fetch nllb-200-distilled-600m"), "{error}");
}

#[test]
fn bench_text_runs_english_into_persian_through_nllb() {
    let home = home_with_tiny_nllb();
    let manifest = home.path().join("m.tsv");
    std::fs::write(
        &manifest,
        "id\taudio\tfa_transcript\ten_reference\na\t\tسلام\tHello\nb\t\tیک دو سه\tone two three\n",
    )
    .unwrap();
    let report = home.path().join("report.json");
    let printed = ok(bin()
        .env("LINGUASTREAM_HOME", home.path())
        .args(["bench", "--text", "--from", "en", "--to", "fa", "--mt", "nllb"])
        .arg(&manifest)
        .arg("--json")
        .arg(&report));
    assert!(printed.contains("2 sentences"), "{printed}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let translations = report["translations"].as_array().unwrap();
    assert_eq!(translations[0][1], "Hello", "the English column is the source: {report}");
    for translation in translations {
        let persian = translation[2].as_str().unwrap();
        assert!(!persian.contains("pes_Arab"), "the target tag is dropped: {persian}");
    }
    let direct = fails(
        bin()
            .env("LINGUASTREAM_HOME", home.path())
            .args(["bench", "--text", "--from", "en", "--to", "fa", "--mt", "direct"])
            .arg(&manifest),
    );
    assert!(direct.contains("into English only"), "{direct}");
}
