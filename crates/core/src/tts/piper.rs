//! Piper voices: VITS models exported to ONNX, with their JSON config.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use ort::session::Session;
use ort::value::Tensor;
use serde::Deserialize;

use super::{phonemize, Synthesizer, TtsError};
use crate::onnx;

/// The fields of a Piper voice's `.onnx.json` that synthesis needs.
#[derive(Debug, Clone, Deserialize)]
pub struct PiperVoiceConfig {
    pub audio: AudioConfig,
    pub espeak: EspeakConfig,
    pub inference: InferenceConfig,
    pub phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    pub num_speakers: u32,
    /// Absent in voices older than Piper's language block; the espeak voice then names it.
    #[serde(default)]
    pub language: Option<LanguageConfig>,
    /// `espeak` in every voice this code can speak with (older ones omit it); `text` voices
    /// take characters, not phonemes.
    #[serde(default)]
    pub phoneme_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LanguageConfig {
    /// Language and region, `fa_IR`.
    pub code: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AudioConfig {
    pub sample_rate: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EspeakConfig {
    pub voice: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InferenceConfig {
    pub noise_scale: f32,
    pub length_scale: f32,
    pub noise_w: f32,
}

impl PiperVoiceConfig {
    /// Reads the config (`model` + `.json`) of a voice.
    pub fn read(model: &Path) -> Result<Self, TtsError> {
        let config_path = PathBuf::from(format!("{}.json", model.display()));
        let path = || config_path.display().to_string();
        let json = std::fs::read_to_string(&config_path)
            .map_err(|source| TtsError::ConfigUnreadable { path: path(), source })?;
        serde_json::from_str(&json).map_err(|source| TtsError::ConfigInvalid { path: path(), source })
    }

    /// The language the voice speaks (ISO 639-1, `fa`): its language code's, else its espeak
    /// voice's (`en-us`).
    pub fn language(&self) -> String {
        let code = self.language.as_ref().map_or(self.espeak.voice.as_str(), |l| l.code.as_str());
        code.split(['_', '-']).next().unwrap_or(code).to_lowercase()
    }

    /// Phoneme ids for one sentence: `^`, then each phoneme followed by the pad `_`, then `$`.
    pub fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let id = |symbol: &str| self.phoneme_id_map.get(symbol).cloned().unwrap_or_default();
        let pad = id("_");
        let mut ids = id("^");
        ids.extend(&pad);
        let mut buf = [0u8; 4];
        for c in phonemes.chars() {
            // Symbols the voice was not trained on are skipped, as Piper does.
            if let Some(phoneme) = self.phoneme_id_map.get(c.encode_utf8(&mut buf) as &str) {
                ids.extend(phoneme);
                ids.extend(&pad);
            }
        }
        ids.extend(id("$"));
        ids
    }
}

/// Longest phoneme string synthesised at once (~10 s of speech): VITS memory grows with the
/// input, and a run-on sentence must not cost gigabytes.
const MAX_PHONEMES: usize = 200;

/// Splits an over-long sentence after clause punctuation, else at a word boundary.
fn split_long(sentence: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = sentence;
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..limit];
        let cut = window
            .rfind([',', ';', ':'])
            .map(|i| i + 1)
            .filter(|&i| i > limit / 3)
            .or_else(|| window.rfind(' ').filter(|&i| i > 0))
            .unwrap_or(limit);
        pieces.push(rest[..cut].trim());
        rest = rest[cut..].trim_start();
    }
    if !rest.trim().is_empty() {
        pieces.push(rest.trim());
    }
    pieces
}

/// A first sentence longer than this many phonemes (about 3 s of speech) is spoken from its
/// first clause on, if it has one of [`MIN_CLAUSE`] to [`MAX_CLAUSE`] phonemes.
const FIRST_PIECE: usize = 50;
const MIN_CLAUSE: usize = 12;
/// About [`OPENER_BEFORE`] characters of text.
const MAX_CLAUSE: usize = 70;

/// Splits a long sentence after its first clause punctuation within [`MAX_CLAUSE`] phonemes:
/// (clause, rest), or ("", sentence).
fn first_clause(sentence: &str) -> (&str, &str) {
    if sentence.chars().count() <= FIRST_PIECE {
        return ("", sentence);
    }
    let cut = sentence
        .char_indices()
        .take(MAX_CLAUSE)
        .enumerate()
        .find(|&(n, (_, c))| n >= MIN_CLAUSE && matches!(c, ',' | ';' | ':'))
        .map(|(_, (i, c))| i + c.len_utf8());
    match cut {
        Some(i) => (sentence[..i].trim(), sentence[i..].trim_start()),
        None => ("", sentence),
    }
}

/// A Piper voice loaded into ONNX Runtime, shareable between runs (one sentence at a time).
pub struct PiperVoice {
    session: Mutex<Session>,
    config: PiperVoiceConfig,
}

/// The sample rate a voice speaks at, from its config, without loading the model.
pub fn voice_sample_rate(model: &Path) -> Result<u32, TtsError> {
    Ok(PiperVoiceConfig::read(model)?.audio.sample_rate)
}

impl PiperVoice {
    /// Loads `model` (`.onnx`) and its config (`model` + `.json`).
    pub fn load(onnx_runtime: &Path, model: &Path, threads: usize) -> Result<Self, TtsError> {
        let config = PiperVoiceConfig::read(model)?;
        let session = onnx::session(onnx_runtime, model, threads)
            .map_err(|source| TtsError::Load { path: model.display().to_string(), source })?;
        Ok(Self { session: Mutex::new(session), config })
    }

    pub fn sample_rate(&self) -> u32 {
        self.config.audio.sample_rate
    }

    /// `speed` divides the voice's phoneme durations (VITS keeps the pitch).
    fn synthesize_ids(&self, ids: Vec<i64>, speed: f32) -> Result<Vec<f32>, TtsError> {
        let inference = &self.config.inference;
        let scales = vec![inference.noise_scale, inference.length_scale / speed.max(0.1), inference.noise_w];
        let len = ids.len();
        let mut inputs = ort::inputs! {
            "input" => Tensor::from_array(([1usize, len], ids))?,
            "input_lengths" => Tensor::from_array(([1usize], vec![len as i64]))?,
            "scales" => Tensor::from_array(([3usize], scales))?,
        };
        if self.config.num_speakers > 1 {
            inputs.push(("sid".into(), Tensor::from_array(([1usize], vec![0i64]))?.into()));
        }
        // A panic elsewhere while the lock was held leaves the session itself intact.
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        let outputs = session.run(inputs)?;
        let (_, audio) = outputs[0].try_extract_tensor::<f32>()?;
        Ok(audio.iter().map(|s| s.clamp(-1.0, 1.0)).collect())
    }
}

/// Words that open a clause, before which a speaker may pause.
const CLAUSE_OPENERS: [&str; 12] =
    ["and", "but", "because", "when", "while", "which", "who", "although", "though", "until", "where", "if"];

/// Where the first sentence may be cut, in characters of text: late enough that the first piece
/// sounds like a phrase, early enough that it is quick to synthesise (60 characters, about 3.5 s
/// of speech, took 0.2–0.3 s on 2 cores while recognition ran beside it; a whole 150-character
/// sentence up to 0.9 s).
const OPENER_AFTER: usize = 15;
const OPENER_BEFORE: usize = 60;

/// Marks a clause boundary with a comma in a long first sentence that has none early on, so that
/// [`first_clause`] can speak its first clause while the rest is synthesised. Whisper's English
/// often comes as one long unpunctuated sentence, whose first sound otherwise waits for all of it.
fn mark_first_clause(text: &str) -> String {
    let sentence_end = text.find(['.', '?', '!']).unwrap_or(text.len());
    let first = &text[..sentence_end];
    let early_pause = first.char_indices().any(|(i, c)| matches!(c, ',' | ';' | ':') && i <= OPENER_BEFORE);
    if first.chars().count() <= FIRST_PIECE || early_pause {
        return text.to_string();
    }
    let opener = first.match_indices(' ').map(|(i, _)| i).find(|&space| {
        let word = first[space + 1..].split(|c: char| !c.is_alphabetic()).next().unwrap_or("");
        (OPENER_AFTER..=OPENER_BEFORE).contains(&space) && CLAUSE_OPENERS.contains(&word.to_lowercase().as_str())
    });
    match opener {
        Some(space) => format!("{},{}", &text[..space], &text[space..]),
        None => text.to_string(),
    }
}

/// A [`Synthesizer`] speaking with a shared [`PiperVoice`].
pub struct PiperSynthesizer {
    voice: Arc<PiperVoice>,
}

impl PiperSynthesizer {
    pub fn new(voice: Arc<PiperVoice>) -> Self {
        Self { voice }
    }
}

impl Synthesizer for PiperSynthesizer {
    fn sample_rate(&self) -> u32 {
        self.voice.sample_rate()
    }

    fn synthesize(&mut self, text: &str, speed: f32, on_sentence: &mut dyn FnMut(&[f32])) -> Result<(), TtsError> {
        let text = mark_first_clause(text);
        for (n, sentence) in phonemize(&text, &self.voice.config.espeak.voice)?.iter().enumerate() {
            // The listener waits for the first piece only: a long first sentence starts with its
            // first clause.
            let (head, rest) = if n == 0 { first_clause(sentence) } else { ("", sentence.as_str()) };
            let pieces = split_long(head, MAX_PHONEMES).into_iter().chain(split_long(rest, MAX_PHONEMES));
            for piece in pieces {
                let ids = self.voice.config.phoneme_ids(piece);
                let audio = self.voice.synthesize_ids(ids, speed)?;
                on_sentence(&audio);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_first_sentence_starts_with_its_first_clause() {
        let long = format!("ðə wˈɛðɚ, {}", "ɪz vˈɛɹi nˈaɪs tədˈeɪ ".repeat(4));
        let (head, rest) = first_clause(&long);
        assert_eq!(head, "");
        assert_eq!(rest, long, "a clause under the minimum is not cut off");
        let long = format!("ðə wˈɛðɚ ɪn tˈɛhɹɑːn, {}", "ɪz vˈɛɹi nˈaɪs tədˈeɪ ".repeat(4));
        assert_eq!(first_clause(&long), ("ðə wˈɛðɚ ɪn tˈɛhɹɑːn,", &long[long.find(',').unwrap() + 2..]));
        assert_eq!(first_clause("ʃˈɔːɹt, sɛntəns"), ("", "ʃˈɔːɹt, sɛntəns"));
    }

    #[test]
    fn a_long_unpunctuated_first_sentence_gets_a_pause_before_its_second_clause() {
        let long = "I went to the old school in the village and I saw my teacher there after many years.";
        assert_eq!(
            mark_first_clause(long),
            "I went to the old school in the village, and I saw my teacher there after many years."
        );
        let short = "I went to school and I saw him.";
        assert_eq!(mark_first_clause(short), short, "a short sentence is spoken whole");
        let has_pause = "After many years in the village, I went to school and I saw my teacher again.";
        assert_eq!(mark_first_clause(has_pause), has_pause, "an early comma is already a clause break");
        let early = "If I go and I see my teacher there after many years in the village, it is good.";
        assert_eq!(mark_first_clause(early), early, "no cut in the first words: too short a phrase");
        let second = "Yes. I went to the old school in the village and I saw my teacher there after many years.";
        assert_eq!(mark_first_clause(second), second, "only the first sentence matters");
        let phonemes = phonemize(&mark_first_clause(long), "en-us").unwrap();
        assert!(!first_clause(&phonemes[0]).0.is_empty(), "the clause is spoken first: {phonemes:?}");
        let later = "I would like to ask you to visit the old part of the city and to see the areas around it.";
        assert_eq!(
            mark_first_clause(later),
            "I would like to ask you to visit the old part of the city, and to see the areas around it."
        );
        let phonemes = phonemize(&mark_first_clause(later), "en-us").unwrap();
        assert!(first_clause(&phonemes[0]).0.ends_with(','), "cut where it was marked: {phonemes:?}");
        let relative = "He had a friend who was a football player in the team of the city for many years.";
        assert_eq!(
            mark_first_clause(relative),
            "He had a friend, who was a football player in the team of the city for many years."
        );
        let handbag = "I bought a new handbag for my mother yesterday morning in the market of the city.";
        assert_eq!(mark_first_clause(handbag), handbag, "whole words only");
    }

    #[test]
    fn long_sentences_split_at_clauses_then_words() {
        assert_eq!(split_long("aaa, bbb ccc", 100), vec!["aaa, bbb ccc"]);
        assert_eq!(split_long("aaaa, bbbbbb", 8), vec!["aaaa,", "bbbbbb"]);
        assert_eq!(split_long("aaaa bbbb cccc", 10), vec!["aaaa bbbb", "cccc"]);
        assert!(split_long(&"x".repeat(25), 10).iter().all(|p| p.len() <= 10));
    }

    #[test]
    fn a_voice_speaks_its_language_codes_language() {
        let json = |language: &str| {
            format!(
                r#"{{"audio":{{"sample_rate":22050}},"espeak":{{"voice":"en-us"}},{language}
                "inference":{{"noise_scale":0.667,"length_scale":1,"noise_w":0.8}},"phoneme_id_map":{{"_":[0]}}}}"#
            )
        };
        let persian: PiperVoiceConfig = serde_json::from_str(&json(r#""language":{"code":"fa_IR"},"#)).unwrap();
        assert_eq!(persian.language(), "fa");
        let older: PiperVoiceConfig = serde_json::from_str(&json("")).unwrap();
        assert_eq!(older.language(), "en", "without a language block, the espeak voice's");
    }

    #[test]
    fn ids_are_bracketed_and_padded() {
        let map: HashMap<String, Vec<i64>> = [("_", 0), ("^", 1), ("$", 2), ("a", 14), ("b", 15)]
            .iter()
            .map(|(k, v)| (k.to_string(), vec![*v]))
            .collect();
        let config = PiperVoiceConfig {
            audio: AudioConfig { sample_rate: 22_050 },
            espeak: EspeakConfig { voice: "en-us".into() },
            inference: InferenceConfig { noise_scale: 0.667, length_scale: 1.0, noise_w: 0.8 },
            phoneme_id_map: map,
            num_speakers: 1,
            language: None,
            phoneme_type: None,
        };
        assert_eq!(config.phoneme_ids("ab?"), vec![1, 0, 14, 0, 15, 0, 2]);
    }
}
