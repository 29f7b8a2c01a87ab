//! Text normalisation shared by recognition output, the translation cache and accuracy metrics.

/// Zero-width non-joiner: joins Persian word parts without a space (e.g. "می‌روم").
pub const ZWNJ: char = '\u{200C}';

/// Makes Persian text from Whisper canonical: Arabic yeh/kaf → Persian forms, Arabic-Indic and
/// Persian digits → ASCII, stray zero-width characters and runs of spaces cleaned up.
///
/// ZWNJ between letters is kept, because it is part of correct Persian spelling.
pub fn normalize_persian(text: &str) -> String {
    let mapped: String = text
        .chars()
        .filter_map(|c| match c {
            'ي' | 'ى' => Some('ی'),
            'ك' => Some('ک'),
            'ة' => Some('ه'),
            '\u{200B}' | '\u{200D}' | '\u{FEFF}' => None,
            '\u{06F0}'..='\u{06F9}' => char::from_u32(c as u32 - 0x06F0 + '0' as u32),
            '\u{0660}'..='\u{0669}' => char::from_u32(c as u32 - 0x0660 + '0' as u32),
            _ => Some(c),
        })
        .collect();
    let mut out = String::with_capacity(mapped.len());
    let chars: Vec<char> = mapped.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ZWNJ {
            let joins_letters =
                i > 0 && chars[i - 1].is_alphabetic() && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
            if !joins_letters {
                continue;
            }
        }
        out.push(c);
    }
    collapse_spaces(&out)
}

/// Key under which two texts count as "the same sentence": case, punctuation and spacing ignored.
pub fn comparison_key(text: &str) -> String {
    let lowered: String = normalize_persian(text)
        .chars()
        .map(|c| if c == ZWNJ { ' ' } else { c })
        .filter(|c| !c.is_ascii_punctuation() && !is_persian_punctuation(*c))
        .flat_map(char::to_lowercase)
        .collect();
    collapse_spaces(&lowered)
}

/// True when an English voice can read `text`: most of its letters are Latin, or it has no
/// letters but does have digits ("1, 2, 3").
pub fn is_readable_in_english(text: &str) -> bool {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    if letters.is_empty() {
        return text.chars().any(|c| c.is_ascii_digit());
    }
    let latin = letters.iter().filter(|c| c.is_ascii_alphabetic()).count();
    latin * 10 >= letters.len() * 8
}

fn is_persian_punctuation(c: char) -> bool {
    matches!(c, '،' | '؛' | '؟' | '«' | '»' | '…' | '٫' | '٬')
}

fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_letters_become_persian() {
        assert_eq!(normalize_persian("كتاب علي"), "کتاب علی");
    }

    #[test]
    fn digits_become_ascii() {
        assert_eq!(normalize_persian("۱۲۳ و ٤٥"), "123 و 45");
    }

    #[test]
    fn zwnj_is_kept_inside_words_and_dropped_elsewhere() {
        assert_eq!(normalize_persian("می\u{200C}روم"), "می\u{200C}روم");
        assert_eq!(normalize_persian("\u{200C}سلام \u{200C} دنیا\u{200C}"), "سلام دنیا");
    }

    #[test]
    fn english_readability_is_told_from_the_script() {
        assert!(is_readable_in_english("Hello, it's 5 o'clock."));
        assert!(is_readable_in_english("1, 2, 3"));
        assert!(!is_readable_in_english("همه جا سفید بود"));
        assert!(!is_readable_in_english("..."));
    }

    #[test]
    fn comparison_key_ignores_punctuation_case_and_zwnj() {
        assert_eq!(comparison_key("سلام، دنیا!"), comparison_key("سلام دنیا"));
        assert_eq!(comparison_key("Hello,  World."), "hello world");
        assert_eq!(comparison_key("می\u{200C}روم"), "می روم");
    }
}
