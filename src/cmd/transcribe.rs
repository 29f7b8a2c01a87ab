//! `linguastream transcribe`: recognised text of one or more recordings.

use std::process::ExitCode;

use anyhow::Result;
use linguastream::audio::{decode_file, STT_RATE};
use linguastream::runtime::Runtime;
use linguastream::stt::{Recognizer, Task, WhisperCt2Recognizer};
use linguastream::vad::detect;

use super::{recognition_options, segmenter_options, TRANSLATE_PAUSE_MS};
use crate::cli::TranscribeArgs;

pub fn run(args: TranscribeArgs) -> Result<ExitCode> {
    let options = segmenter_options(&args.recognition, TRANSLATE_PAUSE_MS)?;
    let runtime = Runtime::open()?;
    let (whisper, _) = runtime.whisper(&recognition_options(&args.recognition, false)?)?;
    let mut recognizer = WhisperCt2Recognizer::try_new(whisper, &args.recognition.from)?;
    let mut vad = runtime.detector()?()?;
    let many = args.inputs.len() > 1;
    let mut failed = 0;
    for input in &args.inputs {
        let result = (|| -> Result<String> {
            let audio = decode_file(input, STT_RATE)?;
            let mut texts = Vec::new();
            for heard in detect(vad.as_mut(), &audio.samples, options)? {
                let probability = Some(heard.utterance.speech_probability);
                let transcript = recognizer.transcribe(&heard.samples, probability, Task::Transcribe)?;
                if transcript.verdict.is_speech() {
                    texts.push(transcript.text);
                } else {
                    eprintln!(
                        "{}: dropped {:.1}–{:.1} s: {}",
                        input.display(),
                        heard.utterance.speech_start as f64 / 16_000.0,
                        heard.utterance.speech_end as f64 / 16_000.0,
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
