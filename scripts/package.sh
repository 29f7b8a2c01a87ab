#!/usr/bin/env bash
# Builds the two ways in that need no compiler, from the release binary, into dist/:
#   dist/linguastream_VERSION_ARCH.deb                   (Debian/Ubuntu: apt install ./that.deb)
#   dist/linguastream-VERSION-x86_64-linux-gnu.tar.gz    (other glibc distributions; INSTALL inside)
# Both hold the same files: the binary, man pages and bash/zsh/fish completions made by
# `linguastream generate` (so they match --help), the licence and credits, and the demo sample.
# Models are not in them: `linguastream models fetch` installs those into the user's home.
# The package's Depends come from dpkg-shlibdeps on what the binary links and on the CTranslate2
# shim it loads at run time, plus what it runs or reads (python3 with pip, espeak-ng's data).
set -euo pipefail
cd "$(dirname "$0")/.."

MAINTAINER=${DEB_MAINTAINER:-"LinguaStream maintainers <maintainers@users.noreply.b-seed-de6f6aae.example>"}
VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
ARCH=$(dpkg --print-architecture)
TRIPLE="$(uname -m)-linux-gnu"

for tool in dpkg-deb dpkg-shlibdeps strip; do
  if ! command -v "$tool" >/dev/null; then
    echo "==> installing dpkg-dev and binutils (for $tool)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev binutils
    break
  fi
done

echo "==> building (release)"
cargo build --release --locked
# Reproducible archives: every file dated at the commit. (Exported only now: some build scripts
# watch it, and `make test` builds without it.)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
BIN=target/release/linguastream
# The CTranslate2 shim is embedded in the binary and loaded at run time: its libraries count too.
SHIM=$(ls -t target/release/build/linguastream-core-*/out/libls_ct2.so | head -n 1)

WORK=target/package
rm -rf "$WORK"
mkdir -p "$WORK" dist

# One tree, laid out as under /usr; the .deb and the archive are both made from it.
stage_tree() {
  local root=$1 zsh_dir=$2
  install -D -m 755 "$BIN" "$root/bin/linguastream"
  strip --strip-unneeded "$root/bin/linguastream"
  local generated="$WORK/generated"
  mkdir -p "$generated"
  "$BIN" generate man --dir "$generated/man" 2>/dev/null
  install -d "$root/share/man/man1"
  for page in "$generated"/man/*.1; do
    gzip -9n <"$page" >"$root/share/man/man1/$(basename "$page").gz"
  done
  install -d "$root/share/bash-completion/completions" "$root/$zsh_dir" "$root/share/fish/vendor_completions.d"
  "$BIN" generate bash >"$root/share/bash-completion/completions/linguastream"
  "$BIN" generate zsh >"$root/$zsh_dir/_linguastream"
  "$BIN" generate fish >"$root/share/fish/vendor_completions.d/linguastream.fish"
  local doc="$root/share/doc/linguastream"
  install -d "$doc" "$root/share/linguastream/samples"
  sed "s/@VERSION@/$VERSION/" packaging/copyright >"$doc/copyright"
  gzip -9n <README.md >"$doc/README.md.gz"
  third_party | gzip -9n >"$doc/THIRD-PARTY.gz"
  install -m 644 samples/fa-sentence-virgool.wav samples/README.md "$root/share/linguastream/samples/"
}

# Every crate compiled into the binary, with its licence (build-only and test-only crates left out).
third_party() {
  echo "Rust crates compiled into the linguastream binary (name, version, licence), from Cargo.lock."
  echo "Their sources: https://crates.io/crates/NAME/VERSION"
  echo
  cargo tree --locked --offline -p linguastream -e normal --target "$(rustc -vV | sed -n 's/^host: //p')" \
    --prefix none --format '{p}|{l}' 2>/dev/null \
    | sed 's/ (\*)$//' | grep -v '(/' | sort -u | awk -F'|' '{printf "%-40s %s\n", $1, $2}'
}

depends() {
  local probe="$WORK/shlibdeps"
  mkdir -p "$probe/debian"
  printf 'Source: linguastream\n\nPackage: linguastream\nArchitecture: any\n' >"$probe/debian/control"
  local bin shim shlibs
  bin=$(realpath "$BIN"); shim=$(realpath "$SHIM")
  shlibs=$(cd "$probe" && dpkg-shlibdeps -O -e "$bin" -e "$shim" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  [ -n "$shlibs" ] || { echo "error: dpkg-shlibdeps found no libraries for $BIN" >&2; exit 1; }
  # espeak-ng-data: the phoneme tables libespeak-ng reads; python3-pip: `models fetch` runs
  # `python3 -m pip download`; ca-certificates: pip and the model hubs are HTTPS.
  echo "$shlibs, espeak-ng-data, python3, python3-pip, ca-certificates"
}

echo "==> staging the files"
DEB_ROOT="$WORK/deb"
stage_tree "$DEB_ROOT/usr" share/zsh/vendor-completions
mkdir -p "$DEB_ROOT/DEBIAN"
DEPENDS=$(depends)
cat >"$DEB_ROOT/DEBIAN/control" <<EOF
Package: linguastream
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$DEB_ROOT" | cut -f1)
Depends: $DEPENDS
Recommends: man-db, pulseaudio | pipewire-pulse
Suggests: bash-completion, python3-venv
Section: sound
Priority: optional
Description: offline Persian speech to English speech translator
 LinguaStream hears Persian (Farsi) speech and speaks it in American English,
 with captions in both languages, entirely on this computer's CPU: nothing
 leaves the machine.
 .
 It translates recordings (translate), live speech into a virtual microphone
 that call apps can select (live), and serves a browser page and an API
 (serve). Models (Whisper, Silero VAD, a Piper voice) are downloaded once
 into the user's home with "linguastream models fetch".
EOF
find "$DEB_ROOT" -type d -exec chmod 755 {} +
find "$DEB_ROOT/usr/share" -type f -exec chmod 644 {} +
DEB="dist/linguastream_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$DEB_ROOT" "$DEB" >/dev/null

echo "==> the release archive"
NAME="linguastream-$VERSION-$TRIPLE"
TAR_ROOT="$WORK/tar/$NAME"
stage_tree "$TAR_ROOT" share/zsh/site-functions
# Outside Debian there is no /usr/share/common-licenses to point to.
install -m 644 LICENSE "$TAR_ROOT/share/doc/linguastream/LICENSE"
sed "s/@VERSION@/$VERSION/g; s/@NAME@/$NAME/g" packaging/INSTALL >"$TAR_ROOT/INSTALL"
TARBALL="dist/$NAME.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  -C "$WORK/tar" -cf - "$NAME" | gzip -9n >"$TARBALL"

echo "==> built"
ls -l "$DEB" "$TARBALL" | awk '{printf "  %s  %.1f MB\n", $NF, $5 / 1e6}'
dpkg-deb --field "$DEB" Depends | sed 's/^/  Depends: /'
