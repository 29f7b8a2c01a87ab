#!/usr/bin/env bash
# Peak memory of `translate` against the length of the recording: a 1-minute and a 60-minute file,
# each under /usr/bin/time -v, for one or more binaries (e.g. before and after a change) in the
# same run. The files are built with sox from real Persian speech in the shared data.
#
#   bash bench/memory.sh [--sparse] OUT.json BINARY...
#
# Dense (default): both files are speech throughout, the clips of the long-form, colloquial and
# digit sets looped with 1.5 s pauses; the 60-minute run takes about 25 minutes of two free cores.
# --sparse: both files hold the same first minute of that speech, the 60-minute one followed by
# 59 minutes of silence, so the work is nearly the same and only the length differs.
set -euo pipefail
cd "$(dirname "$0")/.."
sparse=0
if [[ "${1:-}" == "--sparse" ]]; then sparse=1; shift; fi
out=$1; shift
data=${DATA:-../shared/data}
tmp=$(mktemp -d /tmp/linguastream-memory.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

clips=()
for set in alifarrokh-fa-longform4 virgool-informal-fa10 psdr-fa-digits90; do
  while IFS=$'\t' read -r _ audio _; do
    [[ -n "$audio" && "$audio" != audio ]] && clips+=("$data/$set/$audio" "$tmp/pause.wav")
  done < "$data/$set/manifest.tsv"
done
sox -n -r 16000 -c 1 -b 16 "$tmp/pause.wav" trim 0 1.5
sox "${clips[@]}" "$tmp/loop.wav"
sox "$tmp/loop.wav" "$tmp/1min.wav" trim 0 60
if (( sparse )); then
  sox "$tmp/1min.wav" "$tmp/60min.wav" pad 0 3540
else
  sox "$tmp/loop.wav" "$tmp/60min.wav" repeat 6 trim 0 3600
fi

results=()
for binary in "$@"; do
  for length in 1min 60min; do
    /usr/bin/time -v "$binary" translate "$tmp/$length.wav" -q -o "$tmp/out.wav" 2> "$tmp/time.txt" || {
      cat "$tmp/time.txt" >&2; exit 1; }
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time.txt")
    echo "$binary $length: peak RSS $((rss / 1024)) MB, wall $wall" >&2
    results+=("{\"binary\": \"$binary\", \"input\": \"$length\", \"peak_rss_mb\": $((rss / 1024)), \"wall\": \"$wall\"}")
  done
done
kind=$([[ $sparse == 1 ]] && echo "sparse: the same minute of speech, then silence" || echo "dense: speech throughout")
{
  echo "{\"files\": \"$kind\", \"machine_cpus\": $(nproc), \"runs\": ["
  (IFS=,; echo "${results[*]}")
  echo "]}"
} | python3 -m json.tool > "$out"
cat "$out"
