#!/usr/bin/env python3
"""The server's memory under the hostile clients of issue 28, one case after another.

Starts `linguastream serve` on 127.0.0.1 (nothing is sent anywhere else), runs each case with
bounded loops and timeouts, and samples the server's RSS every 50 ms: its peak during the case
and what it holds 5 s after. Prints a table and writes the figures as JSON.

    cargo build --release --locked
    python3 bench/serve_abuse.py --json bench/results/serve-abuse.json

Standard library only.
"""

import argparse
import base64
import json
import os
import resource
import socket
import struct
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    """The server's RSS every 50 ms; `peak` since the last `reset`."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, False

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.05)

    def reset(self):
        self.peak = rss_mb(self.pid)


def start_server(binary, port, extra):
    command = [binary, "serve", "--listen", f"{HOST}:{port}", "--mt", "direct", "--max-sessions", "2", *extra]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    for line in server.stderr:
        if line.startswith("listening on"):
            break
        if time.time() > deadline:
            raise SystemExit("the server did not start")
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    return server


def connect(port, timeout=30):
    sock = socket.create_connection((HOST, port), timeout=timeout)
    return sock


def read_answer(sock, limit=30):
    """The status of the HTTP answer on `sock` (None when the connection closed without one)."""
    sock.settimeout(limit)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            piece = sock.recv(4096)
            if not piece:
                break
            data += piece
    except (socket.timeout, ConnectionError):
        pass
    return int(data.split(b" ")[1]) if data.startswith(b"HTTP/1.1") else None


def status(port):
    sock = connect(port)
    sock.sendall(f"GET /v1/status HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def websocket(port):
    sock = connect(port)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v1/stream HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        piece = sock.recv(1)
        if not piece:
            break
        head += piece
    return sock, int(head.split(b" ")[1]) if head else None


def frame(opcode, payload):
    """A client frame (masked with zeros, which leaves the payload as it is)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return header + b"\0\0\0\0" + payload


def wav_header(rate, bits, data_bytes, declared=True):
    size = (lambda n: n) if declared else (lambda n: 0xFFFFFFFF)
    channels, block = 1, bits // 8
    return (
        b"RIFF" + struct.pack("<I", size(data_bytes + 36)) + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
        + b"data" + struct.pack("<I", size(data_bytes))
    )


def upload(port, head_extra, body_pieces, give_up_s=None):
    """Sends a POST /v1/translate as curl does (`Expect: 100-continue`: the body follows only if
    the server asks for it); the answer's status (None: no answer before giving up)."""
    sock = connect(port)
    sock.sendall(f"POST /v1/translate HTTP/1.1\r\nHost: {HOST}\r\nExpect: 100-continue\r\n{head_extra}\r\n".encode())
    early = read_answer(sock, 5)
    if early != 100:
        sock.close()
        return early
    sock.settimeout(give_up_s or 60)
    try:
        for piece in body_pieces:
            sock.sendall(piece)
    except (socket.timeout, ConnectionError, BrokenPipeError):
        pass
    answer = read_answer(sock, give_up_s or 120)
    sock.close()
    return answer


def case_idle_websockets(port, _):
    """Two WebSockets that never send start; a third client after the start deadline."""
    idle = [websocket(port) for _ in range(2)]
    refused = websocket(port)[1]
    time.sleep(11)
    third, code = websocket(port)
    for sock, _ in idle:
        sock.close()
    third.close()
    return f"third at once: {refused}; after 11 s: {code}"


def case_slow_wav(port, _):
    """A 20 MB 8-bit 1 kHz WAV (5.5 h), declared and undeclared length; the client gives up at 10 s."""
    data = 20_000_000
    body = [b"\x80" * 1_000_000 for _ in range(data // 1_000_000)]
    declared = upload(port, f"Content-Length: {data + 44}\r\n", [wav_header(1000, 8, data)] + body, 10)
    started = time.time()
    undeclared = upload(port, f"Content-Length: {data + 44}\r\n", [wav_header(1000, 8, data, False)] + body, 10)
    waited = time.time() - started
    freed = time.time()
    while status(port)["sessions"]["active"] and time.time() - freed < 30:
        time.sleep(0.1)
    return f"declared: {declared}; undeclared: {undeclared} after {waited:.1f} s, place freed {time.time() - freed:.1f} s after"


def case_four_big_uploads(port, _):
    """Four 200 MB uploads at once (two places)."""
    data = 200_000_000
    answers = []

    def one():
        body = [wav_header(16000, 16, data)] + [b"\0" * 1_000_000 for _ in range(data // 1_000_000)]
        answers.append(upload(port, f"Content-Length: {data + 44}\r\n", body, 60))

    threads = [threading.Thread(target=one) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return f"answers {sorted(str(a) for a in answers)}"


def case_huge_frames(port, _):
    """40 WebSocket frames of 15 MB, then 10 s messages as fast as the server takes them (20 s)."""
    sock, code = websocket(port)
    sock.sendall(frame(1, b'{"type":"start"}'))
    sent = 0
    try:
        for _ in range(40):
            sock.sendall(frame(2, b"\0" * 15_000_000))
            sent += 1
    except (ConnectionError, BrokenPipeError, socket.timeout):
        pass
    sock.close()
    sock, _ = websocket(port)
    sock.sendall(frame(1, b'{"type":"start"}'))
    sock.settimeout(1)
    seconds, until = 0, time.time() + 20
    message = frame(2, b"\0" * 320_000)
    while time.time() < until:
        try:
            sock.sendall(message)
            seconds += 10
        except socket.timeout:
            continue
        except (ConnectionError, BrokenPipeError):
            break
    sock.close()
    return f"15 MB frames taken: {sent} of 40 before the close; {seconds} s of audio sent in 20 s in 10 s messages"


def case_incomplete_headers(port, _):
    """As many connections with unfinished headers as can be opened in 10 s (at most 10,000), held 15 s."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20_000), hard))
    held, until = [], time.time() + 10
    while len(held) < 10_000 and time.time() < until:
        try:
            sock = socket.create_connection((HOST, port), timeout=1)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(sock)
        except OSError:
            time.sleep(0.01)
    time.sleep(15)
    alive = 0
    for sock in held:
        sock.settimeout(0)
        try:
            alive += sock.recv(1) == b"" and 0 or 0
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        sock.close()
    return f"{len(held)} opened; still open after 15 s: {alive}"


def case_announced_800mb(port, _):
    """Content-Length 800 MB, no body: how long until the answer."""
    started = time.time()
    sock = connect(port)
    sock.sendall(f"POST /v1/translate HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 800000000\r\n\r\n".encode())
    answer = read_answer(sock, 15)
    return f"{answer} after {time.time() - started:.2f} s"


CASES = [
    ("two idle WebSockets, max-sessions 2", case_idle_websockets),
    ("20 MB 8-bit 1 kHz WAV, client gives up at 10 s", case_slow_wav),
    ("four 200 MB uploads at once", case_four_big_uploads),
    ("40 × 15 MB WebSocket frames; 10 s messages for 20 s", case_huge_frames),
    ("incomplete headers on many connections", case_incomplete_headers),
    ("Content-Length 800 MB", case_announced_800mb),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="target/release/linguastream")
    parser.add_argument("--port", type=int, default=18928)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    server = start_server(args.binary, args.port, [])
    sampler = Sampler(server.pid)
    sampler.start()
    try:
        time.sleep(3)
        idle = rss_mb(server.pid)
        rows = []
        for name, case in CASES:
            sampler.reset()
            started = time.time()
            outcome = case(args.port, server)
            elapsed = time.time() - started
            time.sleep(5)
            row = {"case": name, "outcome": outcome, "seconds": round(elapsed, 1),
                   "peak_rss_mb": round(sampler.peak), "rss_after_mb": round(rss_mb(server.pid))}
            rows.append(row)
            print(f"{name}: peak {row['peak_rss_mb']} MB, after {row['rss_after_mb']} MB ({outcome})", flush=True)
        result = {"idle_rss_mb": round(idle), "cases": rows,
                  "worst_peak_rss_mb": max(r["peak_rss_mb"] for r in rows)}
        print(f"idle {result['idle_rss_mb']} MB; worst peak {result['worst_peak_rss_mb']} MB")
        if args.json:
            with open(args.json, "w") as out:
                json.dump(result, out, indent=1)
    finally:
        sampler.stop = True
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
