#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 30), starting from the committed seeds
# in fuzz/seeds/<target>, and fails on the first crash (its input is saved in fuzz/artifacts/).
# cargo-fuzz is installed from crates.io when missing. The machine's toolchain is stable, so
# RUSTC_BOOTSTRAP=1 lets it take the -Z flags cargo-fuzz passes; no sanitizer is used (the code
# under test is safe Rust; panics, overflows and hangs are what the fuzzer looks for).
# FUZZ_SEED=N fixes libFuzzer's random seed (CI does, so that its short run tries the same inputs
# each time instead of failing a change for a crash found by chance).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build -s none
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  log=$(mktemp)
  if ! cargo fuzz run -s none "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 ${FUZZ_SEED:+-seed=$FUZZ_SEED} >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $target crashed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  echo "fuzz: $target: $runs runs in ${seconds} s, no crash"
  rm -f "$log"
done
echo "fuzz: ${#targets[@]} passed, 0 failed"
