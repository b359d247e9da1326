#!/usr/bin/env bash
# Quick start: install what is missing, build, and diagnose this machine's kernel pools: record
# them for a while (POOLSCOPE_DIAGNOSE_DURATION, default 2m), then say what leaks and who does it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
POOLSCOPE_WINDOWS=0 "$root/scripts/setup.sh"
"$root/scripts/build.sh" release >/dev/null
"$root/build/src/cli/poolscope" diagnose --duration "${POOLSCOPE_DIAGNOSE_DURATION:-2m}" \
  --out "${POOLSCOPE_DIAGNOSE_OUT:-$root/poolscope-diagnose}"
