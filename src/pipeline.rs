//! The translation pipeline: VAD → STT → MT → TTS, one thread per stage, joined by bounded
//! channels so a slow stage holds the ones before it back instead of piling up memory.
//!
//! Audio comes in as timestamped [`Chunk`]s (from a file, a paced file or a microphone), and each
//! utterance carries the instants it passed each stage, so latency is measured, not guessed.
//! Every model is created inside the thread that uses it (the Whisper model, shared with the
//! `direct` translator, is the exception). A failure on one utterance is reported and the run
//! goes on; a stage that cannot start stops the run with its error.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use crate::audio::{Chunk, STT_RATE};
use crate::mt::{CachedTranslator, DirectWhisperTranslator, FirefoxTranslator, MtError, SourceSegment, Translator};
use crate::output::{DroppedSegment, StageTimings, TranslatedSegment};
use crate::stt::{Recognizer, Task, WhisperCt2Recognizer, WhisperModel};
use crate::text::is_readable_in_english;
use crate::tts::{PiperSynthesizer, Synthesizer};
use crate::vad::{HeardUtterance, SegmenterOptions, SileroVad, StreamingVad};

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
    /// Send each sentence's speech as soon as it is synthesised ([`Event::Speech`]) instead of
    /// collecting an utterance's speech into its [`TranslatedSegment`].
    pub stream_speech: bool,
}

/// When an utterance passed each stage.
#[derive(Debug, Clone, Copy)]
pub struct StageMarks {
    /// When the last speech sample was captured.
    pub speech_end_at: Instant,
    /// When the VAD decided the utterance was over.
    pub detected_at: Instant,
    pub recognized_at: Instant,
    pub translated_at: Instant,
    /// When synthesis started (after any wait for the voice).
    pub synthesis_started_at: Instant,
    /// When its first sentence of speech was ready.
    pub first_speech_at: Option<Instant>,
}

/// What the pipeline reports as it goes, in input order.
#[derive(Debug, Clone)]
pub enum Event {
    /// One sentence of English speech (only with `stream_speech`).
    Speech {
        seq: u64,
        samples: Vec<f32>,
        rate: u32,
    },
    /// An utterance is done (its speech, when not streamed, is inside).
    Translated {
        seq: u64,
        segment: TranslatedSegment,
        marks: StageMarks,
    },
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
    seq: u64,
    audio: HeardUtterance,
    detected_at: Instant,
}

struct Recognized {
    heard: Heard,
    text: String,
    stt_ms: f64,
    recognized_at: Instant,
}

struct Translated {
    recognized: Recognized,
    text: String,
    mt_failed: bool,
    mt_ms: f64,
    translated_at: Instant,
}

fn seconds(sample: usize) -> f64 {
    sample as f64 / f64::from(STT_RATE)
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// Runs the pipeline over `source` until it ends, calling `on_event` in input order.
/// Returns the TTS sample rate.
pub fn run(
    source: impl Iterator<Item = Chunk> + Send,
    config: &PipelineConfig,
    mut on_event: impl FnMut(Event),
) -> Result<u32, PipelineError> {
    let tts_rate = std::sync::OnceLock::new();
    std::thread::scope(|scope| {
        let (heard_tx, heard_rx) = sync_channel::<Heard>(QUEUE);
        let (recognized_tx, recognized_rx) = sync_channel::<Result<Recognized, Event>>(QUEUE);
        let (translated_tx, translated_rx) = sync_channel::<Result<Translated, Event>>(QUEUE);
        let (out_tx, out_rx) = sync_channel::<Event>(QUEUE);

        let vad = scope.spawn(|| vad_stage(source, config, heard_tx));
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
    source: impl Iterator<Item = Chunk>,
    config: &PipelineConfig,
    out: SyncSender<Heard>,
) -> Result<(), PipelineError> {
    let mut detector = SileroVad::try_new(&config.onnx_runtime, &config.vad_model)?;
    let mut vad = StreamingVad::new(&mut detector, config.segmenter);
    let mut seq = 0u64;
    let mut send = |found: Vec<HeardUtterance>| {
        for heard in found {
            if out.send(Heard { seq, audio: heard, detected_at: Instant::now() }).is_err() {
                return false;
            }
            seq += 1;
        }
        true
    };
    for chunk in source {
        if !send(vad.push(chunk)?) {
            return Ok(());
        }
    }
    send(vad.finish()?);
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
        let (start_s, end_s) = (seconds(heard.audio.utterance.speech_start), seconds(heard.audio.utterance.speech_end));
        let message = match recognizer.transcribe(&heard.audio.samples, Task::Transcribe) {
            Ok(t) if t.verdict.is_speech() => {
                Ok(Recognized { heard, text: t.text, stt_ms: ms_since(started), recognized_at: Instant::now() })
            }
            Ok(t) => Err(Event::Dropped(DroppedSegment { start_s, end_s, text: t.text, reason: t.verdict.reason() })),
            Err(e) => {
                Err(Event::Dropped(DroppedSegment { start_s, end_s, text: String::new(), reason: e.to_string() }))
            }
        };
        if out.send(message).is_err() {
            break;
        }
    }
    Ok(())
}

fn make_translator(config: &PipelineConfig) -> Result<Box<dyn Translator>, PipelineError> {
    Ok(match &config.mt {
        MtEngine::Direct => Box::new(DirectWhisperTranslator::new(config.whisper.clone(), &config.language)),
        MtEngine::Firefox(dir) => {
            Box::new(CachedTranslator::new(FirefoxTranslator::try_new(dir)?, config.translation_cache))
        }
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
            let source = SourceSegment { text: &recognized.text, audio: &recognized.heard.audio.samples };
            let (text, mt_failed) = match translator.translate(source) {
                Ok(text) => (text, false),
                Err(e) => {
                    let _ = out.send(Err(Event::Warning(format!(
                        "translation failed at {:.1} s ({e}); the caption keeps the {} text",
                        seconds(recognized.heard.audio.utterance.speech_start),
                        config.language
                    ))));
                    (recognized.text.clone(), true)
                }
            };
            Translated { recognized, text, mt_failed, mt_ms: ms_since(started), translated_at: Instant::now() }
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
    let mut synthesizer = PiperSynthesizer::try_new(&config.onnx_runtime, &config.voice, config.tts_threads)?;
    let voice_rate = synthesizer.sample_rate();
    let _ = rate.set(voice_rate);
    for message in input {
        let translated = match message {
            Err(event) => {
                if out.send(event).is_err() {
                    break;
                }
                continue;
            }
            Ok(translated) => translated,
        };
        let started = Instant::now();
        let heard = &translated.recognized.heard;
        let mut marks = StageMarks {
            speech_end_at: heard.audio.speech_end_at,
            detected_at: heard.detected_at,
            recognized_at: translated.recognized.recognized_at,
            translated_at: translated.translated_at,
            synthesis_started_at: started,
            first_speech_at: None,
        };
        let mut speech = Vec::new();
        // An English voice reading another script is noise to the listener; the caption still
        // carries the text, flagged. Numbers and Latin text are still spoken.
        let speakable = !translated.mt_failed || is_readable_in_english(&translated.text);
        if !speakable {
            let _ = out.send(Event::Warning(format!("not speaking untranslated text: \"{}\"", translated.text)));
        } else {
            let seq = heard.seq;
            let result = synthesizer.synthesize(&translated.text, &mut |sentence| {
                marks.first_speech_at.get_or_insert_with(Instant::now);
                if config.stream_speech {
                    let _ = out.send(Event::Speech { seq, samples: sentence.to_vec(), rate: voice_rate });
                } else {
                    speech.extend_from_slice(sentence);
                }
            });
            if let Err(e) = result {
                let _ = out.send(Event::Warning(format!("speech synthesis failed for \"{}\": {e}", translated.text)));
            }
        }
        let utterance = &heard.audio.utterance;
        let segment = TranslatedSegment {
            start_s: seconds(utterance.speech_start),
            end_s: seconds(utterance.speech_end),
            source_text: translated.recognized.text.clone(),
            translated_text: translated.text.clone(),
            mt_failed: translated.mt_failed,
            timings_ms: StageTimings {
                stt: translated.recognized.stt_ms,
                mt: translated.mt_ms,
                tts: ms_since(started),
            },
            speech_start_s: 0.0,
            speech,
        };
        if out.send(Event::Translated { seq: heard.seq, segment, marks }).is_err() {
            break;
        }
    }
    Ok(())
}
