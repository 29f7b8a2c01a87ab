//! The recognition stage: the transcript of each utterance, judged by the hallucination gate,
//! and in its other modes speculative decodes, partial captions, and Whisper's own English first
//! (said before the utterance ends, or before its transcript).

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant};

use super::message::{ms_since, seconds, Caption, English, Heard, HeardKind, Message, Order, Recognized};
use super::partials::{Agreement, EarlyEnglish};
use super::{CancelHandle, Event, Factory, PipelineError};
use crate::output::{DroppedSegment, Recognition};
use crate::stt::{text_of_tokens, DirectContext, Recognizer, SttError, Task, Transcript};
use crate::vad::{HeardUtterance, Utterance};

/// The longest the transcript waits for the English's first sentence: the synthesiser may still
/// be busy with the utterance before.
const CAPTION_WAITS_AT_MOST: Duration = Duration::from_millis(1500);
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

/// A decode made while an utterance's pause was still being confirmed: its result stands if the
/// utterance ends as it was then, with as much English said early.
struct Speculation {
    utterance: Utterance,
    /// Tokens of English said early that the decode continues.
    said_early: usize,
    result: Result<Transcript, SttError>,
    stt_ms: f64,
}

pub(super) fn stt(
    factory: &Factory<dyn Recognizer>,
    mode: SttMode,
    cancel: &CancelHandle,
    input: Receiver<Heard>,
    out: SyncSender<Message<Recognized>>,
) -> Result<(), PipelineError> {
    let mut recognizer = factory()?;
    let first_task = if mode.english_first { Task::Translate } else { Task::Transcribe };
    let mut waiting: Option<Heard> = None;
    let mut agreement = Agreement::default();
    let mut early = EarlyEnglish::default();
    let mut speculated: Option<Speculation> = None;
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
                    let said_early = early.committed(heard.audio.utterance.start).len();
                    let result = first_decode(recognizer.as_mut(), &heard.audio, first_task, &early);
                    let utterance = heard.audio.utterance;
                    speculated = Some(Speculation { utterance, said_early, result, stt_ms: ms_since(started) });
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
        let said_early = early.committed(start).len();
        let (result, stt_ms) = match speculated.take() {
            Some(s) if s.utterance == heard.audio.utterance && s.said_early == said_early => (s.result, s.stt_ms),
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
    out: &SyncSender<Message<Recognized>>,
) -> bool {
    if first_task == Task::Transcribe {
        return transcribe_passage(recognizer, &heard.audio).into_iter().all(
            |PassagePart { audio, transcript, stt_ms }| {
                let piece = Heard { seq: heard.seq, audio, detected_at: heard.detected_at, kind: HeardKind::Whole };
                out.send(judged(piece, transcript, None, stt_ms)).is_ok()
            },
        );
    }
    let started = Instant::now();
    let vad_probability = Some(heard.audio.utterance.speech_probability);
    let transcript = recognize(recognizer, &heard.audio, Task::Transcribe);
    let english = match &transcript {
        Ok(t) if t.verdict.is_speech() => {
            let english = decode_again(recognizer, &t.direct, &heard.audio.samples, vad_probability, Task::Translate);
            Some(english.and_then(|english| english.spoken_english()))
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

/// A passage, or a piece of one, with its transcript ([`transcribe_passage`]).
pub struct PassagePart {
    pub audio: HeardUtterance,
    pub transcript: Result<Transcript, SttError>,
    /// How long recognition took.
    pub stt_ms: f64,
}

/// The transcript of an utterance as the pipeline reads it without translating: a passage of
/// several sentences whole, or piece by piece when its whole transcript is not speech (see
/// [`passage`]).
pub fn transcribe_passage(recognizer: &mut dyn Recognizer, audio: &HeardUtterance) -> Vec<PassagePart> {
    let started = Instant::now();
    let whole = recognize(recognizer, audio, Task::Transcribe);
    if audio.utterance.pieces.is_empty() || whole.as_ref().is_ok_and(Transcript::read_whole) {
        return vec![PassagePart { audio: audio.clone(), transcript: whole, stt_ms: ms_since(started) }];
    }
    let piece = |audio: HeardUtterance| {
        let started = Instant::now();
        let transcript = recognize(recognizer, &audio, Task::Transcribe);
        PassagePart { audio, transcript, stt_ms: ms_since(started) }
    };
    audio.pieces().into_iter().map(piece).collect()
}

/// `samples` decoded for another task, on the encoder output an earlier decode kept
/// ([`Transcript::direct`]) when the engine can ([`crate::stt::DirectTranslation`]).
fn decode_again(
    recognizer: &mut dyn Recognizer,
    context: &DirectContext,
    samples: &[f32],
    vad_probability: Option<f32>,
    task: Task,
) -> Result<Transcript, SttError> {
    match recognizer.direct() {
        Some(direct) => direct.transcribe_encoded(context, samples, vad_probability, task),
        None => recognizer.transcribe(samples, vad_probability, task),
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
    match recognizer.direct() {
        // English is said ahead only by an engine that can continue it.
        Some(direct) if !said_ahead.is_empty() => {
            direct.translate_after(&audio.samples, Some(audio.utterance.speech_probability), said_ahead, false)
        }
        _ => recognize(recognizer, audio, task),
    }
}

/// Recognises the utterance under way for a partial caption. False when the next stage has gone.
fn partial_caption(
    recognizer: &mut dyn Recognizer,
    heard: &Heard,
    agreement: &mut Agreement,
    out: &SyncSender<Message<Recognized>>,
) -> bool {
    let result = recognize(recognizer, &heard.audio, Task::Transcribe);
    let Some(transcript) = result.ok().filter(|t| t.verdict.is_speech()) else {
        return true;
    };
    let utterance = &heard.audio.utterance;
    let (stable, unstable) = agreement.update(utterance.start, &transcript.text);
    out.send(Message::Event(Event::Partial { start_s: seconds(utterance.speech_start), stable, unstable })).is_ok()
}

/// Translates the utterance under way and commits the English two clear hypotheses agree on
/// ([`EarlyEnglish`]); committed English goes on to be said at once. With `captions`, the English
/// so far is a partial caption. False when the next stage has gone.
fn say_ahead(
    recognizer: &mut dyn Recognizer,
    heard: Heard,
    early: &mut EarlyEnglish,
    captions: bool,
    out: &SyncSender<Message<Recognized>>,
) -> bool {
    let started = Instant::now();
    let utterance = &heard.audio.utterance;
    let start = utterance.start;
    let said_before = early.committed(start).to_vec();
    let vad_probability = Some(utterance.speech_probability);
    let hypothesis = recognizer
        .direct()
        .and_then(|direct| direct.translate_after(&heard.audio.samples, vad_probability, &said_before, true).ok())
        .filter(|t| t.verdict.is_speech() && t.clear);
    let Some(hypothesis) = hypothesis else {
        early.doubt(start);
        return true;
    };
    let said = early.update(start, &hypothesis.direct.tokens);
    if captions {
        let committed = early.committed(start);
        let stable = text_of_tokens(committed);
        let unstable = text_of_tokens(hypothesis.direct.tokens.get(committed.len()..).unwrap_or_default());
        let partial = Event::Partial { start_s: seconds(utterance.speech_start), stable, unstable };
        if out.send(Message::Event(partial)).is_err() {
            return false;
        }
    }
    let Some(text) = said else {
        return true;
    };
    let recognized = Recognized {
        heard,
        text: String::new(),
        english: English::Whisper(Ok(text)),
        order: Order::Early,
        recognition: Recognition { evidence: hypothesis.evidence, decoding: hypothesis.decoding },
        stt_ms: ms_since(started),
        recognized_at: Instant::now(),
    };
    out.send(Message::Item(recognized)).is_ok()
}

fn recognize(recognizer: &mut dyn Recognizer, audio: &HeardUtterance, task: Task) -> Result<Transcript, SttError> {
    recognizer.transcribe(&audio.samples, Some(audio.utterance.speech_probability), task)
}

/// The utterance with its transcript when the gate took it for speech, else why it was dropped.
fn judged(
    heard: Heard,
    result: Result<Transcript, SttError>,
    english: Option<Result<String, SttError>>,
    stt_ms: f64,
) -> Message<Recognized> {
    let utterance = &heard.audio.utterance;
    let (start_s, end_s) = (seconds(utterance.speech_start), seconds(utterance.speech_end));
    match result {
        Ok(t) if t.verdict.is_speech() => {
            let recognition = Recognition { evidence: t.evidence, decoding: t.decoding };
            Message::Item(Recognized {
                heard,
                text: t.text,
                english: match english {
                    Some(english) => English::Whisper(english),
                    None => English::Translator,
                },
                order: Order::AfterTranscript,
                recognition,
                stt_ms,
                recognized_at: Instant::now(),
            })
        }
        Ok(t) => Message::Event(Event::Dropped(DroppedSegment {
            start_s,
            end_s,
            reason: t.verdict.reason(),
            reason_code: t.verdict.code().to_string(),
            recognition: Some(Recognition { evidence: t.evidence, decoding: t.decoding }),
            text: t.text,
        })),
        Err(e) => Message::Event(Event::Dropped(DroppedSegment {
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
    out: &SyncSender<Message<Recognized>>,
) -> bool {
    let vad_probability = Some(heard.audio.utterance.speech_probability);
    let context = english.direct.clone();
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
            english: English::Whisper(Ok(english.text)),
            order: Order::BeforeTranscript { caption: Caption { transcript, first_speech }, unsaid },
            recognition: Recognition { evidence: english.evidence, decoding: english.decoding },
            stt_ms,
            recognized_at: Instant::now(),
        };
        if out.send(Message::Item(recognized)).is_err() {
            return false;
        }
        let _ = first_speech_rx.recv_timeout(CAPTION_WAITS_AT_MOST);
        let transcript = decode_again(recognizer, &context, &samples, vad_probability, Task::Transcribe);
        let _ = transcript_tx.send(transcript);
        return true;
    }
    let started = Instant::now();
    let transcript = decode_again(recognizer, &context, &heard.audio.samples, vad_probability, Task::Transcribe);
    out.send(judged(heard, transcript, Some(english.spoken_english()), stt_ms + ms_since(started))).is_ok()
}

/// The English of an utterance whose first tokens were `said` ahead, and the part of it not yet
/// said. English that does not continue them (refused, or failed to) gives way to what was said.
pub(super) fn rest_after(english: &Transcript, said: &[String]) -> (String, String) {
    match english.direct.tokens.strip_prefix(said) {
        Some(rest) if english.verdict.is_speech() => (english.text.clone(), text_of_tokens(rest)),
        _ => (text_of_tokens(said), String::new()),
    }
}
