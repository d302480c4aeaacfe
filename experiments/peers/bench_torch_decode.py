#!/usr/bin/env python3
"""bench_torch_decode.py: PyTorch SDPA decode peers (flash and cuDNN backends) on the grid of
`attnscope bench --decode`: B in --batches, L keys in --lens, H_q:H_kv 32:8, D 128, S_q 1, FP16 (or
--dtype bf16).
Bandwidth = unique bytes of K and V (2 x B x L x H_kv x D x 2) over the time of one call, measured
exactly as kernels/decode/decode_bench.cu measures ours: "cold" = median of calls each timed alone
(CUDA events) after a 256 MiB memset evicted L2; "warm" = mean of back-to-back calls. Iterations
adapt to the size (about a quarter second per measurement, 10..--iters) as ours do. GQA through
enable_gqa=True; where a backend refuses it, K/V are expanded to H_q heads first when that fits
(the line says "expanded"; the bandwidth still counts the unique H_kv-head bytes). Prints one
"BENCH torch-<backend> ..." line per shape and, with --json, one JSON object per measurement in
the form of ours (impl, batch, keys, cold_us, cold_tbps, warm_us, warm_tbps, ...). Random
inputs (never zeros). Not a correctness check."""
import argparse
import json

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
import torch.nn.functional as F


SCRATCH = None
EXPAND_LIMIT_BYTES = 40 << 30  # never expand K/V beyond this (the H200 has 141 GB)


def iterations_for(nbytes, most):
    """About 0.25 s of calls at 3.5 TB/s, between 10 and `most` (kernels/decode/decode_bench's rule)."""
    return max(10, min(most, int(0.25 / (nbytes / 3.5e12))))


def time_call(fn, warmup, iters):
    """(cold median, warm mean) in microseconds."""
    global SCRATCH
    if SCRATCH is None:
        SCRATCH = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")
    for _ in range(warmup):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    cold = []
    for i in range(iters):
        SCRATCH.fill_(i & 0xFF)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        cold.append(start.elapsed_time(stop) * 1e3)
    cold.sort()
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return cold[iters // 2], start.elapsed_time(stop) * 1e3 / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=50, help="most timed calls per measurement")
    ap.add_argument("--batches", default="1,8,64")
    ap.add_argument("--lens", default="1024,4096,16384,65536,131072")
    ap.add_argument("--heads", default="32:8")
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--dtype", choices=("fp16", "bf16"), default="fp16")
    ap.add_argument("--json", default="", help="write one JSON object per measurement here")
    args = ap.parse_args()
    HQ, HKV = (int(x) for x in args.heads.split(":"))
    D = args.head_dim
    dtype = torch.float16 if args.dtype == "fp16" else torch.bfloat16
    out = open(args.json, "w") if args.json else None
    torch.manual_seed(0)
    for B in (int(x) for x in args.batches.split(",")):
        for L in (int(x) for x in args.lens.split(",")):
            q = torch.randn(B, HQ, 1, D, device="cuda", dtype=dtype)
            k = torch.randn(B, HKV, L, D, device="cuda", dtype=dtype)
            v = torch.randn(B, HKV, L, D, device="cuda", dtype=dtype)
            nbytes = 2 * B * L * HKV * D * 2
            iters = iterations_for(nbytes, args.iters)
            for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
                note = "enable_gqa"
                try:
                    with sdpa_kernel(backend):
                        fn = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
                        fn()
                        us = time_call(fn, args.warmup, iters)
                except Exception as e:  # backend refuses GQA: expand K/V (reads H_q/H_kv x the bytes)
                    if nbytes * HQ // HKV > EXPAND_LIMIT_BYTES:
                        print("BENCH torch-%s B=%d L=%d unavailable: GQA refused (%s), expansion too large"
                              % (name, B, L, str(e).splitlines()[0][:100]), flush=True)
                        continue
                    try:
                        ke, ve = k.repeat_interleave(HQ // HKV, dim=1), v.repeat_interleave(HQ // HKV, dim=1)
                        with sdpa_kernel(backend):
                            fn = lambda: F.scaled_dot_product_attention(q, ke, ve)
                            fn()
                            us = time_call(fn, args.warmup, iters)
                        note = "expanded (GQA refused: %s)" % str(e).splitlines()[0][:80]
                        del ke, ve
                    except Exception as e2:
                        print("BENCH torch-%s B=%d L=%d unavailable: %s" % (name, B, L, str(e2).splitlines()[0][:160]),
                              flush=True)
                        continue
                cold, warm = us
                row = {"impl": "torch-" + name, "mode": "decode", "dtype": args.dtype, "head_dim": D, "batch": B, "keys": L,
                       "heads_q": HQ, "heads_kv": HKV, "seqlen_q": 1, "bytes": nbytes, "cold_us": cold,
                       "cold_tbps": nbytes / (cold * 1e-6) / 1e12, "warm_us": warm,
                       "warm_tbps": nbytes / (warm * 1e-6) / 1e12, "iterations": iters, "note": note,
                       "torch": torch.__version__, "cudnn": torch.backends.cudnn.version()}
                print("BENCH torch-%s B=%d L=%d cold_us=%.2f cold_TBps=%.3f warm_us=%.2f warm_TBps=%.3f %s"
                      % (name, B, L, cold, row["cold_tbps"], warm, row["warm_tbps"], note), flush=True)
                if out:
                    out.write(json.dumps(row) + "\n")
                    out.flush()
            del q, k, v
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
