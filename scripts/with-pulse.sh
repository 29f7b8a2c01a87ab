#!/usr/bin/env bash
# Runs a command with a private PulseAudio server (no systemd or D-Bus needed, works as root),
# the way the audio tests need it: a null sink `test_in` whose monitor is a test microphone.
# The server is stopped when the command ends, whatever its outcome.
set -euo pipefail
export XDG_RUNTIME_DIR
XDG_RUNTIME_DIR=$(mktemp -d /tmp/linguastream-pulse.XXXXXX)
chmod 700 "$XDG_RUNTIME_DIR"
pulseaudio --daemonize=no --exit-idle-time=-1 -n --load=module-native-protocol-unix \
  --load="module-null-sink sink_name=test_in rate=16000 channels=1" \
  --log-target="file:$XDG_RUNTIME_DIR/pulse.log" >/dev/null 2>&1 &
PA_PID=$!
trap 'kill "$PA_PID" 2>/dev/null; wait "$PA_PID" 2>/dev/null; rm -rf "$XDG_RUNTIME_DIR"' EXIT
for _ in $(seq 100); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
if ! pactl info >/dev/null 2>&1; then
  echo "error: the PulseAudio test server did not start; its log:" >&2
  cat "$XDG_RUNTIME_DIR/pulse.log" >&2
  exit 1
fi
"$@"
