#!/usr/bin/env python3
"""make_decode_bench_table.py: the Markdown bandwidth table of `attnscope bench --decode --out
OURS` and `experiments/peers/bench_torch_decode.py --json PEERS` (one JSON object per line each,
measured in the same device call): per (B, L), cold and warm TB/s of each of our configurations
and of SDPA flash / cuDNN, and the ratios the issue asks for: the production tensor-core kernel (mma12:
the 12-warp shape, bench label mma.w12) against cuDNN and the CUDA-core kernel, its paged forms
against contiguous; the CUDA-core kernel
and the bulk kernel against cuDNN and flash, bulk / CUDA cores, paged 16 / 256 against
contiguous, FP8 against FP16 time (bulk; and the tensor-core FP8 form mma.w12.fp8 against mma.w12 and bulk.fp8). Usage: python3 make_decode_bench_table.py OURS.jsonl PEERS.jsonl [dtype [head_dim]] > table.md"""
import collections
import json
import sys


def load(path, dtype, head_dim=None):
    rows = collections.OrderedDict()
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        if r.get("dtype", "fp16") != dtype or (head_dim is not None and r.get("head_dim", 128) != head_dim):
            continue
        rows.setdefault((r["batch"], r["keys"]), {})[r["impl"]] = r
    return rows


def cell(r, key):
    return "%.2f" % r[key] if r else "–"


def ratio(a, b, key):
    return "%.2f" % (a[key] / b[key]) if a and b else "–"


def main():
    ours_path, peers_path = sys.argv[1], sys.argv[2]
    dtype = sys.argv[3] if len(sys.argv) > 3 else "fp16"
    head_dim = int(sys.argv[4]) if len(sys.argv) > 4 else None
    ours, peers = load(ours_path, dtype, head_dim), load(peers_path, dtype, head_dim)
    configs = []
    for r in ours.values():
        for name in r:
            if name not in configs:
                configs.append(name)
    for mode in ("cold_tbps", "warm_tbps"):
        title = "cold (L2 flushed, median)" if mode == "cold_tbps" else "warm (back-to-back, mean)"
        print("### %s TB/s, %s\n" % (dtype.upper(), title))
        head = ["B", "L"] + configs + ["SDPA flash", "SDPA cuDNN", "mma12 / cuDNN", "mma12 / flash", "mma12 / mma12.late", "mma12 / cuda-cores",
                                       "mma12 paged16 / mma12", "mma12 paged256 / mma12", "cuda-cores / cuDNN", "cuda-cores / flash",
                                       "bulk / cuDNN", "bulk / cuda-cores", "cuda-cores paged16 / contiguous",
                                       "cuda-cores paged256 / contiguous", "bulk paged16 / bulk", "bulk paged256 / bulk",
                                       "fp8 / bulk (time)", "mma12 fp8 / mma12 (time)", "mma12 fp8 / bulk fp8 (time)"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for key in sorted(set(ours) | set(peers)):
            o, p = ours.get(key, {}), peers.get(key, {})
            cores, bulk, flash, cudnn = o.get("cuda-cores"), o.get("bulk"), p.get("torch-flash"), p.get("torch-cudnn")
            fp8, mma = o.get("bulk.fp8"), o.get("mma.w12")
            us = mode.replace("tbps", "us")
            time_ratio = "%.2f" % (fp8[us] / bulk[us]) if fp8 and bulk else "–"
            mma_fp8 = o.get("mma.w12.fp8")
            mma_fp8_ratio = "%.2f" % (mma_fp8[us] / mma[us]) if mma_fp8 and mma else "–"
            mma_fp8_bulk = "%.2f" % (mma_fp8[us] / fp8[us]) if mma_fp8 and fp8 else "–"
            row = [str(key[0]), str(key[1])] + [cell(o.get(c), mode) for c in configs] + [
                cell(flash, mode), cell(cudnn, mode), ratio(mma, cudnn, mode), ratio(mma, flash, mode),
                ratio(mma, o.get("mma.w12.late"), mode), ratio(mma, cores, mode),
                ratio(o.get("mma.w12.paged16"), mma, mode), ratio(o.get("mma.w12.paged256"), mma, mode), ratio(cores, cudnn, mode), ratio(cores, flash, mode),
                ratio(bulk, cudnn, mode), ratio(bulk, cores, mode), ratio(o.get("cuda-cores.paged16"), cores, mode),
                ratio(o.get("cuda-cores.paged256"), cores, mode), ratio(o.get("bulk.paged16"), bulk, mode),
                ratio(o.get("bulk.paged256"), bulk, mode), time_ratio, mma_fp8_ratio, mma_fp8_bulk]
            print("| " + " | ".join(row) + " |")
        print()
    # Split plans (what the heuristic chose).
    print("### Launch shapes (splits x keys per split, KV heads per CTA, stages)\n")
    print("| B | L | " + " | ".join(configs) + " |")
    print("|---|---|" + "---|" * len(configs))
    for key in sorted(ours):
        o = ours[key]
        shapes = ["%d x %d, h%d, s%d" % (o[c]["splits"], o[c]["keys_per_split"], o[c]["heads_per_cta"], o[c]["stages"])
                  if c in o else "–" for c in configs]
        print("| %d | %d | %s |" % (key[0], key[1], " | ".join(shapes)))


if __name__ == "__main__":
    main()
