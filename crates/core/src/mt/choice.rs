//! The translation engines a user can name, in one place: the command line (`--mt`, with each
//! one's help), the server (`?mt=`) and their error messages read this table.

use std::fmt;
use std::str::FromStr;

/// Which translation engine a session asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtChoice {
    Auto,
    Direct,
    Firefox,
    Llm,
    Nllb,
    /// No translation: captions of what was heard (the other side of a call when no engine
    /// translates its language into the user's). Not a name users give.
    None,
}

/// Every engine a user can name: the choice, its name, and what it is.
pub const NAMED: [(MtChoice, &str, &str); 5] = [
    (
        MtChoice::Auto,
        "auto",
        "The installed text model whose Persian→English figure (published, or measured here) beats \
         Whisper's own translation, recognition then text translation; otherwise direct. Firefox \
         fa→en does (FLORES BLEU 32 per Mozilla); the registry Gemma 270M does not. A line says \
         which and why",
    ),
    (
        MtChoice::Direct,
        "direct",
        "Whisper's speech-translation task, into English only (weak on Persian with Whisper base)",
    ),
    (
        MtChoice::Firefox,
        "firefox",
        "A Firefox-Translations model for the pair (fa→en: `models fetch firefox-faen`; en→fa: a \
         mirror's, listed in models.toml with pair = \"en-fa\")",
    ),
    (
        MtChoice::Llm,
        "llm",
        "A local LLM (GGUF, llama.cpp), one sentence at a time, Persian ↔ English: your own model \
         (`models import-gguf FILE`) or `models fetch gemma3-270m` (Gemma 3 270M, small and weak; \
         Gemma terms apply)",
    ),
    (
        MtChoice::Nllb,
        "nllb",
        "NLLB-200 through CTranslate2: `models fetch nllb-200-distilled-600m` (many languages; its \
         weights are licensed for non-commercial use only)",
    ),
];

/// What only the other side of a call can choose: its speech captioned as heard, untranslated
/// (a user's own speech untranslated would be read aloud by a voice of another language).
pub const UNTRANSLATED: (MtChoice, &str, &str) =
    (MtChoice::None, "none", "No translation: the other side captioned as heard, in its own language");

impl MtChoice {
    /// An engine for the other side of a call: a named one, or [`UNTRANSLATED`]'s `none`.
    pub fn for_call_side(name: &str) -> Result<Self, UnknownEngine> {
        match name == UNTRANSLATED.1 {
            true => Ok(MtChoice::None),
            false => name.parse(),
        }
    }

    /// The name users give it (`none`, [`UNTRANSLATED`]'s, for the other side of a call).
    pub fn name(self) -> &'static str {
        NAMED
            .iter()
            .chain([&UNTRANSLATED])
            .find(|(choice, ..)| *choice == self)
            .map(|(_, name, _)| *name)
            .unwrap_or_default()
    }

    /// "auto, direct, firefox, llm or nllb".
    pub fn names() -> String {
        let names: Vec<&str> = NAMED.iter().map(|(_, name, _)| *name).collect();
        format!("{} or {}", names[..names.len() - 1].join(", "), names[names.len() - 1])
    }
}

impl fmt::Display for MtChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not an engine's.
#[derive(Debug, thiserror::Error)]
#[error("unknown translation engine '{0}' ({names})", names = MtChoice::names())]
pub struct UnknownEngine(pub String);

impl FromStr for MtChoice {
    type Err = UnknownEngine;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        NAMED.iter().find(|(_, known, _)| *known == name).map(|(choice, ..)| *choice).ok_or(UnknownEngine(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_engine_reads_back_and_others_are_refused_with_the_list() {
        for (choice, name, _) in NAMED {
            assert_eq!((name.parse::<MtChoice>().unwrap(), choice.name()), (choice, name));
        }
        let error = "none".parse::<MtChoice>().unwrap_err().to_string();
        assert_eq!(error, "unknown translation engine 'none' (auto, direct, firefox, llm or nllb)");
        assert_eq!(MtChoice::for_call_side("none").unwrap(), MtChoice::None);
        assert_eq!(MtChoice::None.name(), "none");
        assert_eq!(MtChoice::for_call_side("llm").unwrap(), MtChoice::Llm);
        assert!(MtChoice::for_call_side("google").is_err());
    }
}
