//! `linguastream transcribe`: recognised text of one or more recordings.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use linguastream_core::audio::{AudioReader, DecodeError, STT_RATE};
use linguastream_core::pipeline::transcribe_passage;
use linguastream_core::runtime::Runtime;
use linguastream_core::stt::WhisperCt2Recognizer;
use linguastream_core::vad::detect;

use super::{recognition_options, segmenter_options, FILE_CUTS};
use crate::cli::TranscribeArgs;

pub fn run(args: TranscribeArgs) -> Result<ExitCode> {
    let options = segmenter_options(&args.recognition, FILE_CUTS, false);
    // Every input's header is read before the models load, so a typo costs no waiting.
    let mut failed = 0;
    let mut readers = Vec::new();
    for input in &args.inputs {
        match AudioReader::open(input, STT_RATE) {
            Ok(reader) => readers.push((input, reader)),
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    if readers.is_empty() {
        bail!("none of the {} input(s) could be read", args.inputs.len());
    }
    let runtime = Runtime::open()?;
    let (whisper, _) = runtime.whisper(&recognition_options(&args.recognition, false))?;
    let mut recognizer = WhisperCt2Recognizer::try_new(whisper, &args.recognition.from)?;
    let mut vad = runtime.detector()?()?;
    let many = args.inputs.len() > 1;
    for (input, mut reader) in readers {
        let result = (|| -> Result<String> {
            let samples = read_all(input, &mut reader)?;
            let mut texts = Vec::new();
            let heard = detect(vad.as_mut(), &samples, options)?;
            for (heard, transcript, _) in heard.iter().flat_map(|heard| transcribe_passage(&mut recognizer, heard)) {
                let transcript = transcript?;
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
                eprintln!("error: {e:#}");
            }
        }
    }
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn read_all(input: &Path, reader: &mut AudioReader) -> Result<Vec<f32>, DecodeError> {
    let mut samples = Vec::new();
    while let Some(piece) = reader.next_chunk()? {
        samples.extend_from_slice(&piece);
    }
    let (bad, _) = reader.non_finite_samples();
    if bad > 0 {
        eprintln!("warning: {}: {bad} samples were not numbers (NaN or infinity) and were repaired", input.display());
    }
    Ok(samples)
}
