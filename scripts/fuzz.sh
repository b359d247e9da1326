#!/usr/bin/env bash
# Runs every libFuzzer target (clang, ASan+UBSan) for a while, starting from the saved corpus:
#   scripts/fuzz.sh [seconds-per-fuzzer (default 60)] [fuzzer-name...]
# New interesting inputs stay in build-fuzz/corpus/<name>; crashes land in fuzz/artifacts/ and should
# be copied into fuzz/corpus/<name>/ as regression inputs once fixed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
dir="$root/build-fuzz"
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DPOOLSCOPE_FUZZ=ON -DPOOLSCOPE_BUILD_BENCH=OFF -DPOOLSCOPE_BUILD_TESTS=ON >/dev/null
names=("$@")
if ((${#names[@]} == 0)); then
  mapfile -t names < <(sed -n 's/^poolscope_fuzzer(\([a-z_0-9]*\).*/\1/p' "$root/fuzz/CMakeLists.txt")
fi
cmake --build "$dir" --target $(printf 'fuzz_%s ' "${names[@]}")
mkdir -p "$root/fuzz/artifacts"
for name in "${names[@]}"; do
  work="$dir/corpus/$name"
  mkdir -p "$work"
  cp -n "$root/fuzz/corpus/$name/"* "$work/" 2>/dev/null || true
  echo "=== fuzz_$name for ${seconds}s"
  "$dir/fuzz/fuzz_$name" -max_total_time="$seconds" -artifact_prefix="$root/fuzz/artifacts/$name-" \
    "$work" 2>&1 | grep -E '^(Done|==[0-9]+==ERROR|SUMMARY)' || true
done
