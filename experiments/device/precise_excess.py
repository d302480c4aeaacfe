#!/usr/bin/env python3
"""precise_excess.py DB: the precise mode's excess from an `attnscope sweep` database of
experiments/sweeps/hopper_precise.toml. Prints, per kernel, the excess over the rounding floor
(median, max, points; excess = kernel RMSE / RMSE of the correctly rounded truth) and, per
design (fa3, fa2, emu), the precise variant's excess next to its default's on the same points.
Then every row as CSV (the raw data). Reads only; Python's sqlite3, no other dependency."""
import json
import sqlite3
import statistics
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: precise_excess.py RESULTS.sqlite")
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    rows = []
    for point, kernel, status, metrics in db.execute(
            "SELECT point_key, kernel, status, metrics FROM results ORDER BY point_key, kernel"):
        m = json.loads(metrics) if metrics else {}
        point = point.split("|", 1)[1] if "|" in point else point  # the key is "kernel|problem|dist|seed"
        rows.append((point, kernel, status, m.get("excess"), m.get("fa_rule_pass")))
    by_kernel = {}
    for point, kernel, status, excess, _ in rows:
        if status == "ok" and excess is not None:
            by_kernel.setdefault(kernel, {})[point] = excess
    print("| kernel | points | median excess | max excess |")
    print("|---|---|---|---|")
    for kernel in sorted(by_kernel):
        xs = list(by_kernel[kernel].values())
        print(f"| {kernel} | {len(xs)} | {statistics.median(xs):.3f} | {max(xs):.3f} |")
    print("\nPrecise vs default, same points (median of precise excess, of default excess, of their ratio):\n")
    print("| precise kernel | points | precise | default | precise/default |")
    print("|---|---|---|---|---|")
    for kernel in sorted(k for k in by_kernel if k.endswith(".precise")):
        base = by_kernel.get(kernel[: -len(".precise")], {})
        common = [p for p in by_kernel[kernel] if p in base]
        if not common:
            continue
        pr = [by_kernel[kernel][p] for p in common]
        de = [base[p] for p in common]
        ratio = [a / b for a, b in zip(pr, de) if b > 0]
        print(f"| {kernel} | {len(common)} | {statistics.median(pr):.3f} | {statistics.median(de):.3f} | "
              f"{statistics.median(ratio):.3f} |")
    print("\npoint,kernel,status,excess,fa_rule_pass")
    for r in rows:
        print(",".join("" if v is None else str(v) for v in r))


if __name__ == "__main__":
    main()
