//! Which voice speaks a session's target language: the built-in English voice, or a Piper voice
//! the user imported for another language (`models import-voice`); with none, a session into
//! that language is captioned, and [`no_voice_message`] says how to hear it.

use super::RuntimeError;
use crate::models::import::VOICE_FILE;
use crate::models::ModelStore;
use crate::tts::PiperVoiceConfig;

/// The built-in voice, for English.
pub const ENGLISH_VOICE: &str = "piper-en-us-joe-medium";

/// The voice that speaks `target` (ISO 639-1): for English the built-in one (its own error says
/// how to install it when it is missing); else the installed voice for `target` imported last,
/// as a user who imports a second voice means to use it; None when there is none.
pub fn voice_for(store: &ModelStore, target: &str) -> Result<Option<String>, RuntimeError> {
    if target == "en" {
        return Ok(Some(ENGLISH_VOICE.into()));
    }
    for entry in store.manifest().models.iter().rev().filter(|m| m.role == "tts" && m.id != ENGLISH_VOICE) {
        if store.installed(&entry.id)?.is_none() {
            continue;
        }
        // A damaged voice is reported as such, not passed over as if it were not there.
        let config = PiperVoiceConfig::read(&store.model_dir(&entry.id).join(VOICE_FILE))
            .map_err(|e| store.require(&entry.id).err().map_or(RuntimeError::Tts(e), RuntimeError::Store))?;
        if config.language() == target {
            return Ok(Some(entry.id.clone()));
        }
    }
    Ok(None)
}

/// What a user without a voice for `target` is told: that it is captioned, and what to do.
pub fn no_voice_message(target: &str) -> String {
    match target {
        "fa" => "no Persian voice is installed, so Persian is captioned, not spoken; to hear it, download \
                 fa_IR-amir-medium.onnx and fa_IR-amir-medium.onnx.json (fa/fa_IR/amir/medium in \
                 huggingface.co/rhasspy/piper-voices) into one folder and run \
                 `linguastream models import-voice fa_IR-amir-medium.onnx`"
            .into(),
        other => format!(
            "no voice for '{other}' is installed, so it is captioned, not spoken; to hear it, download a Piper \
             voice for it (its .onnx and .onnx.json, from huggingface.co/rhasspy/piper-voices) into one folder \
             and run `linguastream models import-voice VOICE.onnx`"
        ),
    }
}
