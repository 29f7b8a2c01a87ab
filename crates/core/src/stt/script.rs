//! The script a decoding pass's text should be in, for the task and language asked.

use super::Task;
use crate::text::is_readable_in_english;

/// The script a pass's text should be in. Whisper forced to Persian sometimes writes what it
/// hears in Latin letters, as Persian is often typed informally ("voice shomaru" for
/// «حواس شمارو»), and its "translation" is sometimes Persian again; both are retried, and a
/// pass in the right script is preferred.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Script {
    /// English: mostly Latin letters.
    Latin,
    /// Persian, Arabic, Urdu, Pashto: no Latin letters.
    Arabic,
    /// Anything goes.
    Any,
}

impl Script {
    pub fn expected(language: &str, task: Task) -> Self {
        match (task, language) {
            (Task::Translate, _) => Script::Latin,
            (Task::Transcribe, "fa" | "ar" | "ur" | "ps") => Script::Arabic,
            (Task::Transcribe, _) => Script::Any,
        }
    }

    /// An empty text fits any script: it says nothing in the wrong one.
    pub fn fits(self, text: &str) -> bool {
        match self {
            _ if text.is_empty() => true,
            Script::Latin => is_readable_in_english(text),
            Script::Arabic => !text.chars().any(is_latin_letter),
            Script::Any => true,
        }
    }
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || (c.is_alphabetic() && ('\u{00C0}'..='\u{024F}').contains(&c))
}
