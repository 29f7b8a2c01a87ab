//! `linguastream translate` and `transcribe` end to end.

use std::process::Command;

use linguastream_core::audio::Audio;

use crate::util::{bin, hear_english, json, ok, read_wav, sample, stdout, translate_report, words, write_wav_i16};

pub fn white_noise(seconds: f32, amplitude: f32, rate: u32) -> Audio {
    // A fixed-seed xorshift: the same noise every run.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let samples = (0..(seconds * rate as f32) as usize)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amplitude
        })
        .collect();
    Audio { samples, rate }
}

#[test]
fn bundled_sample_becomes_english_speech_and_captions() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, srt, vtt, report) = (
        dir.path().join("out.wav"),
        dir.path().join("out.srt"),
        dir.path().join("out.vtt"),
        dir.path().join("out.json"),
    );
    let captions = ok(bin()
        .arg("translate")
        .arg(sample("fa-sentence-virgool.wav"))
        .arg("-o")
        .arg(&wav)
        .arg("--srt")
        .arg(&srt)
        .arg("--vtt")
        .arg(&vtt)
        .arg("--json")
        .arg(&report));
    assert!(captions.contains("fa: ") && captions.contains("en: "), "captions printed: {captions}");

    let (spec, samples) = read_wav(&wav);
    assert_eq!(spec.sample_rate, 22_050);
    assert_eq!(spec.channels, 1);
    let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len() as f32).sqrt();
    assert!(rms > 0.01, "output is silent (rms {rms})");
    let heard = words(&hear_english(&wav));
    assert!(!heard.is_empty(), "Whisper heard no English in the output");

    let report = json(&report);
    let segments = report["segments"].as_array().unwrap();
    assert!(!segments.is_empty());
    for s in segments {
        assert!(s["start_s"].as_f64().unwrap() < s["end_s"].as_f64().unwrap());
        assert!(!s["source_text"].as_str().unwrap().is_empty());
        assert!(!s["translated_text"].as_str().unwrap().is_empty());
        for stage in ["stt", "mt", "tts"] {
            assert!(s["timings_ms"][stage].as_f64().unwrap() >= 0.0);
        }
    }
    assert!(report["model"]["stt"].is_object());

    // Each caption's two lines (a long utterance is captioned in parts) join back into the text.
    let text_of = |key: &str| segments.iter().map(|s| s[key].as_str().unwrap()).collect::<Vec<_>>().join(" ");
    let srt = std::fs::read_to_string(&srt).unwrap();
    assert!(srt.starts_with("1\n00:00:"), "{srt}");
    let lines = |nth: usize| srt.split("\n\n").filter_map(|cue| cue.lines().nth(nth)).collect::<Vec<_>>().join(" ");
    assert_eq!(lines(2), text_of("source_text"), "{srt}");
    assert_eq!(lines(3), text_of("translated_text"), "{srt}");
    let vtt = std::fs::read_to_string(&vtt).unwrap();
    assert!(vtt.starts_with("WEBVTT\n\n00:00:"), "{vtt}");
    assert_eq!(vtt.matches(" --> ").count(), srt.matches(" --> ").count());
}

#[test]
fn output_rate_is_configurable_and_length_follows_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("out.wav");
    ok(bin().arg("translate").arg(sample("fa-digits-fateme.wav")).args(["--rate", "16000", "-q", "-o"]).arg(&wav));
    let (spec, samples) = read_wav(&wav);
    assert_eq!(spec.sample_rate, 16_000);
    let input_s = read_wav(&sample("fa-digits-fateme.wav")).1.len() as f64 / 16_000.0;
    assert!(samples.len() as f64 / 16_000.0 >= input_s - 0.01);
}

#[test]
fn silence_and_noise_are_never_spoken() {
    let dir = tempfile::tempdir().unwrap();
    let silence = dir.path().join("silence.wav");
    write_wav_i16(&silence, &Audio { samples: vec![0.0; 30 * 16_000], rate: 16_000 }, 1);
    let noise = dir.path().join("noise.wav");
    write_wav_i16(&noise, &white_noise(30.0, 0.3, 16_000), 1);
    for input in [&silence, &noise] {
        let (report, speech) = translate_report(input, &[]);
        assert!(report["segments"].as_array().unwrap().is_empty(), "{input:?}: {report}");
        assert!(speech.iter().all(|&s| s == 0.0), "{input:?} produced sound");
        assert!(speech.len() >= 30 * 22_050 - 1);
    }
}

#[test]
fn portuguese_runs_through_the_firefox_engine_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let speech = dir.path().join("pt.wav");
    let status = Command::new("espeak-ng")
        .args(["-v", "pt", "-s", "140", "-w"])
        .arg(&speech)
        .arg("O tempo está muito bom hoje.")
        .status()
        .expect("espeak-ng is installed by make test");
    assert!(status.success());
    let (report, _) = translate_report(&speech, &["--from", "pt", "--mt", "firefox"]);
    assert!(report["model"]["mt"].as_str().unwrap().starts_with("firefox"));
    let english: String =
        report["segments"].as_array().unwrap().iter().map(|s| s["translated_text"].as_str().unwrap()).collect();
    // Whisper base hears espeak's "tempo" as time or weather depending on rounding; "muito bom"
    // comes through either way.
    assert!(english.to_lowercase().contains("very good"), "{report}");
}

#[test]
fn direct_engine_is_whispers_own_translation() {
    let (report, _) = translate_report(&sample("fa-sentence-virgool.wav"), &["--mt", "direct"]);
    assert!(report["model"]["mt"].as_str().unwrap().starts_with("direct"));
    assert!(!report["segments"].as_array().unwrap().is_empty());
}

#[test]
fn transcribe_prints_one_line_per_input() {
    let out = ok(bin().arg("transcribe").arg(sample("fa-sentence-virgool.wav")).arg(sample("fa-one-ali.wav")));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with(&format!("{}\t", sample("fa-sentence-virgool.wav").display())));
    assert!(lines[1].starts_with(&format!("{}\t", sample("fa-one-ali.wav").display())));
    assert!(lines.iter().all(|l| l.split('\t').nth(1).is_some_and(|t| !t.trim().is_empty())), "{out}");
    // Inputs are read side by side (the short one ends first), each exactly as when read alone.
    let alone = ok(bin().arg("transcribe").arg(sample("fa-sentence-virgool.wav")));
    assert_eq!(lines[0].split('\t').nth(1), Some(alone.trim_end()), "{out}");
}

#[test]
fn help_explains_the_commands() {
    let help = stdout(&bin().arg("--help").output().unwrap());
    for command in ["translate", "transcribe", "speak", "models"] {
        assert!(help.contains(command), "{help}");
    }
    let help = stdout(&bin().args(["translate", "--help"]).output().unwrap());
    for flag in ["--srt", "--vtt", "--json", "--from", "--mt", "--whisper"] {
        assert!(help.contains(flag), "{flag} missing from translate --help");
    }
}
