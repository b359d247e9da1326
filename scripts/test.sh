#!/usr/bin/env bash
# Installs, builds and runs every test: the release build, the same tests under ASan+UBSan (the
# sixteen live leak-rate runs: two of them), and the Windows cross build with its tests under Wine.
# Fails on the first stage that fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
start=$SECONDS
stage() { printf '\n=== %s (%ds)\n' "$1" $((SECONDS - start)); }

stage "setup"
"$root/scripts/setup.sh"

stage "release build + tests"
"$root/scripts/build.sh" release
ctest --test-dir "$root/build" --output-on-failure -j "$jobs"

stage "package: cpack .deb installed into a scratch root"
"$root/scripts/check-package.sh" "$root/build"

stage "ASan+UBSan build + tests"
"$root/scripts/build.sh" asan
# Every test but the live leak-rate runs (label live_rates: tens of seconds each, one at a time,
# already run in the release build); of those, diagnose end to end and a page leak run here too,
# so LeakSanitizer sees the recorder, the detector, the HTML report and the kernel-memory sources.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$root/build-asan" --output-on-failure -j "$jobs" -LE live_rates
ctest --test-dir "$root/build-asan" --output-on-failure \
  -R '^(DetectLive\.DiagnoseNamesTheLeakAndWritesItsFolder|KernelMemoryLive\.PipePagesLandInUnaccounted)$'
unset ASAN_OPTIONS UBSAN_OPTIONS

if [[ -x "$root/scripts/test-windows.sh" ]]; then
  stage "Windows cross build + tests under Wine"
  "$root/scripts/test-windows.sh"
fi
stage "all tests passed"
