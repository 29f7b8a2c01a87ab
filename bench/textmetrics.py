"""Persian normalisation and WER/CER shared by the benchmark scripts (same rules as crates/core/src/text.rs:
Arabic yeh/kaf → Persian, ZWNJ → space, Persian/Arabic digits → ASCII, punctuation removed)."""
import unicodedata

DIGITS = {**{c: str(i) for i, c in enumerate("۰۱۲۳۴۵۶۷۸۹")}, **{c: str(i) for i, c in enumerate("٠١٢٣٤٥٦٧٨٩")}}


def normalise(text):
    text = text.replace("ي", "ی").replace("ى", "ی").replace("ك", "ک").replace("ة", "ه").replace("\u200c", " ")
    text = "".join(DIGITS.get(c, c) for c in text)
    text = "".join(c for c in text if not unicodedata.category(c).startswith("P"))
    return " ".join(text.lower().split())


def edit_distance(a, b):
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y))
        previous = current
    return previous[-1]


def error_rates(pairs):
    """Corpus WER and CER of (reference, hypothesis) pairs; None when there are no references."""
    words = word_errors = chars = char_errors = 0
    for reference, hypothesis in pairs:
        r, h = normalise(reference), normalise(hypothesis)
        word_errors += edit_distance(r.split(), h.split())
        words += len(r.split())
        char_errors += edit_distance(r, h)
        chars += len(r)
    return (round(word_errors / words, 3) if words else None, round(char_errors / chars, 3) if chars else None)
