//! `linguastream transcribe`: recognised text of one or more recordings.

use std::process::ExitCode;

use anyhow::Result;
use linguastream::audio::{decode_file, STT_RATE};
use linguastream::stt::{Recognizer, Task, WhisperCt2Recognizer};
use linguastream::vad::{detect, SileroVad};

use super::{segmenter_options, Runtime, TRANSLATE_PAUSE_MS};
use crate::cli::TranscribeArgs;

pub fn run(args: TranscribeArgs) -> Result<ExitCode> {
    let options = segmenter_options(&args.recognition, TRANSLATE_PAUSE_MS)?;
    let runtime = Runtime::open()?;
    let (whisper, _) = runtime.load_whisper(&args.recognition, false)?;
    let mut recognizer = WhisperCt2Recognizer::try_new(whisper, &args.recognition.from)?;
    let mut vad = SileroVad::try_new(&runtime.onnx_runtime, &runtime.vad_model()?)?;
    let many = args.inputs.len() > 1;
    let mut failed = 0;
    for input in &args.inputs {
        let result = (|| -> Result<String> {
            let audio = decode_file(input, STT_RATE)?;
            let mut texts = Vec::new();
            for utterance in detect(&mut vad, &audio.samples, options)? {
                let transcript = recognizer.transcribe(
                    &audio.samples[utterance.start..utterance.end],
                    Some(utterance.speech_probability),
                    Task::Transcribe,
                )?;
                if transcript.verdict.is_speech() {
                    texts.push(transcript.text);
                } else {
                    eprintln!(
                        "{}: dropped {:.1}–{:.1} s: {}",
                        input.display(),
                        utterance.speech_start as f64 / 16_000.0,
                        utterance.speech_end as f64 / 16_000.0,
                        transcript.verdict.reason()
                    );
                }
            }
            Ok(texts.join(" "))
        })();
        match result {
            Ok(text) if many => println!("{}\t{text}", input.display()),
            Ok(text) => println!("{text}"),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e:#}", input.display());
            }
        }
    }
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
