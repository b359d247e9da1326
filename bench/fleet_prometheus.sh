#!/usr/bin/env bash
# `leaks --prometheus` at fleet scale on a real Prometheus: HOSTS x KEYS caches x HOURS of data at
# STEP seconds are backfilled (promtool tsdb create-blocks-from openmetrics), Prometheus serves
# them on loopback with its default limits, and the old way (every host in one query per metric,
# --hosts-per-query 0) runs side by side with the batched one. Wall time, peak RSS, exit code and
# the leak findings against the ground truth the generator planted; a sample of hosts is also read
# one at a time (--match on the instance) and must give the same findings as the batches.
#   bench/fleet_prometheus.sh [BUILD_DIR] [HOSTS=500] [KEYS=50] [HOURS=24] [STEP=60]
# The backfill takes long (20 min for the defaults on a loaded 2-core machine; the 8.4 GB of
# OpenMetrics text is removed once it is in): the TSDB is kept in
# ${POOLSCOPE_FLEET_CACHE:-/var/tmp/poolscope-fleet-bench}/HOSTSxKEYSxHOURSxSTEP and reused, the
# window read (--since) widened by the data's age.
set -euo pipefail
build=${1:-build}
hosts=${2:-500}
keys=${3:-50}
hours=${4:-24}
step=${5:-60}
bin=$(cd "$build" && pwd)/src/cli/poolscope
for p in prometheus promtool python3 curl /usr/bin/time; do
  command -v "$p" >/dev/null || { echo "needs $p (apt install prometheus time python3 curl)" >&2; exit 2; }
done
work=$(mktemp -d /tmp/poolscope-fleet-bench.XXXXXX)
prom_pid=
cleanup() {
  [[ -z $prom_pid ]] || kill "$prom_pid" 2>/dev/null || true
  [[ -z $prom_pid ]] || wait "$prom_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cache=${POOLSCOPE_FLEET_CACHE:-/var/tmp/poolscope-fleet-bench}/${hosts}x${keys}x${hours}hx${step}
if [[ ! -f $cache/done ]]; then
  rm -rf "$cache"
  mkdir -p "$cache"
  gen="$cache/fleet.om"
  echo "generating $hosts hosts x $keys keys x ${hours} h at ${step} s ..." >&2
  SECONDS=0
  python3 - "$gen" "$hosts" "$keys" "$hours" "$step" <<'PY'
import sys, time
path, hosts, keys, hours, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
end = int(time.time()) - 120
open(path + ".end", "w").write(f"{end}\n")
points = int(hours * 3600 // step)
times = [f"{end - (points - 1 - i) * step}" for i in range(points)]
# Ground truth: every 25th host leaks cache_07 (1,000 objects/h); every 50th also cache_23.
def leaks(h, k):
    return (k == 7 and h % 25 == 0) or (k == 23 and h % 50 == 0 and keys > 23)
with open(path, "w") as out, open(path + ".truth", "w") as truth:
    for h in range(hosts):
        for k in range(keys):
            if leaks(h, k):
                truth.write(f"host-{h:04}:9100 cache_{k:02}\n")
    for metric, scale in (("poolscope_key_outstanding_objects", 1), ("poolscope_key_bytes", 256)):
        out.write(f"# TYPE {metric} gauge\n")
        for h in range(hosts):
            for k in range(keys):
                prefix = f'{metric}{{instance="host-{h:04}:9100",job="poolscope",key="cache_{k:02}",pool="unreclaimable"}} '
                base = 1000 + 37 * k + h
                grow = 1000.0 * step / 3600 if leaks(h, k) else 0.0
                lines = []
                for i in range(points):
                    v = (base + (i * 7919 + h * 31 + k * 17) % 13 + grow * i) * scale
                    lines.append(f"{prefix}{v:.0f} {times[i]}\n")
                out.write("".join(lines))
    out.write("# EOF\n")
PY
  gen_s=$SECONDS
  om_mb=$(( $(stat -c %s "$gen") / 1048576 ))
  SECONDS=0
  promtool tsdb create-blocks-from openmetrics "$gen" "$cache/data" >"$cache/promtool.log" 2>&1 \
    || { tail -n 20 "$cache/promtool.log" >&2; exit 1; }
  backfill_s=$SECONDS
  rm -f "$gen"
  date +%s >"$cache/done"
  echo "data: ${om_mb} MB of OpenMetrics generated in ${gen_s} s, backfilled in ${backfill_s} s" >"$cache/made"
fi
cat "$cache/made" >&2
# The data ends when it was made: read from its start to now.
since_s=$(( ${hours%.*} * 3600 + $(date +%s) - $(cat "$cache/fleet.om.end") + 60 ))
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'global:\n  scrape_interval: 1m\n' >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$cache/data" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
  sleep 1
done

# run NAME ARGS...: wall seconds, peak RSS, exit code, and the leak findings as "host key" lines.
run() {
  local name=$1
  shift
  local code=0
  /usr/bin/time -f "%e %M" -o "$work/$name.time" "$bin" leaks --prometheus "http://127.0.0.1:$port" \
    --since "${since_s}s" --format json "$@" >"$work/$name.json" 2>"$work/$name.err" || code=$?
  python3 - "$work/$name.json" >"$work/$name.found" <<'PY' || true
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
for host in doc.get("hosts", []):
    for f in host["report"]["findings"]:
        if f["verdict"] == "leak":
            print(host["instance"], f["key"])
PY
  sort -o "$work/$name.found" "$work/$name.found"
  # GNU time writes "Command exited with non-zero status N" first when the command fails.
  read -r wall rss < <(tail -n 1 "$work/$name.time")
  local tp fp fn
  tp=$(comm -12 "$work/$name.found" <(sort "$cache/fleet.om.truth") | wc -l)
  fp=$(comm -23 "$work/$name.found" <(sort "$cache/fleet.om.truth") | wc -l)
  fn=$(comm -13 "$work/$name.found" <(sort "$cache/fleet.om.truth") | wc -l)
  printf '%-32s %8s s %8d MiB  exit %d  leaks found %d/%d, false %d  %s\n' "$name" "$wall" \
    $((rss / 1024)) "$code" "$tp" $((tp + fn)) "$fp" "$(head -c 150 "$work/$name.err" | tr '\n' ' ')"
}
echo "== leaks --prometheus, $hosts hosts x $keys keys x ${hours} h at ${step} s (Prometheus defaults) =="
run "all-at-once (baseline)" --hosts-per-query 0
run "batched (default: auto)"
run "batched (--hosts-per-query 1)" --hosts-per-query 1
run "batched (--hosts-per-query 10)" --hosts-per-query 10

# One host at a time for every 20th host: the same findings as the default batches.
same=0 differ=0
for h in $(seq 0 20 $((hosts - 1))); do
  instance=$(printf 'host-%04d:9100' "$h")
  "$bin" leaks --prometheus "http://127.0.0.1:$port" --since "${since_s}s" --format json \
    --match "{instance=\"$instance\"}" >"$work/one.json" 2>/dev/null || true
  python3 - "$work/one.json" <<'PY' | sort >"$work/one.found"
import json, sys
doc = json.load(open(sys.argv[1]))
for host in doc.get("hosts", []):
    for f in host["report"]["findings"]:
        if f["verdict"] == "leak":
            print(host["instance"], f["key"])
PY
  if diff -q "$work/one.found" <(grep "^$instance " "$work/batched (default: auto).found" || true) >/dev/null; then
    same=$((same + 1))
  else
    differ=$((differ + 1))
  fi
done
echo "one host at a time vs the default (auto) batches, every 20th host: $same same, $differ different"
