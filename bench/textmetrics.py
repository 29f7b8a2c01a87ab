"""Normalisation and WER/CER shared by the benchmark scripts.

Persian (and any language but English): the rules of crates/core/src/text.rs — Arabic yeh/kaf →
Persian, ZWNJ → space, Persian/Arabic digits → ASCII, punctuation removed, lower case.
English: Whisper's own English normaliser (OpenAI's EnglishTextNormalizer, from the
whisper-normalizer package that bench/compare.sh installs): lower case, punctuation removed,
contractions and titles spelled out ("Mr." → "mister"), British spellings → American, numbers
→ digits, so that "Mr. Quilter" and "MISTER QUILTER" are the same words."""
import unicodedata

DIGITS = {**{c: str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")}, **{c: str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")}}


def normalise(text, language="fa"):
    if language == "en":
        return " ".join(english_normaliser()(text).split())
    text = text.replace("ي", "ی").replace("ى", "ی").replace("ك", "ک").replace("ة", "ه").replace("\u200c", " ")
    text = "".join(DIGITS.get(c, c) for c in text)
    text = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    return " ".join(text.lower().split())


_english = None


def english_normaliser():
    global _english
    if _english is None:
        try:
            from whisper_normalizer.english import EnglishTextNormalizer
        except ImportError:
            raise SystemExit("English scoring uses Whisper's English normaliser: pip install whisper-normalizer "
                             "(bench/compare.sh installs it in its venv)")
        _english = EnglishTextNormalizer()
    return _english


def edit_distance(a, b):
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
        previous = current
    return previous[-1]


def error_rates(pairs, language="fa"):
    """Corpus WER and CER of (reference, hypothesis) pairs in `language`; None when there are no
    references."""
    words = word_errors = chars = char_errors = 0
    for reference, hypothesis in pairs:
        r, h = normalise(reference, language), normalise(hypothesis, language)
        word_errors += edit_distance(r.split(), h.split())
        words += len(r.split())
        char_errors += edit_distance(r, h)
        chars += len(r)
    return (round(word_errors / words, 3) if words else None, round(char_errors / chars, 3) if chars else None)
