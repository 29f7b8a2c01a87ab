//! The voice-activity stage: cuts the audio into utterances and offers, in real time, the
//! utterance whose pause is still being confirmed and the one under way.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Instant;

use super::message::{Heard, HeardKind};
use super::partials::PARTIAL_EVERY_S;
use super::{CancelHandle, Factory, PipelineError};
use crate::audio::{Chunk, STT_RATE};
use crate::vad::{HeardUtterance, SegmenterOptions, SpeechDetector, StreamingVad};

/// What the VAD stage offers besides whole utterances.
#[derive(Debug, Clone, Copy)]
pub(super) struct Offers {
    pub speculate: bool,
    pub partials: bool,
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
