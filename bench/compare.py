#!/usr/bin/env python3
"""LinguaStream against the stack users would otherwise pick — faster-whisper + piper-tts — on the
same clips, the same model files (Whisper base CTranslate2, the Piper joe voice) and the same
machine, in one run. Each side runs in its own process, timed from start to end (model loading
included) with its peak RSS.

Speech recognition: every clip of MANIFEST, language forced (--language, default fa); faster-whisper
with its defaults (beam 5, temperature fallback), int8, the same thread count. Scored against the
manifest's transcript of the spoken language: `en_reference` for English speech (`--language en`),
`fa_transcript` (the source-language column) otherwise; normalised as bench/textmetrics.py says.
Speech synthesis: the manifest's English references (or a fixed set of sentences) with the same voice.

Usage (through bench/compare.sh, which makes the venv):
  compare.py MANIFEST [--language LANG] [--limit N] [--json OUT]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

from textmetrics import english_normaliser, error_rates

SENTENCES = [
    "Good morning, everyone, and thank you for joining the call.",
    "Could you please share your screen so we can see the numbers?",
    "The meeting is moved to Thursday at three in the afternoon.",
    "I agree with the plan, but the budget needs another look.",
    "Let's take a short break and continue in ten minutes.",
]


def measured(command):
    """Runs `command`; returns stdout, wall seconds and peak RSS in MB."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = process.stdout.read()
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    if status != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{err.decode()}")
    return out.decode(), wall, usage.ru_maxrss / 1024


def worker_stt(model_dir, language, threads, paths):
    from faster_whisper import WhisperModel
    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads)
    for path in paths:
        segments, _ = model.transcribe(path, language=language)
        print(path + "\t" + " ".join(s.text.strip() for s in segments), flush=True)


def worker_tts(voice, sentences, out_dir):
    import wave
    from piper import PiperVoice
    piper = PiperVoice.load(voice, config_path=voice + ".json")
    for i, sentence in enumerate(sentences):
        with wave.open(os.path.join(out_dir, f"{i}.wav"), "wb") as w:
            if hasattr(piper, "synthesize_wav"):
                piper.synthesize_wav(sentence, w)
            else:
                piper.synthesize(sentence, w)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest")
    parser.add_argument("--binary", default="target/release/linguastream")
    parser.add_argument("--language", default="fa", help="spoken language, forced on both sides (default fa)")
    parser.add_argument("--limit", type=int, help="only the first N clips of the manifest")
    # Each side at its own default unless given: ours decodes on one thread, faster-whisper's
    # cpu_threads=0 lets CTranslate2 use every core.
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json")
    parser.add_argument("--worker", choices=["stt", "tts"], help=argparse.SUPPRESS)
    parser.add_argument("--worker-input", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")

    models = subprocess.run([args.binary, "models", "path"], capture_output=True, text=True, check=True).stdout.strip()
    whisper_dir = os.path.join(models, "whisper-base")
    voice = os.path.join(models, "piper-en-us-joe-medium", "voice.onnx")
    if args.worker:
        with open(args.worker_input) as f:
            inputs = json.load(f)
        if args.worker == "stt":
            return worker_stt(whisper_dir, args.language, args.threads, inputs["paths"])
        return worker_tts(voice, inputs["sentences"], inputs["out_dir"])

    if args.language == "en":
        english_normaliser()  # before minutes of recognition, not after
    base = os.path.dirname(os.path.abspath(args.manifest))
    with open(args.manifest) as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t") if r.get("audio")][: args.limit]
    paths = [r["audio"] if os.path.isabs(r["audio"]) else os.path.join(base, r["audio"]) for r in rows]
    # A manifest's source-language transcript is `fa_transcript`; spoken English has its
    # transcript in `en_reference`.
    reference_column = "en_reference" if args.language == "en" else "fa_transcript"
    references = {p: r.get(reference_column) or "" for p, r in zip(paths, rows)}
    if not any(references.values()):
        print(f"note: no {reference_column} in {args.manifest}: no WER/CER", file=sys.stderr)
    sentences = [r["en_reference"] for r in rows if r.get("en_reference")][:20] or SENTENCES
    me = [sys.executable, os.path.abspath(__file__), args.manifest, "--binary", args.binary]

    result = {"clips": len(paths), "language": args.language, "reference": reference_column,
              "sentences": len(sentences), "ours": {}, "theirs": {}}
    tmp = tempfile.TemporaryDirectory()
    worker_input = os.path.join(tmp.name, "inputs.json")
    with open(worker_input, "w") as f:
        json.dump({"paths": paths, "sentences": sentences, "out_dir": tmp.name}, f)
    threads = ["--threads", str(args.threads)] if args.threads else []
    worker = [*me, "--language", args.language, "--threads", str(args.threads), "--worker-input", worker_input, "--worker"]
    for side, command in [
        ("ours", [args.binary, "transcribe", "--from", args.language, *threads, *paths]),
        ("theirs", [*worker, "stt"]),
    ]:
        out, wall, rss = measured(command)
        texts = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        pairs = [(references[p], texts.get(p, "")) for p in paths if references[p]]
        wer, cer = error_rates(pairs, args.language)
        result[side].update({"stt_s": round(wall, 2), "wer": wer, "cer": cer, "stt_peak_rss_mb": round(rss, 1)})
    for side, command in [
        ("ours", [args.binary, "speak", " ".join(sentences), "-o", os.path.join(tmp.name, "ours.wav")]),
        ("theirs", [*worker, "tts"]),
    ]:
        _, wall, rss = measured(command)
        result[side].update({"tts_s": round(wall, 2), "tts_peak_rss_mb": round(rss, 1)})
    tmp.cleanup()
    for side in ("ours", "theirs"):
        result[side]["peak_rss_mb"] = max(result[side]["stt_peak_rss_mb"], result[side]["tts_peak_rss_mb"])
    result["ratio_ours_over_theirs"] = {k: round(result["ours"][k] / result["theirs"][k], 3) for k in ("stt_s", "tts_s")}

    print(f"{'':28}{'LinguaStream':>14}{'faster-whisper/piper':>24}{'ours/theirs':>13}")
    for key, label in [("stt_s", "speech recognition (s)"), ("tts_s", "speech synthesis (s)")]:
        print(f"{label:28}{result['ours'][key]:>14}{result['theirs'][key]:>24}{result['ratio_ours_over_theirs'][key]:>13}")
    for key in ("wer", "cer", "peak_rss_mb"):
        print(f"{key:28}{str(result['ours'][key]):>14}{str(result['theirs'][key]):>24}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
