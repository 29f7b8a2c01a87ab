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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::manifest::LOCAL_MANIFEST;
    use crate::models::store::{sha256_file, write_installed};
    use std::fs;

    /// Installs a voice `id` whose config says `language`, listed in the local model list (the
    /// weights are not read to choose a voice, so they are a few bytes here).
    fn install(store: &ModelStore, id: &str, language: &str) {
        let dir = store.model_dir(id);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(VOICE_FILE), b"weights").unwrap();
        let config = format!(
            r#"{{"audio":{{"sample_rate":22050}},"espeak":{{"voice":"x"}},"language":{{"code":"{language}"}},
            "inference":{{"noise_scale":0.667,"length_scale":1,"noise_w":0.8}},"phoneme_id_map":{{"_":[0]}}}}"#
        );
        fs::write(dir.join("voice.onnx.json"), config).unwrap();
        let hashes: Vec<(String, String)> = [VOICE_FILE, "voice.onnx.json"]
            .iter()
            .map(|name| (name.to_string(), sha256_file(&dir.join(name)).unwrap()))
            .collect();
        write_installed(&dir, id, &hashes).unwrap();
        let list = store.root().join(LOCAL_MANIFEST);
        let mut text = fs::read_to_string(&list).unwrap_or_default();
        text += &format!(
            "[[model]]\nid = \"{id}\"\nrole = \"tts\"\ndescription = \"\"\nlicense = \"\"\ndefault = false\n\
             source = \"local\"\nfiles = [{{ name = \"voice.onnx\" }}, {{ name = \"voice.onnx.json\" }}]\n"
        );
        fs::write(list, text).unwrap();
    }

    #[test]
    fn the_voice_imported_last_for_the_language_speaks_it() {
        let root = tempfile::tempdir().unwrap();
        let open = || ModelStore::open(root.path().to_path_buf());
        assert_eq!(voice_for(&open(), "fa").unwrap(), None);
        install(&open(), "piper-fa-ir-amir-medium", "fa_IR");
        install(&open(), "piper-de-de-thorsten-medium", "de_DE");
        install(&open(), "piper-fa-ir-gyro-medium", "fa_IR");
        let store = open();
        assert_eq!(voice_for(&store, "fa").unwrap().as_deref(), Some("piper-fa-ir-gyro-medium"));
        assert_eq!(voice_for(&store, "de").unwrap().as_deref(), Some("piper-de-de-thorsten-medium"));
        assert_eq!(voice_for(&store, "ru").unwrap(), None);
        assert_eq!(voice_for(&store, "en").unwrap().as_deref(), Some(ENGLISH_VOICE));
    }

    #[test]
    fn a_damaged_voice_is_reported_not_passed_over() {
        let root = tempfile::tempdir().unwrap();
        install(&ModelStore::open(root.path().to_path_buf()), "piper-fa-ir-amir-medium", "fa_IR");
        fs::write(root.path().join("models/piper-fa-ir-amir-medium/voice.onnx.json"), "{ cut sh").unwrap();
        let error = voice_for(&ModelStore::open(root.path().to_path_buf()), "fa").unwrap_err().to_string();
        assert!(error.contains("piper-fa-ir-amir-medium") && error.contains("corrupted"), "{error}");
    }

    #[test]
    fn the_message_without_a_voice_says_what_to_download_and_run() {
        let message = no_voice_message("fa");
        for wanted in ["no Persian voice is installed", "fa_IR-amir-medium.onnx.json", "rhasspy/piper-voices"] {
            assert!(message.contains(wanted), "{wanted:?} in {message}");
        }
        assert!(message.contains("`linguastream models import-voice fa_IR-amir-medium.onnx`"), "{message}");
        assert!(no_voice_message("de").contains("no voice for 'de'"));
    }
}
