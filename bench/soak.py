#!/usr/bin/env python3
"""Soak test: `linguastream live --input-file` fed real Persian speech, looped with silences for
DURATION seconds, at real-time pace, speaking into the virtual microphone of a real PulseAudio
server that is killed (SIGKILL) and restarted N times on the way.

It starts and owns its sound server (a private one, as scripts/with-pulse.sh does) because it has
to kill and restart it. Reports: utterances detected vs spoken / refused / not spoken (every one
accounted for), clips with no utterance at all, end-of-speech → first English sample p50/p95 in
the first and last ten minutes (drift), output lag (speech end → its English heard to the end) likewise, RSS at the start (after the first minute) and at the end, and the median RSS of the first and last windows,
backlog max, audio lost, and how the output came back after each restart.

  python3 bench/soak.py ../shared/data/alifarrokh-fa-longform4/manifest.tsv \\
      ../shared/data/virgool-informal-fa10/manifest.tsv ../shared/data/psdr-fa-digits90/manifest.tsv \\
      --duration 3600 --restarts 2 --json bench/results/soak-3600s.json
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import wave

from live_loopback import clips

RATE = 16000
PAUSE_S = 1.5  # between clips
LONG_PAUSE_S = 8.0  # after every LONG_PAUSE_EVERY clips: a speaker thinking, or nobody talking
LONG_PAUSE_EVERY = 7


def build_input(paths, out, duration_s):
    """Loops the clips with pauses until `duration_s`; returns each clip's (start_s, end_s)."""
    pcm = {}
    for path in paths:
        with wave.open(path) as r:
            assert r.getframerate() == RATE and r.getnchannels() == 1 and r.getsampwidth() == 2, path
            pcm[path] = r.readframes(r.getnframes())
    spans, frames, n = [], 0, 0
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)

        def silence(seconds):
            nonlocal frames
            w.writeframes(b"\x00\x00" * int(RATE * seconds))
            frames += int(RATE * seconds)

        silence(PAUSE_S)
        while frames / RATE < duration_s:
            for path in paths:
                if frames / RATE >= duration_s:
                    break
                start = frames / RATE
                w.writeframes(pcm[path])
                frames += len(pcm[path]) // 2
                spans.append((start, frames / RATE))
                n += 1
                silence(LONG_PAUSE_S if n % LONG_PAUSE_EVERY == 0 else PAUSE_S)
    return spans, frames / RATE


class SoundServer:
    """A private PulseAudio server in its own runtime directory, which can be killed and restarted."""

    def __init__(self):
        self.runtime = tempfile.mkdtemp(prefix="linguastream-soak-pulse.")
        os.chmod(self.runtime, 0o700)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.runtime)
        self.env.pop("PULSE_SERVER", None)
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--load=module-native-protocol-unix",
             f"--log-target=file:{self.runtime}/pulse.log"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if subprocess.run(["pactl", "info"], env=self.env, capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit("the PulseAudio server did not start; see " + self.runtime + "/pulse.log")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def has_virtual_mic(self):
        out = subprocess.run(["pactl", "list", "short", "sources"], env=self.env, capture_output=True).stdout
        return b"linguastream_mic" in out

    def close(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        shutil.rmtree(self.runtime, ignore_errors=True)


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None


def window_median(rss, start_s, end_s):
    values = [r for t, r in rss if start_s <= t < end_s]
    return round(statistics.median(values), 1) if values else None


def quantiles(values):
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "p50": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", nargs="+")
    parser.add_argument("--binary", default="target/release/linguastream")
    parser.add_argument("--duration", type=float, default=3600, help="seconds of input (default an hour)")
    parser.add_argument("--restarts", type=int, default=2, help="sound-server kills and restarts, evenly spaced")
    parser.add_argument("--window", type=float, default=600, help="seconds at each end compared for drift")
    parser.add_argument("--json")
    parser.add_argument("--live-args", default="", help="extra arguments for `linguastream live`")
    args = parser.parse_args()

    server = SoundServer()
    work = tempfile.mkdtemp(prefix="linguastream-soak.")
    try:
        audio = os.path.join(work, "soak.wav")
        spans, seconds = build_input(list(clips(args.manifests)), audio, args.duration)
        metrics = os.path.join(work, "metrics.json")
        server.start()
        started = time.time()
        live = subprocess.Popen(
            [args.binary, "live", "--input-file", audio, "--output", "virtual-mic", "--metrics-json", metrics,
             *args.live_args.split()],
            env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stderr_lines = []
        reader = threading.Thread(target=lambda: stderr_lines.extend(live.stderr), daemon=True)
        reader.start()

        rss, restarts = [], []
        kill_at = [seconds * (i + 1) / (args.restarts + 1) for i in range(args.restarts)]
        last_rss = None
        down_at = None  # when the server of the latest restart went down, until the mic is back
        while live.poll() is None:
            elapsed = time.time() - started
            if last_rss is None or elapsed - last_rss >= 5:
                last_rss = elapsed
                sample = rss_mb(live.pid)
                if sample:
                    rss.append((round(elapsed, 1), round(sample, 1)))
            if kill_at and elapsed >= kill_at[0]:
                kill_at.pop(0)
                server.kill()
                down_at = time.time()
                time.sleep(2.0)  # the server is away for a moment, as after a crash
                server.start()
                # A restart whose microphone had not come back by now keeps None.
                restarts.append({"at_s": round(elapsed, 1), "down_s": round(time.time() - down_at, 1),
                                 "virtual_mic_back_after_s": None})
            # The microphone comes back with the next English speech written to it, so this is
            # watched without holding up the RSS samples or the next restart.
            if down_at is not None and server.has_virtual_mic():
                restarts[-1]["virtual_mic_back_after_s"] = round(time.time() - down_at, 1)
                down_at = None
            time.sleep(1)
        reader.join(timeout=5)
        wall_s = time.time() - started
        if live.returncode != 0:
            raise SystemExit("live failed:\n" + "".join(stderr_lines[-40:]))
        with open(metrics) as f:
            report = json.load(f)
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)

    utterances = report["utterances"]
    spoken = [u for u in utterances if u["latency_ms"]]
    not_spoken = [u for u in utterances if not u["latency_ms"]]
    refused = report["dropped"]
    starts = sorted([u["start_s"] for u in utterances] + [d["start_s"] for d in refused])
    silent_clips = [s for s in spans if not any(s[0] - 0.5 <= t < s[1] for t in starts)]
    window = min(args.window, seconds / 2)
    e2e = lambda us: [u["latency_ms"]["e2e"] / 1000 for u in us]
    lag = lambda us: [u["latency_ms"]["output_lag"] / 1000 for u in us]
    first = [u for u in spoken if u["start_s"] < window]
    last = [u for u in spoken if u["start_s"] >= seconds - window]
    after_warmup = [r for t, r in rss if t >= 60] or [r for _, r in rss]
    rss_first, rss_last = window_median(rss, 60, 60 + window), window_median(rss, seconds - window, float("inf"))
    result = {
        "manifests": args.manifests,
        "audio_s": round(seconds, 1),
        "wall_s": round(wall_s, 1),
        "clips_played": len(spans),
        "clips_with_no_utterance": len(silent_clips),
        "utterances": {
            "detected": len(utterances) + len(refused),
            "spoken": len(spoken),
            "refused_by_gate": len(refused),
            "not_spoken": len(not_spoken),
        },
        "e2e_latency_s": {
            "whole_run": report["e2e_latency_s"],
            f"first_{int(window)}s": quantiles(e2e(first)),
            f"last_{int(window)}s": quantiles(e2e(last)),
        },
        "output_lag_s": {
            "whole_run": report.get("output_lag_s"),
            f"first_{int(window)}s": quantiles(lag(first)),
            f"last_{int(window)}s": quantiles(lag(last)),
        },
        "not_spoken_too_far_behind": sum("s behind (caption only)" in l for l in stderr_lines),
        "rss_mb": {
            "start_after_60s": after_warmup[0] if after_warmup else None,
            "end": after_warmup[-1] if after_warmup else None,
            "max": max(after_warmup) if after_warmup else None,
            "growth_percent": round((after_warmup[-1] / after_warmup[0] - 1) * 100, 1) if after_warmup else None,
            # RSS swings by ~100 MB within an utterance (the heap's free pages go back between
            # them), so single samples at the ends say little: the medians of the first and last
            # windows (after the first minute) show drift.
            f"median_first_{int(window)}s": rss_first,
            f"median_last_{int(window)}s": rss_last,
            "median_growth_percent": round((rss_last / rss_first - 1) * 100, 1) if rss_first and rss_last else None,
            # One sample every five minutes: a plateau and a steady climb look alike end to end.
            "every_300s": [r for i, (t, r) in enumerate(rss) if i == 0 or int(t // 300) > int(rss[i - 1][0] // 300)],
        },
        "max_backlog_s": report["max_backlog_s"],
        "lost_audio_s": report["lost_audio_s"],
        "server_restarts": restarts,
        "output_reconnections": sum("reconnected the output" in l for l in stderr_lines),
        "output_failures": [l.strip() for l in stderr_lines if "cannot play to" in l],
        "capture_problems": report.get("capture_problems", []),
        "cpu_percent": round(report["cpu_percent"], 1),
        "live_args": args.live_args.split(),
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    main()
