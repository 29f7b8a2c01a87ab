//! Whisper's byte-level BPE tokens back to text (GPT-2's byte ↔ character table).

use std::collections::HashMap;
use std::sync::OnceLock;

fn char_to_byte() -> &'static HashMap<char, u8> {
    static TABLE: OnceLock<HashMap<char, u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let mut table = HashMap::with_capacity(256);
        let mut shifted = 0;
        for b in 0u32..256 {
            let c = if printable(b) {
                b
            } else {
                shifted += 1;
                255 + shifted
            };
            table.insert(char::from_u32(c).expect("valid code point"), b as u8);
        }
        table
    })
}

/// True for control tokens such as `<|fa|>` or `<|endoftext|>`.
pub fn is_special(token: &str) -> bool {
    token.starts_with("<|") && token.ends_with("|>")
}

/// Joins BPE token strings into text, skipping control tokens.
pub fn decode(tokens: &[String]) -> String {
    let table = char_to_byte();
    let bytes: Vec<u8> = tokens
        .iter()
        .filter(|t| !is_special(t))
        .flat_map(|t| t.chars().filter_map(|c| table.get(&c).copied()))
        .collect();
    String::from_utf8_lossy(&bytes).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_spaces_and_multibyte_text() {
        // "Ġ" is the byte-level form of a space; "Ø³" the two UTF-8 bytes of "س".
        let tokens = ["<|fa|>", "Ø³", "ÙĦ", "Ø§Ùħ", "Ġhi", "<|endoftext|>"].map(String::from);
        assert_eq!(decode(&tokens), "سلام hi");
    }
}
