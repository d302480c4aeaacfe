#!/usr/bin/env python3
"""make_ab_table.py: the same-call A/B of prefill_ab_run.sh as Markdown: for every kernel and shape
timed by both builds (ab.jsonl rows carry "build": "base" or "new"), the two medians and the
speedup base / new, then the geometric mean speedup per (tile, D, causal) group.
Usage: make_ab_table.py AB.jsonl > ab.md"""
import argparse
import collections
import json
import math


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ab_jsonl")
    args = ap.parse_args()
    medians = collections.defaultdict(dict)  # (impl, causal, seqlen) -> build -> median ms
    for line in open(args.ab_jsonl):
        if line.strip():
            r = json.loads(line)
            medians[(r["impl"], r["causal"], r["seqlen"])][r["build"]] = r["median_ms"]
    groups = collections.defaultdict(list)
    print("| kernel | causal | S | base µs | new µs | speedup |")
    print("|---|---|---|---|---|---|")
    for (impl, causal, seqlen), m in sorted(medians.items()):
        if "base" not in m or "new" not in m:
            continue
        speedup = m["base"] / m["new"]
        print(f"| {impl} | {'yes' if causal else 'no'} | {seqlen} | {m['base'] * 1e3:.1f} | {m['new'] * 1e3:.1f} | {speedup:.3f} |")
        _, dtype, d, tile = impl.split(".")[:4]
        groups[(tile, d, causal)].append(speedup)
    print()
    for (tile, d, causal), v in sorted(groups.items()):
        print(f"- {tile} {d} {'causal' if causal else 'non-causal'}: speedup {geomean(v):.3f} "
              f"(geometric mean of {len(v)}, min {min(v):.3f}, max {max(v):.3f}; both dtypes)")


if __name__ == "__main__":
    main()
