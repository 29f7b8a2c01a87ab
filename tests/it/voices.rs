//! Speech in another language than English: a Piper voice the user imports (`models
//! import-voice`) speaks translations into its language; without one, a clear message.
//!
//! No Persian voice can be downloaded here, so the test voice is the installed English voice's
//! weights (joe: trained on English) with its config made Persian (`language.code` fa_IR,
//! espeak-ng voice `fa`): espeak-ng's real Persian phonemes go through a real VITS model, as
//! with an upstream Persian voice, though it sounds like an English speaker reading Persian.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use linguastream_core::audio::Audio;
use linguastream_core::tts::{PiperSynthesizer, PiperVoice, Synthesizer};

use crate::util::{bin, fails, home_with_default_models, json, ok, read_wav, store};

const TEST_VOICE: &str = "piper-fa-ir-test-medium";

fn in_home(home: &Path) -> Command {
    let mut command = bin();
    command.env("LINGUASTREAM_HOME", home);
    command
}

/// `fa_IR-test-medium.onnx` and its `.onnx.json` in `dir`, as a user downloads a voice.
fn persian_test_voice(dir: &Path) -> PathBuf {
    let joe = store().require("piper-en-us-joe-medium").unwrap();
    let model = dir.join("fa_IR-test-medium.onnx");
    std::os::unix::fs::symlink(joe.join("voice.onnx"), &model).unwrap();
    let mut config = json(&joe.join("voice.onnx.json"));
    config["espeak"]["voice"] = "fa".into();
    config["language"]["code"] = "fa_IR".into();
    std::fs::write(dir.join("fa_IR-test-medium.onnx.json"), config.to_string()).unwrap();
    model
}

/// A private home with the default models and Gemma (for English → Persian), linked.
fn home_with_gemma() -> tempfile::TempDir {
    let home = home_with_default_models(&[]);
    let gemma = store().require("gemma3-270m").unwrap_or_else(|e| {
        panic!("these tests need Gemma 3 270M ({e}); run `make test` or `linguastream models fetch gemma3-270m`")
    });
    std::os::unix::fs::symlink(gemma, home.path().join("models/gemma3-270m")).unwrap();
    home
}

/// Seconds from the first to the last sample louder than -40 dBFS.
fn speech_span_s(samples: &[f32], rate: u32) -> f64 {
    let loud = |s: &&f32| s.abs() > 0.01;
    let first = samples.iter().position(|s| loud(&s)).unwrap_or(0);
    let last = samples.iter().rposition(|s| loud(&s)).unwrap_or(0);
    last.saturating_sub(first) as f64 / f64::from(rate)
}

/// How long `voice` (a model path) takes to say `text`, synthesised here.
fn spoken_s(voice: &Path, text: &str) -> f64 {
    let library = store().require("onnxruntime").unwrap().join("libonnxruntime.so");
    let mut synthesizer = PiperSynthesizer::new(Arc::new(PiperVoice::load(&library, voice, 1).unwrap()));
    let mut samples = Vec::new();
    synthesizer.synthesize(text, 1.0, &mut |sentence| samples.extend_from_slice(sentence)).unwrap();
    speech_span_s(&samples, synthesizer.sample_rate())
}

/// English speech said by our own voice: what the other side of a call says.
fn english_clip(dir: &Path) -> PathBuf {
    let english = dir.join("english.wav");
    ok(bin().args(["speak", "Good morning. Thank you very much for your help yesterday.", "-o"]).arg(&english));
    english
}

#[test]
fn an_imported_persian_voice_speaks_the_persian_translation() {
    let home = home_with_gemma();
    let dir = tempfile::tempdir().unwrap();
    let voice = persian_test_voice(dir.path());
    let installed = ok(in_home(home.path()).args(["models", "import-voice"]).arg(&voice));
    assert!(
        installed.contains(&format!("installed {TEST_VOICE}")) && installed.contains("(fa, 22050 Hz)"),
        "{installed}"
    );
    assert!(installed.contains("MODEL_CARD"), "the user is told the licence is theirs to keep: {installed}");
    assert!(ok(in_home(home.path()).args(["models", "verify", TEST_VOICE])).contains("ok"));
    assert!(ok(in_home(home.path()).args(["models", "list"])).contains(TEST_VOICE));

    let (wav, report) = (dir.path().join("fa.wav"), dir.path().join("fa.json"));
    let english = english_clip(dir.path());
    ok(in_home(home.path())
        .args(["translate", "--from", "en", "--to", "fa", "--mt", "llm"])
        .arg(&english)
        .arg("-o")
        .arg(&wav)
        .arg("--json")
        .arg(&report));
    let report = json(&report);
    assert_eq!(report["model"]["tts"], TEST_VOICE, "{report}");
    let persian: String = report["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["translated_text"].as_str().unwrap().to_string() + " ")
        .collect();
    assert!(persian.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)), "{report}");

    let (spec, samples) = read_wav(&wav);
    assert_eq!(spec.sample_rate, 22_050, "written at the voice's rate");
    let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt();
    assert!(rms > 0.01, "the Persian is spoken, not silence (rms {rms})");
    // Persian phonemes, not English ones: espeak-ng's English reads Persian script letter by
    // letter ("arabic kha arabic waw…"), several times longer than the words said in Persian.
    let joe = store().require("piper-en-us-joe-medium").unwrap().join("voice.onnx");
    let (in_persian, letter_by_letter) = (spoken_s(&voice, &persian), spoken_s(&joe, &persian));
    assert!(letter_by_letter > 2.0 * in_persian, "{letter_by_letter} s vs {in_persian} s: the test tells them apart");
    let written = speech_span_s(&samples, spec.sample_rate);
    assert!(
        (0.5 * in_persian..1.6 * in_persian).contains(&written),
        "{written} s of speech written; the Persian phonemes take {in_persian} s, letter by letter {letter_by_letter} s"
    );
}

/// The other side of a call stays captioned with a Persian voice installed: its speech on the
/// speakers would reach its own capture (their monitor).
#[test]
fn the_other_side_of_a_call_is_not_spoken_even_with_a_persian_voice() {
    let home = home_with_gemma();
    let dir = tempfile::tempdir().unwrap();
    ok(in_home(home.path()).args(["models", "import-voice"]).arg(persian_test_voice(dir.path())));
    let clip = crate::live::english_clip(dir.path(), "Thank you very much for your help yesterday.");
    let quiet = dir.path().join("quiet.wav");
    crate::util::write_wav_i16(&quiet, &Audio { samples: vec![0.0; 9 * 16_000], rate: 16_000 }, 1);
    let metrics = dir.path().join("metrics.json");
    let output = crate::util::run(
        in_home(home.path())
            .args(["live", "--output", "none", "--mt", "direct", "--call-mt", "llm", "--input-file"])
            .arg(&quiet)
            .arg("--call-input-file")
            .arg(&clip)
            .arg("--metrics-json")
            .arg(&metrics),
    );
    let log = crate::util::stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("the other side is captioned, not spoken, though a voice for 'fa' is installed"), "{log}");
    let call = &json(&metrics)["call_side"];
    let utterances = call["utterances"].as_array().unwrap();
    assert!(!utterances.is_empty(), "{call}");
    assert!(utterances.iter().all(|u| u["delivery"] == "captioned"), "never spoken: {call}");
}

#[test]
fn without_a_persian_voice_translation_into_persian_says_how_to_get_one() {
    let home = home_with_gemma();
    let dir = tempfile::tempdir().unwrap();
    let english = english_clip(dir.path());
    let translate = || {
        let mut command = in_home(home.path());
        command.args(["translate", "--from", "en", "--to", "fa", "--mt", "llm"]).arg(&english);
        command
    };
    let refused = fails(translate().arg("-o").arg(dir.path().join("out.wav")));
    for wanted in ["no Persian voice is installed", "fa_IR-amir-medium.onnx.json", "models import-voice", "drop -o"] {
        assert!(refused.contains(wanted), "{wanted:?} in {refused}");
    }
    let output = crate::util::run(translate().arg("--json").arg(dir.path().join("out.json")));
    let log = crate::util::stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("note: no Persian voice is installed, so Persian is captioned, not spoken"), "{log}");
    assert!(json(&dir.path().join("out.json"))["model"]["tts"].is_null());
    assert!(!dir.path().join("out.wav").exists() && !dir.path().join("english.fa.wav").exists());
}

#[test]
fn import_voice_refuses_what_is_not_a_piper_voice_and_installs_nothing() {
    let home = home_with_default_models(&[]);
    let dir = tempfile::tempdir().unwrap();
    let import = |file: &Path| fails(in_home(home.path()).args(["models", "import-voice"]).arg(file));

    let lone = dir.path().join("lone.onnx");
    std::fs::write(&lone, b"weights").unwrap();
    let error = import(&lone);
    assert!(error.contains("lone.onnx.json is not beside") && error.contains("rhasspy/piper-voices"), "{error}");

    std::fs::write(dir.path().join("lone.onnx.json"), r#"{"model_type": "whisper"}"#).unwrap();
    assert!(import(&lone).contains("is not a Piper voice's config"), "{}", import(&lone));

    let voice = persian_test_voice(dir.path());
    let config = dir.path().join("fa_IR-test-medium.onnx.json");
    let mut text_voice = json(&config);
    text_voice["phoneme_type"] = "text".into();
    std::fs::write(&config, text_voice.to_string()).unwrap();
    assert!(import(&voice).contains("only voices fed with espeak-ng phonemes"), "{}", import(&voice));

    // A good config beside something that is not a model: loading it fails.
    text_voice["phoneme_type"] = "espeak".into();
    std::fs::write(&config, text_voice.to_string()).unwrap();
    std::fs::remove_file(&voice).unwrap();
    std::fs::write(&voice, b"<html>not found</html>").unwrap();
    let error = import(&voice);
    assert!(error.contains("does not speak"), "{error}");

    let builtin =
        fails(in_home(home.path()).args(["models", "import-voice", "--name", "en-us-joe-medium"]).arg(&voice));
    assert!(builtin.contains("built-in model"), "{builtin}");
    assert!(!home.path().join("models").join(TEST_VOICE).exists() && !home.path().join("models.toml").exists());
}
