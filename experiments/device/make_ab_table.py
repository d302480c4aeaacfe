#!/usr/bin/env python3
"""make_ab_table.py: the same-call A/B of prefill_ab_run.sh as Markdown: for every kernel and shape
timed by both builds (ab.jsonl rows carry "build": "base" or "new"), the two medians and the
speedup base / new, then the geometric mean speedup per (tile, D, causal) group. Rows of several
rounds: the median of their medians. --pair SUFFIX: one build, two variants per kernel (X the base,
X + SUFFIX the new: a schedule variant timed in the same process, e.g. .ilp).
Usage: make_ab_table.py AB.jsonl [--pair SUFFIX] > ab.md"""
import argparse
import collections
import json
import math
import statistics


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ab_jsonl")
    ap.add_argument("--pair", help="compare kernel X (base) with kernel X + PAIR (new) of one build")
    args = ap.parse_args()
    rounds = collections.defaultdict(lambda: collections.defaultdict(list))  # (impl, causal, seqlen) -> build -> ms
    for line in open(args.ab_jsonl):
        if line.strip():
            r = json.loads(line)
            impl, build = r["impl"], r.get("build")
            if args.pair:
                build = "new" if impl.endswith(args.pair) else "base"
                impl = impl[: -len(args.pair)] if build == "new" else impl
            rounds[(impl, r["causal"], r["seqlen"])][build].append(r["median_ms"])
    medians = {k: {b: statistics.median(v) for b, v in m.items()} for k, m in rounds.items()}
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
