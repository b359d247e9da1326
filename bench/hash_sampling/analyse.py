#!/usr/bin/env python3
"""Analyses runs of run.sh: per run the exact outstanding count (bpftrace), how many of those
pointers the address hash samples (trace/bpf_kmem.h address_sampled, shift 3) and poolscope's
estimate for the leaker at do_eventfd; then how much the runs' pointer sets overlap, and the hash
over every pointer seen and over every 64-byte slot of their slab pages."""
import collections, itertools, json, re, sys

K, M = 0x9E3779B97F4A7C15, (1 << 64) - 1


def sampled(p, shift=3):
    return ((p * K) & M) >> (64 - shift) == 0


sets = {}
for i in sys.argv[1:]:
    pid = int(open(f"pid{i}").read())
    by_site = collections.defaultdict(set)
    for line in open(f"bt{i}.txt"):
        m = re.match(r"@live\[0x([0-9a-f]+)\]: (\d+)", line)
        if m:
            by_site[int(m.group(2))].add(int(m.group(1), 16))
    ptrs = max(by_site.values(), key=len)  # the leaker's eventfd_ctx site
    sets[i] = ptrs
    est = None
    for site in json.load(open(f"tr{i}.json")).get("call_sites", []):
        if "eventfd" in site.get("symbol", ""):
            for p in site.get("pids", []):
                if p.get("pid") == pid:
                    est = p["outstanding"]
    s = sum(map(sampled, ptrs))
    print(f"run {i}: exact {len(ptrs)}, hash of those pointers {s} x 8 = {8 * s} "
          f"({8 * s / len(ptrs):.3f}x), poolscope's estimate {est}")
for a, b in itertools.combinations(sets, 2):
    print(f"runs {a},{b}: {len(sets[a] & sets[b])} pointers in common")
union = set().union(*sets.values())
pages = {p & ~0xFFF for p in union}
slots = [page + 64 * j for page in pages for j in range(64)]
print(f"{len(union)} distinct pointers: hash x 8 = {8 * sum(map(sampled, union)) / len(union):.3f}x;"
      f" their {len(pages)} slab pages' {len(slots)} slots: "
      f"{8 * sum(map(sampled, slots)) / len(slots):.3f}x")
