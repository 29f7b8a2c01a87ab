//! What travels between the stages: an utterance as each stage hands it on. Events for the user
//! (drops, warnings) travel down the same channels as the utterances, so they arrive in input order.

use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Instant;

use super::Event;
use crate::audio::STT_RATE;
use crate::output::Recognition;
use crate::stt::{SttError, Transcript};
use crate::vad::HeardUtterance;

/// What a stage hands the next: an utterance for it to work on, or an event for the user that
/// passes through in input order.
// As many messages as utterances and events: boxing the larger variant would save nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Message<T> {
    Item(T),
    Event(Event),
}

impl<T> Message<T> {
    /// The same message with its utterance handed on by `stage`.
    pub(super) fn map<U>(self, stage: impl FnOnce(T) -> U) -> Message<U> {
        match self {
            Message::Item(item) => Message::Item(stage(item)),
            Message::Event(event) => Message::Event(event),
        }
    }
}

/// An utterance (or the part of one heard so far), as the VAD hands it to recognition.
pub(super) struct Heard {
    pub(super) seq: u64,
    pub(super) audio: HeardUtterance,
    pub(super) detected_at: Instant,
    pub(super) kind: HeardKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeardKind {
    /// An utterance that ended.
    Whole,
    /// Offered while its pause is still being confirmed; the same utterance follows, whole, if
    /// the pause is confirmed.
    Speculative,
    /// The utterance under way so far, for a partial caption or English said before it ends.
    /// Numbered as the utterance will be when it ends.
    Partial,
}

/// An utterance with its transcript, as recognition hands it to translation.
pub(super) struct Recognized {
    pub(super) heard: Heard,
    /// The transcript; empty while it is still to come ([`Order`]).
    pub(super) text: String,
    pub(super) english: English,
    pub(super) order: Order,
    pub(super) recognition: Recognition,
    pub(super) stt_ms: f64,
    pub(super) recognized_at: Instant,
}

/// Where an utterance's English comes from.
pub(super) enum English {
    /// The translator's, from the transcript.
    Translator,
    /// Whisper's own English, decoded by recognition (`english_first`), or why it was refused:
    /// the translator is not asked.
    Whisper(Result<String, SttError>),
}

/// When an utterance's English is said, against its transcript and its end.
pub(super) enum Order {
    /// Once its transcript is known.
    AfterTranscript,
    /// Committed while the utterance is still under way (`speak_early`): said at once, reported
    /// with the whole utterance when it ends. It has no transcript.
    Early,
    /// Ahead of its transcript, which follows through `caption` (`english_first`, clear speech).
    /// `unsaid`: for an utterance some of whose English was said early, the rest, still to be
    /// said.
    BeforeTranscript { caption: Caption, unsaid: Option<String> },
}

impl Recognized {
    /// Some of its English was said before the utterance ended (`speak_early`).
    pub(super) fn said_early(&self) -> bool {
        match &self.order {
            Order::AfterTranscript => false,
            Order::Early => true,
            Order::BeforeTranscript { unsaid, .. } => unsaid.is_some(),
        }
    }
}

/// The link between an utterance whose English went ahead and the recognition stage decoding its
/// transcript.
pub(super) struct Caption {
    pub(super) transcript: Receiver<Result<Transcript, SttError>>,
    /// Closed when the English's first sentence is ready (or will not come): the transcript waits
    /// for it, so that the voice has the CPU while the listener waits.
    pub(super) first_speech: SyncSender<()>,
}

/// An utterance with its English, as translation hands it to speech.
pub(super) struct Translated {
    pub(super) recognized: Recognized,
    pub(super) text: String,
    pub(super) mt_failed: bool,
    /// Echoes taken out of `text`.
    pub(super) echo_removed: Vec<String>,
    pub(super) mt_ms: f64,
    pub(super) translated_at: Instant,
}

pub(super) fn seconds(sample: usize) -> f64 {
    sample as f64 / f64::from(STT_RATE)
}

pub(super) fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}
