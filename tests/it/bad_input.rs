//! Bad input gets a clear error naming the problem, a non-zero exit, and no panic.

use std::path::{Path, PathBuf};

use linguastream_core::audio::{decode_file, resample};

use crate::util::{bin, fails, home_with_default_models, ok, read_wav, sample, store, write_wav_i16};

fn translate_error(input: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    fails(bin().arg("translate").arg(input).arg("-o").arg(dir.path().join("out.wav")))
}

#[test]
fn truncated_wav_is_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.wav");
    let bytes = std::fs::read(sample("fa-digits-fateme.wav")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let error = translate_error(&path);
    assert!(error.contains("truncated") && error.contains("cut.wav"), "{error}");
}

#[test]
fn empty_file_is_reported_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.wav");
    std::fs::write(&path, b"").unwrap();
    let error = translate_error(&path);
    assert!(error.contains("empty.wav is empty"), "{error}");
}

#[test]
fn text_renamed_to_wav_is_not_audio() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wav");
    std::fs::write(&path, "these are meeting notes, not audio\n".repeat(20)).unwrap();
    let error = translate_error(&path);
    assert!(error.contains("not a supported audio file"), "{error}");
}

#[test]
fn missing_input_is_named() {
    let error = translate_error(Path::new("/nonexistent/talk.wav"));
    assert!(error.contains("cannot open /nonexistent/talk.wav"), "{error}");
}

#[test]
fn eight_khz_stereo_is_converted_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.wav");
    let original = decode_file(&sample("fa-sentence-virgool.wav"), 16_000).unwrap();
    write_wav_i16(&path, &resample(&original, 8_000), 2);
    let (wav, json) = (dir.path().join("out.wav"), dir.path().join("out.json"));
    ok(bin().arg("translate").arg(&path).arg("-q").arg("-o").arg(&wav).arg("--json").arg(&json));
    let (_, speech) = read_wav(&wav);
    assert!(speech.len() as f64 / 22_050.0 >= original.duration_s() - 0.01);
    // Recognised as Persian speech (whether Whisper base's own translation of telephone-band audio
    // is good enough to speak is another matter).
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let segments = report["segments"].as_array().unwrap();
    assert_eq!(segments.len(), 1, "{report}");
    let text = segments[0]["source_text"].as_str().unwrap();
    assert!(text.chars().filter(|c| ('\u{0600}'..='\u{06FF}').contains(c)).count() >= 20, "{report}");
}

/// A model home whose models are the real ones, except `silero-vad`, copied with one byte changed.
fn home_with_corrupted_vad() -> (tempfile::TempDir, PathBuf) {
    let store = store();
    let home = tempfile::tempdir().unwrap();
    let models = home.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    for entry in store.manifest().defaults() {
        let real = store.model_dir(&entry.id);
        if entry.id == "silero-vad" {
            let copy = models.join(&entry.id);
            std::fs::create_dir_all(&copy).unwrap();
            for file in std::fs::read_dir(&real).unwrap().flatten() {
                std::fs::copy(file.path(), copy.join(file.file_name())).unwrap();
            }
            let onnx = copy.join("silero_vad.onnx");
            let mut bytes = std::fs::read(&onnx).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            std::fs::write(&onnx, bytes).unwrap();
        } else {
            std::os::unix::fs::symlink(&real, models.join(&entry.id)).unwrap();
        }
    }
    let root = home.path().to_path_buf();
    (home, root)
}

#[test]
fn a_model_with_one_byte_changed_is_refused() {
    let (_guard, home) = home_with_corrupted_vad();
    let dir = tempfile::tempdir().unwrap();
    let error = fails(
        bin()
            .env("LINGUASTREAM_HOME", &home)
            .arg("translate")
            .arg(sample("fa-digits-fateme.wav"))
            .arg("-o")
            .arg(dir.path().join("o.wav")),
    );
    assert!(error.contains("silero-vad") && error.contains("checksum mismatch"), "{error}");
    assert!(error.contains("expected BLAKE3 ") && !error.contains("sha256"), "the digest is named as it is: {error}");

    let output = bin().env("LINGUASTREAM_HOME", &home).args(["models", "verify"]).output().unwrap();
    assert!(!output.status.success());
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("FAILED   silero-vad") && report.contains("ok       whisper-base"), "{report}");
}

#[test]
fn missing_models_say_how_to_install_them() {
    let home = tempfile::tempdir().unwrap();
    let error = fails(bin().env("LINGUASTREAM_HOME", home.path()).args(["speak", "hello", "-o", "/tmp/never.wav"]));
    assert!(error.contains("not installed") && error.contains("linguastream models fetch"), "{error}");
}

#[test]
fn unknown_language_and_engine_choices_are_explained() {
    let error = fails(bin().arg("transcribe").args(["--from", "xx"]).arg(sample("fa-digits-elyas.wav")));
    assert!(error.contains("language code 'xx'"), "{error}");
    let error = fails(bin().arg("translate").args(["--mt", "firefox"]).arg(sample("fa-digits-elyas.wav")));
    assert!(error.contains("firefox-faen") && error.contains("models import"), "{error}");
    // No English→Persian Firefox model is in the built-in list: the error names what works instead,
    // not Whisper's own translation, which reaches English only.
    let error = fails(
        bin()
            .arg("translate")
            .args(["--from", "en", "--to", "fa", "--mt", "firefox"])
            .arg(sample("fa-digits-elyas.wav")),
    );
    assert!(error.contains("no Firefox-Translations model for en→fa"), "{error}");
    assert!(error.contains("--mt nllb or --mt llm") && error.contains("models.toml"), "{error}");
    assert!(error.contains("pair = \"en-fa\"") && !error.contains("--mt direct"), "{error}");
    let error = fails(bin().arg("translate").args(["--to", "de"]).arg(sample("fa-digits-elyas.wav")));
    assert!(error.contains("no translation model for fa→de is installed"), "{error}");
}

/// A model home holding the real default models, except `ctranslate2`.
fn home_without_ctranslate2() -> tempfile::TempDir {
    home_with_default_models(&["ctranslate2"])
}

#[test]
fn without_the_ctranslate2_library_whisper_asks_for_it_and_the_rest_still_runs() {
    let home = home_without_ctranslate2();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("hello.wav");
    ok(bin().env("LINGUASTREAM_HOME", home.path()).args(["speak", "Hello there."]).arg("-o").arg(&wav));
    assert!(read_wav(&wav).1.len() > 10_000, "no speech written");
    let error = fails(bin().env("LINGUASTREAM_HOME", home.path()).arg("transcribe").arg(sample("fa-one-ali.wav")));
    assert!(error.contains("'ctranslate2' is not installed") && error.contains("models fetch"), "{error}");
}

#[test]
fn a_damaged_whisper_model_is_an_error_from_ctranslate2_not_a_crash() {
    let real = store().model_dir("whisper-base");
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "vocabulary.txt", "tokenizer.json"] {
        std::fs::copy(real.join(file), dir.path().join(file)).unwrap();
    }
    let model = std::fs::read(real.join("model.bin")).unwrap();
    std::fs::write(dir.path().join("model.bin"), &model[..model.len() / 3]).unwrap();
    let output =
        crate::util::run(bin().arg("transcribe").arg("--whisper").arg(dir.path()).arg(sample("fa-one-ali.wav")));
    let error = crate::util::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{error}");
    // CTranslate2's own reason, passed on.
    assert!(error.contains("cannot load the Whisper model") && error.contains("invalid payload size"), "{error}");
}
