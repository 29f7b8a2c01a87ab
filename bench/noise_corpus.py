#!/usr/bin/env python3
"""Writes a corpus of audio that holds no speech addressed to the listener, for the hallucination
checks: digital silence, white, pink and brown noise, mains hum, music-like synthetic tones, and
distant babble (several espeak-ng voices talking over each other, 20 dB below normal speech).

Usage: noise_corpus.py OUT_DIR [--seconds-each S] [--seed N]
Writes one 16 kHz mono 16-bit WAV per kind into OUT_DIR and prints their paths. Standard library
only, plus the espeak-ng command for the babble (installed by scripts/setup.sh). Deterministic for a
given seed.
"""
import argparse
import array
import math
import os
import random
import subprocess
import tempfile
import wave

RATE = 16_000
# Ordinary speech sits around -20 dBFS RMS; "distant" babble 20 dB below it.
SPEECH_RMS = 10 ** (-20 / 20)
BABBLE_RMS = SPEECH_RMS * 10 ** (-20 / 20)
BABBLE_TEXTS = [
    ("en-us", "The committee will meet again next week to review the budget and the schedule for the new building."),
    ("en-gb", "I told him that the train was late again, so we had to wait for almost an hour on the platform."),
    ("de", "Wir haben gestern lange über das Wetter und die Ferien im Sommer gesprochen, aber nichts entschieden."),
    ("fr", "Elle a dit que le marché était fermé le dimanche et que nous devions revenir lundi matin."),
    ("es", "Mañana vamos a visitar a mis abuelos en el campo y volveremos por la noche muy cansados."),
    ("it", "Il ristorante vicino alla stazione è sempre pieno, quindi conviene prenotare un tavolo in anticipo."),
]


def scaled(samples, rms):
    current = math.sqrt(sum(s * s for s in samples) / max(1, len(samples))) or 1.0
    gain = rms / current
    return [max(-1.0, min(1.0, s * gain)) for s in samples]


def white(n, rng, rms):
    return scaled([rng.gauss(0.0, 1.0) for _ in range(n)], rms)


def pink(n, rng, rms):
    # Paul Kellet's economy filter: -3 dB/octave within 0.5 dB above 10 Hz.
    b0 = b1 = b2 = 0.0
    out = []
    for _ in range(n):
        w = rng.gauss(0.0, 1.0)
        b0 = 0.99765 * b0 + w * 0.0990460
        b1 = 0.96300 * b1 + w * 0.2965164
        b2 = 0.57000 * b2 + w * 1.0526913
        out.append(b0 + b1 + b2 + w * 0.1848)
    return scaled(out, rms)


def brown(n, rng, rms):
    level, out = 0.0, []
    for _ in range(n):
        level = 0.998 * level + rng.gauss(0.0, 1.0) * 0.05
        out.append(level)
    return scaled(out, rms)


def hum(n, rng, rms):
    mains = rng.choice([50.0, 60.0])
    harmonics = [(1, 1.0), (2, 0.5), (3, 0.35), (5, 0.2)]
    return scaled(
        [sum(a * math.sin(2 * math.pi * mains * k * i / RATE) for k, a in harmonics) for i in range(n)], rms
    )


def tones(n, rng, rms):
    """Notes and chords of a pentatonic scale with attack/decay envelopes, like a simple tune."""
    out = [0.0] * n
    at = 0
    while at < n:
        length = int(RATE * rng.choice([0.25, 0.5, 0.75, 1.0]))
        chord = [220.0 * 2 ** (rng.choice([0, 2, 4, 7, 9, 12, 14]) / 12) for _ in range(rng.choice([1, 1, 2, 3]))]
        for i in range(min(length, n - at)):
            envelope = min(1.0, i / 400) * math.exp(-3.0 * i / length)
            out[at + i] += envelope * sum(math.sin(2 * math.pi * f * i / RATE) for f in chord)
        at += length
    return scaled(out, rms)


def silence(n, rng, rms):
    return [0.0] * n


def babble(n, rng, rms):
    """Six voices in six languages from espeak-ng, each looped with random offsets, summed."""
    out = [0.0] * n
    with tempfile.TemporaryDirectory() as tmp:
        for k, (voice, text) in enumerate(BABBLE_TEXTS):
            path = os.path.join(tmp, f"{k}.wav")
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(rng.randint(150, 190)), "-w", path, text], check=True)
            voice_samples = read_wav(path)
            offset = rng.randrange(len(voice_samples))
            for i in range(n):
                out[i] += voice_samples[(i + offset) % len(voice_samples)]
    return scaled(out, rms)


def read_wav(path):
    with wave.open(path) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        data = array.array("h", w.readframes(w.getnframes()))
        rate = w.getframerate()
    samples = [s / 32768.0 for s in data]
    if rate != RATE:  # espeak-ng speaks at 22,050 Hz: linear interpolation is enough for babble
        step = rate / RATE
        samples = [samples[min(len(samples) - 1, int(i * step))] for i in range(int(len(samples) / step))]
    return samples


def write_wav(path, samples):
    data = array.array("h", (int(max(-1.0, min(1.0, s)) * 32767) for s in samples))
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data.tobytes())


KINDS = {
    "silence": (silence, 0.0),
    "white-noise": (white, SPEECH_RMS),
    "pink-noise": (pink, SPEECH_RMS),
    "brown-noise": (brown, SPEECH_RMS),
    "hum": (hum, SPEECH_RMS),
    "tones": (tones, SPEECH_RMS),
    "babble": (babble, BABBLE_RMS),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir")
    parser.add_argument("--seconds-each", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ", ".join(KINDS))
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    n = int(args.seconds_each * RATE)
    for kind in args.kinds.split(","):
        make, rms = KINDS[kind]
        path = os.path.join(args.out_dir, f"{kind}.wav")
        write_wav(path, make(n, random.Random(f"{args.seed}-{kind}"), rms))
        print(path)


if __name__ == "__main__":
    main()
