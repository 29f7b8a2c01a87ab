//! The translation pipeline: VAD → STT → MT → TTS, one thread per stage, joined by bounded
//! channels so a slow stage holds the ones before it back instead of piling up memory.
//!
//! Every model is created inside the thread that uses it (the Whisper model, shared with the
//! `direct` translator, is the exception). A failure on one utterance is reported and the run
//! goes on; a stage that cannot start stops the run with its error.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use crate::audio::STT_RATE;
use crate::mt::{
    CachedTranslator, DirectWhisperTranslator, FirefoxTranslator, MtError, SourceSegment,
    Translator,
};
use crate::output::{DroppedSegment, StageTimings, TranslatedSegment};
use crate::stt::{Recognizer, Task, WhisperCt2Recognizer, WhisperModel};
use crate::text::is_readable_in_english;
use crate::tts::{PiperSynthesizer, Synthesizer};
use crate::vad::{Segmenter, SegmenterOptions, SileroVad, SpeechDetector, Utterance, FRAME};

/// Utterances allowed to wait between two stages.
const QUEUE: usize = 4;

/// Which translation engine to run.
#[derive(Debug, Clone)]
pub enum MtEngine {
    /// Whisper's translate task on the audio.
    Direct,
    /// A Firefox-Translations model in this directory.
    Firefox(PathBuf),
}

/// Everything the pipeline needs to run.
#[derive(Clone)]
pub struct PipelineConfig {
    pub language: String,
    pub whisper: Arc<WhisperModel>,
    pub mt: MtEngine,
    pub onnx_runtime: PathBuf,
    pub vad_model: PathBuf,
    pub voice: PathBuf,
    pub segmenter: SegmenterOptions,
    pub translation_cache: NonZeroUsize,
    pub tts_threads: usize,
}

/// What the pipeline reports as it goes.
#[derive(Debug, Clone)]
pub enum Event {
    Translated(TranslatedSegment),
    Dropped(DroppedSegment),
    /// A recoverable problem with one utterance.
    Warning(String),
}

/// A stage that could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Vad(#[from] crate::vad::VadError),
    #[error(transparent)]
    Stt(#[from] crate::stt::SttError),
    #[error(transparent)]
    Mt(#[from] MtError),
    #[error(transparent)]
    Tts(#[from] crate::tts::TtsError),
}

struct Heard {
    utterance: Utterance,
    samples: Vec<f32>,
}

struct Recognized {
    heard: Heard,
    text: String,
    stt_ms: f64,
}

struct Translated {
    recognized: Recognized,
    text: String,
    mt_failed: bool,
    mt_ms: f64,
}

fn seconds(sample: usize) -> f64 {
    sample as f64 / f64::from(STT_RATE)
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Translates 16 kHz mono `samples`, calling `on_event` in input order. Returns the TTS rate.
pub fn run(
    samples: &[f32],
    config: &PipelineConfig,
    mut on_event: impl FnMut(Event),
) -> Result<u32, PipelineError> {
    let tts_rate = std::sync::OnceLock::new();
    std::thread::scope(|scope| {
        let (heard_tx, heard_rx) = sync_channel::<Heard>(QUEUE);
        let (recognized_tx, recognized_rx) = sync_channel::<Result<Recognized, Event>>(QUEUE);
        let (translated_tx, translated_rx) = sync_channel::<Result<Translated, Event>>(QUEUE);
        let (out_tx, out_rx) = sync_channel::<Event>(QUEUE);

        let vad = scope.spawn(|| vad_stage(samples, config, heard_tx));
        let stt = scope.spawn(|| stt_stage(config, heard_rx, recognized_tx));
        let mt = scope.spawn(|| mt_stage(config, recognized_rx, translated_tx));
        let tts = scope.spawn(|| tts_stage(config, translated_rx, out_tx, &tts_rate));
        for event in out_rx {
            on_event(event);
        }
        // Report the earliest stage's failure: later stages only stopped because it did.
        for stage in [vad, stt, mt, tts] {
            stage.join().expect("pipeline stage panicked")?;
        }
        Ok(*tts_rate.get().unwrap_or(&22_050))
    })
}

fn vad_stage(
    samples: &[f32],
    config: &PipelineConfig,
    out: SyncSender<Heard>,
) -> Result<(), PipelineError> {
    let mut detector = SileroVad::try_new(&config.onnx_runtime, &config.vad_model)?;
    let mut segmenter = Segmenter::new(config.segmenter);
    let mut frame = vec![0.0f32; FRAME];
    let send = |utterances: Vec<Utterance>| {
        for utterance in utterances {
            let end = utterance.end.min(samples.len());
            let heard = Heard {
                samples: samples[utterance.start.min(end)..end].to_vec(),
                utterance,
            };
            if out.send(heard).is_err() {
                return false;
            }
        }
        true
    };
    for chunk in samples.chunks(FRAME) {
        frame[..chunk.len()].copy_from_slice(chunk);
        frame[chunk.len()..].fill(0.0);
        let probability = detector.speech_probability(&frame)?;
        if !send(segmenter.push(probability)) {
            return Ok(());
        }
    }
    send(segmenter.finish());
    Ok(())
}

fn stt_stage(
    config: &PipelineConfig,
    input: Receiver<Heard>,
    out: SyncSender<Result<Recognized, Event>>,
) -> Result<(), PipelineError> {
    let mut recognizer = WhisperCt2Recognizer::try_new(config.whisper.clone(), &config.language)?;
    for heard in input {
        let started = Instant::now();
        let (start_s, end_s) = (
            seconds(heard.utterance.speech_start),
            seconds(heard.utterance.speech_end),
        );
        let message = match recognizer.transcribe(&heard.samples, Task::Transcribe) {
            Ok(t) if t.verdict.is_speech() => Ok(Recognized {
                heard,
                text: t.text,
                stt_ms: ms_since(started),
            }),
            Ok(t) => Err(Event::Dropped(DroppedSegment {
                start_s,
                end_s,
                text: t.text,
                reason: t.verdict.reason(),
            })),
            Err(e) => Err(Event::Dropped(DroppedSegment {
                start_s,
                end_s,
                text: String::new(),
                reason: e.to_string(),
            })),
        };
        if out.send(message).is_err() {
            break;
        }
    }
    Ok(())
}

fn make_translator(config: &PipelineConfig) -> Result<Box<dyn Translator>, PipelineError> {
    Ok(match &config.mt {
        MtEngine::Direct => Box::new(DirectWhisperTranslator::new(
            config.whisper.clone(),
            &config.language,
        )),
        MtEngine::Firefox(dir) => Box::new(CachedTranslator::new(
            FirefoxTranslator::try_new(dir)?,
            config.translation_cache,
        )),
    })
}

fn mt_stage(
    config: &PipelineConfig,
    input: Receiver<Result<Recognized, Event>>,
    out: SyncSender<Result<Translated, Event>>,
) -> Result<(), PipelineError> {
    let mut translator = make_translator(config)?;
    for message in input {
        let message = message.map(|recognized| {
            let started = Instant::now();
            let source = SourceSegment {
                text: &recognized.text,
                audio: &recognized.heard.samples,
            };
            let (text, mt_failed) = match translator.translate(source) {
                Ok(text) => (text, false),
                Err(e) => {
                    let _ = out.send(Err(Event::Warning(format!(
                        "translation failed at {:.1} s ({e}); the caption keeps the {} text",
                        seconds(recognized.heard.utterance.speech_start),
                        config.language
                    ))));
                    (recognized.text.clone(), true)
                }
            };
            Translated {
                recognized,
                text,
                mt_failed,
                mt_ms: ms_since(started),
            }
        });
        if out.send(message).is_err() {
            break;
        }
    }
    Ok(())
}

fn tts_stage(
    config: &PipelineConfig,
    input: Receiver<Result<Translated, Event>>,
    out: SyncSender<Event>,
    rate: &std::sync::OnceLock<u32>,
) -> Result<(), PipelineError> {
    let mut synthesizer =
        PiperSynthesizer::try_new(&config.onnx_runtime, &config.voice, config.tts_threads)?;
    let _ = rate.set(synthesizer.sample_rate());
    for message in input {
        let event = match message {
            Err(event) => event,
            Ok(translated) => {
                let started = Instant::now();
                let mut speech = Vec::new();
                // An English voice reading another script is noise to the listener; the caption
                // still carries the text, flagged. Numbers and Latin text are still spoken.
                let speakable = !translated.mt_failed || is_readable_in_english(&translated.text);
                if !speakable {
                    let _ = out.send(Event::Warning(format!(
                        "not speaking untranslated text: \"{}\"",
                        translated.text
                    )));
                } else if let Err(e) = synthesizer.synthesize(&translated.text, &mut |sentence| {
                    speech.extend_from_slice(sentence)
                }) {
                    let _ = out.send(Event::Warning(format!(
                        "speech synthesis failed for \"{}\": {e}",
                        translated.text
                    )));
                }
                let utterance = &translated.recognized.heard.utterance;
                Event::Translated(TranslatedSegment {
                    start_s: seconds(utterance.speech_start),
                    end_s: seconds(utterance.speech_end),
                    source_text: translated.recognized.text,
                    translated_text: translated.text,
                    mt_failed: translated.mt_failed,
                    timings_ms: StageTimings {
                        stt: translated.recognized.stt_ms,
                        mt: translated.mt_ms,
                        tts: ms_since(started),
                    },
                    speech_start_s: 0.0,
                    speech,
                })
            }
        };
        if out.send(event).is_err() {
            break;
        }
    }
    Ok(())
}
