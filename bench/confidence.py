#!/usr/bin/env python3
"""How well each utterance's confidence predicts its errors, from `bench --json` reports.

For every utterance of each report: its confidence (level, score), the evidence behind it, and its
own CER against the manifest's Persian reference. A clip read as one utterance is compared whole;
a clip read as several (long-form) is aligned character by character to its reference and each
utterance is charged the edits inside its stretch. Where the clip is one utterance and has an
English reference, its sentence chrF too.

Prints, per report and over all: Spearman's rank correlation between the confidence score and CER
(negative is good: higher confidence, fewer errors), each evidence signal's correlation, and the
risk-coverage table (share of utterances, mean CER and chrF per level, and cumulatively from the
most confident down). `--json OUT` keeps the per-utterance rows.

    python3 bench/confidence.py REPORT.json:MANIFEST.tsv [REPORT2.json:MANIFEST2.tsv ...] [--json rows.json]

Reports must come from a build that keeps texts (`bench --json`, any `--mt`).
"""
import argparse
import csv
import json
import os
import re
import sys
import unicodedata
import wave

LEVELS = ["high", "medium", "low"]


def normalize(text):
    """Persian comparison form, as the bench's CER: Arabic yeh/kaf → Persian, digits → ASCII,
    punctuation and ZWNJ removed (ZWNJ → space), lower case, single spaces."""
    table = {"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "\u200c": " "}
    out = []
    for c in text:
        c = table.get(c, c)
        if "\u06f0" <= c <= "\u06f9":
            c = chr(ord(c) - 0x06F0 + ord("0"))
        elif "\u0660" <= c <= "\u0669":
            c = chr(ord(c) - 0x0660 + ord("0"))
        if unicodedata.category(c).startswith("P") or c in "«»،؛؟…":
            continue
        out.append(c.lower())
    return " ".join("".join(out).split())


def align_charges(reference, pieces):
    """Edits and reference characters charged to each hypothesis piece, by a Levenshtein alignment
    of the joined pieces (space-separated) against the reference."""
    hyp, owner = [], []
    for k, piece in enumerate(pieces):
        if hyp:
            hyp.append(" ")
            owner.append(k)
        hyp.extend(piece)
        owner.extend([k] * len(piece))
    n, m = len(reference), len(hyp)
    dist = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        dist[i][0] = i
    for j in range(m + 1):
        dist[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            dist[i][j] = min(dist[i - 1][j] + 1, dist[i][j - 1] + 1, dist[i - 1][j - 1] + (reference[i - 1] != hyp[j - 1]))
    errors, length = [0] * len(pieces), [0] * len(pieces)
    i, j = n, m
    last = len(pieces) - 1
    while i > 0 or j > 0:
        k = owner[j - 1] if j > 0 else 0
        if j > 0:
            last = k
        if i > 0 and j > 0 and dist[i][j] == dist[i - 1][j - 1] + (reference[i - 1] != hyp[j - 1]):
            errors[k] += reference[i - 1] != hyp[j - 1]
            length[k] += 1
            i, j = i - 1, j - 1
        elif j > 0 and dist[i][j] == dist[i][j - 1] + 1:
            errors[k] += 1
            j -= 1
        else:
            errors[last] += 1
            length[last] += 1
            i -= 1
    return errors, length


def chrf(hypothesis, reference):
    try:
        from sacrebleu.metrics import CHRF
    except ImportError:
        return None
    return CHRF().sentence_score(hypothesis, [reference]).score


def rank(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(xs, ys):
    if len(xs) < 3:
        return float("nan")
    rx, ry = rank(xs), rank(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx) ** 0.5
    vy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (vx * vy) if vx and vy else float("nan")


def read_manifest(path):
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r for r in rows if (r.get("audio") or "").strip()]


def rows_of(report_path, manifest_path):
    report = json.load(open(report_path, encoding="utf-8"))
    manifest = read_manifest(manifest_path)
    by_id = {r["id"]: r for r in manifest}
    utterances = report["utterances"]
    # The clips' spans in the joined stream, as the bench laid them out (1.5 s gaps).
    base = os.path.dirname(manifest_path)
    spans, t = [], 1.5
    for clip in report["results"]:
        spans.append((clip["id"], t))
        with wave.open(os.path.join(base, by_id[clip["id"]]["audio"])) as w:
            t += w.getnframes() / w.getframerate() + 1.5
    rows = []
    for index, clip in enumerate(report["results"]):
        reference = by_id.get(clip["id"], {})
        start = spans[index][1]
        end = spans[index + 1][1] if index + 1 < len(spans) else float("inf")
        inside = [u for u in utterances if start - 0.5 <= u["start_s"] < end - 1.0]
        if not inside:
            continue
        fa = normalize(reference.get("fa_transcript", ""))
        if fa:
            errors, length = align_charges(fa, [normalize(u["source_text"]) for u in inside])
        else:
            errors, length = [None] * len(inside), [None] * len(inside)
        en_ref = (reference.get("en_reference") or "").strip()
        for u, e, n in zip(inside, errors, length):
            confidence = u.get("confidence") or {}
            evidence = u["recognition"]["evidence"]
            rows.append({
                "report": report_path,
                "clip": clip["id"],
                "start_s": u["start_s"],
                "audio_s": evidence.get("audio_s"),
                "level": confidence.get("level"),
                "score": confidence.get("score"),
                "avg_logprob": evidence["avg_logprob"],
                "no_speech_prob": evidence["no_speech_prob"],
                "compression_ratio": evidence["compression_ratio"],
                "fallbacks": u["recognition"]["decoding"]["fallbacks"],
                "cer": (e / n) if n else None,
                "ref_chars": n,
                "errors": e,
                "chrf": chrf(u["translated_text"], en_ref) if en_ref and len(inside) == 1 else None,
                "english": u["translated_text"],
                "source": u["source_text"],
            })
    return rows


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def pooled_cer(rows):
    n = sum(r["ref_chars"] for r in rows if r["ref_chars"])
    return sum(r["errors"] for r in rows if r["ref_chars"]) / n if n else None


def fmt(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def summarise(name, rows):
    rows = [r for r in rows if r["cer"] is not None]
    if not rows:
        return
    print(f"\n## {name}: {len(rows)} utterances, CER {fmt(pooled_cer(rows))}")
    cer = [r["cer"] for r in rows]
    signals = ["score", "avg_logprob", "no_speech_prob", "compression_ratio", "fallbacks", "audio_s"]
    print("Spearman ρ with CER: " + ", ".join(
        f"{s} {spearman([r[s] for r in rows if r[s] is not None], [r['cer'] for r in rows if r[s] is not None]):+.2f}"
        for s in signals if any(r[s] is not None for r in rows)))
    if not any(r["level"] for r in rows):
        return
    print("| confidence | share | CER (pooled) | mean CER | chrF (one-utterance clips) | cumulative share | cumulative CER |")
    print("|---|---|---|---|---|---|---|")
    covered = []
    for level in LEVELS:
        at = [r for r in rows if r["level"] == level]
        covered += at
        print(f"| {level} | {len(at)}/{len(rows)} ({100 * len(at) / len(rows):.0f} %) | {fmt(pooled_cer(at))} "
              f"| {fmt(mean([r['cer'] for r in at]))} | {fmt(mean([r['chrf'] for r in at]), 1)} "
              f"| {100 * len(covered) / len(rows):.0f} % | {fmt(pooled_cer(covered))} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pairs", nargs="+", help="REPORT.json:MANIFEST.tsv")
    parser.add_argument("--json", help="write the per-utterance rows here")
    args = parser.parse_args()
    everything = []
    for pair in args.pairs:
        report, _, manifest = pair.rpartition(":")
        if not report:
            sys.exit(f"error: expected REPORT.json:MANIFEST.tsv, got {pair}")
        rows = rows_of(report, manifest)
        summarise(report, rows)
        everything += rows
    if len(args.pairs) > 1:
        summarise("all", everything)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(everything, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
