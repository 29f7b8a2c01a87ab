#!/usr/bin/env python3
"""Builds fa-digits.wav, the bundled demo: one PSDR speaker saying digits in sequence.

PSDR (github.com/Ralireza/PSDR, GPL-3.0) records each digit in its own 2 s clip. This joins a
speaker's clips, each trimmed to its speech plus a margin, with short gaps, so the result
sounds like someone reading a number out. Usage: make_sample.py PSDR_AUDIO_DIR SPEAKER DIGITS OUT
"""
import array
import sys
import wave

RATE = 16000


def read(path):
    with wave.open(path) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return array.array("h", w.readframes(w.getnframes()))


def trim(samples, margin=int(0.12 * RATE), frame=320):
    """Keeps the span whose 20 ms frames are within 20 dB of the loudest one."""
    energies = [max(1, sum(s * s for s in samples[i:i + frame]) / frame) for i in range(0, len(samples) - frame, frame)]
    loud = [i for i, e in enumerate(energies) if e > max(energies) / 100]
    start = max(0, loud[0] * frame - margin)
    end = min(len(samples), (loud[-1] + 1) * frame + margin)
    return samples[start:end]


def main(audio_dir, speaker, digits, out):
    gap = array.array("h", [0] * int(0.05 * RATE))
    lead = array.array("h", [0] * int(0.5 * RATE))
    joined = array.array("h", lead)
    for d in digits:
        joined += trim(read(f"{audio_dir}/psdr-{d}-{speaker}-0.wav")) + gap
    joined += lead
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(joined.tobytes())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4])
