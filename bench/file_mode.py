#!/usr/bin/env python3
"""File-mode benchmark: runs `linguastream translate` on every clip of a manifest and reports the
real-time factor, per-stage times (median and p95 over utterances), peak RSS, and — where the
manifest has Persian references — CER and WER of the transcript (Persian normalisation applied).

Usage: bench/file_mode.py MANIFEST.tsv [--binary target/release/linguastream] [--json OUT] [--translate-args "--mt direct"]
The manifest is the format of shared/data/*/manifest.tsv: id, audio, fa_transcript, en_reference.
"""
import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time

from textmetrics import error_rates


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def run_clip(binary, audio, extra):
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "r.json")
        started = time.monotonic()
        process = subprocess.Popen([binary, "translate", audio, "-q", "-o", os.path.join(tmp, "o.wav"), "--json", report, *extra],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        stderr = process.stderr.read().decode()
        if status != 0:
            raise SystemExit(f"translate failed on {audio}:\n{stderr}")
        with open(report) as f:
            return json.load(f), wall, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest")
    parser.add_argument("--binary", default="target/release/linguastream")
    parser.add_argument("--json")
    parser.add_argument("--translate-args", default="", help="extra arguments for `linguastream translate`")
    args = parser.parse_args()
    args.extra = args.translate_args.split()
    base = os.path.dirname(os.path.abspath(args.manifest))
    with open(args.manifest) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))

    audio_s = wall_s = 0.0
    peak_rss = 0.0
    stages = {"stt": [], "mt": [], "tts": []}
    pairs = []
    segments = dropped = 0
    for row in rows:
        audio = row["audio"] if os.path.isabs(row["audio"]) else os.path.join(base, row["audio"])
        report, wall, rss = run_clip(args.binary, audio, args.extra)
        audio_s += report["input"]["duration_s"]
        wall_s += wall
        peak_rss = max(peak_rss, rss)
        segments += len(report["segments"])
        dropped += len(report["dropped"])
        for segment in report["segments"]:
            for stage in stages:
                stages[stage].append(segment["timings_ms"][stage])
        if row.get("fa_transcript"):
            pairs.append((row["fa_transcript"], " ".join(s["source_text"] for s in report["segments"])))
        print(f"{row['id']}: {report['input']['duration_s']:.1f} s audio, {wall:.1f} s, {len(report['segments'])} spoken, {len(report['dropped'])} dropped", flush=True)

    result = {
        "manifest": args.manifest,
        "clips": len(rows),
        "audio_s": round(audio_s, 1),
        "wall_s": round(wall_s, 1),
        "rtf": round(wall_s / audio_s, 3),
        "utterances_spoken": segments,
        "utterances_dropped": dropped,
        "stages_ms": {k: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in stages.items()},
        "peak_rss_mb": round(peak_rss, 1),
        "wer": error_rates(pairs)[0],
        "cer": error_rates(pairs)[1],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "translate_args": args.extra,
    }
    for stage in result["stages_ms"].values():
        for k in stage:
            stage[k] = None if stage[k] is None else round(stage[k], 1)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
