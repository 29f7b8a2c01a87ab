//! The loop each stage runs on its thread: make the engine, then take utterances until the
//! input closes or the run is cancelled. Events for the user (drops, warnings) travel down the
//! same channels as the utterances, so they arrive in input order.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::partials::{Agreement, PARTIAL_EVERY_S};
use super::{CancelHandle, Event, Factory, PipelineError, StageMarks, Warning};
use crate::audio::{Chunk, STT_RATE};
use crate::memory;
use crate::mt::{SourceSegment, Translator};
use crate::output::{DroppedSegment, Recognition, StageTimings, TranslatedSegment};
use crate::stt::{EncodedAudio, Recognizer, SttError, Task, Transcript, Verdict};
use crate::text::is_readable_in_english;
use crate::tts::Synthesizer;
use crate::vad::{HeardUtterance, SegmenterOptions, SpeechDetector, StreamingVad, Utterance};

pub(super) struct Heard {
    seq: u64,
    audio: HeardUtterance,
    detected_at: Instant,
    kind: HeardKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeardKind {
    /// An utterance that ended.
    Whole,
    /// Offered while its pause is still being confirmed; the same utterance follows, whole, if
    /// the pause is confirmed.
    Speculative,
    /// The utterance under way so far, for a partial caption.
    Partial,
}

/// What the VAD stage offers besides whole utterances.
#[derive(Debug, Clone, Copy)]
pub(super) struct Offers {
    pub speculate: bool,
    pub partials: bool,
}

pub(super) struct Recognized {
    heard: Heard,
    text: String,
    /// With `english_first`: Whisper's own English, or why it was rejected. The translator is
    /// not asked then.
    english: Option<Result<String, String>>,
    /// With `english_first`, when the English went ahead alone: the transcript follows through
    /// here (`text` is empty until it comes).
    caption: Option<Caption>,
    /// For the `direct` translator; dropped once translated.
    encoded: Option<Arc<EncodedAudio>>,
    recognition: Recognition,
    stt_ms: f64,
    recognized_at: Instant,
}

/// The link between an utterance whose English went ahead and the recognition stage decoding its
/// transcript.
pub(super) struct Caption {
    transcript: Receiver<Result<Transcript, SttError>>,
    /// Closed when the English's first sentence is ready (or will not come): the transcript waits
    /// for it, so that the voice has the CPU while the listener waits.
    first_speech: SyncSender<()>,
}

/// The longest the transcript waits for the English's first sentence: the synthesiser may still
/// be busy with the utterance before.
const CAPTION_WAITS_AT_MOST: Duration = Duration::from_millis(1500);

pub(super) struct Translated {
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

pub(super) fn vad(
    source: impl Iterator<Item = Chunk>,
    factory: &Factory<dyn SpeechDetector>,
    options: SegmenterOptions,
    offers: Offers,
    cancel: &CancelHandle,
    out: SyncSender<Heard>,
) -> Result<(), PipelineError> {
    let mut detector = factory()?;
    let mut vad = StreamingVad::new(detector.as_mut(), options);
    let mut seq = 0u64;
    let partial_every = (PARTIAL_EVERY_S * f64::from(STT_RATE)) as usize;
    let mut send = |found: Vec<HeardUtterance>| {
        for audio in found {
            if out.send(Heard { seq, audio, detected_at: Instant::now(), kind: HeardKind::Whole }).is_err() {
                return false;
            }
            seq += 1;
        }
        true
    };
    for chunk in source {
        if cancel.is_cancelled() || !send(vad.push(chunk)?) {
            return Ok(());
        }
        // Asked only when wanted: an offer copies the utterance's audio.
        if let Some(audio) = offers.speculate.then(|| vad.speculate()).flatten() {
            // Not numbered: only its result travels on, under the confirmed utterance's number.
            let heard = Heard { seq: u64::MAX, audio, detected_at: Instant::now(), kind: HeardKind::Speculative };
            if out.send(heard).is_err() {
                return Ok(());
            }
        }
        if let Some(audio) = offers.partials.then(|| vad.partial(partial_every)).flatten() {
            // Never waits: a partial that finds recognition busy is not needed.
            let heard = Heard { seq: u64::MAX, audio, detected_at: Instant::now(), kind: HeardKind::Partial };
            if let Err(TrySendError::Disconnected(_)) = out.try_send(heard) {
                return Ok(());
            }
        }
    }
    if !cancel.is_cancelled() {
        send(vad.finish()?);
    }
    Ok(())
}

/// `english_first`: the translator is Whisper's own (`direct`), so the English is decoded first and
/// the transcript after it (see [`after_english`]).
pub(super) fn stt(
    factory: &Factory<dyn Recognizer>,
    english_first: bool,
    cancel: &CancelHandle,
    input: Receiver<Heard>,
    out: SyncSender<Result<Recognized, Event>>,
) -> Result<(), PipelineError> {
    let mut recognizer = factory()?;
    let first_task = if english_first { Task::Translate } else { Task::Transcribe };
    let mut waiting: Option<Heard> = None;
    let mut agreement = Agreement::default();
    // A speculative result and the utterance it was made for.
    let mut speculated: Option<(Utterance, Result<Transcript, SttError>, f64)> = None;
    while let Some(heard) = waiting.take().or_else(|| input.recv().ok()) {
        if cancel.is_cancelled() {
            break;
        }
        if heard.kind != HeardKind::Whole {
            // Something already queued behind it (its confirmation, more speech): the CPU is
            // needed there, so the speculation or partial is skipped.
            waiting = input.try_recv().ok();
            if waiting.is_some() {
                continue;
            }
            let started = Instant::now();
            let task = if heard.kind == HeardKind::Speculative { first_task } else { Task::Transcribe };
            let result = recognize(recognizer.as_mut(), &heard.audio, task);
            if heard.kind == HeardKind::Speculative {
                speculated = Some((heard.audio.utterance, result, ms_since(started)));
            } else if let Some(transcript) = result.ok().filter(|t| t.verdict.is_speech()) {
                let utterance = &heard.audio.utterance;
                let (stable, unstable) = agreement.update(utterance.start, &transcript.text);
                let partial = Event::Partial { start_s: seconds(utterance.speech_start), stable, unstable };
                if out.send(Err(partial)).is_err() {
                    break;
                }
            }
            continue;
        }
        let started = Instant::now();
        let (result, stt_ms) = match speculated.take() {
            Some((utterance, result, ms)) if utterance == heard.audio.utterance => (result, ms),
            _ => (recognize(recognizer.as_mut(), &heard.audio, first_task), 0.0),
        };
        let stt_ms = stt_ms + ms_since(started);
        let delivered = match result {
            Ok(english) if english_first => after_english(recognizer.as_mut(), heard, english, stt_ms, &out),
            result => out.send(judged(heard, result, None, stt_ms)).is_ok(),
        };
        if !delivered {
            break;
        }
    }
    Ok(())
}

fn recognize(recognizer: &mut dyn Recognizer, audio: &HeardUtterance, task: Task) -> Result<Transcript, SttError> {
    recognizer.transcribe(&audio.samples, Some(audio.utterance.speech_probability), task)
}

/// The utterance with its transcript when the gate took it for speech, else why it was dropped.
// The message the next stage's channel carries, not an error travelling up.
#[allow(clippy::result_large_err)]
fn judged(
    heard: Heard,
    result: Result<Transcript, SttError>,
    english: Option<Result<String, String>>,
    stt_ms: f64,
) -> Result<Recognized, Event> {
    let utterance = &heard.audio.utterance;
    let (start_s, end_s) = (seconds(utterance.speech_start), seconds(utterance.speech_end));
    match result {
        Ok(t) if t.verdict.is_speech() => {
            let recognition = Recognition { evidence: t.evidence, decoding: t.decoding };
            Ok(Recognized {
                heard,
                text: t.text,
                english,
                caption: None,
                encoded: t.encoded,
                recognition,
                stt_ms,
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
    }
}

/// With the `direct` engine the listener waits for the English, not the transcript, so the
/// English is decoded first. Clear speech ([`Transcript::clear`]) goes on to be spoken at once and
/// its transcript is decoded behind it, on the same encoder output; anything less waits for the
/// transcript's verdict, exactly as when the transcript comes first. False when the next stage
/// has gone.
fn after_english(
    recognizer: &mut dyn Recognizer,
    heard: Heard,
    english: Transcript,
    stt_ms: f64,
    out: &SyncSender<Result<Recognized, Event>>,
) -> bool {
    let vad_probability = Some(heard.audio.utterance.speech_probability);
    let encoded = english.encoded.clone();
    if english.clear {
        let samples = heard.audio.samples.clone();
        let (transcript_tx, transcript) = sync_channel(1);
        let (first_speech, first_speech_rx) = sync_channel::<()>(0);
        let recognized = Recognized {
            heard,
            text: String::new(),
            english: Some(Ok(english.text)),
            caption: Some(Caption { transcript, first_speech }),
            encoded: None,
            recognition: Recognition { evidence: english.evidence, decoding: english.decoding },
            stt_ms,
            recognized_at: Instant::now(),
        };
        if out.send(Ok(recognized)).is_err() {
            return false;
        }
        let _ = first_speech_rx.recv_timeout(CAPTION_WAITS_AT_MOST);
        let _ = transcript_tx.send(recognizer.transcribe_encoded(
            encoded.as_deref(),
            &samples,
            vad_probability,
            Task::Transcribe,
        ));
        return true;
    }
    let started = Instant::now();
    let transcript =
        recognizer.transcribe_encoded(encoded.as_deref(), &heard.audio.samples, vad_probability, Task::Transcribe);
    // The transcript's verdict says it is speech: English that is merely unsure is spoken, as the
    // `direct` translator would; degenerate or non-English output is not.
    let english = match english.verdict {
        Verdict::Speech | Verdict::NoSpeech { .. } => Ok(english.text),
        verdict => Err(format!("Whisper's translation was rejected: {}", verdict.reason())),
    };
    out.send(judged(heard, transcript, Some(english), stt_ms + ms_since(started))).is_ok()
}

pub(super) fn mt(
    factory: &Factory<dyn Translator>,
    cancel: &CancelHandle,
    input: Receiver<Result<Recognized, Event>>,
    out: SyncSender<Result<Translated, Event>>,
) -> Result<(), PipelineError> {
    let mut translator = factory()?;
    for message in input {
        if cancel.is_cancelled() {
            break;
        }
        let message = message.map(|recognized| translate(translator.as_mut(), recognized, &out));
        if out.send(message).is_err() {
            break;
        }
    }
    Ok(())
}

/// Translates one utterance; on failure the source text goes on, flagged, with a warning.
fn translate(
    translator: &mut dyn Translator,
    mut recognized: Recognized,
    out: &SyncSender<Result<Translated, Event>>,
) -> Translated {
    let started = Instant::now();
    let encoded = recognized.encoded.take();
    let source =
        SourceSegment { text: &recognized.text, audio: &recognized.heard.audio.samples, encoded: encoded.as_deref() };
    let translated = match recognized.english.take() {
        Some(english) => english,
        None => translator.translate(source).map_err(|e| e.to_string()),
    };
    let (text, mt_failed) = match translated {
        Ok(text) => (text, false),
        Err(reason) => {
            let start_s = seconds(recognized.heard.audio.utterance.speech_start);
            let _ = out.send(Err(Event::Warning(Warning::TranslationFailed { start_s, reason })));
            (recognized.text.clone(), true)
        }
    };
    Translated { recognized, text, mt_failed, mt_ms: ms_since(started), translated_at: Instant::now() }
}

/// How the TTS stage hands over speech.
pub(super) struct SpeechOutput {
    /// Each sentence as an [`Event::Speech`] as soon as it is synthesised.
    pub stream: bool,
    /// Streamed speech is heard in real time: keep it from falling behind ([`Playback`]).
    pub paced: bool,
}

/// How often the heap's free pages go back to the system, between two utterances. After each one,
/// a 15-minute live session rested at 350 MB instead of 464, but used 8 % more CPU to fault the
/// pages back in; the heap grows by a few MB a minute, so now and then is enough.
const RETURN_MEMORY_EVERY: Duration = Duration::from_secs(30);

pub(super) fn tts(
    factory: &Factory<dyn Synthesizer>,
    speech: SpeechOutput,
    cancel: &CancelHandle,
    input: Receiver<Result<Translated, Event>>,
    out: SyncSender<Event>,
) -> Result<(), PipelineError> {
    let mut synthesizer = factory()?;
    let rate = synthesizer.sample_rate();
    if out.send(Event::Ready { speech_rate: rate }).is_err() {
        return Ok(());
    }
    let mut playback = (speech.stream && speech.paced).then(Playback::default);
    let mut memory_returned = Instant::now();
    for message in input {
        if cancel.is_cancelled() {
            break;
        }
        let event = match message {
            Err(event) => event,
            Ok(translated) => {
                let spoken = speak(synthesizer.as_mut(), translated, speech.stream, playback.as_mut(), &out);
                if memory_returned.elapsed() >= RETURN_MEMORY_EVERY {
                    memory::return_freed_memory();
                    memory_returned = Instant::now();
                }
                spoken
            }
        };
        if out.send(event).is_err() {
            break;
        }
    }
    Ok(())
}

/// English speech still to be heard when it is streamed to a listener, who hears each sentence
/// in real time from the moment it is ready (or once the one before has finished).
#[derive(Default)]
struct Playback {
    ends_at: Option<Instant>,
}

/// Behind by more than this, the English is spoken [`CATCH_UP_SPEED`] times faster.
const CATCH_UP_AFTER_S: f64 = 1.0;
const CATCH_UP_SPEED: f32 = 1.15;
/// The most English that may wait to be heard: an utterance arriving later than this behind is
/// captioned but not spoken, so the voice never drifts minutes behind the speaker.
pub const MAX_SPEECH_BACKLOG_S: f64 = 6.0;

impl Playback {
    fn behind_s(&self) -> f64 {
        self.ends_at.map_or(0.0, |end| end.saturating_duration_since(Instant::now()).as_secs_f64())
    }

    fn queue(&mut self, seconds: f64) {
        let now = Instant::now();
        let start = self.ends_at.filter(|&end| end > now).unwrap_or(now);
        self.ends_at = Some(start + std::time::Duration::from_secs_f64(seconds));
    }
}

/// Synthesises one utterance, streaming its sentences (paced by `playback` when a listener hears
/// them as they come) or collecting them into the segment.
fn speak(
    synthesizer: &mut dyn Synthesizer,
    translated: Translated,
    stream: bool,
    mut playback: Option<&mut Playback>,
    out: &SyncSender<Event>,
) -> Event {
    let started = Instant::now();
    let rate = synthesizer.sample_rate();
    let Translated { recognized, text, mt_failed, mt_ms, translated_at } = translated;
    let Recognized { heard, text: source_text, caption, recognition, stt_ms, recognized_at, .. } = recognized;
    // Dropped at the first sentence, or when none comes: the transcript's decoding may start.
    let (caption, mut first_speech) = match caption {
        Some(Caption { transcript, first_speech }) => (Some(transcript), Some(first_speech)),
        None => (None, None),
    };
    let mut marks = StageMarks {
        speech_end_at: heard.audio.speech_end_at,
        detected_at: heard.detected_at,
        recognized_at,
        translated_at,
        synthesis_started_at: started,
        first_speech_at: None,
        heard_until: None,
    };
    let mut speech = Vec::new();
    let behind_s = playback.as_ref().map_or(0.0, |p| p.behind_s());
    // An English voice reading another script is noise to the listener; the caption still
    // carries the text, flagged. Numbers and Latin text are still spoken.
    if mt_failed && !is_readable_in_english(&text) {
        let _ = out.send(Event::Warning(Warning::NotSpoken { text: text.clone() }));
    } else if behind_s > MAX_SPEECH_BACKLOG_S {
        let _ = out.send(Event::Warning(Warning::TooFarBehind { text: text.clone(), behind_s }));
    } else {
        let seq = heard.seq;
        let speed = if behind_s > CATCH_UP_AFTER_S { CATCH_UP_SPEED } else { 1.0 };
        let result = synthesizer.synthesize(&text, speed, &mut |sentence| {
            marks.first_speech_at.get_or_insert_with(Instant::now);
            first_speech.take();
            if !stream {
                speech.extend_from_slice(sentence);
                return;
            }
            if let Some(playback) = playback.as_deref_mut() {
                playback.queue(sentence.len() as f64 / f64::from(rate));
                marks.heard_until = playback.ends_at;
            }
            let _ = out.send(Event::Speech { seq, samples: sentence.to_vec(), rate });
        });
        if let Err(e) = result {
            let _ = out.send(Event::Warning(Warning::SynthesisFailed { text: text.clone(), reason: e.to_string() }));
        }
    }
    drop(first_speech);
    let utterance = &heard.audio.utterance;
    let (source_text, recognition) = match caption {
        Some(caption) => transcript_behind(caption, seconds(utterance.speech_start), recognition, out),
        None => (source_text, recognition),
    };
    let segment = TranslatedSegment {
        start_s: seconds(utterance.speech_start),
        end_s: seconds(utterance.speech_end),
        source_text,
        translated_text: text,
        mt_failed,
        timings_ms: StageTimings { stt: stt_ms, mt: mt_ms, tts: ms_since(started) },
        speech_start_s: 0.0,
        recognition,
        speech,
    };
    Event::Translated { seq: heard.seq, segment, marks }
}

/// The transcript of an utterance whose English went ahead of it, and its recognition report
/// (the English's when the transcript failed). A transcript the gate refuses still captions what
/// was spoken, with a warning.
fn transcript_behind(
    caption: Receiver<Result<Transcript, SttError>>,
    start_s: f64,
    english: Recognition,
    out: &SyncSender<Event>,
) -> (String, Recognition) {
    match caption.recv() {
        Ok(Ok(t)) => {
            if !t.verdict.is_speech() {
                let reason = t.verdict.reason();
                let _ = out.send(Event::Warning(Warning::TranscriptRefused { start_s, reason }));
            }
            (t.text, Recognition { evidence: t.evidence, decoding: t.decoding })
        }
        Ok(Err(e)) => {
            let _ = out.send(Event::Warning(Warning::TranscriptRefused { start_s, reason: e.to_string() }));
            (String::new(), english)
        }
        // The recognition stage stopped (the run is ending).
        Err(_) => (String::new(), english),
    }
}
