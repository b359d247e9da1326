#!/usr/bin/env python3
"""Precision and recall of `poolscope drivers` against the ground truth of real drivers (issue 16).

usage: scripts/attrib-accuracy.py POOLSCOPE TRUTH.tsv DIR...

TRUTH.tsv: one line per driver file: its name, a tab, its pool tags separated by spaces ("-" for
none), a tab, where that ground truth comes from. Every .sys file `poolscope drivers DIR` reads in
the given folders is matched by file name; a file without a ground-truth line is listed as
"unknown" and left out of the totals. Precision and recall are of the `high` tags (a tag the
driver's code is seen passing to a pool call); `medium` tags (the KMDF service-name rule) are shown
beside them, not scored. Prints a Markdown table and the totals; exit 1 when a driver named in
TRUTH.tsv was not found in any folder, 2 on bad usage.
"""
import json
import subprocess
import sys


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    poolscope, truth_path, dirs = argv[1], argv[2], argv[3:]
    truth = {}
    with open(truth_path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 3:
                print(f"{truth_path}:{number}: expected 3 tab-separated fields", file=sys.stderr)
                return 2
            tags = set() if fields[1].strip() == "-" else set(fields[1].split())
            truth[fields[0]] = (tags, fields[2])
    rows, seen = [], set()
    totals = {"tp": 0, "fp": 0, "fn": 0}
    for folder in dirs:
        out = subprocess.run([poolscope, "drivers", folder, "--format", "json"], check=True,
                             capture_output=True, text=True).stdout
        for driver in json.loads(out)["drivers"]:
            name = driver["file"]
            high = {t["tag"] for t in driver["tags"] if t["confidence"] == "high"}
            medium = {t["tag"] for t in driver["tags"] if t["confidence"] == "medium"}
            if name not in truth:
                rows.append((name, high, medium, None, "unknown: no ground truth", ""))
                continue
            seen.add(name)
            expected, source = truth[name]
            tp, fp, fn = len(high & expected), len(high - expected), len(expected - high)
            totals["tp"] += tp
            totals["fp"] += fp
            totals["fn"] += fn
            precision = f"{tp}/{tp + fp}" if high else "- (no high tag)"
            recall = f"{tp}/{tp + fn}" if expected else "- (none expected)"
            rows.append((name, high, medium, expected, f"{precision}, {recall}", source))
    print("| driver | high | medium | ground truth | precision, recall (high) | truth from |")
    print("|---|---|---|---|---|---|")
    for name, high, medium, expected, score, source in rows:
        shown = lambda s: " ".join(sorted(s)) if s else "-"
        print(f"| {name} | {shown(high)} | {shown(medium)} | "
              f"{'?' if expected is None else shown(expected)} | {score} | {source} |")
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    print()
    print(f"total (drivers with ground truth): {tp} true high tags, {fp} high tags not in the "
          f"ground truth, {fn} ground-truth tags not found at high; precision "
          f"{tp}/{tp + fp}, recall {tp}/{tp + fn}")
    missing = sorted(set(truth) - seen)
    if missing:
        print("ground truth for drivers not found: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
