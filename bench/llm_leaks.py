#!/usr/bin/env python3
"""How often a translation carries words of the previous utterance's English that its own
reference does not have: the leak of conversation context into later sentences (`--mt llm`).

    python3 bench/llm_leaks.py REPORT.json MANIFEST.tsv

REPORT is `bench --json` (speech: per-clip English in `results`) or `bench --text --json`
(`translations`). A content word (3+ letters, not a function word) of item i-1's English that
is in item i's English but not in item i's reference counts as leaked. The same is counted for
the English of the llm engine's built-in example pairs (crates/core/src/mt/llm.rs), which a
small model may copy.
"""
import csv
import json
import re
import sys

FUNCTION_WORDS = set(
    """the and for are but not you all any can had her was one our out has him his how its may
    new now old see two who did get let say she too use that with have this will your from they
    been were when what which their there than then them these those would could should about
    into more some such only also very just like over after before because where while being
    does doing done here each both most other same so if it is to of in on at by be as or an a
    my me we he i do no up am""".split()
)
# The English of EXAMPLES in crates/core/src/mt/llm.rs.
EXAMPLES = (
    "Hello, how are you? I am going to the office tomorrow morning and I will be back at three. "
    "Please say that once more, your voice cut out. The price of this book is two hundred thousand tomans."
)


def content(text):
    words = re.findall(r"[a-z]+", (text or "").lower())
    return {w for w in words if len(w) >= 3 and w not in FUNCTION_WORDS}


def main(report_path, manifest_path):
    report = json.load(open(report_path))
    with open(manifest_path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    references = {r["id"]: r.get("en_reference", "") for r in rows}
    if "translations" in report:
        items = [(t[0], t[2]) for t in report["translations"]]
    else:
        items = [(r["id"], r.get("english") or "") for r in report["results"]]
    examples = content(EXAMPLES)
    leaked_items, leaked_words, example_items = 0, [], 0
    for i, (item, english) in enumerate(items):
        words, reference = content(english), content(references.get(item, ""))
        if i > 0:
            leak = (content(items[i - 1][1]) & words) - reference
            if leak:
                leaked_items += 1
                leaked_words.extend(sorted(leak))
        if (examples & words) - reference:
            example_items += 1
    print(
        f"{len(items)} items: {leaked_items} carry words of the previous English not in their reference "
        f"({len(leaked_words)} words: {', '.join(leaked_words[:12])}{' …' if len(leaked_words) > 12 else ''}); "
        f"{example_items} carry words of the example pairs not in their reference"
    )


if __name__ == "__main__":
    main(*sys.argv[1:3])
