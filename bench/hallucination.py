#!/usr/bin/env python3
"""The hallucination benchmark: 10 minutes of audio with no speech addressed to the listener
(bench/noise_corpus.py: silence, white/pink/brown noise, hum, synthetic tones, distant babble)
through `translate` (each kind as a file) and through `live --input-file` (all kinds back to back,
at real-time pace, no sound server needed). Nothing may be spoken.

Usage: bench/hallucination.py [--seconds-each 86] [--json OUT] [--binary target/release/linguastream]
Exits 1 if anything was spoken.
"""
import argparse
import array
import collections
import json
import os
import subprocess
import sys
import tempfile
import wave

HERE = os.path.dirname(os.path.abspath(__file__))


def concatenate(paths, out):
    samples = array.array("h")
    for path in paths:
        with wave.open(path) as w:
            samples.frombytes(w.readframes(w.getnframes()))
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(samples.tobytes())
    return len(samples) / 16_000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds-each", type=float, default=86.0)
    parser.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "linguastream"))
    parser.add_argument("--json")
    parser.add_argument("--live-flag", action="append", default=[], metavar="FLAG",
                        help="an extra flag for the live run, e.g. --live-flag=--speak-early (repeatable)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "noise_corpus.py"), tmp.name, "--seconds-each", str(args.seconds_each)],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    result = {"seconds_each": args.seconds_each, "live_flags": args.live_flag, "translate": {}, "live": {}}
    spoken_total = 0
    for path in out:
        kind = os.path.splitext(os.path.basename(path))[0]
        report_path = os.path.join(tmp.name, kind + ".json")
        subprocess.run(
            [args.binary, "translate", "-q", path, "-o", os.path.join(tmp.name, kind + ".en.wav"), "--json", report_path],
            check=True,
        )
        with open(report_path) as f:
            report = json.load(f)
        refused = collections.Counter(d["reason_code"] for d in report["dropped"])
        result["translate"][kind] = {"spoken": len(report["segments"]), "refused": dict(refused)}
        spoken_total += len(report["segments"])
        print(f"translate {kind:12} spoken {len(report['segments'])}, refused {dict(refused)}", flush=True)
    joined = os.path.join(tmp.name, "all.wav")
    seconds = concatenate(out, joined)
    metrics = os.path.join(tmp.name, "live.json")
    subprocess.run(
        [args.binary, "live", "--input-file", joined, "--output", "none", "--metrics-json", metrics, *args.live_flag],
        check=True, stdout=subprocess.DEVNULL,
    )
    with open(metrics) as f:
        live = json.load(f)
    spoken = [u for u in live["utterances"] if u.get("latency_ms")]
    refused = collections.Counter(d["reason_code"] for d in live["dropped"])
    result["live"] = {"seconds": seconds, "spoken": len(spoken), "refused": dict(refused)}
    spoken_total += len(spoken)
    print(f"live ({seconds:.0f} s) spoken {len(spoken)}, refused {dict(refused)}", flush=True)
    result["spoken_total"] = spoken_total
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    sys.exit(1 if spoken_total else 0)


if __name__ == "__main__":
    main()
