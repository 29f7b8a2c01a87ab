//! `linguastream transcribe`: recognised text of one or more recordings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{bail, Result};
use linguastream_core::audio::{AudioReader, DecodeError, STT_RATE};
use linguastream_core::pipeline::{transcribe_passage, PassagePart};
use linguastream_core::runtime::Runtime;
use linguastream_core::stt::WhisperCt2Recognizer;
use linguastream_core::vad::{detect, SegmenterOptions, SpeechDetector};

use super::{recognition_options, segmenter_options, FILE_CUTS};
use crate::cli::TranscribeArgs;

pub fn run(args: TranscribeArgs) -> Result<ExitCode> {
    let options = segmenter_options(&args.recognition, FILE_CUTS).whole_sentences();
    // Every input's header is read before the models load, so a typo costs no waiting.
    let mut failed = 0;
    let mut readers = Vec::new();
    for input in &args.inputs {
        match AudioReader::open(input, STT_RATE) {
            Ok(reader) => readers.push((input.as_path(), reader)),
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
    let (whisper, _) = runtime.whisper(&recognition_options(&args.recognition), false)?;
    let detector = runtime.detector()?;
    // Several inputs are read side by side, one per core: Whisper has a replica per core.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(readers.len());
    let mut engines = Vec::with_capacity(workers);
    for _ in 0..workers {
        engines.push((WhisperCt2Recognizer::try_new(whisper.clone(), &args.recognition.from)?, detector()?));
    }
    let queue = Mutex::new(readers.into_iter().enumerate());
    let printer = Mutex::new(InOrder { many: args.inputs.len() > 1, next: 0, done: BTreeMap::new(), failed });
    std::thread::scope(|scope| {
        for (mut recognizer, mut vad) in engines {
            let (queue, printer) = (&queue, &printer);
            scope.spawn(move || loop {
                let Some((index, (input, mut reader))) = queue.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                    return;
                };
                let text = transcribe(input, &mut reader, vad.as_mut(), &mut recognizer, options);
                printer.lock().unwrap_or_else(|e| e.into_inner()).done(index, input.to_path_buf(), text);
            });
        }
    });
    let failed = printer.into_inner().unwrap_or_else(|e| e.into_inner()).failed;
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The text of one input, what was not spoken reported on stderr as it is found.
fn transcribe(
    input: &Path,
    reader: &mut AudioReader,
    vad: &mut dyn SpeechDetector,
    recognizer: &mut WhisperCt2Recognizer,
    options: SegmenterOptions,
) -> Result<String> {
    let samples = read_all(input, reader)?;
    let mut texts = Vec::new();
    let heard = detect(vad, &samples, options)?;
    for PassagePart { audio: heard, transcript, .. } in
        heard.iter().flat_map(|heard| transcribe_passage(recognizer, heard))
    {
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
}

/// Prints the inputs' texts in the order they were given, as each one's turn comes.
struct InOrder {
    many: bool,
    next: usize,
    done: BTreeMap<usize, (PathBuf, Result<String>)>,
    failed: usize,
}

impl InOrder {
    fn done(&mut self, index: usize, input: PathBuf, text: Result<String>) {
        self.done.insert(index, (input, text));
        while let Some((input, text)) = self.done.remove(&self.next) {
            self.next += 1;
            match text {
                Ok(text) if self.many => println!("{}\t{text}", input.display()),
                Ok(text) => println!("{text}"),
                Err(e) => {
                    self.failed += 1;
                    eprintln!("error: {}", super::one_line(&e));
                }
            }
        }
    }
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
