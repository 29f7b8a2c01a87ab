//! The hostile-but-fair corpus (issue 11): each case with its exit code, its message, and what is
//! (not) left at the output paths. Inputs are small generated files.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use linguastream_core::audio::{decode_file, Audio, AudioReader};

use crate::util::{bin, home_with_default_models, ok, run, sample, stderr, store, write_wav_i16};

/// Runs a command that must fail with exit code `code`; returns its stderr.
fn fails_with(code: i32, command: &mut Command) -> String {
    let output = run(command);
    assert_eq!(output.status.code(), Some(code), "{command:?}\n{}", stderr(&output));
    stderr(&output)
}

/// A model home with nothing installed: a run that fails on it with an output error has
/// checked its outputs before loading any model.
fn no_models() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// The bundled sample, `times` times over, as 16 kHz mono.
fn speech(times: usize) -> Audio {
    let one = decode_file(&sample("fa-digits-fateme.wav"), 16_000).unwrap();
    Audio { samples: one.samples.repeat(times), rate: 16_000 }
}

fn write_f32_wav(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
}

/// The bytes of a 16-bit WAV whose sizes say "unknown length", as ffmpeg writes to a pipe.
fn streaming_wav(audio: &Audio) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.wav");
    write_wav_i16(&path, audio, 1);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes
}

fn segments(json: &Path) -> Vec<serde_json::Value> {
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    report["segments"].as_array().unwrap().clone()
}

fn decode_all(path: &Path) -> Vec<f32> {
    let mut reader = AudioReader::open(path, 22_050).unwrap();
    let mut samples = Vec::new();
    while let Some(piece) = reader.next_chunk().unwrap() {
        samples.extend(piece);
    }
    samples
}

// Case 1: outputs appear whole or not at all.

#[test]
fn a_killed_run_leaves_the_previous_outputs_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.wav");
    write_wav_i16(&input, &speech(3), 1);
    let (wav, json) = (dir.path().join("out.wav"), dir.path().join("out.json"));
    std::fs::write(&wav, "previous good speech").unwrap();
    std::fs::write(&json, "previous report").unwrap();
    let mut child = bin()
        .arg("translate")
        .arg(&input)
        .arg("-o")
        .arg(&wav)
        .arg("--json")
        .arg(&json)
        .arg("-q")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed while the English speech is being written (its temporary file has grown).
    let writing =
        || leftovers(dir.path()).iter().any(|name| std::fs::metadata(dir.path().join(name)).is_ok_and(|m| m.len() > 0));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !writing() {
        assert!(Instant::now() < deadline, "no temporary output appeared");
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be killed");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&wav).unwrap(), "previous good speech");
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "previous report");

    // The next run replaces both and cleans up what the killed one left.
    ok(bin().arg("translate").arg(&input).arg("-o").arg(&wav).arg("--json").arg(&json).arg("-q"));
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    assert!(!segments(&json).is_empty());
    assert!(decode_all(&wav).len() as f64 >= 22_050.0 * speech(3).duration_s() - 1.0);
}

/// Files are read in passages of several sentences. Whisper base read the bundled digits said
/// three times in a row (one 20 s passage) as a loop of Latin letters on an Intel CPU; then each
/// time is read on its own. On an AMD one its int8 arithmetic reads the passage whole, in Persian
/// words; which it does can change with the load (the sampling fallbacks run on whichever
/// CTranslate2 worker is free). A time that loops even alone keeps what Whisper heard before the
/// loop. Either way nothing said is refused or lost: no time is dropped, the transcript holds well
/// over one time's words, and `translate`'s segments span the recording.
#[test]
fn a_passage_whisper_cannot_read_whole_is_read_piece_by_piece() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("thrice.wav");
    write_wav_i16(&input, &speech(3), 1);
    let output = run(bin().arg("transcribe").arg(&input));
    assert!(output.status.success() && !stderr(&output).contains("dropped"), "{}", stderr(&output));
    let once = ok(bin().arg("transcribe").arg(sample("fa-digits-fateme.wav")));
    let thrice = crate::util::stdout(&output);
    assert!(
        crate::util::words(&thrice).len() * 2 >= crate::util::words(&once).len() * 3,
        "the three times are in the transcript: {once} | {thrice}"
    );

    let json = dir.path().join("out.json");
    ok(bin().arg("translate").arg(&input).arg("-o").arg(dir.path().join("out.wav")).arg("--json").arg(&json).arg("-q"));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let segments = report["segments"].as_array().unwrap();
    let seconds = |segment: &serde_json::Value, key: &str| segment[key].as_f64().unwrap();
    let (first, last) = (segments.first().unwrap(), segments.last().unwrap());
    let duration = speech(3).duration_s();
    assert!(seconds(first, "start_s") < duration / 6.0 && seconds(last, "end_s") > duration * 5.0 / 6.0, "{report}");
    assert!(report["dropped"].as_array().is_none_or(Vec::is_empty), "{report}");
}

#[test]
fn a_write_failure_midway_leaves_the_previous_output_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    std::fs::write(&wav, "previous good speech").unwrap();
    // Files of at most 64 KiB: the English speech (≈300 KB) cannot be written, as on a full disk.
    let output = run(Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 64; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_linguastream"))
        .arg("translate")
        .arg(sample("fa-digits-fateme.wav"))
        .arg("-o")
        .arg(&wav)
        .arg("-q"));
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{error}");
    assert!(error.contains("cannot write") && error.contains("out.wav"), "{error}");
    assert_eq!(std::fs::read_to_string(&wav).unwrap(), "previous good speech");
    assert!(leftovers(dir.path()).is_empty());
}

#[test]
fn disk_full_is_named_as_such() {
    let error = fails_with(1, bin().args(["speak", "Hello there, this is a test.", "-o", "/dev/full"]));
    assert!(error.contains("disk full while writing /dev/full"), "{error}");
}

// Case 2: every output location is checked before any model loads.

#[test]
fn bad_output_locations_are_refused_before_the_models_load() {
    let home = no_models();
    let dir = tempfile::tempdir().unwrap();
    let input = sample("fa-digits-fateme.wav");
    let translate = |extra: &[&std::ffi::OsStr]| {
        let mut command = bin();
        command.env("LINGUASTREAM_HOME", home.path()).arg("translate").arg(&input).args(extra);
        fails_with(1, &mut command)
    };
    let missing = dir.path().join("no/such/folder/out.wav");
    let error = translate(&["-o".as_ref(), missing.as_os_str()]);
    assert!(error.contains("the folder") && error.contains("does not exist"), "{error}");

    let error = translate(&["-o".as_ref(), dir.path().as_os_str()]);
    assert!(error.contains("is a directory; give a file name for the English speech"), "{error}");

    let error = translate(&["-o".as_ref(), input.as_os_str()]);
    assert!(error.contains("would overwrite the input"), "{error}");

    // Only the JSON path is bad: nothing at all is written.
    let wav = dir.path().join("out.wav");
    let error = translate(&["-o".as_ref(), wav.as_os_str(), "--json".as_ref(), "/proc/report.json".as_ref()]);
    assert!(error.contains("/proc") && error.contains("not writable"), "{error}");
    assert!(!wav.exists());

    let srt = dir.path().join("same.txt");
    let error = translate(&["--srt".as_ref(), srt.as_os_str(), "--vtt".as_ref(), srt.as_os_str()]);
    assert!(error.contains("are the same file"), "{error}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "something was written");

    let error = fails_with(1, bin().env("LINGUASTREAM_HOME", home.path()).args(["speak", "hi", "-o"]).arg(&missing));
    assert!(error.contains("does not exist"), "{error}");
    let metrics = dir.path().join("gone/m.json");
    let error = fails_with(
        1,
        bin().env("LINGUASTREAM_HOME", home.path()).args(["live", "--output", "none", "--metrics-json"]).arg(&metrics),
    );
    assert!(error.contains("does not exist"), "{error}");
    let wav = dir.path().join("gone/english.wav");
    let error = fails_with(
        1,
        bin().env("LINGUASTREAM_HOME", home.path()).args(["live", "--output", "none", "--wav"]).arg(&wav),
    );
    assert!(error.contains("does not exist") && error.contains("--wav"), "{error}");
}

// Case 3: numeric flags are checked when parsed (clap's exit code 2), never a panic.

#[test]
fn numeric_flags_out_of_range_are_refused_at_once() {
    let input = sample("fa-digits-fateme.wav");
    let cases: [(&[&str], &str); 7] = [
        (&["translate", "IN", "--rate", "0"], "between 8000 and 192000 Hz"),
        (&["speak", "hello", "-o", "/tmp/x.wav", "--rate", "0"], "between 8000 and 192000 Hz"),
        (&["translate", "IN", "--threads", "10000"], "cores"),
        (&["translate", "IN", "--pause-ms", "0"], "between 100 and 5000 ms"),
        (&["live", "--duration", "0"], "positive number of seconds"),
        (&["translate", "IN", "--max-utterance-s", "0.5"], "between 1 and 29 s"),
        (&["transcribe", "IN", "--vad-threshold", "2"], "between 0.05 and 0.95"),
    ];
    for (args, expected) in cases {
        let mut command = bin();
        for arg in args {
            if *arg == "IN" {
                command.arg(&input);
            } else {
                command.arg(arg);
            }
        }
        let error = fails_with(2, &mut command);
        assert!(error.contains(expected), "{args:?}: {error}");
    }
}

// Case 4: non-finite samples are repaired, counted, and the speech around them translated.

#[test]
fn speech_with_nan_samples_is_still_translated_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut samples = speech(1).samples;
    let step = 100; // 1 % of the samples
    for s in samples.iter_mut().step_by(step) {
        *s = f32::NAN;
    }
    let input = dir.path().join("nan.wav");
    write_f32_wav(&input, &samples);
    let json = dir.path().join("r.json");
    let output =
        run(bin().arg("translate").arg(&input).arg("-o").arg(dir.path().join("o.wav")).arg("--json").arg(&json));
    let error = stderr(&output);
    assert!(output.status.success(), "{error}");
    let expected = samples.len().div_ceil(step);
    assert!(error.contains(&format!("warning: {expected} samples (1.00% of the input) were not numbers")), "{error}");
    assert!(!segments(&json).is_empty(), "no speech translated around the NaN samples");

    let all_bad = dir.path().join("inf.wav");
    write_f32_wav(&all_bad, &[f32::INFINITY; 32_000]);
    let output = run(bin().arg("translate").arg(&all_bad).arg("-o").arg(dir.path().join("i.wav")).arg("-q"));
    assert!(output.status.success());
    assert!(stderr(&output).contains("32000 samples (100.00% of the input)"), "{}", stderr(&output));
}

// Case 5: unknown-length WAV, FIFOs, `-` for stdin and stdout.

#[test]
fn a_piped_wav_on_stdin_becomes_a_wav_on_stdout() {
    let bytes = streaming_wav(&speech(1));
    let mut child = bin()
        .args(["translate", "-", "-o", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let output: Output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let error = stderr(&output);
    assert!(output.status.success(), "{error}");
    assert!(error.contains("en: "), "captions go to stderr when stdout carries the WAV: {error}");
    assert_eq!(&output.stdout[..4], b"RIFF");
    assert_eq!(&output.stdout[40..44], &u32::MAX.to_le_bytes(), "a pipe gets the unknown-length header");
    let dir = tempfile::tempdir().unwrap();
    let back = dir.path().join("back.wav");
    std::fs::write(&back, &output.stdout).unwrap();
    let english = decode_all(&back);
    assert!(english.len() as f64 >= 22_050.0 * speech(1).duration_s() - 1.0);
    assert!(english.iter().any(|s| s.abs() > 0.05), "no speech on stdout");
}

#[test]
fn a_fifo_is_read_as_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.wav");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let bytes = streaming_wav(&speech(1));
    let path = fifo.clone();
    let writer = std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(path)?.write_all(&bytes));
    let json = dir.path().join("r.json");
    ok(bin().arg("translate").arg(&fifo).arg("-o").arg(dir.path().join("o.wav")).arg("--json").arg(&json).arg("-q"));
    writer.join().unwrap().unwrap();
    assert!(!segments(&json).is_empty());
}

// Case 6: a changed model file is caught at load even with its mtime put back.

#[test]
fn a_model_changed_with_its_mtime_restored_is_refused() {
    let store = store();
    let home = home_with_default_models(&["silero-vad"]);
    let models = home.path().join("models");
    let copy = models.join("silero-vad");
    std::fs::create_dir(&copy).unwrap();
    for file in std::fs::read_dir(store.model_dir("silero-vad")).unwrap().flatten() {
        std::fs::copy(file.path(), copy.join(file.file_name())).unwrap();
    }
    let onnx = copy.join("silero_vad.onnx");
    let mtime = std::fs::metadata(&onnx).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&onnx).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&onnx, bytes).unwrap();
    std::fs::File::options().write(true).open(&onnx).unwrap().set_modified(mtime).unwrap();
    let out = tempfile::tempdir().unwrap();
    let error = fails_with(
        1,
        bin()
            .env("LINGUASTREAM_HOME", home.path())
            .arg("translate")
            .arg(sample("fa-digits-fateme.wav"))
            .arg("-o")
            .arg(out.path().join("o.wav")),
    );
    assert!(error.contains("silero-vad") && error.contains("checksum mismatch"), "{error}");
    assert!(!out.path().join("o.wav").exists());
}

// Case 7: model states say what is wrong.

#[test]
fn a_garbage_install_record_fails_verify_by_name() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("models/silero-vad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("installed.json"), "\u{0}garbage{").unwrap();
    let output = run(bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "verify"]));
    assert_eq!(output.status.code(), Some(1));
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(report.contains("FAILED   silero-vad") && report.contains("damaged install record"), "{report}");
    let output = run(bin().env("LINGUASTREAM_HOME", home.path()).args(["models", "list"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("DAMAGED"));
}

#[test]
fn an_unreadable_model_store_is_not_called_missing() {
    let home = tempfile::tempdir().unwrap();
    let models = home.path().join("models");
    std::fs::create_dir_all(models.join("onnxruntime")).unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&models, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads anything: run as nobody then.
    let mut command = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_linguastream")]);
        c
    } else {
        bin()
    };
    command.env("LINGUASTREAM_HOME", home.path()).args(["speak", "hi", "-o", "/dev/null"]);
    let error = fails_with(1, &mut command);
    std::fs::set_permissions(&models, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(error.contains("cannot read the model store") && error.contains("ermission denied"), "{error}");
    assert!(!error.contains("not installed"), "{error}");
}

// Case 10: the smaller messages.

#[test]
fn a_directory_as_input_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let error = fails_with(1, bin().arg("translate").arg(dir.path()).arg("-o").arg(dir.path().join("o.wav")));
    assert!(error.contains("is a directory, not an audio file"), "{error}");
}

#[test]
fn transcribe_reports_a_bad_input_once_before_loading_models() {
    let home = no_models();
    let output = run(bin().env("LINGUASTREAM_HOME", home.path()).args(["transcribe", "/nonexistent/a.wav"]));
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert_eq!(error.matches("/nonexistent/a.wav").count(), 1, "{error}");
    assert!(!error.contains("not installed"), "models were looked at first: {error}");
}

#[test]
fn bench_names_the_manifest_line_and_warns_about_missing_references() {
    let home = no_models();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.tsv");
    std::fs::write(&manifest, "id\taudio\ten_reference\na\ta.wav\thello\nb\tmissing.wav\t\n").unwrap();
    std::fs::write(dir.path().join("a.wav"), "").unwrap();
    let error = fails_with(1, bin().env("LINGUASTREAM_HOME", home.path()).arg("bench").arg(&manifest));
    assert!(error.contains("line 3") && error.contains("missing.wav does not exist"), "{error}");

    std::fs::write(dir.path().join("missing.wav"), "").unwrap();
    let error = fails_with(1, bin().env("LINGUASTREAM_HOME", home.path()).arg("bench").arg(&manifest));
    assert!(error.contains("warning: manifest line 3 (b): no en_reference"), "{error}");
}

#[test]
fn a_one_sample_file_has_no_real_time_factor() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("one.wav");
    write_wav_i16(&input, &Audio { samples: vec![0.1], rate: 16_000 }, 1);
    let output = run(bin().arg("translate").arg(&input).arg("-o").arg(dir.path().join("o.wav")));
    let error = stderr(&output);
    assert!(output.status.success(), "{error}");
    assert!(error.contains("too short for a real-time factor"), "{error}");
}

#[test]
fn no_sound_server_says_how_to_start_one() {
    let empty = tempfile::tempdir().unwrap();
    let error = fails_with(1, bin().env("XDG_RUNTIME_DIR", empty.path()).env_remove("PULSE_SERVER").arg("devices"));
    let socket = PathBuf::from(empty.path()).join("pulse/native");
    assert!(error.contains("no PulseAudio/PipeWire sound server is reachable"), "{error}");
    assert!(error.contains(&socket.display().to_string()) && error.contains("pulseaudio --start"), "{error}");
}
