#!/usr/bin/env python3
"""Live-mode benchmark through real audio: plays the clips of one or more manifests, back to back
with 1.5 s pauses, into the PulseAudio null sink `test_in` while `linguastream live` listens to
its monitor and speaks into the virtual microphone. Reports end of speech → first English sample
(p50/p95/max), the per-stage breakdown, CPU, peak RSS, and drift: the median latency of the first
and last third of the run.

With --call-side it measures the other side of a call instead: a second null sink `call_out`
stands for the call app's output, `live --call-input call_out.monitor --output none` captions
what is played into it (the user's side listens to the silent `test_in`), and the report gives
the utterances captioned, speech end → caption (p50/p95/max), peak RSS, how many captions are
in Persian, and the captions' English WER against the manifests' `en_reference` (Whisper's
English normaliser, from the whisper-normalizer package; without it the WER is left out).

Run it under a sound server, e.g.:
  bash scripts/with-pulse.sh python3 bench/live_loopback.py shared/data/*/manifest.tsv --json out.json
  bash scripts/with-pulse.sh python3 bench/live_loopback.py ENGLISH/manifest.tsv --call-side --json out.json
Extra arguments for `linguastream live` go in one string: --live-args "--mt direct" (for the
call side, e.g. --live-args "--call-mt llm").
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave

import textmetrics

CALL_SINK = "call_out"
# What `live` prints once its models are loaded and it listens.
LISTENING = "listening ("


def clips(manifests):
    for manifest in manifests:
        base = os.path.dirname(os.path.abspath(manifest))
        with open(manifest) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                if row.get("audio"):
                    yield row["audio"] if os.path.isabs(row["audio"]) else os.path.join(base, row["audio"])


def references(manifests):
    """The manifests' English references in clip order; None when a clip has none."""
    found = []
    for manifest in manifests:
        with open(manifest) as f:
            found += [row.get("en_reference") or None for row in csv.DictReader(f, delimiter="\t") if row.get("audio")]
    return None if None in found else found


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
    parser.add_argument("--call-side", action="store_true",
                        help="play the clips into a sink standing for the call app's output and measure its captions")
    parser.add_argument("--json")
    parser.add_argument("--live-args", default="", help="extra arguments for `linguastream live`")
    args = parser.parse_args()
    extra = args.live_args.split()
    expected = scorable_references(args.manifests) if args.call_side else None

    with tempfile.TemporaryDirectory() as tmp:
        audio = os.path.join(tmp, "all.wav")
        seconds = concatenate(list(clips(args.manifests)), audio, repeat=args.repeat)
        metrics = os.path.join(tmp, "metrics.json")
        if args.call_side:
            report, engine = run_call_side(args.binary, audio, seconds, metrics, extra)
        else:
            report = run_user_side(args.binary, audio, seconds, metrics, extra)

    result = call_side_result(report, engine, expected, args) if args.call_side else user_side_result(report)
    result = {"manifests": args.manifests, "audio_s": round(seconds, 1), **result, "live_args": extra,
              "machine": {"cpus": os.cpu_count()}}
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


def run_user_side(binary, audio, seconds, metrics, extra):
    live = subprocess.Popen([binary, "live", "--input", "test_in.monitor", "--output", "virtual-mic",
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
        return json.load(f)


def user_side_result(report):
    spoken = [u for u in report["utterances"] if u["latency_ms"]]
    e2e = [u["latency_ms"]["e2e"] / 1000 for u in spoken]
    third = max(1, len(e2e) // 3)
    return {
        "utterances_spoken": len(spoken),
        "utterances_dropped": len(report["dropped"]),
        "e2e_latency_s": report["e2e_latency_s"],
        "stages_ms": report["stages_ms"],
        "drift": {"first_third_p50_s": median(e2e[:third]), "last_third_p50_s": median(e2e[-third:])},
        "cpu_percent": round(report["cpu_percent"], 1),
        "peak_rss_mb": round(report["peak_rss_mb"], 1),
        "max_backlog_s": report["max_backlog_s"],
        "lost_audio_s": report["lost_audio_s"],
    }


def run_call_side(binary, audio, seconds, metrics, extra):
    """`live` captioning the monitor of a fresh null sink `call_out` while the clips play into
    it; the sink is removed afterwards. Returns the metrics and the engine line `live` printed."""
    if CALL_SINK in sink_names():
        raise SystemExit(f"a sink named {CALL_SINK} already exists: run this under its own sound server "
                         "(scripts/with-pulse.sh)")
    module = subprocess.run(["pactl", "load-module", "module-null-sink", f"sink_name={CALL_SINK}", "rate=16000",
                             "channels=1"], capture_output=True, text=True, check=True).stdout.strip()
    live = None
    try:
        live = subprocess.Popen([binary, "live", "--input", "test_in.monitor", "--call-input", f"{CALL_SINK}.monitor",
                                 "--output", "none", "--duration", str(seconds + 8), "--metrics-json", metrics,
                                 *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, encoding="utf-8",
                                errors="replace")
        lines, settled = [], threading.Event()
        reader = threading.Thread(target=collect_stderr, args=(live.stderr, lines, settled))
        reader.start()
        # "listening" comes once both lanes have their models: audio played earlier would wait
        # for them and its latency would include the loading.
        settled.wait(120)
        if not any(line.startswith(LISTENING) for line in lines):
            live.kill()
            reader.join()
            raise SystemExit("live did not start:\n" + "".join(lines))
        time.sleep(1.0)
        subprocess.run(["paplay", f"--device={CALL_SINK}", audio], check=True)
        live.wait()
        reader.join()
        if live.returncode != 0:
            raise SystemExit("live failed:\n" + "".join(lines))
    finally:
        if live is not None and live.poll() is None:
            live.kill()
        subprocess.run(["pactl", "unload-module", module], check=False)
    engine = next((line.strip() for line in lines if line.startswith("the other side:")), None)
    with open(metrics) as f:
        return json.load(f), engine


def sink_names():
    listing = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True, check=True).stdout
    return [line.split("\t")[1] for line in listing.splitlines() if "\t" in line]


def collect_stderr(stream, lines, settled):
    """Keeps `live`'s messages; `settled` once it listens or has ended."""
    for line in stream:
        lines.append(line)
        if line.startswith(LISTENING):
            settled.set()
    settled.set()


def in_persian_script(text):
    return any("\u0600" <= c <= "\u06ff" for c in text)


def scorable_references(manifests):
    """The English references to score the captions against, or None (with a note) when a clip
    has none or Whisper's English normaliser is missing: checked before the run, not after."""
    expected = references(manifests)
    if expected is None:
        print("note: no English WER: not every clip has an en_reference", file=sys.stderr)
        return None
    try:
        textmetrics.english_normaliser()
    except SystemExit as missing:
        print(f"note: no English WER: {missing}", file=sys.stderr)
        return None
    return expected


def call_side_result(report, engine, expected, args):
    lane = report.get("call_side")
    if lane is None:
        raise SystemExit("the metrics have no call_side section: is this binary's `live --call-input` there?")
    utterances = lane["utterances"]
    heard = " ".join(u["source_text"] for u in utterances)
    # The clips' transcripts joined against the captions joined: the VAD may cut a clip in two
    # or join two, and neither is a recognition error.
    english = None
    if expected:
        wer, cer = textmetrics.error_rates([(" ".join(expected * args.repeat), heard)], "en")
        english = {"wer": wer, "cer": cer, "reference_words": sum(len(r.split()) for r in expected) * args.repeat}
    for u in utterances:
        print(f"[{u['caption_ms'] / 1000:.2f} s] {u['source_text']}" +
              (f" → {u['translated_text']}" if u["translated_text"] != u["source_text"] else ""), file=sys.stderr)
    return {
        "engine": engine,
        "clips": sum(1 for _ in clips(args.manifests)) * args.repeat,
        "utterances_captioned": len(utterances),
        "utterances_dropped": len(lane["dropped"]),
        "captions_in_persian": sum(1 for u in utterances if in_persian_script(u["translated_text"])),
        "caption_latency_s": lane["caption_latency_s"],
        "caption_ms": [round(u["caption_ms"]) for u in utterances],
        "processing_ms_p50": {
            "stt": median([u["processing_ms"]["stt"] for u in utterances]),
            "mt": median([u["processing_ms"]["mt"] for u in utterances]),
        },
        "caption_english": english,
        "cpu_percent": round(report["cpu_percent"], 1),
        "peak_rss_mb": round(report["peak_rss_mb"], 1),
        "max_backlog_s": lane["max_backlog_s"],
        "lost_audio_s": lane["lost_audio_s"],
        "capture_problems": lane["capture_problems"],
    }


if __name__ == "__main__":
    main()
