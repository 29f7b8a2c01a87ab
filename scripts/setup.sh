#!/usr/bin/env bash
# Installs what LinguaStream needs to build, run and test on Debian/Ubuntu: system packages (with
# sudo when not root), then a release build, then the default models. Safe to run repeatedly:
# each step skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: g++ (the small CTranslate2 shim; the library itself comes with the models), pkg-config.
# Run: libespeak-ng (phonemes for the Piper voice) + its data. Models: python3 with pip.
# Tests: pulseaudio (a real sound server for the audio tests), sox (test audio), chromium (the
# `serve` page in a headless browser), zstd (the Remote Settings test server compresses
# attachments as Mozilla's does).
PACKAGES=(g++ make pkg-config libespeak-ng-dev espeak-ng-data espeak-ng pulseaudio pulseaudio-utils sox chromium zstd)
# A python3 with a working pip (pyenv, conda) makes Debian's unnecessary.
python3 -m pip --version >/dev/null 2>&1 || PACKAGES+=(python3 python3-pip)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "==> installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: Rust is not installed. Install it with rustup (https://rustup.rs), version 1.85 or newer, then run this again." >&2
  exit 1
fi

echo "==> building (release)"
cargo build --release --locked

echo "==> installing the default models"
./target/release/linguastream models fetch
