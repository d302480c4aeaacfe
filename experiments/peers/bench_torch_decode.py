#!/usr/bin/env python3
"""bench_torch_decode.py: PyTorch SDPA decode peers (flash and cuDNN backends) on the decode
bandwidth shapes of tests/gpu/test_decode.cpp "[.bench]": B 8, 32 query / 8 KV heads, D 128,
S_q 1, L keys in {4096, 16384, 65536}, FP16. Bandwidth = bytes of K and V (2 x B x L x H_kv x D x 2)
over the time of one call, measured as tests/gpu/test_decode.cpp measures ours: "cold" = median
of --iters calls each timed alone (CUDA events) after a 256 MiB memset evicted L2; "warm" = mean
of --iters back-to-back calls. GQA through enable_gqa=True;
where a backend refuses it, K/V are expanded to 32 heads first (the line says "expanded" and the
bandwidth still counts the unique 8-head bytes). Prints one "BENCH torch-<backend> ..." line per
shape. Not a correctness check."""
import argparse

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
import torch.nn.functional as F


SCRATCH = None


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
    ap.add_argument("--iters", type=int, default=100)
    args = ap.parse_args()
    B, HQ, HKV, D = 8, 32, 8, 128
    torch.manual_seed(0)
    for L in (4096, 16384, 65536):
        q = torch.randn(B, HQ, 1, D, device="cuda", dtype=torch.float16)
        k = torch.randn(B, HKV, L, D, device="cuda", dtype=torch.float16)
        v = torch.randn(B, HKV, L, D, device="cuda", dtype=torch.float16)
        nbytes = 2 * B * L * HKV * D * 2
        for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            note = "enable_gqa"
            try:
                with sdpa_kernel(backend):
                    fn = lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
                    fn()
                    us = time_call(fn, args.warmup, args.iters)
            except Exception as e:  # backend refuses GQA: expand K/V (reads 4x the bytes)
                try:
                    ke, ve = k.repeat_interleave(HQ // HKV, dim=1), v.repeat_interleave(HQ // HKV, dim=1)
                    with sdpa_kernel(backend):
                        fn = lambda: F.scaled_dot_product_attention(q, ke, ve)
                        fn()
                        us = time_call(fn, args.warmup, args.iters)
                    note = "expanded (GQA refused: %s)" % str(e).splitlines()[0][:80]
                    del ke, ve
                except Exception as e2:
                    print("BENCH torch-%s L=%d unavailable: %s" % (name, L, str(e2).splitlines()[0][:160]), flush=True)
                    continue
            cold, warm = us
            print("BENCH torch-%s L=%d cold_us=%.2f cold_TBps=%.3f warm_us=%.2f warm_TBps=%.3f %s"
                  % (name, L, cold, nbytes / (cold * 1e-6) / 1e12, warm, nbytes / (warm * 1e-6) / 1e12, note), flush=True)
        del q, k, v
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
