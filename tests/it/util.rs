//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use linguastream_core::audio::Audio;
use linguastream_core::models::ModelStore;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_linguastream"))
}

/// The model store the tests use; panics with instructions when models are missing.
pub fn store() -> ModelStore {
    let store = ModelStore::open_default();
    for entry in store.manifest().defaults() {
        if let Err(e) = store.require(&entry.id) {
            panic!("the tests need the default models ({e}); run `make test` or `linguastream models fetch`");
        }
    }
    store
}

/// A LinguaStream home (`LINGUASTREAM_HOME`) holding the installed default models, linked, not
/// copied, except those named in `except`; tests install or break models there, not in the real
/// home.
pub fn home_with_default_models(except: &[&str]) -> tempfile::TempDir {
    let store = store();
    let home = tempfile::tempdir().unwrap();
    let models = home.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    for entry in store.manifest().defaults().filter(|e| !except.contains(&e.id.as_str())) {
        std::os::unix::fs::symlink(store.model_dir(&entry.id), models.join(&entry.id)).unwrap();
    }
    home
}

pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples").join(name)
}

pub fn run(command: &mut Command) -> Output {
    store();
    let output = command.output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "the program panicked:\n{stderr}");
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(output.status.success(), "command failed: {command:?}\n{}", stderr(&output));
    stdout(&output)
}

/// Runs a command that must fail cleanly; returns its stderr.
pub fn fails(command: &mut Command) -> String {
    let output = run(command);
    assert!(!output.status.success(), "command should have failed: {command:?}");
    stderr(&output)
}

pub fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut reader = hound::WavReader::open(path).expect("a readable WAV");
    let spec = reader.spec();
    let samples = reader.samples::<i16>().map(|s| f32::from(s.unwrap()) / 32768.0).collect();
    (spec, samples)
}

pub fn write_wav_i16(path: &Path, audio: &Audio, channels: u16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: audio.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for &s in &audio.samples {
        for _ in 0..channels {
            writer.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16).unwrap();
        }
    }
    writer.finalize().unwrap();
}

/// Lower-case words of `text`, letters and digits only.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// English words Whisper hears in a WAV file.
pub fn hear_english(path: &Path) -> String {
    ok(bin().args(["transcribe", "--from", "en"]).arg(path))
}

/// Reads a JSON file.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs `translate INPUT EXTRA… -o out.wav --json out.json`: the report and the English speech.
pub fn translate_report(input: &Path, extra: &[&str]) -> (serde_json::Value, Vec<f32>) {
    let dir = tempfile::tempdir().unwrap();
    let (wav, report) = (dir.path().join("out.wav"), dir.path().join("out.json"));
    ok(bin().arg("translate").arg(input).args(extra).arg("-o").arg(&wav).arg("--json").arg(&report));
    (json(&report), read_wav(&wav).1)
}
