#!/usr/bin/env bash
# Cross-builds poolscope.exe and poolscope_tests.exe (scripts/build-windows.sh) and runs them
# under Wine: every unit test, --version, a file snapshot, the live source's refusal (exit 3 with
# the NTSTATUS; Wine implements no pool-tag query), trace's refusal (exit 3: Wine has no ETW pool
# session), and a smoke test of the mingw-built SQLite and Zydis. Called by scripts/test.sh. Each
# Wine run is bounded by a timeout; the first one creates the Wine prefix (build-win/wine;
# POOLSCOPE_WINEPREFIX overrides).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${POOLSCOPE_WIN_BUILD:-$root/build-win}
export POOLSCOPE_WIN_BUILD=$build
t0=$SECONDS
step() { printf '\n[test-windows %3ds] %s\n' $((SECONDS - t0)) "$*"; }
fail() {
  echo "test-windows: FAILED: $*" >&2
  exit 1
}

step "cross build (scripts/build-windows.sh)"
"$root/scripts/build-windows.sh" poolscope poolscope_tests

wine=$(command -v wine64 || command -v wine || true)
[[ -n $wine ]] || wine=/usr/lib/wine/wine64  # Debian's wine64 package keeps its loader here
[[ -x $wine ]] || {
  echo "test-windows: Wine is missing; run scripts/setup.sh as root (it installs wine64)" >&2
  exit 3
}
wineserver=$(dirname "$(readlink -f "$wine")")/wineserver
# A prefix of our own in the build tree: other Wine sessions (or a hung one) sharing ~/.wine and
# its wineserver cannot interfere, and the user's ~/.wine is left alone.
export WINEPREFIX=${POOLSCOPE_WINEPREFIX:-$build/wine}
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree=d;mshtml=d"  # no Mono/Gecko install prompts
unset DISPLAY WAYLAND_DISPLAY                 # no windows, no dialogs
# Unix paths given to the .exe resolve on Wine's Z: drive (Z: is /), which is the current drive
# when Wine starts in a Unix directory; the tests' compiled-in /work/... data paths rely on it.
cd "$root"

if [[ ! -f $WINEPREFIX/system.reg ]]; then
  step "creating the Wine prefix $WINEPREFIX (first start only)"
  timeout 300 "$wine" wineboot --init >/dev/null 2>&1 </dev/null \
    || fail "wineboot --init did not finish in 300 s"
  [[ -x $wineserver ]] && timeout 120 "$wineserver" -w </dev/null >/dev/null 2>&1 || true
fi
# One wineserver for all the runs below instead of one start-up each (~3 s); it exits by itself
# 10 s after the last run.
[[ -x $wineserver ]] && "$wineserver" -p10 </dev/null >/dev/null 2>&1 || true

# run <expected exit code> <timeout s> <exe> args...: output in $out (stdout+stderr), checks the code.
# Output goes through a file, not a pipe: Wine's background services inherit the descriptors and
# outlive the program, so $(wine ...) would wait for them.
out=
log=$build/wine-run.log
run() {
  local expected=$1 limit=$2 code=0
  shift 2
  timeout "$limit" "$wine" "$@" >"$log" 2>&1 </dev/null || code=$?
  out=$(tr -d '\r' <"$log")
  # poolscope never fails without a message; an unexpected code with no output at all is Wine
  # failing to start the program (seen once: exit 1, empty, on a busy machine). Once more.
  if ((code != expected && code != 124)) && [[ -z $out ]]; then
    echo "test-windows: $* exited $code with no output (Wine did not start it?): running it again" >&2
    code=0
    timeout "$limit" "$wine" "$@" >"$log" 2>&1 </dev/null || code=$?
    out=$(tr -d '\r' <"$log")
  fi
  ((code != 124)) || fail "$* did not finish in ${limit}s"
  if ((code != expected)); then
    printf '%s\n' "$out" | tail -n 40 >&2
    fail "$* exited $code, expected $expected"
  fi
}

exe=$build/src/cli/poolscope.exe
tests=$build/tests/poolscope_tests.exe

step "poolscope_tests.exe"
run 0 600 "$tests" --gtest_brief=1
# The handle-census test starts the binary as a child that runs no test and prints its own
# "[  PASSED  ] 0 tests.": only the last PASSED line is the run's.
printf '%s\n' "$out" | grep -E '^\[  (SKIPPED|FAILED) ' || true
passed=$(printf '%s\n' "$out" | sed -nE 's/^\[  PASSED  \] ([0-9]+) tests?\..*/\1/p' | tail -n 1)
# Exit code 0 alone is not enough: a stack overflow under Wine once ended the run early with 0.
[[ -n $passed && $passed -gt 0 ]] || {
  printf '%s\n' "$out" | tail -n 20 >&2
  fail "poolscope_tests.exe ended without gtest's final PASSED line (or passed no test)"
}
echo "poolscope_tests.exe: $passed tests passed under Wine"
# The handle census (SystemExtendedHandleInformation + ObjectTypesInformation) must either work
# or be refused with the NTSTATUS named (ProcessFactsWindows.HandleTypesAndExitedProcessesOrTheNtstatus).
census=$(printf '%s\n' "$out" | grep -E '^handle census: ' || true)
printf '%s\n' "$census"
[[ $census == *"handle census: read: Event handles"* || $census == *"NTSTATUS 0x"* ]] \
  || fail "the handle census neither worked nor named the NTSTATUS that refused it"
skipped=$(printf '%s\n' "$out" | sed -nE 's/^\[  SKIPPED \] ([0-9]+) tests?[.,].*/\1/p' | tail -n 1)
[[ -z $skipped ]] || echo "note: $skipped test(s) skipped (listed above with their reasons)"

step "poolscope.exe --version"
run 0 60 "$exe" --version
version=$(sed -nE 's/^project\(poolscope VERSION ([0-9.]+).*/\1/p' "$root/CMakeLists.txt")
printf '%s\n' "$out"
[[ $out == *"$version"* ]] || fail "--version printed \"$out\", expected $version"

step "poolscope.exe snapshot --source tests/data/slabinfo/kernel_6_18_head.txt"
run 0 60 "$exe" snapshot --source tests/data/slabinfo/kernel_6_18_head.txt
printf '%s\n' "$out" | head -n 8
[[ $out == *ext4_inode_cache* ]] || fail "the file snapshot does not list ext4_inode_cache"

step "poolscope.exe snapshot (live: Wine refuses SystemPoolTagInformation)"
run 3 60 "$exe" snapshot
printf '%s\n' "$out"
[[ $out == *"NTSTATUS 0xC0000003 (STATUS_INVALID_INFO_CLASS"* ]] \
  || fail "the live snapshot's message does not name NTSTATUS 0xC0000003"

step "poolscope.exe serve (Winsock server opens; the live source is what Wine refuses)"
run 3 60 "$exe" serve --listen 127.0.0.1:0
printf '%s\n' "$out"
[[ $out == *"NTSTATUS 0xC0000003"* ]] || fail "serve's message does not name NTSTATUS 0xC0000003"

step "poolscope.exe trace (ETW pool tracing: Wine offers no system-logger session with pool events)"
run 3 60 "$exe" trace --duration 2s --tag Leak
printf '%s\n' "$out"
[[ $out == *"needs Windows 8 or later with administrator rights and the kernel logger"* ]] \
  || fail "trace's message does not say it needs Windows 8+, administrator rights and the kernel logger"
run 2 60 "$exe" trace --tag Toolong
[[ $out == *"a pool tag has 1 to 4 characters"* ]] || fail "trace --tag Toolong was not refused as usage"

step "poolscope.exe leaks --prometheus (Winsock client: nothing listens on port 1)"
run 3 60 "$exe" leaks --prometheus http://127.0.0.1:1
printf '%s\n' "$out"
[[ $out == *"is Prometheus running there?"* ]] || fail "leaks --prometheus did not report the refused connection"

# SQLite and Zydis are not used by poolscope yet; prove the libraries link and work for the
# issues that will use them: SQLite answers a query, Zydis decodes `mov ecx, 'viDW'` and finds the
# tag immediate.
step "SQLite and Zydis built with mingw"
prefix=${POOLSCOPE_WIN_DEPS:-${XDG_CACHE_HOME:-$HOME/.cache}/poolscope/win-deps}/prefix
smoke=$build/deps/smoke
mkdir -p "$smoke"
cat >"$smoke/smoke.c" <<'EOF'
#include <Zydis/Zydis.h>
#include <sqlite3.h>
#include <stdio.h>

static int answer(void* out, int n, char** values, char** names) {
  (void)n, (void)names;
  return sscanf(values[0], "%d", (int*)out) == 1 ? 0 : 1;
}

int main(void) {
  sqlite3* db = NULL;
  int value = 0;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
      sqlite3_exec(db, "select 40 + 2", answer, &value, NULL) != SQLITE_OK || value != 42) {
    printf("sqlite failed\n");
    return 1;
  }
  sqlite3_close(db);
  const unsigned char code[] = {0xB9, 0x57, 0x44, 0x69, 0x76}; /* mov ecx, 0x76694457 */
  ZydisDecoder decoder;
  ZydisDecodedInstruction instruction;
  ZydisDecodedOperand operands[ZYDIS_MAX_OPERAND_COUNT];
  if (!ZYAN_SUCCESS(ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)) ||
      !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder, code, sizeof code, &instruction, operands)) ||
      instruction.mnemonic != ZYDIS_MNEMONIC_MOV ||
      operands[1].type != ZYDIS_OPERAND_TYPE_IMMEDIATE || operands[1].imm.value.u != 0x76694457) {
    printf("zydis failed\n");
    return 1;
  }
  printf("sqlite %s ok; zydis %s: imm 0x%llx ok\n", sqlite3_libversion(),
         ZydisMnemonicGetString(instruction.mnemonic),
         (unsigned long long)operands[1].imm.value.u);
  return 0;
}
EOF
x86_64-w64-mingw32-gcc-posix -O1 -static -o "$smoke/smoke.exe" "$smoke/smoke.c" -I"$prefix/include" \
  -DZYDIS_STATIC_BUILD -DZYCORE_STATIC_BUILD -DZYDIS_DISABLE_FORMATTER -DZYDIS_DISABLE_ENCODER \
  "$prefix/lib/libZydis.a" "$prefix/lib/libsqlite3.a" || fail "the SQLite/Zydis smoke test does not link"
run 0 60 "$smoke/smoke.exe"
printf '%s\n' "$out"

step "all Windows checks passed"
