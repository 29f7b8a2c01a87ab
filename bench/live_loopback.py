#!/usr/bin/env python3
"""Live-mode benchmark through real audio: plays the clips of one or more manifests, back to back
with 1.5 s pauses, into the PulseAudio null sink `test_in` while `linguastream live` listens to
its monitor and speaks into the virtual microphone. Reports end of speech → first English sample
(p50/p95/max), the per-stage breakdown, CPU, peak RSS, and drift: the median latency of the first
and last third of the run.

Run it under a sound server, e.g.:
  bash scripts/with-pulse.sh python3 bench/live_loopback.py shared/data/*/manifest.tsv --json out.json
Extra arguments for `linguastream live` go in one string: --live-args "--mt direct".
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import tempfile
import time
import wave


def clips(manifests):
    for manifest in manifests:
        base = os.path.dirname(os.path.abspath(manifest))
        with open(manifest) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row.get("audio"):
                    yield row["audio"] if os.path.isabs(row["audio"]) else os.path.join(base, row["audio"])


def concatenate(paths, out, pause_s=1.5, repeat=1):
    silence = b"\x00\x00" * int(16000 * pause_s)
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(silence)
        for _ in range(repeat):
            for path in paths:
                with wave.open(path) as r:
                    assert r.getframerate() == 16000 and r.getnchannels() == 1 and r.getsampwidth() == 2, path
                    w.writeframes(r.readframes(r.getnframes()))
                w.writeframes(silence)
    with wave.open(out) as r:
        return r.getnframes() / 16000


def median(values):
    return round(statistics.median(values), 3) if values else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("manifests", nargs="+")
    parser.add_argument("--binary", default="target/release/linguastream")
    parser.add_argument("--repeat", type=int, default=1, help="play the clips this many times")
    parser.add_argument("--json")
    parser.add_argument("--live-args", default="", help="extra arguments for `linguastream live`")
    args = parser.parse_args()
    extra = args.live_args.split()

    with tempfile.TemporaryDirectory() as tmp:
        audio = os.path.join(tmp, "all.wav")
        seconds = concatenate(list(clips(args.manifests)), audio, repeat=args.repeat)
        metrics = os.path.join(tmp, "metrics.json")
        live = subprocess.Popen([args.binary, "live", "--input", "test_in.monitor", "--output", "virtual-mic",
                                 "--duration", str(seconds + 8), "--metrics-json", metrics, *extra],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while b"linguastream_mic" not in subprocess.run(["pactl", "list", "short", "sources"], capture_output=True).stdout:
            if time.time() > deadline or live.poll() is not None:
                raise SystemExit("live did not start: " + live.stderr.read().decode())
            time.sleep(0.1)
        time.sleep(1.0)
        subprocess.run(["paplay", "--device=test_in", audio], check=True)
        stderr = live.communicate()[1].decode()
        if live.returncode != 0:
            raise SystemExit("live failed:\n" + stderr)
        with open(metrics) as f:
            report = json.load(f)

    spoken = [u for u in report["utterances"] if u["latency_ms"]]
    e2e = [u["latency_ms"]["e2e"] / 1000 for u in spoken]
    third = max(1, len(e2e) // 3)
    result = {
        "manifests": args.manifests,
        "audio_s": round(seconds, 1),
        "utterances_spoken": len(spoken),
        "utterances_dropped": len(report["dropped"]),
        "e2e_latency_s": report["e2e_latency_s"],
        "stages_ms": report["stages_ms"],
        "drift": {"first_third_p50_s": median(e2e[:third]), "last_third_p50_s": median(e2e[-third:])},
        "cpu_percent": round(report["cpu_percent"], 1),
        "peak_rss_mb": round(report["peak_rss_mb"], 1),
        "max_backlog_s": report["max_backlog_s"],
        "lost_audio_s": report["lost_audio_s"],
        "live_args": extra,
        "machine": {"cpus": os.cpu_count()},
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
