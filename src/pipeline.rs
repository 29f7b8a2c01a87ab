//! The translation pipeline: VAD → STT → MT → TTS, one thread per stage, joined by bounded
//! channels so a slow stage holds the ones before it back instead of piling up memory.
//!
//! Audio comes in as timestamped [`Chunk`]s (from a file, a paced file or a microphone), and each
//! utterance carries the instants it passed each stage, so latency is measured, not guessed.
//! Every model is created inside the thread that uses it (the Whisper model, shared with the
//! `direct` translator, is the exception). A failure on one utterance is reported and the run
//! goes on; a stage that cannot start stops the run with its error.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::audio::STT_RATE;
use crate::mt::{CachedTranslator, DirectWhisperTranslator, FirefoxTranslator, MtError, SourceSegment, Translator};
use crate::output::{DroppedSegment, Recognition, StageTimings, TranslatedSegment};
use crate::stt::{Recognizer, Task, WhisperCt2Recognizer, WhisperModel};
use crate::text::is_readable_in_english;
use crate::tts::{PiperSynthesizer, Synthesizer};
use crate::vad::{Segmenter, SegmenterOptions, SileroVad, SpeechDetector, Utterance, FRAME};

/// Utterances allowed to wait between two stages.
const QUEUE: usize = 4;

/// 16 kHz mono audio and the instant its last sample was captured.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub samples: Vec<f32>,
    pub captured_at: Instant,
}

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
    utterance: Utterance,
    samples: Vec<f32>,
    speech_end_at: Instant,
    detected_at: Instant,
}

struct Recognized {
    heard: Heard,
    text: String,
    recognition: Recognition,
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

/// Feeds a whole recording as chunks, as fast as the pipeline takes them.
pub fn chunks_of(samples: &[f32]) -> impl Iterator<Item = Chunk> + '_ {
    samples.chunks(STT_RATE as usize).map(|c| Chunk { samples: c.to_vec(), captured_at: Instant::now() })
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

/// The audio the VAD stage has seen and may still need, with the capture time of each chunk.
struct History {
    samples: VecDeque<f32>,
    /// Absolute index of `samples[0]`.
    base: usize,
    /// (absolute end index, capture instant) of each chunk still in `samples`.
    chunk_ends: VecDeque<(usize, Instant)>,
}

impl History {
    fn end(&self) -> usize {
        self.base + self.samples.len()
    }

    fn push(&mut self, chunk: Chunk) {
        self.samples.extend(chunk.samples);
        self.chunk_ends.push_back((self.end(), chunk.captured_at));
    }

    fn range(&self, start: usize, end: usize) -> Vec<f32> {
        let (start, end) = (start.clamp(self.base, self.end()), end.clamp(self.base, self.end()));
        self.samples.range(start - self.base..end - self.base).copied().collect()
    }

    /// When sample `index` was captured.
    fn captured_at(&self, index: usize) -> Instant {
        let (end, at) = self
            .chunk_ends
            .iter()
            .find(|(end, _)| *end >= index)
            .or(self.chunk_ends.back())
            .copied()
            .unwrap_or((index, Instant::now()));
        let early = Duration::from_secs_f64(end.saturating_sub(index) as f64 / f64::from(STT_RATE));
        at.checked_sub(early).unwrap_or(at)
    }

    fn forget_before(&mut self, index: usize) {
        let drop = index.saturating_sub(self.base).min(self.samples.len());
        self.samples.drain(..drop);
        self.base += drop;
        while self.chunk_ends.len() > 1 && self.chunk_ends[0].0 < self.base {
            self.chunk_ends.pop_front();
        }
    }
}

fn vad_stage(
    source: impl Iterator<Item = Chunk>,
    config: &PipelineConfig,
    out: SyncSender<Heard>,
) -> Result<(), PipelineError> {
    let mut detector = SileroVad::try_new(&config.onnx_runtime, &config.vad_model)?;
    let mut segmenter = Segmenter::new(config.segmenter);
    let mut history = History { samples: VecDeque::new(), base: 0, chunk_ends: VecDeque::new() };
    let mut next_frame = 0usize;
    let mut seq = 0u64;
    let mut send = |utterances: Vec<Utterance>, history: &History| {
        for utterance in utterances {
            let heard = Heard {
                seq,
                samples: history.range(utterance.start, utterance.end),
                speech_end_at: history.captured_at(utterance.speech_end),
                detected_at: Instant::now(),
                utterance,
            };
            seq += 1;
            if out.send(heard).is_err() {
                return false;
            }
        }
        true
    };
    for chunk in source {
        history.push(chunk);
        while next_frame + FRAME <= history.end() {
            let frame = history.range(next_frame, next_frame + FRAME);
            next_frame += FRAME;
            let probability = detector.speech_probability(&frame)?;
            if !send(segmenter.push(probability), &history) {
                return Ok(());
            }
        }
        history.forget_before(segmenter.earliest_needed().min(next_frame));
    }
    if next_frame < history.end() {
        let mut frame = history.range(next_frame, history.end());
        frame.resize(FRAME, 0.0);
        let probability = detector.speech_probability(&frame)?;
        if !send(segmenter.push(probability), &history) {
            return Ok(());
        }
    }
    send(segmenter.finish(), &history);
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
        let (start_s, end_s) = (seconds(heard.utterance.speech_start), seconds(heard.utterance.speech_end));
        let vad_probability = Some(heard.utterance.speech_probability);
        let message = match recognizer.transcribe(&heard.samples, vad_probability, Task::Transcribe) {
            Ok(t) if t.verdict.is_speech() => {
                let recognition = Recognition { evidence: t.evidence, decoding: t.decoding };
                Ok(Recognized {
                    heard,
                    text: t.text,
                    recognition,
                    stt_ms: ms_since(started),
                    recognized_at: Instant::now(),
                })
            }
            Ok(t) => Err(Event::Dropped(DroppedSegment {
                start_s,
                end_s,
                reason: t.verdict.reason(),
                reason_code: t.verdict.code().to_string(),
                recognition: Some(Recognition { evidence: t.evidence, decoding: t.decoding }),
                text: t.text,
            })),
            Err(e) => Err(Event::Dropped(DroppedSegment {
                start_s,
                end_s,
                text: String::new(),
                reason: e.to_string(),
                reason_code: "error".into(),
                recognition: None,
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
            let source = SourceSegment { text: &recognized.text, audio: &recognized.heard.samples };
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
            speech_end_at: heard.speech_end_at,
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
        let utterance = &heard.utterance;
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
            recognition: translated.recognized.recognition.clone(),
            speech,
        };
        if out.send(Event::Translated { seq: heard.seq, segment, marks }).is_err() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_maps_samples_to_capture_instants_and_forgets_old_audio() {
        let t0 = Instant::now();
        let mut history = History { samples: VecDeque::new(), base: 0, chunk_ends: VecDeque::new() };
        history.push(Chunk { samples: vec![0.0; 16_000], captured_at: t0 + Duration::from_secs(1) });
        history.push(Chunk { samples: vec![1.0; 16_000], captured_at: t0 + Duration::from_secs(2) });
        let at = history.captured_at(24_000).duration_since(t0).as_secs_f64();
        assert!((at - 1.5).abs() < 1e-6, "{at}");
        assert_eq!(history.range(15_999, 16_001), vec![0.0, 1.0]);
        history.forget_before(20_000);
        assert_eq!(history.base, 20_000);
        assert_eq!(history.range(0, 20_002), vec![1.0, 1.0]);
        assert_eq!(history.end(), 32_000);
    }
}
