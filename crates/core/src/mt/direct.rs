//! Whisper's speech-translation task as a translator: English straight from the audio.

use std::sync::Arc;

use super::{MtError, SourceSegment, Translator};
use crate::stt::{Task, WhisperModel};

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
        let transcript = self.model.transcribe(source.audio, &self.language, Task::Translate, None);
        Ok(transcript.and_then(|t| t.spoken_english())?)
    }
}
