#!/usr/bin/env python3
"""make_sched_table.py: the 48-shape table of reports/h200/hopper-prefill/session21 from one device
call's `attnscope bench --out` rows (every fa3 tile timed) and bench_torch_sdpa.py's rows (flash,
cuDNN), measured in the same call: per shape each fa3 tile's TFLOP/s over cuDNN's, the chosen tile
per head dim over flash and cuDNN, geometric means last. A tile is chosen per head dim (one
default per dtype and D in the registry): --d64 TILE --d128 TILE (default m192n128 / m128n128); a
column is a tile or a tile's schedule variant (m128n128.ilp, m128n128.noping).
Usage: make_sched_table.py OURS.jsonl TORCH.jsonl [--d64 m192n128] [--d128 m128n128] > table.md"""
import argparse
import json
import math


def rows(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def gmean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("torch")
    ap.add_argument("--d64", default="m192n128")
    ap.add_argument("--d128", default="m128n128")
    a = ap.parse_args()
    chosen = {64: a.d64, 128: a.d128}
    key = lambda r: (r["dtype"], r["head_dim"], r["seqlen"], r["causal"])
    peer = {}
    for r in rows(a.torch):
        peer.setdefault(key(r), {})[r["impl"].split(".")[-1]] = r["tflops"]
    ours = {}
    for r in rows(a.ours):
        if r["family"] == "fa3" and not r["precise"] and not r["fp8"]:
            ours.setdefault(key(r), {})[".".join(r["impl"].split(".")[3:])] = r["tflops"]  # tile[.variant]
    tiles = sorted({t for v in ours.values() for t in v})
    print("| dtype | D | causal | S | flash | cuDNN | " + " | ".join(f"{t}/cuDNN" for t in tiles)
          + " | chosen | chosen TFLOP/s | chosen/flash | chosen/cuDNN |")
    print("|---|---|---|---|---|---|" + "---|" * len(tiles) + "---|---|---|---|")
    vs_flash, vs_cudnn, per_tile = [], [], {}
    for k in sorted(ours, key=lambda k: (k[0], -k[1], k[3], k[2])):
        p, o = peer.get(k, {}), ours[k]
        if "flash" not in p or "cudnn" not in p or chosen[k[1]] not in o:
            continue
        c = o[chosen[k[1]]]
        vs_flash.append(c / p["flash"])
        vs_cudnn.append(c / p["cudnn"])
        for t, v in o.items():
            per_tile.setdefault((k[1], k[3], t), []).append(v / p["cudnn"])
        cells = " | ".join(f"{o[t] / p['cudnn']:.2f}" if t in o else "" for t in tiles)
        print(f"| {k[0]} | {k[1]} | {'yes' if k[3] else 'no'} | {k[2]} | {p['flash']:.1f} | {p['cudnn']:.1f} | {cells} | "
              f"{chosen[k[1]]} | {c:.1f} | {c / p['flash']:.2f} | {c / p['cudnn']:.2f} |")
    print()
    print(f"- Geometric mean, chosen tiles (D 64 {a.d64}, D 128 {a.d128}), {len(vs_cudnn)} shapes: "
          f"**{gmean(vs_cudnn):.2f}x cuDNN** (min {min(vs_cudnn):.2f}, max {max(vs_cudnn):.2f}), "
          f"**{gmean(vs_flash):.2f}x flash** (min {min(vs_flash):.2f}, max {max(vs_flash):.2f})")
    for (d, causal, t), xs in sorted(per_tile.items()):
        print(f"- D {d}, {'causal' if causal else 'non-causal'}, {t}: {gmean(xs):.3f}x cuDNN "
              f"(geometric mean of {len(xs)}, min {min(xs):.2f}, max {max(xs):.2f})")


if __name__ == "__main__":
    main()
