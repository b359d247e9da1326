#!/usr/bin/env bash
# Peak memory (max RSS) of `import` and `snapshot --source` on a large poolmon -n log, for two
# builds side by side (issue 21: the whole file used to be held; now it is streamed screen by
# screen). Builds the log in a temp folder from the 3-screen fixture, repeated to SIZE MiB, runs
# each binary RUNS times (median), deletes everything after.
#   bench/import_memory.sh NEW_BINARY [BASELINE_BINARY] [SIZE_MIB=2048] [RUNS=3]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
new=${1:?usage: $0 NEW_BINARY [BASELINE_BINARY] [SIZE_MIB] [RUNS]}
base=${2:-}
size_mib=${3:-2048}
runs=${4:-3}
work=$(mktemp -d /tmp/poolscope-import-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
log="$work/poolmon_n.log"
fixture="$root/tests/data/store/poolmon_n_log_3_screens.txt"
# Grow by doubling: cheap even for 2 GiB.
cp "$fixture" "$log"
while (($(stat -c %s "$log") < size_mib * 1048576)); do
  cat "$log" "$log" >"$work/next" && mv "$work/next" "$log"
done
truncate -s $((size_mib * 1048576)) "$log"
# Cut at the last complete screen, so the file parses.
tail_cut=$(tail -c 4096 "$log" | grep -b -o ' Memory:' | tail -1 | cut -d: -f1)
truncate -s $(($(stat -c %s "$log") - 4096 + tail_cut)) "$log"
echo "log: $(stat -c %s "$log") bytes, $(grep -c ' Memory:' "$log") screens"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() {  # binary verb-args... -> "max_rss_kib seconds"
  local bin=$1; shift
  local rss=() secs=()
  for ((i = 0; i < runs; i++)); do
    rm -f "$work/out.db" "$work/out.db-wal" "$work/out.db-shm"
    local start=$(date +%s.%N)
    /usr/bin/time -f %M -o "$work/rss" "$bin" "$@" >/dev/null 2>"$work/err" || {
      echo "failed: $bin $*: $(head -3 "$work/err")" >&2
      echo "- -"; return; }
    secs+=("$(echo "$(date +%s.%N) - $start" | bc)")
    rss+=("$(cat "$work/rss")")
  done
  echo "$(printf '%s\n' "${rss[@]}" | median) $(printf '%s\n' "${secs[@]}" | median)"
}
printf '%-40s %14s %10s %14s %10s\n' "command" "new MaxRSS" "new s" "base MaxRSS" "base s"
for verb in import snapshot; do
  if [[ $verb == import ]]; then args=(import --into "$work/out.db" "$log" --at 2026-01-01T00:00:00Z)
  else args=(snapshot --source "$log"); fi
  read -r n_rss n_s < <(measure "$new" "${args[@]}")
  b_rss=- b_s=-
  if [[ -n $base ]]; then read -r b_rss b_s < <(measure "$base" "${args[@]}"); fi
  printf '%-40s %11s KiB %10s %11s KiB %10s\n' "$verb ($size_mib MiB poolmon log)" "$n_rss" "$n_s" "$b_rss" "$b_s"
done
