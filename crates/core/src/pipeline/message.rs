//! What travels between the stages: an utterance as each stage hands it on. Events for the user
//! (drops, warnings) travel down the same channels as the utterances, so they arrive in input order.

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use super::Event;
use crate::audio::STT_RATE;
use crate::output::Recognition;
use crate::stt::{EncodedAudio, SttError, Transcript};
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
    pub(super) text: String,
    /// With `english_first`: Whisper's own English, or why it was rejected. The translator is
    /// not asked then.
    pub(super) english: Option<Result<String, String>>,
    /// With `english_first`, when the English went ahead alone: the transcript follows through
    /// here (`text` is empty until it comes).
    pub(super) caption: Option<Caption>,
    /// For the `direct` translator; dropped once translated.
    pub(super) encoded: Option<Arc<EncodedAudio>>,
    /// English committed while the utterance is still under way (`speak_early`): said at once,
    /// reported with the whole utterance when it ends.
    pub(super) ahead: bool,
    /// For an utterance some of whose English was said ahead: the rest, still to be said.
    pub(super) unsaid: Option<String>,
    pub(super) recognition: Recognition,
    pub(super) stt_ms: f64,
    pub(super) recognized_at: Instant,
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
