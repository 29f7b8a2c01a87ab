//! The loop each stage runs on its thread: make the engine, then take utterances until the
//! input closes or the run is cancelled. Events for the user (drops, warnings) travel down the
//! same channels as the utterances, so they arrive in input order.

use std::cell::Cell;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::partials::{Agreement, EarlyEnglish, PARTIAL_EVERY_S};
use super::{CancelHandle, Event, Factory, PipelineError, StageMarks, UnsurePolicy, Warning};
use crate::audio::{Chunk, STT_RATE};
use crate::confidence::{self, Level};
use crate::memory;
use crate::mt::{echo, SourceSegment, Translator};
use crate::output::{Delivery, DroppedSegment, Recognition, StageTimings, TranslatedSegment};
use crate::stt::{text_of_tokens, EncodedAudio, Recognizer, SttError, Task, Transcript, Verdict};
use crate::text::is_readable_in_english;
use crate::tts::{unsure_cue, Synthesizer};
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
    /// The utterance under way so far, for a partial caption or English said before it ends.
    /// Numbered as the utterance will be when it ends.
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
    /// English committed while the utterance is still under way (`speak_early`): said at once,
    /// reported with the whole utterance when it ends.
    ahead: bool,
    /// For an utterance some of whose English was said ahead: the rest, still to be said.
    unsaid: Option<String>,
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
    /// Echoes taken out of `text`.
    echo_removed: Vec<String>,
    mt_ms: f64,
    translated_at: Instant,
}

/// Utterances less than this apart belong to one passage: an echo of the English just said is
/// not said again. Files end a passage at a 2 s pause too.
const PASSAGE_PAUSE_S: f64 = 2.0;

/// The English said last, for echoes across the utterances of one passage.
#[derive(Default)]
struct SaidBefore {
    end_s: f64,
    english: String,
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
    for chunk in source {
        if cancel.is_cancelled() || !send_whole(vad.push(chunk)?, &mut seq, &out) {
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
            let heard = Heard { seq, audio, detected_at: Instant::now(), kind: HeardKind::Partial };
            if let Err(TrySendError::Disconnected(_)) = out.try_send(heard) {
                return Ok(());
            }
        }
    }
    if !cancel.is_cancelled() {
        send_whole(vad.finish()?, &mut seq, &out);
    }
    Ok(())
}

/// Sends utterances that ended, numbering them from `seq`; false when recognition has gone.
fn send_whole(found: Vec<HeardUtterance>, seq: &mut u64, out: &SyncSender<Heard>) -> bool {
    for audio in found {
        if out.send(Heard { seq: *seq, audio, detected_at: Instant::now(), kind: HeardKind::Whole }).is_err() {
            return false;
        }
        *seq += 1;
    }
    true
}

/// What the recognition stage does besides recognising whole utterances.
#[derive(Debug, Clone, Copy)]
pub(super) struct SttMode {
    /// The translator is Whisper's own (`direct`): the English is decoded first and the transcript
    /// after it (see [`after_english`]).
    pub english_first: bool,
    /// Say English before the utterance ends ([`EarlyEnglish`]); only with `english_first`.
    pub speak_early: bool,
    /// Report the utterance under way as [`Event::Partial`]: its transcript, or with `speak_early`
    /// its English.
    pub partial_captions: bool,
}

pub(super) fn stt(
    factory: &Factory<dyn Recognizer>,
    mode: SttMode,
    cancel: &CancelHandle,
    input: Receiver<Heard>,
    out: SyncSender<Result<Recognized, Event>>,
) -> Result<(), PipelineError> {
    let mut recognizer = factory()?;
    let first_task = if mode.english_first { Task::Translate } else { Task::Transcribe };
    let mut waiting: Option<Heard> = None;
    let mut agreement = Agreement::default();
    let mut early = EarlyEnglish::default();
    // A speculative result, the utterance it was made for and how much English said ahead it
    // continues.
    let mut speculated: Option<(Utterance, usize, Result<Transcript, SttError>, f64)> = None;
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
            let delivered = match heard.kind {
                HeardKind::Speculative => {
                    let started = Instant::now();
                    let ahead = early.committed(heard.audio.utterance.start).len();
                    let result = first_decode(recognizer.as_mut(), &heard.audio, first_task, &early);
                    speculated = Some((heard.audio.utterance, ahead, result, ms_since(started)));
                    true
                }
                _ if mode.speak_early => say_ahead(recognizer.as_mut(), heard, &mut early, mode.partial_captions, &out),
                _ => partial_caption(recognizer.as_mut(), &heard, &mut agreement, &out),
            };
            if !delivered {
                break;
            }
            continue;
        }
        if !heard.audio.utterance.pieces.is_empty() {
            if !passage(recognizer.as_mut(), heard, first_task, cancel, &out) {
                break;
            }
            continue;
        }
        let started = Instant::now();
        let start = heard.audio.utterance.start;
        let ahead = early.committed(start).len();
        let (result, stt_ms) = match speculated.take() {
            Some((u, a, result, ms)) if u == heard.audio.utterance && a == ahead => (result, ms),
            _ => (first_decode(recognizer.as_mut(), &heard.audio, first_task, &early), 0.0),
        };
        let stt_ms = stt_ms + ms_since(started);
        let said_ahead = early.finish(start);
        let delivered = match result {
            Ok(english) if mode.english_first => {
                after_english(recognizer.as_mut(), heard, english, &said_ahead, stt_ms, &out)
            }
            result => out.send(judged(heard, result, None, stt_ms)).is_ok(),
        };
        if !delivered {
            break;
        }
    }
    Ok(())
}

/// A passage of several sentences (files): read whole, as Whisper hears best, or when Whisper
/// cannot read it whole (it loops, even if what came before the loop could be kept, its English
/// does, or it hears no speech) piece by piece, as
/// shorter cuts would have read it, so the longer cut loses nothing that was said. Whisper base
/// read a recording of ten digits said three times as a loop of Latin letters, and each time
/// alone as the ten digits. `first_task` is the task of a piece's first decode. False when the
/// next stage has gone or the run is cancelled (a passage read piece by piece takes many
/// decodes: a client that has left should not wait for them all).
fn passage(
    recognizer: &mut dyn Recognizer,
    heard: Heard,
    first_task: Task,
    cancel: &CancelHandle,
    out: &SyncSender<Result<Recognized, Event>>,
) -> bool {
    if first_task == Task::Transcribe {
        return transcribe_passage(recognizer, &heard.audio).into_iter().all(|(audio, transcript, stt_ms)| {
            let piece = Heard { seq: heard.seq, audio, detected_at: heard.detected_at, kind: HeardKind::Whole };
            out.send(judged(piece, transcript, None, stt_ms)).is_ok()
        });
    }
    let started = Instant::now();
    let vad_probability = Some(heard.audio.utterance.speech_probability);
    let transcript = recognize(recognizer, &heard.audio, Task::Transcribe);
    let english = match &transcript {
        Ok(t) if t.verdict.is_speech() => {
            let english = recognizer.transcribe_encoded(
                t.encoded.as_deref(),
                &heard.audio.samples,
                vad_probability,
                Task::Translate,
            );
            Some(english.map_err(|e| e.to_string()).and_then(|english| spoken_english(&english)))
        }
        _ => None,
    };
    let read_whole = transcript.as_ref().is_ok_and(Transcript::read_whole) && !matches!(english, Some(Err(_)));
    if read_whole {
        return out.send(judged(heard, transcript, english, ms_since(started))).is_ok();
    }
    heard.audio.pieces().into_iter().all(|audio| {
        if cancel.is_cancelled() {
            return false;
        }
        let piece = Heard { seq: heard.seq, audio, detected_at: heard.detected_at, kind: HeardKind::Whole };
        let started = Instant::now();
        match recognize(recognizer, &piece.audio, Task::Translate) {
            Ok(english) => after_english(recognizer, piece, english, &[], ms_since(started), out),
            error => out.send(judged(piece, error, None, ms_since(started))).is_ok(),
        }
    })
}

/// The transcript of an utterance as the pipeline reads it without translating: a passage of
/// several sentences whole, or piece by piece when its whole transcript is not speech (see
/// [`passage`]). Each part comes with its transcript and the milliseconds recognition took.
pub fn transcribe_passage(
    recognizer: &mut dyn Recognizer,
    audio: &HeardUtterance,
) -> Vec<(HeardUtterance, Result<Transcript, SttError>, f64)> {
    let started = Instant::now();
    let whole = recognize(recognizer, audio, Task::Transcribe);
    if audio.utterance.pieces.is_empty() || whole.as_ref().is_ok_and(Transcript::read_whole) {
        return vec![(audio.clone(), whole, ms_since(started))];
    }
    let piece = |audio: HeardUtterance| {
        let started = Instant::now();
        let transcript = recognize(recognizer, &audio, Task::Transcribe);
        (audio, transcript, ms_since(started))
    };
    audio.pieces().into_iter().map(piece).collect()
}

/// Whisper's English when the transcript says the utterance is speech: English that is merely
/// unsure is spoken, as the `direct` translator would; degenerate or non-English output is not.
fn spoken_english(english: &Transcript) -> Result<String, String> {
    match english.verdict {
        Verdict::Speech | Verdict::NoSpeech { .. } => Ok(english.text.clone()),
        ref verdict => Err(format!("Whisper's translation was rejected: {}", verdict.reason())),
    }
}

/// The first decode of a whole (or speculated) utterance: for the English, a continuation of
/// whatever of it was said ahead.
fn first_decode(
    recognizer: &mut dyn Recognizer,
    audio: &HeardUtterance,
    task: Task,
    early: &EarlyEnglish,
) -> Result<Transcript, SttError> {
    let said_ahead = early.committed(audio.utterance.start);
    if said_ahead.is_empty() {
        return recognize(recognizer, audio, task);
    }
    recognizer.translate_after(&audio.samples, Some(audio.utterance.speech_probability), said_ahead, false)
}

/// Recognises the utterance under way for a partial caption. False when the next stage has gone.
fn partial_caption(
    recognizer: &mut dyn Recognizer,
    heard: &Heard,
    agreement: &mut Agreement,
    out: &SyncSender<Result<Recognized, Event>>,
) -> bool {
    let result = recognize(recognizer, &heard.audio, Task::Transcribe);
    let Some(transcript) = result.ok().filter(|t| t.verdict.is_speech()) else {
        return true;
    };
    let utterance = &heard.audio.utterance;
    let (stable, unstable) = agreement.update(utterance.start, &transcript.text);
    out.send(Err(Event::Partial { start_s: seconds(utterance.speech_start), stable, unstable })).is_ok()
}

/// Translates the utterance under way and commits the English two clear hypotheses agree on
/// ([`EarlyEnglish`]); committed English goes on to be said at once. With `captions`, the English
/// so far is a partial caption. False when the next stage has gone.
fn say_ahead(
    recognizer: &mut dyn Recognizer,
    heard: Heard,
    early: &mut EarlyEnglish,
    captions: bool,
    out: &SyncSender<Result<Recognized, Event>>,
) -> bool {
    let started = Instant::now();
    let utterance = &heard.audio.utterance;
    let start = utterance.start;
    let said_before = early.committed(start).to_vec();
    let vad_probability = Some(utterance.speech_probability);
    let hypothesis = recognizer
        .translate_after(&heard.audio.samples, vad_probability, &said_before, true)
        .ok()
        .filter(|t| t.verdict.is_speech() && t.clear);
    let Some(hypothesis) = hypothesis else {
        early.doubt(start);
        return true;
    };
    let said = early.update(start, &hypothesis.tokens);
    if captions {
        let committed = early.committed(start);
        let stable = text_of_tokens(committed);
        let unstable = text_of_tokens(hypothesis.tokens.get(committed.len()..).unwrap_or_default());
        let partial = Event::Partial { start_s: seconds(utterance.speech_start), stable, unstable };
        if out.send(Err(partial)).is_err() {
            return false;
        }
    }
    let Some(text) = said else {
        return true;
    };
    let recognized = Recognized {
        heard,
        text: String::new(),
        english: Some(Ok(text)),
        caption: None,
        encoded: None,
        ahead: true,
        unsaid: None,
        recognition: Recognition { evidence: hypothesis.evidence, decoding: hypothesis.decoding },
        stt_ms: ms_since(started),
        recognized_at: Instant::now(),
    };
    out.send(Ok(recognized)).is_ok()
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
                ahead: false,
                unsaid: None,
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
    mut english: Transcript,
    said_ahead: &[String],
    stt_ms: f64,
    out: &SyncSender<Result<Recognized, Event>>,
) -> bool {
    let vad_probability = Some(heard.audio.utterance.speech_probability);
    let encoded = english.encoded.clone();
    // English already said makes the utterance speech: the rest of it is said like clear speech.
    let unsaid = (!said_ahead.is_empty()).then(|| {
        let (whole, rest) = rest_after(&english, said_ahead);
        english.text = whole;
        rest
    });
    if english.clear || unsaid.is_some() {
        let samples = heard.audio.samples.clone();
        let (transcript_tx, transcript) = sync_channel(1);
        let (first_speech, first_speech_rx) = sync_channel::<()>(0);
        let recognized = Recognized {
            heard,
            text: String::new(),
            english: Some(Ok(english.text)),
            caption: Some(Caption { transcript, first_speech }),
            encoded: None,
            ahead: false,
            unsaid,
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
    out.send(judged(heard, transcript, Some(spoken_english(&english)), stt_ms + ms_since(started))).is_ok()
}

/// The English of an utterance whose first tokens were `said` ahead, and the part of it not yet
/// said. English that does not continue them (refused, or failed to) gives way to what was said.
pub(super) fn rest_after(english: &Transcript, said: &[String]) -> (String, String) {
    match english.tokens.strip_prefix(said) {
        Some(rest) if english.verdict.is_speech() => (english.text.clone(), text_of_tokens(rest)),
        _ => (text_of_tokens(said), String::new()),
    }
}

pub(super) fn mt(
    factory: &Factory<dyn Translator>,
    cancel: &CancelHandle,
    input: Receiver<Result<Recognized, Event>>,
    out: SyncSender<Result<Translated, Event>>,
) -> Result<(), PipelineError> {
    let mut translator = factory()?;
    let mut said_before = SaidBefore::default();
    for message in input {
        if cancel.is_cancelled() {
            break;
        }
        let message = message.map(|recognized| translate(translator.as_mut(), recognized, &mut said_before, &out));
        if out.send(message).is_err() {
            break;
        }
    }
    Ok(())
}

/// Translates one utterance, without echoes; on failure the source text goes on, flagged, with a
/// warning.
fn translate(
    translator: &mut dyn Translator,
    mut recognized: Recognized,
    said_before: &mut SaidBefore,
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
    let (text, echo_removed) = match mt_failed {
        true => (text, Vec::new()),
        false => without_echoes(&mut recognized, text, said_before),
    };
    Translated { recognized, text, mt_failed, echo_removed, mt_ms: ms_since(started), translated_at: Instant::now() }
}

/// `english` without the clauses it repeats, within itself or from the English said just before
/// in the same passage. English said ahead of its utterance's end (`speak_early`) continues
/// itself, so only its own repeats are removed there, and what is still to be said is collapsed
/// alone.
fn without_echoes(recognized: &mut Recognized, english: String, said_before: &mut SaidBefore) -> (String, Vec<String>) {
    let utterance = &recognized.heard.audio.utterance;
    let (start_s, end_s) = (seconds(utterance.speech_start), seconds(utterance.speech_end));
    let spoken_ahead = recognized.ahead || recognized.unsaid.is_some();
    let before = match spoken_ahead || start_s - said_before.end_s > PASSAGE_PAUSE_S {
        true => "",
        false => said_before.english.as_str(),
    };
    let collapsed = echo::collapse(&english, before);
    if let Some(unsaid) = recognized.unsaid.as_mut() {
        *unsaid = echo::collapse(unsaid, "").text;
    }
    if !spoken_ahead && !collapsed.text.is_empty() {
        said_before.english = collapsed.text.clone();
    }
    said_before.end_s = end_s;
    (collapsed.text, collapsed.removed)
}

/// How the TTS stage hands over speech.
pub(super) struct SpeechOutput {
    /// Each sentence as an [`Event::Speech`] as soon as it is synthesised.
    pub stream: bool,
    /// Streamed speech is heard in real time: keep it from falling behind ([`Playback`]).
    pub paced: bool,
    pub unsure: UnsurePolicy,
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
            Ok(translated) if translated.recognized.ahead => {
                speak_ahead(synthesizer.as_mut(), translated, playback.as_mut(), &out);
                continue;
            }
            Ok(translated) => {
                let spoken = speak(synthesizer.as_mut(), translated, &speech, playback.as_mut(), &out);
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

/// A session without a voice: every utterance goes out as captions, in order.
pub(super) fn captions(
    cancel: &CancelHandle,
    input: Receiver<Result<Translated, Event>>,
    out: SyncSender<Event>,
) -> Result<(), PipelineError> {
    for message in input {
        if cancel.is_cancelled() {
            break;
        }
        let event = match message {
            Err(event) => event,
            Ok(translated) => captioned(translated),
        };
        if out.send(event).is_err() {
            break;
        }
    }
    Ok(())
}

/// An utterance's captions, judged as a spoken one would be ([`confidence::assess`]).
fn captioned(translated: Translated) -> Event {
    let Translated { recognized, text, mt_failed, echo_removed, mt_ms, translated_at } = translated;
    let Recognized { heard, text: source_text, recognition, stt_ms, recognized_at, .. } = recognized;
    let utterance = &heard.audio.utterance;
    let confidence = confidence::assess(&recognition, confidence::Outcome { echoes: echo_removed.len(), mt_failed });
    let marks = StageMarks {
        speech_end_at: heard.audio.speech_end_at,
        detected_at: heard.detected_at,
        recognized_at,
        translated_at,
        synthesis_started_at: translated_at,
        first_speech_at: None,
        heard_until: None,
        english_s: 0.0,
    };
    let segment = TranslatedSegment {
        start_s: seconds(utterance.speech_start),
        end_s: seconds(utterance.speech_end),
        source_text,
        translated_text: text,
        mt_failed,
        timings_ms: StageTimings { stt: stt_ms, mt: mt_ms, tts: 0.0 },
        speech_start_s: 0.0,
        recognition,
        confidence,
        echo_removed,
        delivery: Delivery::Captioned,
        speech: Vec::new(),
    };
    Event::Translated { seq: heard.seq, segment, marks }
}

/// English speech still to be heard when it is streamed to a listener, who hears each sentence
/// in real time from the moment it is ready (or once the one before has finished).
#[derive(Default)]
struct Playback {
    ends_at: Option<Instant>,
    /// The utterance whose English is being said ahead of its end, and when its first sentence
    /// was ready.
    ahead: Option<(u64, Instant)>,
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

fn speed_when_behind(behind_s: f64) -> f32 {
    if behind_s > CATCH_UP_AFTER_S {
        CATCH_UP_SPEED
    } else {
        1.0
    }
}

/// Says English committed while its utterance is still under way (see [`EarlyEnglish`]); the
/// utterance's own event, when it ends, reports it.
fn speak_ahead(
    synthesizer: &mut dyn Synthesizer,
    translated: Translated,
    mut playback: Option<&mut Playback>,
    out: &SyncSender<Event>,
) {
    let rate = synthesizer.sample_rate();
    let (seq, ahead_of) = (translated.recognized.heard.seq, translated.recognized.heard.audio.speech_end_at);
    let behind_s = playback.as_ref().map_or(0.0, |p| p.behind_s());
    say(synthesizer, translated.text, behind_s, out, &mut |sentence| {
        if let Some(playback) = playback.as_deref_mut() {
            playback.queue(sentence.len() as f64 / f64::from(rate));
            playback.ahead.get_or_insert((seq, Instant::now()));
        }
        let _ = out.send(Event::Speech { seq, samples: sentence.to_vec(), rate, ahead_of: Some(ahead_of) });
    });
}

/// Synthesises `text` sentence by sentence into `on_sentence`, faster when the listener is
/// behind; when they are too far behind it is only captioned. Both that and a synthesis failure
/// are warnings. False when nothing was said.
fn say(
    synthesizer: &mut dyn Synthesizer,
    text: String,
    behind_s: f64,
    out: &SyncSender<Event>,
    on_sentence: &mut dyn FnMut(&[f32]),
) -> bool {
    if behind_s > MAX_SPEECH_BACKLOG_S {
        let _ = out.send(Event::Warning(Warning::TooFarBehind { text, behind_s }));
        return false;
    }
    if let Err(e) = synthesizer.synthesize(&text, speed_when_behind(behind_s), on_sentence) {
        let _ = out.send(Event::Warning(Warning::SynthesisFailed { text, reason: e.to_string() }));
        return false;
    }
    true
}

/// Synthesises one utterance, streaming its sentences (paced by `playback` when a listener hears
/// them as they come) or collecting them into the segment, and judges its confidence from its
/// transcript ([`confidence::assess`]). English of low confidence is followed by the unsure cue:
/// after it, the same place whichever engine translated, so the listener learns one sign (with
/// `direct` the transcript that judges it is decoded while the English is being said). With
/// [`UnsurePolicy::CaptionOnly`] it is not said: `direct`'s English then waits for its transcript.
fn speak(
    synthesizer: &mut dyn Synthesizer,
    translated: Translated,
    output: &SpeechOutput,
    mut playback: Option<&mut Playback>,
    out: &SyncSender<Event>,
) -> Event {
    let started = Instant::now();
    let (rate, stream) = (synthesizer.sample_rate(), output.stream);
    let Translated { recognized, text, mt_failed, echo_removed, mt_ms, translated_at } = translated;
    let Recognized { heard, text: source_text, caption, recognition, stt_ms, recognized_at, unsaid, .. } = recognized;
    let utterance = &heard.audio.utterance;
    let start_s = seconds(utterance.speech_start);
    // What was said ahead of the utterance's end is not said again.
    let said_ahead = unsaid.is_some();
    let to_say = unsaid.unwrap_or_else(|| text.clone());
    let outcome = confidence::Outcome { echoes: echo_removed.len(), mt_failed };
    // Dropped at the first sentence, or when none comes: the transcript's decoding may start.
    let (mut caption, first_speech) = match caption {
        Some(Caption { transcript, first_speech }) => (Some(transcript), Cell::new(Some(first_speech))),
        None => (None, Cell::new(None)),
    };
    let (mut source_text, mut recognition) = (source_text, recognition);
    if output.unsure == UnsurePolicy::CaptionOnly && !to_say.is_empty() {
        if let Some(transcript) = caption.take() {
            first_speech.take();
            (source_text, recognition) = transcript_behind(transcript, start_s, recognition, out);
        }
    }
    let judged_first = caption.is_none().then(|| confidence::assess(&recognition, outcome));
    let mut marks = StageMarks {
        speech_end_at: heard.audio.speech_end_at,
        detected_at: heard.detected_at,
        recognized_at,
        translated_at,
        synthesis_started_at: started,
        first_speech_at: None,
        heard_until: None,
        english_s: 0.0,
    };
    let mut speech = Vec::new();
    let behind_s = playback.as_ref().map_or(0.0, |p| p.behind_s());
    let seq = heard.seq;
    let mut emit = |sentence: &[f32]| {
        marks.first_speech_at.get_or_insert_with(Instant::now);
        marks.english_s += sentence.len() as f64 / f64::from(rate);
        first_speech.take();
        if !stream {
            speech.extend_from_slice(sentence);
            return;
        }
        if let Some(playback) = playback.as_deref_mut() {
            playback.queue(sentence.len() as f64 / f64::from(rate));
            marks.heard_until = playback.ends_at;
        }
        let _ = out.send(Event::Speech { seq, samples: sentence.to_vec(), rate, ahead_of: None });
    };
    let unsure_first = judged_first.as_ref().is_some_and(|c| c.level == Level::Low);
    // An English voice reading another script is noise to the listener; the caption still
    // carries the text, flagged. Numbers and Latin text are still spoken.
    let spoken = if to_say.is_empty() {
        // All of it was said ahead.
        said_ahead
    } else if mt_failed && !is_readable_in_english(&to_say) {
        let _ = out.send(Event::Warning(Warning::NotSpoken { text: to_say }));
        false
    } else if unsure_first && output.unsure == UnsurePolicy::CaptionOnly {
        let _ = out.send(Event::Warning(Warning::Unsure { start_s, text: to_say }));
        false
    } else {
        say(synthesizer, to_say, behind_s, out, &mut emit)
    };
    if let Some(transcript) = caption.take() {
        first_speech.take();
        (source_text, recognition) = transcript_behind(transcript, start_s, recognition, out);
    }
    let confidence = judged_first.unwrap_or_else(|| confidence::assess(&recognition, outcome));
    let delivery = match (confidence.level, output.unsure) {
        (Level::Low, UnsurePolicy::CaptionOnly) if !spoken => Delivery::CaptionOnly,
        (Level::Low, UnsurePolicy::Cue) if spoken => {
            emit(&unsure_cue(rate));
            Delivery::SpokenWithCue
        }
        _ => Delivery::Spoken,
    };
    if let Some(playback) = playback.filter(|_| said_ahead) {
        let ahead = playback.ahead.take().filter(|&(of, _)| of == heard.seq).map(|(_, at)| at);
        marks.first_speech_at = marks.first_speech_at.or(ahead);
        marks.heard_until = marks.heard_until.or(playback.ends_at);
    }
    let segment = TranslatedSegment {
        start_s,
        end_s: seconds(utterance.speech_end),
        source_text,
        translated_text: text,
        mt_failed,
        timings_ms: StageTimings { stt: stt_ms, mt: mt_ms, tts: ms_since(started) },
        speech_start_s: 0.0,
        recognition,
        confidence,
        echo_removed,
        delivery,
        speech,
    };
    Event::Translated { seq, segment, marks }
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
