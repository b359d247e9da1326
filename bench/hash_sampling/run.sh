#!/bin/bash
# One run of the live hash-sampling check (docs/trace.md "Sampling, measured"): a 50/s eventfd
# leak; bpftrace keeps the exact set of the leaker's outstanding kmalloc pointers while
# `poolscope trace` (default: 1 object in 8 by address hash) runs over the same 12 s. Root; run
# under `flock /tmp/poolscope-live.lock`. Usage: run.sh N [POOLSCOPE] [LEAKER]; then analyse.py N...
set -euo pipefail
i=$1
here=$(cd "$(dirname "$0")" && pwd)
poolscope=${2:-build/src/cli/poolscope}
leaker=${3:-build/tests/poolscope-leaker}
"$leaker" --kind eventfd --mode leak --rate 50 --duration 18 >"leaker$i.log" 2>&1 &
lp=$!
sleep 1.5
bpftrace "$here/eventfd_live.bt" "$lp" >"bt$i.txt" 2>&1 &
bp=$!
"$poolscope" trace --duration 12 --format json >"tr$i.json" 2>"tr$i.err" &
tp=$!
wait "$bp" "$tp"
kill "$lp" 2>/dev/null || true
wait "$lp" || true
echo "$lp" >"pid$i"
