//! Text → IPA phonemes with espeak-ng, sentence by sentence, the way Piper's phonemiser does it.
//!
//! Piper voices are trained on espeak-ng IPA with the clause punctuation kept (`,` `.` `?` ...).
//! Piper uses a patched `espeak_TextToPhonemesWithTerminator`; the espeak-ng in Debian 12 (1.51)
//! lacks it, so the terminator is read from the text each call consumed instead.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Mutex;

#[link(name = "espeak-ng")]
extern "C" {
    fn espeak_Initialize(output: c_int, buflength: c_int, path: *const c_char, options: c_int) -> c_int;
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_TextToPhonemes(textptr: *mut *const c_void, textmode: c_int, phonememode: c_int) -> *const c_char;
}

const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const CHARS_UTF8: c_int = 1;
const PHONEMES_IPA: c_int = 0x02;

/// espeak-ng keeps global state, so every call goes through this lock.
static ESPEAK: Mutex<Option<String>> = Mutex::new(None);

/// Why text could not be turned into phonemes.
#[derive(Debug, thiserror::Error)]
pub enum PhonemizeError {
    #[error("espeak-ng could not start (is the espeak-ng-data package installed?)")]
    Init,
    #[error("espeak-ng has no voice '{0}'")]
    Voice(String),
    #[error("text contains a NUL byte")]
    Nul,
}

/// IPA phonemes of `text` in `voice` (e.g. "en-us"), one string per sentence, with clause
/// punctuation kept as Piper expects.
pub fn phonemize(text: &str, voice: &str) -> Result<Vec<String>, PhonemizeError> {
    let mut current_voice = ESPEAK.lock().unwrap_or_else(|p| p.into_inner());
    if current_voice.is_none() {
        // SAFETY: called once under the lock; a NULL path means the default data directory.
        let rate = unsafe { espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, std::ptr::null(), 0) };
        if rate <= 0 {
            return Err(PhonemizeError::Init);
        }
        *current_voice = Some(String::new());
    }
    if current_voice.as_deref() != Some(voice) {
        let name = CString::new(voice).map_err(|_| PhonemizeError::Nul)?;
        // SAFETY: espeak is initialised and `name` is a valid C string.
        if unsafe { espeak_SetVoiceByName(name.as_ptr()) } != 0 {
            return Err(PhonemizeError::Voice(voice.to_string()));
        }
        *current_voice = Some(voice.to_string());
    }
    let c_text = CString::new(text).map_err(|_| PhonemizeError::Nul)?;
    let bytes = c_text.as_bytes();
    let base = c_text.as_ptr();
    let mut cursor: *const c_void = base.cast();
    let mut sentences = Vec::new();
    let mut sentence = String::new();
    while !cursor.is_null() {
        let start = cursor as usize - base as usize;
        // SAFETY: `cursor` points into `c_text`, which outlives the loop; espeak advances it to
        // the next clause or sets it to NULL at the end.
        let phonemes = unsafe { espeak_TextToPhonemes(&mut cursor, CHARS_UTF8, PHONEMES_IPA) };
        let end = if cursor.is_null() { bytes.len() } else { cursor as usize - base as usize };
        if !phonemes.is_null() {
            // SAFETY: espeak returns a NUL-terminated string valid until its next call.
            sentence.push_str(&unsafe { CStr::from_ptr(phonemes) }.to_string_lossy());
        }
        let consumed = String::from_utf8_lossy(&bytes[start..end.min(bytes.len())]);
        match clause_terminator(&consumed) {
            Some(mark @ ('.' | '?' | '!')) => {
                sentence.push(mark);
                sentences.push(std::mem::take(&mut sentence));
            }
            Some(mark) => {
                sentence.push(mark);
                sentence.push(' ');
            }
            None => {
                if !sentence.is_empty() && !sentence.ends_with(' ') {
                    sentence.push(' ');
                }
            }
        }
    }
    let rest = sentence.trim_end().to_string();
    if !rest.is_empty() {
        sentences.push(rest);
    }
    sentences.retain(|s| s.chars().any(char::is_alphabetic));
    Ok(sentences)
}

/// The punctuation that ended a clause, in Piper's set, mapped from its Unicode variants.
///
/// espeak reads one character past the clause (`"Hello, w"` for `"Hello, world"`), so the
/// read-ahead is dropped before looking at the clause's last character.
fn clause_terminator(consumed: &str) -> Option<char> {
    let last = consumed.trim_end_matches(char::is_alphanumeric).trim_end().chars().last()?;
    match last {
        '.' | '…' | '。' => Some('.'),
        '?' | '؟' => Some('?'),
        '!' => Some('!'),
        ',' | '،' => Some(','),
        ':' => Some(':'),
        ';' | '؛' => Some(';'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminators_are_read_from_the_consumed_text() {
        // What espeak-ng 1.51 consumes per call for "Hello, world. How are you? Fine: bye! 3.5".
        assert_eq!(clause_terminator("Hello, w"), Some(','));
        assert_eq!(clause_terminator("orld. H"), Some('.'));
        assert_eq!(clause_terminator("ow are you? F"), Some('?'));
        assert_eq!(clause_terminator("ine: b"), Some(':'));
        assert_eq!(clause_terminator("ye! 3"), Some('!'));
        assert_eq!(clause_terminator("سلام؟ خ"), Some('?'));
        assert_eq!(clause_terminator("no end"), None);
    }

    #[test]
    fn sentences_and_clause_punctuation_are_kept() {
        let sentences = phonemize("Hello, world. How are you?", "en-us").unwrap();
        assert_eq!(sentences.len(), 2, "{sentences:?}");
        assert!(sentences[0].contains(", "), "{sentences:?}");
        assert!(sentences[0].ends_with('.'));
        assert!(sentences[1].ends_with('?'));
        // The same IPA as the espeak-ng command line gives for the words.
        assert!(sentences[0].starts_with("həlˈoʊ"), "{sentences:?}");
    }
}
