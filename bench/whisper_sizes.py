#!/usr/bin/env python3
"""What each Whisper size costs in this pipeline, live, on this machine: one command.

For tiny, base, small, medium, large-v3-turbo and large-v3 it makes a model of the size's exact
architecture with random weights (`bench/random_whisper.py`, cached in
~/.cache/linguastream/random-whisper; speed and memory do not depend on the values) and runs it
three ways:

- `linguastream bench MANIFEST --realtime --mt direct --limit N` on clips spread over a manifest (real
  Persian speech at real-time pace, as from a microphone): recognition working time per
  utterance and per second of speech, and how long after the end of speech the English text
  is ready (voice activity, recognition and their queues);
- `linguastream live --input-file SAMPLE --output none`: the live command itself, its peak RSS
  and the backlog of audio waiting for the pipeline;
- `linguastream transcribe SAMPLE`: the peak RSS of recognition alone (voice activity and
  Whisper), since the voice reading nonsense needs more memory than with real English.

Random weights write nonsense that would run every pass to its token cap and set off every
fallback, so these runs pass the hidden `--fixed-decode-tokens N`: each decoding pass writes
exactly N tokens (Whisper's own English first, then the transcript), none falls back, and every
utterance goes on to the voice. Whisper base's real weights run in the same command twice, as
users get it and with the same fixed work, so the random base can be checked against the real
one and every size is compared with base measured minutes apart on the same machine.

Nonsense English is slow to synthesise (one unbroken "word" of 80 letters), so the voice's time
is taken from the real base run: first English = English text ready + the voice's first audio
with real English (its median), both reported.

  python3 bench/whisper_sizes.py --json bench/results/whisper-sizes.json

Needs a release build (`cargo build --release`) and the default models; the random models need
the `ctranslate2` and `numpy` Python packages, which it installs into a private environment in
the cache when the running Python lacks them.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "linguastream/random-whisper"
SIZES = ["tiny", "base", "small", "medium", "large-v3-turbo", "large-v3"]
# Sizes that do not keep up on two cores get fewer clips, so one command stays under an hour.
SLOW = {"medium", "large-v3-turbo", "large-v3"}
TARGET_P95_S = 1.2  # the README's first-English target


def python_with_ctranslate2():
    try:
        import ctranslate2  # noqa: F401
        import numpy  # noqa: F401

        return sys.executable
    except ImportError:
        venv = CACHE / "venv"
        python = venv / "bin/python"
        if not python.exists():
            print(f"installing ctranslate2 and numpy into {venv}…", file=sys.stderr)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "ctranslate2==4.8.4", "numpy"], check=True)
        return str(python)


def random_model(size):
    out = CACHE / size
    if not (out / "model.bin").exists():
        print(f"writing a random-weight Whisper {size} into {out}…", file=sys.stderr)
        tmp = CACHE / f"{size}.partial"
        subprocess.run([python_with_ctranslate2(), str(ROOT / "bench/random_whisper.py"), size, str(tmp)], check=True)
        tmp.rename(out)
    return out


def pct(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def run_bench(binary, manifest, whisper, tokens, limit):
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "bench.json"
        cmd = [binary, "bench", manifest, "--realtime", "--mt", "direct", "--whisper", str(whisper)]
        cmd += ["--limit", str(limit), "--json", str(report)]
        if tokens:
            cmd += ["--fixed-decode-tokens", str(tokens)]
        started = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        data = json.loads(report.read_text())
    spoken = [u for u in data["utterances"] if u.get("latency_ms")]
    ready = [(u["latency_ms"]["vad"] + u["latency_ms"]["stt"] + u["latency_ms"]["mt"]) / 1000 for u in spoken]
    voice = [u["latency_ms"]["tts_first_audio"] / 1000 for u in spoken]
    recognition = [u["processing_ms"]["stt"] for u in data["utterances"]]
    tokens_used = [u["recognition"]["decoding"]["tokens"] for u in data["utterances"] if u.get("recognition")]
    per_s = data["recognition"]["decode_s_per_audio_s"]
    return {
        "command": " ".join(["linguastream"] + ["REPORT" if c == str(report) else str(c) for c in cmd[1:]]),
        "wall_s": round(time.monotonic() - started, 1),
        "clips": data["clips"],
        "audio_s": data["audio_s"],
        "utterances": len(data["utterances"]),
        "spoken": len(spoken),
        "recognition_ms": {"p50": pct(recognition, 0.5), "p95": pct(recognition, 0.95)},
        "recognition_s_per_audio_s": {"p50": per_s["p50"], "p95": per_s["p95"], "max": per_s["max"]},
        "transcript_tokens_p50": pct(tokens_used, 0.5),
        "english_ready_s": {"p50": pct(ready, 0.5), "p95": pct(ready, 0.95)},
        "voice_first_audio_s_p50": pct(voice, 0.5),
        "e2e_measured_s": {"p50": data["e2e_latency_s"]["p50"], "p95": data["e2e_latency_s"]["p95"]},
        "peak_rss_mb": data["peak_rss_mb"],
        "cpu_percent": data["cpu_percent"],
        "machine": data["machine"],
    }


def run_live(binary, sample, whisper, tokens):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Path(tmp) / "live.json"
        cmd = [binary, "live", "--input-file", sample, "--output", "none", "--mt", "direct"]
        cmd += ["--whisper", str(whisper), "--metrics-json", str(metrics)]
        if tokens:
            cmd += ["--fixed-decode-tokens", str(tokens)]
        started = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        data = json.loads(metrics.read_text())
    return {
        "wall_s": round(time.monotonic() - started, 1),
        "utterances": len(data["utterances"]),
        "peak_rss_mb": data["peak_rss_mb"],
        "max_backlog_s": data["max_backlog_s"],
        "e2e_measured_s": {"p50": data["e2e_latency_s"]["p50"], "p95": data["e2e_latency_s"]["p95"]},
        "lost_audio_s": data["lost_audio_s"],
    }


def recognition_rss(binary, sample, whisper, tokens):
    """Peak RSS of `transcribe` (voice activity and Whisper, no voice) in MB: what the size
    itself needs, without the voice reading nonsense."""
    cmd = [binary, "transcribe", "--whisper", str(whisper), sample]
    if tokens:
        cmd += ["--fixed-decode-tokens", str(tokens)]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    return usage.ru_maxrss / 1024


def summarize(rows):
    """Adds each row's figures against base and prints one line per row; returns the voice's
    first-audio time used (the real base run's median)."""
    voice = rows[0]["bench"]["voice_first_audio_s_p50"]
    # Sizes are compared with base at the same fixed work: its random weights when they ran.
    reference = [r for r in rows if r["size"] == "base" and r["fixed_decode_tokens"]][-1]["bench"]
    for row in rows:
        bench = row["bench"]
        row["first_english_s"] = {q: bench["english_ready_s"][q] + voice for q in ("p50", "p95")}
        row["recognition_vs_base"] = bench["recognition_ms"]["p50"] / reference["recognition_ms"]["p50"]
        # Recognition must take less time than the speech it hears, or utterances queue up
        # before it (capture's backlog stays small: voice activity keeps up whatever the size).
        # The median, since a busy machine's moments push short utterances' p95 over.
        row["keeps_up"] = bench["recognition_s_per_audio_s"]["p50"] < 1.0
        row["within_target"] = row["first_english_s"]["p95"] <= TARGET_P95_S
        print(
            f"{row['size']:>15} {row['weights']:>6}  recognition p50 {bench['recognition_ms']['p50']:7.0f} ms"
            f" ({row['recognition_vs_base']:.2f}× base), {bench['recognition_s_per_audio_s']['p50']:.2f}"
            f" s/s of speech; first English p50/p95 {row['first_english_s']['p50']:.2f}/{row['first_english_s']['p95']:.2f} s;"
            f" peak RSS {row['recognition_peak_rss_mb']:.0f} MB recognition alone,"
            f" {max(bench['peak_rss_mb'], row['live']['peak_rss_mb']):.0f} MB live; keeps up:"
            f" {'yes' if row['keeps_up'] else 'no'}"
        )
    return voice


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default=str(ROOT / "target/release/linguastream"))
    parser.add_argument("--manifest", default=str(ROOT.parent / "shared/data/virgool-informal-fa10/manifest.tsv"))
    parser.add_argument("--sample", default=str(ROOT / "samples/fa-sentence-virgool.wav"))
    parser.add_argument("--limit", type=int, default=6, help="clips per run (default 6)")
    parser.add_argument("--slow-limit", type=int, default=3, help=f"clips for {', '.join(sorted(SLOW))} (3)")
    parser.add_argument("--tokens", type=int, default=24, help="tokens per decoding pass (default 24)")
    parser.add_argument("--sizes", nargs="+", default=SIZES, choices=SIZES)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    runs = [("base", "base", None), ("base", "base", args.tokens)]
    runs += [(size, random_model(size), args.tokens) for size in args.sizes]
    rows = []
    for size, whisper, tokens in runs:
        weights = "random" if isinstance(whisper, Path) else "real"
        limit = args.slow_limit if size in SLOW else args.limit
        print(f"{size} ({weights} weights, {tokens or 'free'} tokens), {limit} clips…", file=sys.stderr)
        row = {"size": size, "weights": weights, "fixed_decode_tokens": tokens, "load_avg_1min": os.getloadavg()[0]}
        row["model_mb"] = round(sum(f.stat().st_size for f in Path(whisper).iterdir()) / 1e6) if weights == "random" else None
        row["bench"] = run_bench(args.binary, args.manifest, whisper, tokens, limit)
        row["live"] = run_live(args.binary, args.sample, whisper, tokens)
        row["recognition_peak_rss_mb"] = recognition_rss(args.binary, args.sample, whisper, tokens)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    voice = summarize(rows)
    if args.json:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        result = {
            "command": "python3 bench/whisper_sizes.py " + " ".join(sys.argv[1:]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit.stdout.strip(),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
            "manifest": args.manifest,
            "sample": args.sample,
            "voice_first_audio_s_p50": voice,
            "rows": rows,
        }
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
