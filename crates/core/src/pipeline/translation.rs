//! The translation stage: each utterance's English, without the echoes of what was just said.

use std::sync::mpsc::{Receiver, SyncSender};
use std::time::Instant;

use super::message::{ms_since, seconds, English, Message, Order, Recognized, Translated};
use super::{CancelHandle, Event, Factory, PipelineError, Warning};
use crate::mt::{echo, SourceSegment, Translator};

/// Utterances less than this apart belong to one passage: an echo of the English just said is
/// not said again. Files end a passage at a 2 s pause too.
const PASSAGE_PAUSE_S: f64 = 2.0;

/// The English said last, for echoes across the utterances of one passage.
#[derive(Default)]
struct SaidBefore {
    end_s: f64,
    english: String,
}
pub(super) fn mt(
    factory: &Factory<dyn Translator>,
    cancel: &CancelHandle,
    input: Receiver<Message<Recognized>>,
    out: SyncSender<Message<Translated>>,
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
    out: &SyncSender<Message<Translated>>,
) -> Translated {
    let started = Instant::now();
    // Taken: nothing reads it after translation.
    let translated = match std::mem::replace(&mut recognized.english, English::Translator) {
        English::Whisper(english) => english.map_err(|e| e.to_string()),
        English::Translator => {
            let source = SourceSegment { text: &recognized.text, audio: &recognized.heard.audio.samples };
            translator.translate(source).map_err(|e| e.to_string())
        }
    };
    let (text, mt_failed) = match translated {
        Ok(text) => (text, false),
        Err(reason) => {
            let start_s = seconds(recognized.heard.audio.utterance.speech_start);
            let _ = out.send(Message::Event(Event::Warning(Warning::TranslationFailed { start_s, reason })));
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
    let spoken_ahead = recognized.said_early();
    let before = match spoken_ahead || start_s - said_before.end_s > PASSAGE_PAUSE_S {
        true => "",
        false => said_before.english.as_str(),
    };
    let collapsed = echo::collapse(&english, before);
    if let Order::BeforeTranscript { unsaid: Some(unsaid), .. } = &mut recognized.order {
        *unsaid = echo::collapse(unsaid, "").text;
    }
    if !spoken_ahead && !collapsed.text.is_empty() {
        said_before.english = collapsed.text.clone();
    }
    said_before.end_s = end_s;
    (collapsed.text, collapsed.removed)
}
