//! NLLB-200 (or any CTranslate2 conversion of an NLLB/M2M-style model) as a translator.
//!
//! A folder holds `model.bin`, the shared vocabulary and `sentencepiece.bpe.model`. The source
//! is cut into SentencePiece BPE pieces here (the model's own normaliser, then the highest-scored
//! merge first, as SentencePiece's BPE encoder does), framed as `[src_lang] pieces </s>`, and
//! CTranslate2 decodes with the target language code as the forced first token.
//!
//! NLLB-200's weights are licensed CC-BY-NC-4.0 (non-commercial); `models list` says so.

use std::collections::HashMap;
use std::path::Path;

use fxtranslate::spm::SpmVocab;

use crate::ct2;

use super::{MtError, Pair, SourceSegment, Translator};

/// SentencePiece's word-boundary marker.
const SPACE: char = '\u{2581}';

/// NLLB's code for a language Whisper names with ISO 639-1.
pub fn nllb_code(language: &str) -> Option<&'static str> {
    Some(match language {
        "fa" => "pes_Arab",
        "en" => "eng_Latn",
        "pt" => "por_Latn",
        "ar" => "arb_Arab",
        "de" => "deu_Latn",
        "es" => "spa_Latn",
        "fr" => "fra_Latn",
        "ru" => "rus_Cyrl",
        "tr" => "tur_Latn",
        _ => return None,
    })
}

/// SentencePiece BPE over the pieces and scores of a `.model` file.
pub struct BpeModel {
    normalizer: SpmVocab,
    scores: HashMap<String, f32>,
}

impl BpeModel {
    pub fn load(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let scores = read_pieces(&bytes).ok_or_else(|| format!("{} is not a SentencePiece model", path.display()))?;
        Ok(Self { normalizer: SpmVocab::from_bytes(&bytes), scores })
    }

    /// The pieces of `text`: start from characters, merge the adjacent pair whose union is the
    /// best-scored piece, until no pair is a piece.
    pub fn encode(&self, text: &str) -> Vec<String> {
        let normalized = self.normalizer.normalize(text);
        let mut symbols: Vec<String> = normalized.chars().map(String::from).collect();
        loop {
            let best = symbols
                .windows(2)
                .enumerate()
                .filter_map(|(i, pair)| self.scores.get(&format!("{}{}", pair[0], pair[1])).map(|&score| (i, score)))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            let Some((i, _)) = best else {
                return symbols;
            };
            let right = symbols.remove(i + 1);
            symbols[i].push_str(&right);
        }
    }
}

/// `(piece, score)` of the normal and user-defined pieces of a SentencePiece `ModelProto`.
fn read_pieces(bytes: &[u8]) -> Option<HashMap<String, f32>> {
    let mut scores = HashMap::new();
    let mut reader = Protobuf { bytes, at: 0 };
    while let Some((field, wire)) = reader.tag() {
        if (field, wire) != (1, 2) {
            reader.skip(wire)?;
            continue;
        }
        let mut piece = Protobuf { bytes: reader.bytes()?, at: 0 };
        let (mut text, mut score, mut kind) = (String::new(), 0.0, 1);
        while let Some((field, wire)) = piece.tag() {
            match (field, wire) {
                (1, 2) => text = String::from_utf8(piece.bytes()?.to_vec()).ok()?,
                (2, 5) => score = f32::from_le_bytes(piece.fixed32()?),
                (3, 0) => kind = piece.varint()?,
                _ => piece.skip(wire)?,
            }
        }
        if kind == 1 || kind == 4 {
            scores.insert(text, score);
        }
    }
    (!scores.is_empty()).then_some(scores)
}

/// Just enough protobuf wire format for SentencePiece models.
struct Protobuf<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Protobuf<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn tag(&mut self) -> Option<(u64, u64)> {
        (self.at < self.bytes.len()).then(|| self.varint()).flatten().map(|tag| (tag >> 3, tag & 7))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let length = usize::try_from(self.varint()?).ok()?;
        let slice = self.bytes.get(self.at..self.at.checked_add(length)?)?;
        self.at += length;
        Some(slice)
    }

    fn fixed32(&mut self) -> Option<[u8; 4]> {
        let slice = self.bytes.get(self.at..self.at + 4)?;
        self.at += 4;
        slice.try_into().ok()
    }

    fn skip(&mut self, wire: u64) -> Option<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => (self.at + 8 <= self.bytes.len()).then(|| self.at += 8),
            2 => self.bytes().map(|_| ()),
            5 => self.fixed32().map(|_| ()),
            _ => None,
        }
    }
}

/// Beam width: CTranslate2's default for translation, and what NLLB's own examples use.
const BEAM_SIZE: usize = 2;
/// Target tokens at most: a spoken utterance's English is far shorter.
const MAX_LENGTH: usize = 256;
/// English pieces per source piece at most, so a model that loops stops early (real
/// translations stay well under 2).
const MAX_LENGTH_RATIO: usize = 3;

/// A loaded NLLB model translating between one pair of languages.
pub struct NllbTranslator {
    model: ct2::Translator,
    bpe: BpeModel,
    source_code: &'static str,
    target_code: &'static str,
}

impl NllbTranslator {
    /// Loads the conversion in `dir`, loading CTranslate2 from `library` on first use.
    pub fn try_new(library: &Path, dir: &Path, pair: &Pair, threads: usize) -> Result<Self, MtError> {
        let load_error = |reason: String| MtError::Load { path: dir.display().to_string(), reason };
        let code = |language: &str| {
            nllb_code(language).ok_or_else(|| load_error(format!("NLLB language code for '{language}' unknown")))
        };
        let (source_code, target_code) = (code(&pair.from)?, code(&pair.to)?);
        let bpe = BpeModel::load(&dir.join("sentencepiece.bpe.model")).map_err(load_error)?;
        let model = ct2::Translator::load(library, dir, threads.max(1))
            .map_err(|source| MtError::LoadCt2 { path: dir.display().to_string(), source })?;
        Ok(Self { model, bpe, source_code, target_code })
    }

    /// Text of the output pieces: the language tag and special tokens dropped, word
    /// markers made spaces.
    fn detokenize(&self, pieces: &[String]) -> String {
        let text: String = pieces
            .iter()
            .filter(|p| p.as_str() != self.target_code && !(p.starts_with('<') && p.ends_with('>')))
            .map(String::as_str)
            .collect();
        text.replace(SPACE, " ").trim().to_string()
    }
}

fn max_length(source_pieces: usize) -> usize {
    (source_pieces * MAX_LENGTH_RATIO + 8).min(MAX_LENGTH)
}

impl Translator for NllbTranslator {
    fn name(&self) -> &str {
        "nllb"
    }

    fn translate(&mut self, source: SourceSegment<'_>) -> Result<String, MtError> {
        let text = source.text.trim();
        if text.is_empty() {
            return Err(MtError::Empty);
        }
        let mut tokens = vec![self.source_code.to_string()];
        tokens.extend(self.bpe.encode(text));
        tokens.push("</s>".into());
        let pieces =
            self.model.translate(&tokens, &[self.target_code.to_string()], BEAM_SIZE, max_length(tokens.len()))?;
        let english = self.detokenize(&pieces);
        if english.is_empty() {
            return Err(MtError::Empty);
        }
        Ok(english)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_pieces_are_read() {
        // ModelProto { pieces: [{piece: "ab", score: -1.5, type: NORMAL}, {piece: "<s>", type: CONTROL}] }
        let mut bytes = vec![0x0a, 0x09, 0x0a, 0x02, b'a', b'b', 0x15];
        bytes.extend((-1.5f32).to_le_bytes());
        bytes.extend([0x0a, 0x07, 0x0a, 0x03, b'<', b's', b'>', 0x18, 0x03]);
        let scores = read_pieces(&bytes).unwrap();
        assert_eq!(scores.len(), 1);
        assert_eq!(scores["ab"], -1.5);
    }

    /// The expected pieces are SentencePiece's own output for the fixture model
    /// (`tests/fixtures/make_tiny_nllb.py`, then `SentencePieceProcessor.encode(text, out_type=str)`).
    #[test]
    fn bpe_pieces_match_sentencepiece() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-nllb-ct2/sentencepiece.bpe.model");
        let bpe = BpeModel::load(&path).unwrap();
        let cases: [(&str, &[&str]); 3] = [
            (
                "من فردا به دفتر می\u{200c}روم.",
                &["▁م", "ن", "▁", "فر", "دا", "▁ب", "ه", "▁د", "فت", "ر", "▁م", "ی", "▁", "رو", "م", "."],
            ),
            (
                "Hello, how are you today?",
                &["▁", "He", "ll", "o", ",", "▁h", "ow", "▁a", "re", "▁y", "ou", "▁to", "d", "ay", "?"],
            ),
            ("یک دو سه", &["▁", "یک", "▁دو", "▁س", "ه"]),
        ];
        for (text, expected) in cases {
            assert_eq!(bpe.encode(text), expected, "{text}");
        }
    }

    #[test]
    fn language_codes_cover_persian() {
        assert_eq!(nllb_code("fa"), Some("pes_Arab"));
        assert_eq!(nllb_code("xx"), None);
    }
}
