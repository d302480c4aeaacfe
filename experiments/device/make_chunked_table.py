#!/usr/bin/env python3
"""make_chunked_table.py: the rows of `attnscope bench --chunked --json` as one Markdown table, TFLOP/s
per (dtype, D, B, group H_q / H_kv, chunk, depth) and label (fa2, fa3, fa3.pack-gqa, each .pagedN),
then, with --ratio A/B, the time of label B over label A per row (A / B > 1: A is faster).
Usage: make_chunked_table.py CHUNKED.jsonl [--ratio fa3/fa2 ...] > table.md"""
import argparse
import json


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("jsonl")
    ap.add_argument("--ratio", action="append", default=[], help="A/B: label A's speed over label B's")
    a = ap.parse_args()
    rows = [json.loads(line) for line in open(a.jsonl) if line.strip()]
    table, labels = {}, []
    for r in rows:
        key = (r["dtype"], r["head_dim"], r["batch"], r["heads_q"] // r["heads_kv"], r["chunk"], r["depth"])
        table.setdefault(key, {})[r["label"]] = r["tflops"]
        if r["label"] not in labels:
            labels.append(r["label"])
    ratios = [tuple(x.split("/")) for x in a.ratio]
    print("| dtype | D | B | group | chunk | depth | " + " | ".join(labels) + "".join(f" | {x}/{y}" for x, y in ratios) + " |")
    print("|---" * (6 + len(labels) + len(ratios)) + "|")
    for key in sorted(table):
        t = table[key]
        cells = [f"{t[l]:.0f}" if l in t else "" for l in labels]
        cells += [f"{t[x] / t[y]:.2f}" if x in t and y in t else "" for x, y in ratios]
        print("| " + " | ".join(str(k) for k in key) + " | " + " | ".join(cells) + " |")
    print(f"\nTFLOP/s of the chunk's causal (query, key) pairs; labels: {', '.join(labels)}.")


if __name__ == "__main__":
    main()
