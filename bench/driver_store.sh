#!/usr/bin/env bash
# The DriverStore-sized tree benchmark of issue 16: the real drivers of ../shared/data/real/drivers
# and Debian's Wine drivers copied round-robin into 500 package folders
# (FileRepository/<name>.inf_amd64_NNNN/), then, RUNS times each and interleaved, `poolscope
# drivers`, `poolscope who WDiv --drivers` and `strings | grep -c WDiv` over the tree, for the
# binary under test and a baseline binary. Prints each run's wall time and the medians.
#   usage: bench/driver_store.sh POOLSCOPE BASELINE_POOLSCOPE [RUNS=5] [TREE=/tmp/poolscope-store]
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 POOLSCOPE BASELINE_POOLSCOPE [RUNS] [TREE]" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
tested=$1 baseline=$2 runs=${3:-5} tree=${4:-/tmp/poolscope-store}
real="$root/../shared/data/real/drivers"
wine=/usr/lib/x86_64-linux-gnu/wine/x86_64-windows
shopt -s nullglob
files=("$real"/windivert/*.sys "$real"/winpmem/*.sys "$wine"/*.sys)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "$0: no drivers found under $real or $wine" >&2
  exit 2
fi
rm -rf "$tree"
for i in $(seq 0 499); do
  f=${files[$((i % ${#files[@]}))]}
  d="$tree/FileRepository/$(basename "$f" .sys).inf_amd64_$(printf %04d "$i")"
  mkdir -p "$d"
  cp "$f" "$d/"
done
bytes=$(find "$tree" -name '*.sys' -printf '%s\n' | awk '{s += $1} END {print s}')
echo "tree: $tree, 500 files from ${#files[@]} drivers, $bytes bytes"
declare -A times
# Wall seconds of one command, its output discarded.
wall() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || true
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
strings_grep() { find "$tree" -name '*.sys' -exec strings -a {} + | grep -c WDiv; }
names=("drivers (tested)" "drivers (baseline)" "who WDiv (tested)" "who WDiv (baseline)"
  "strings | grep -c WDiv")
for ((r = 0; r < runs; ++r)); do
  times["drivers (tested)"]+=" $(wall "$tested" drivers "$tree")"
  times["drivers (baseline)"]+=" $(wall "$baseline" drivers "$tree")"
  times["who WDiv (tested)"]+=" $(wall "$tested" who WDiv --drivers "$tree")"
  times["who WDiv (baseline)"]+=" $(wall "$baseline" who WDiv --drivers "$tree")"
  times["strings | grep -c WDiv"]+=" $(wall strings_grep)"
done
printf '%-24s %-8s %-10s %s\n' command median "MB/s" runs
for name in "${names[@]}"; do
  median=$(echo "${times[$name]}" | tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
  rate=$(echo "scale=0; $bytes / $median / 1000000" | bc)
  printf '%-24s %-8.3f %-10s %s\n' "$name" "$median" "$rate" "${times[$name]# }"
done
