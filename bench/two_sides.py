#!/usr/bin/env python3
"""Both sides of a call at once: does the other side's English slow the user's Persian down?

Joins the clips of a Persian manifest (the user) and of an English one (the other side) into two
recordings, each clip followed by a pause, then runs `linguastream live --output none` on the
Persian alone and again with the English as `--call-input-file`, both at real-time pace and
overlapping, alternately `--rounds` times. Reports the user's first-English latency (p50/p95,
the median over rounds), the other side's speech end → caption latency, and peak RSS, each run
with the machine's 1-minute load average at its end (latency depends on it; RSS hardly).
The models come from LINGUASTREAM_HOME as usual: set it to measure a private home (a mirror's
model listed in its models.toml, say).

Usage: bench/two_sides.py PERSIAN_MANIFEST ENGLISH_MANIFEST [--rounds 2] [--call-mt auto]
       [--binary target/release/linguastream] [--json OUT]
"""
import argparse
import array
import csv
import json
import os
import statistics
import subprocess
import tempfile
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = 16_000


def clip_paths(manifest):
    base = os.path.dirname(os.path.abspath(manifest))
    with open(manifest) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row.get("audio"):
                yield row["audio"] if os.path.isabs(row["audio"]) else os.path.join(base, row["audio"])


def joined(manifest, out, pause_s):
    """The manifest's 16 kHz mono clips back to back, `pause_s` of silence after each."""
    samples = array.array("h")
    for path in clip_paths(manifest):
        with wave.open(path) as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
                raise SystemExit(f"{path}: need 16 kHz mono 16-bit WAV")
            samples.frombytes(w.readframes(w.getnframes()))
        samples.extend([0] * int(pause_s * RATE))
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return len(samples) / RATE


def run_live(binary, persian, english, call_mt, metrics):
    command = [binary, "live", "--output", "none", "--mt", "direct", "--input-file", persian, "--metrics-json", metrics]
    if english:
        command += ["--call-input-file", english, "--call-mt", call_mt]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(metrics) as f:
        return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("persian")
    parser.add_argument("english")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--call-mt", default="auto")
    parser.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "linguastream"))
    parser.add_argument("--json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        persian, english = os.path.join(tmp, "persian.wav"), os.path.join(tmp, "english.wav")
        persian_s = joined(args.persian, persian, 2.0)
        english_s = joined(args.english, english, 1.0)
        print(f"user: {persian_s:.0f} s of Persian; other side: {english_s:.0f} s of English (cut at the user's end)")
        runs = {"alone": [], "both": []}
        for round_ in range(args.rounds):
            for name, call in (("alone", None), ("both", english)):
                report = run_live(args.binary, persian, call, args.call_mt, os.path.join(tmp, f"{name}{round_}.json"))
                runs[name].append(report)
                you = report["e2e_latency_s"]
                line = f"round {round_ + 1} {name:5}: first English p50 {you['p50']:.2f} s, p95 {you['p95']:.2f} s"
                if "call_side" in report:
                    them = report["call_side"]
                    line += (
                        f"; other side {len(them['utterances'])} captions, p50 {them['caption_latency_s']['p50']:.2f} s,"
                        f" p95 {them['caption_latency_s']['p95']:.2f} s"
                    )
                report["load_1min"] = os.getloadavg()[0]
                print(line + f"; peak RSS {report['peak_rss_mb']:.0f} MB; load {report['load_1min']:.2f}")

    def median(name, pick):
        return statistics.median(pick(r) for r in runs[name])

    summary = {
        name: {
            "first_english_p50_s": median(name, lambda r: r["e2e_latency_s"]["p50"]),
            "first_english_p95_s": median(name, lambda r: r["e2e_latency_s"]["p95"]),
            "peak_rss_mb": median(name, lambda r: r["peak_rss_mb"]),
        }
        for name in runs
    }
    summary["both"]["call_side_caption_p50_s"] = median("both", lambda r: r["call_side"]["caption_latency_s"]["p50"])
    summary["both"]["call_side_caption_p95_s"] = median("both", lambda r: r["call_side"]["caption_latency_s"]["p95"])
    summary["both"]["call_side_captions"] = median("both", lambda r: len(r["call_side"]["utterances"]))
    rise = summary["both"]["first_english_p95_s"] - summary["alone"]["first_english_p95_s"]
    print(f"the user's first-English p95 rises by {rise:+.2f} s with the other side talking (median of {args.rounds} rounds)")
    if args.json:
        # Latencies and counts only: no dataset text.
        for reports in runs.values():
            for report in reports:
                for lane in (report, report.get("call_side") or {}):
                    for utterance in lane.get("utterances", []):
                        utterance["source_text"] = utterance["translated_text"] = ""
        with open(args.json, "w") as f:
            json.dump({"summary": summary, "p95_rise_s": rise, "call_mt": args.call_mt, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
