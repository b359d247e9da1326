#!/usr/bin/env bash
# Runs every libFuzzer target (clang, ASan+UBSan), starting from the saved corpus, until it has made
# RUNS executions or spent SECONDS, whichever comes first, JOBS fuzzers at a time:
#   scripts/fuzz.sh [--runs N (default 1000000)] [--seconds S (default 300)] [--jobs J (default 2)]
#                   [fuzzer-name...]
# Prints one line per fuzzer (executions, seconds, crashes) and keeps them in build-fuzz/summary.txt.
# New interesting inputs stay in build-fuzz/corpus/<name>; a crash stops its fuzzer, lands in
# fuzz/artifacts/ and should be copied into fuzz/corpus/<name>/ as a regression input once fixed.
# Exit status 1 when any fuzzer crashed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=1000000 seconds=300 jobs=2
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -*) echo "usage: $0 [--runs N] [--seconds S] [--jobs J] [fuzzer-name...]" >&2; exit 2 ;;
    *) break ;;
  esac
done
dir="$root/build-fuzz"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
fi
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  "${launcher[@]}" -DPOOLSCOPE_FUZZ=ON -DPOOLSCOPE_BUILD_BENCH=OFF -DPOOLSCOPE_BUILD_TESTS=ON \
  >/dev/null
names=("$@")
if ((${#names[@]} == 0)); then
  mapfile -t names < <(sed -n 's/^poolscope_fuzzer(\([a-z_0-9]*\).*/\1/p' "$root/fuzz/CMakeLists.txt")
fi
cmake --build "$dir" -j "$jobs" --target $(printf 'fuzz_%s ' "${names[@]}")
mkdir -p "$root/fuzz/artifacts" "$dir/logs"

# One fuzzer: its line of the summary from libFuzzer's "Done N runs in S second(s)" (or, after a
# crash, the last "#N" status line and the elapsed time).
fuzz_one() {
  local name=$1 work="$dir/corpus/$1" log="$dir/logs/$1.log" start end status=0
  mkdir -p "$work"
  cp -n "$root/fuzz/corpus/$name/"* "$work/" 2>/dev/null || true
  start=$(date +%s)
  # -timeout: one input running longer is a hang, reported and saved like a crash (the time cap is
  # only checked between inputs).
  "$dir/fuzz/fuzz_$name" -runs="$runs" -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
    -artifact_prefix="$root/fuzz/artifacts/$name-" "$work" >"$log" 2>&1 || status=$?
  end=$(date +%s)
  local execs
  execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  [[ -n "$execs" ]] || execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -1)
  local crashes=0 artifact=""
  if ((status != 0)); then
    crashes=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
  fi
  printf '%-20s %10s execs %6s s  %s crash(es) %s\n' "$name" "${execs:-?}" "$((end - start))" \
    "$crashes" "$artifact"
}

summary="$dir/summary.txt"
: >"$summary"
running=0
for name in "${names[@]}"; do
  fuzz_one "$name" | tee -a "$summary" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
! grep -q ' 1 crash(es)' "$summary"
