#!/usr/bin/env bash
# Quick start: install what is missing, build, and look at this machine's kernel pools.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
POOLSCOPE_WINDOWS=0 "$root/scripts/setup.sh"
"$root/scripts/build.sh" release >/dev/null
"$root/build/src/cli/poolscope" snapshot --top 15
echo
"$root/build/src/cli/poolscope" summary
