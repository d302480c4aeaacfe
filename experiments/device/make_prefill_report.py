#!/usr/bin/env python3
"""make_prefill_report.py: joins `attnscope bench --out FILE` and bench_torch_sdpa.py's JSON (same
device call) into the Markdown table of reports/h100/prefill-benchmark/README.md: our default kernel's
TFLOP/s, the peers', ratios to flash and cuDNN, and the precise mode's cost.
Usage: make_prefill_report.py OURS.jsonl TORCH.jsonl PROVENANCE.txt > prefill_benchmark.md"""
import json
import sys


def load(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if line:
            rows.append(json.loads(line))
    return rows


def main():
    ours, torch_rows, prov = load(sys.argv[1]), load(sys.argv[2]), open(sys.argv[3]).read()
    key = lambda r: (r["dtype"], r["head_dim"], r["seqlen"], r["causal"])
    peers = {}
    for r in torch_rows:
        peers.setdefault(key(r), {})[r["impl"]] = r.get("tflops")
    default = {key(r): r for r in ours if not r["precise"]}
    precise = {key(r): r for r in ours if r["precise"]}
    print("# Prefill benchmark on H100: attnscope FA2 kernels vs PyTorch SDPA backends\n")
    print("```\n" + prov.strip() + "\n```\n")
    print("TFLOP/s = 4·B·H·S²·D / median time (halved when causal); B·S = 16384, H = 16, S_q = S_k = S; "
          "CUDA events, median of the timed launches after warm-up, all in one device call.\n")
    print("| dtype | D | S | causal | ours kernel | ours | flash | cuDNN | efficient | ours/flash | ours/cuDNN | precise | precise cost |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    ratios_flash, ratios_cudnn = [], []
    fmt = lambda x: "n/a" if x is None else f"{x:.1f}"
    for k in sorted(default, key=lambda k: (k[0], -k[1], k[3], k[2])):
        r = default[k]
        p = peers.get(k, {})
        fl, cu, ef = p.get("torch.flash"), p.get("torch.cudnn"), p.get("torch.efficient")
        rf = r["tflops"] / fl if fl else None
        rc = r["tflops"] / cu if cu else None
        if rf: ratios_flash.append(rf)
        if rc: ratios_cudnn.append(rc)
        pr = precise.get(k)
        cost = f"{r['tflops'] / pr['tflops']:.2f}x time" if pr else "n/a"
        print(f"| {k[0]} | {k[1]} | {k[2]} | {'yes' if k[3] else 'no'} | {r['impl']} | {fmt(r['tflops'])} | {fmt(fl)} | "
              f"{fmt(cu)} | {fmt(ef)} | {'n/a' if rf is None else f'{rf:.2f}'} | {'n/a' if rc is None else f'{rc:.2f}'} | "
              f"{fmt(pr['tflops']) if pr else 'n/a'} | {cost} |")
    gm = lambda xs: (lambda p: p ** (1 / len(xs)))(eval("*".join(map(str, xs)))) if xs else None
    print()
    if ratios_flash:
        print(f"Geometric mean ours/flash = {gm(ratios_flash):.2f} (min {min(ratios_flash):.2f}, max {max(ratios_flash):.2f}); "
              f"ours/cuDNN = {gm(ratios_cudnn):.2f} (min {min(ratios_cudnn):.2f}, max {max(ratios_cudnn):.2f}).")
    errs = [r for r in torch_rows if "error" in r]
    if errs:
        print("\nPeer shapes refused by a backend:\n")
        for r in errs:
            print(f"- {r['impl']} {r['dtype']} d{r['head_dim']} S={r['seqlen']} causal={r['causal']}: {r['error']}")


if __name__ == "__main__":
    main()
