//! The speech stage: each utterance's English said, streamed or collected, paced for a listener,
//! with the unsure cue where the English is of low confidence; its segment reported. A session
//! without a voice has captions only ([`captions`]).

use std::cell::Cell;
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use super::message::{ms_since, seconds, Caption, Message, Order, Recognized, Translated};
use super::{CancelHandle, Event, Factory, PipelineError, StageMarks, UnsurePolicy, Warning};
use crate::confidence::{self, Level};
use crate::memory;
use crate::output::{Delivery, Recognition, StageTimings, TranslatedSegment};
use crate::stt::{SttError, Transcript};
use crate::text::is_readable_in_english;
use crate::tts::{unsure_cue, Synthesizer};

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
    input: Receiver<Message<Translated>>,
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
            Message::Event(event) => event,
            Message::Item(translated) if matches!(translated.recognized.order, Order::Early) => {
                speak_ahead(synthesizer.as_mut(), translated, playback.as_mut(), &out);
                continue;
            }
            Message::Item(translated) => {
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
    input: Receiver<Message<Translated>>,
    out: SyncSender<Event>,
) -> Result<(), PipelineError> {
    for message in input {
        if cancel.is_cancelled() {
            break;
        }
        let event = match message {
            Message::Event(event) => event,
            Message::Item(translated) => captioned(translated),
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
    let Recognized { heard, text: source_text, order, recognition, stt_ms, recognized_at, .. } = recognized;
    let (caption, unsaid) = match order {
        Order::BeforeTranscript { caption, unsaid } => (Some(caption), unsaid),
        Order::AfterTranscript | Order::Early => (None, None),
    };
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
