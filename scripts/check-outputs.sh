#!/usr/bin/env bash
# Runs the verbs that read files (snapshot, leaks, report, export, trace --load, drivers, who,
# summary) on the real data (../shared/data/real) and tests/data, and saves every output (stdout,
# stderr, exit code) under OUT, one file per command. Two runs (before and after a change) are
# compared with `diff -r OUT1 OUT2`: a refactoring must leave them byte-identical.
#   scripts/check-outputs.sh OUT [POOLSCOPE]     (default POOLSCOPE: build/src/cli/poolscope)
# The report's "generated <time>" and the recording paths are the only lines made stable.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: check-outputs.sh OUT [POOLSCOPE]}
bin=$(realpath "${2:-$root/build/src/cli/poolscope}")
real="$root/../shared/data/real"
data="$root/tests/data"
rm -rf "$out" && mkdir -p "$out/work"
out=$(realpath "$out")
work="$out/work"
cd "$root"

n=0
# run NAME ARGS...: poolscope ARGS > NAME.out, NAME.err, NAME.rc
run() {
  local name=$1
  shift
  n=$((n + 1))
  "$bin" "$@" >"$out/$name.out" 2>"$out/$name.err"
  echo $? >"$out/$name.rc"
  # Paths of the output folder differ between runs.
  sed -i "s#$out#OUT#g" "$out/$name.out" "$out/$name.err"
}

# snapshot and summary of every pool text.
for f in "$real"/poolmon/*.txt "$real"/windbg/*.txt "$data"/poolmon/*.txt "$data"/poolused/*.txt \
  "$data"/vm/*.txt "$data"/slabinfo/*.txt "$data"/store/*.txt; do
  base=$(basename "$(dirname "$f")")_$(basename "$f" .txt)
  run "snapshot_$base" snapshot --source "$f" --no-owner
  run "snapshot_${base}_json" snapshot --source "$f" --format json --allow-bad-lines \
    --pooltag "$real/pooltag/pooltag.txt"
  run "summary_$base" summary --source "$f"
done
run snapshot_kallsyms snapshot --source "$data/slabinfo/kernel_6_18_head.txt" \
  --kallsyms "$data/kallsyms/kallsyms_small.txt"

# Recordings: imported (fixed times), then export, leaks, report and snapshot --source FILE.db.
import() {  # import NAME FILES... (-- --at T ...)
  local name=$1
  shift
  run "import_$name" import --into "$work/$name.db" "$@"
}
import drsd "$real/poolmon/03_msdocs_example4_drsd_printer_leak_before.txt" \
  "$real/poolmon/04_msdocs_example4_drsd_printer_leak_after.txt" \
  --at 2025-11-12T10:00:00Z --at 2025-11-12T10:05:00Z
import web "$data/store/pool_counters.csv" "$data/store/httperr_refused.log"
import slab "$data/store/slabinfo_a.txt" "$data/store/slabinfo_b.txt" \
  --at 2026-01-01T00:00:00Z --at 2026-01-01T01:00:00Z
import nlog "$data/store/poolmon_n_log_3_screens.txt" --at 2026-01-01T00:00:00Z
import pdh "$real/perfcounters/pdh_csv_memeData_DataCollector02.csv"
import bad "$data/store/poolmon_bad_row.txt" --at 2026-01-01T00:00:00Z
import unknown "$data/store/unknown.txt" --at 2026-01-01T00:00:00Z
for db in "$work"/*.db; do
  name=$(basename "$db" .db)
  run "export_$name" export "$db"
  run "export_${name}_csv" export "$db" --format csv
  run "leaks_$name" leaks "$db" --no-owner
  run "leaks_${name}_json" leaks "$db" --format json --pooltag "$real/pooltag/pooltag.txt"
  run "snapshot_db_$name" snapshot --source "$db" --no-owner
  run "report_$name" report "$db" -o "$work/$name.html" --pooltag "$real/pooltag/pooltag.txt" \
    --drivers "$real/drivers/winpmem"
  if [ -f "$work/$name.html" ]; then
    sed -e 's/ · generated [^<]* by poolscope/ · generated TIME by poolscope/' \
      -e "s#$out#OUT#g" "$work/$name.html" >"$out/report_$name.html"
    rm "$work/$name.html"
  fi
done
run leaks_missing leaks "$work/missing.db"

# trace --load: the saved traces of the fuzz corpus (good and hostile ones).
for f in fuzz/corpus/saved_trace/*; do
  run "trace_load_$(basename "$f")" trace --load "$f"
  run "trace_load_$(basename "$f")_json" trace --load "$f" --format json --top 5
done

# drivers and who on real driver files.
for d in "$real"/drivers/winpmem "$real"/drivers/windivert "$data"/drivers; do
  run "drivers_$(basename "$d")" drivers "$d"
  run "drivers_$(basename "$d")_json" drivers "$d" --format json
done
run who_Drsd who Drsd --pooltag "$real/pooltag/pooltag.txt"
run who_Pmem who Pmem --drivers "$real/drivers/winpmem" --pooltag "$real/pooltag/pooltag.txt"
run who_kmalloc who kmalloc-64 --kallsyms "$data/kallsyms/kallsyms_small.txt"

rm -rf "$work"
echo "check-outputs: $n commands, outputs in $out"
