#!/usr/bin/env bash
# Installs, builds and runs every test: the release build, the same tests under ASan+UBSan (the
# sixteen live leak-rate runs: two of them), and the Windows cross build with its tests under Wine.
# Fails on the first stage that fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
start=$SECONDS
stage() { printf '\n=== %s (%ds)\n' "$1" $((SECONDS - start)); }
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# ctest's own summary line of a run ("100% tests passed, 0 tests failed out of 753"), kept for the
# last line so the count of tests that ran is the last thing the test command prints.
run_ctest() {
  local name=$1
  shift
  local code=0
  ctest "$@" 2>&1 | tee "$logs/$name" || code=$?
  ((code == 0)) || exit "$code"
  local summary
  summary=$(sed -nE 's/^([0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+).*/\1/p' "$logs/$name" | tail -n 1)
  [[ -n $summary ]] || { echo "test.sh: ctest ($name) printed no summary line" >&2; exit 1; }
  printf '%s: %s\n' "$name" "$summary" >>"$logs/summary"
}

stage "setup"
"$root/scripts/setup.sh"

stage "release build + tests"
"$root/scripts/build.sh" release
run_ctest "release" --test-dir "$root/build" --output-on-failure -j "$jobs"

stage "package: cpack .deb installed into a scratch root"
"$root/scripts/check-package.sh" "$root/build"

stage "ASan+UBSan build + tests"
"$root/scripts/build.sh" asan
# Every test but the live leak-rate runs (label live_rates: tens of seconds each, one at a time,
# already run in the release build); of those, diagnose end to end and a page leak run here too,
# so LeakSanitizer sees the recorder, the detector, the HTML report and the kernel-memory sources.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_ctest "asan+ubsan" --test-dir "$root/build-asan" --output-on-failure -j "$jobs" -LE live_rates
run_ctest "asan+ubsan live" --test-dir "$root/build-asan" --output-on-failure \
  -R '^(DetectLive\.DiagnoseNamesTheLeakAndWritesItsFolder|KernelMemoryLive\.PipePagesLandInUnaccounted)$'
unset ASAN_OPTIONS UBSAN_OPTIONS

if [[ -x "$root/scripts/test-windows.sh" ]]; then
  stage "Windows cross build + tests under Wine"
  "$root/scripts/test-windows.sh" 2>&1 | tee "$logs/windows"
  grep -E 'tests passed under Wine|test\(s\) skipped' "$logs/windows" | sed 's/^/windows: /' >>"$logs/summary" || true
fi
stage "all tests passed"
cat "$logs/summary"
