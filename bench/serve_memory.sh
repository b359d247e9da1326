#!/usr/bin/env bash
# Memory and CPU of `poolscope serve` over time, as root: samples at 10 Hz (150x the default rate)
# for DURATION seconds while a client scrapes /metrics every 0.5 s (each scrape is a new curl
# process, so the culprit search's process tracks churn too). Prints VmRSS, CPU ticks and the
# detector's history size every 30 s. Loopback only; stops by itself.
#   sudo bench/serve_memory.sh [build/src/cli/poolscope] [DURATION=400] [PORT=19475]
set -euo pipefail
bin=${1:-build/src/cli/poolscope}
duration=${2:-400}
port=${3:-19475}
"$bin" serve --listen "127.0.0.1:$port" --interval 0.1 --duration "$duration" --max-processes 512 \
  >/dev/null 2>&1 &
pid=$!
sleep 1
(
  end=$((SECONDS + duration - 2))
  while ((SECONDS < end)); do curl -s "http://127.0.0.1:$port/metrics" >/dev/null || true; sleep 0.5; done
) &
scraper=$!
for ((t = 0; t < duration - 5; t += 30)); do
  [[ -r /proc/$pid/status ]] || break
  h=$(curl -s "http://127.0.0.1:$port/metrics" |
    grep -E '^poolscope_(detector_history_bytes|samples_total)' | tr '\n' ' ')
  echo "t=${t}s $(grep -E 'VmRSS|VmHWM' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' ')" \
    "cpu_ticks=$(awk '{print $14+$15}' /proc/$pid/stat) $h"
  sleep 30
done
wait "$pid"
kill "$scraper" 2>/dev/null || true
