//! Whisper's speech-translation task as a translator: English straight from the audio.

use std::sync::Arc;

use super::{MtError, SourceSegment, Translator};
use crate::stt::{Task, Verdict, WhisperModel};

/// Translates by running Whisper with the `translate` task on the utterance audio.
pub struct DirectWhisperTranslator {
    model: Arc<WhisperModel>,
    language: String,
}

impl DirectWhisperTranslator {
    pub fn new(model: Arc<WhisperModel>, language: &str) -> Self {
        Self { model, language: language.to_string() }
    }
}

impl Translator for DirectWhisperTranslator {
    fn name(&self) -> &str {
        "direct"
    }

    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
        let transcript = match source.encoded {
            Some(encoded) => self.model.recognize(encoded, &self.language, Task::Translate, None),
            None => self.model.transcribe(source.audio, &self.language, Task::Translate, None),
        }
        .map_err(|e| MtError::Engine(e.to_string()))?;
        // The recognition stage already judged this audio to be speech, so only degenerate and
        // non-English output is refused here.
        let acceptable = matches!(transcript.verdict, Verdict::Speech | Verdict::NoSpeech { .. });
        if !acceptable {
            return Err(MtError::Engine(format!(
                "Whisper's translation was rejected: {}",
                transcript.verdict.reason()
            )));
        }
        Ok(transcript.text)
    }
}
