#!/usr/bin/env bash
# Installs faster-whisper and piper-tts (and Whisper's English normaliser, for scoring English) into
# a private venv (next to the models, so nothing is written elsewhere) and compares them with
# LinguaStream on MANIFEST: bench/compare.sh MANIFEST [--language LANG] [--limit N] [--json OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
BINARY=target/release/linguastream
[ -x "$BINARY" ] || cargo build --release --locked
VENV="$(dirname "$("$BINARY" models path)")/bench-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" || { echo "error: python3 -m venv failed; install python3-venv" >&2; exit 1; }
fi
"$VENV/bin/pip" install -q --disable-pip-version-check faster-whisper==1.2.1 piper-tts==1.8.0 whisper-normalizer==0.1.15
exec "$VENV/bin/python" bench/compare.py "$@"
