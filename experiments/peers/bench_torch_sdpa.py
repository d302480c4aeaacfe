#!/usr/bin/env python3
"""bench_torch_sdpa.py: times PyTorch SDPA's flash, cuDNN and efficient backends on the prefill
benchmark shapes of issue 4 (B*S = tokens, heads, D, S_q = S_k = S, causal and not, FP16/BF16)
with CUDA events: median of --iters launches after --warmup. One JSON object per line to --json.
The same shapes and FLOP count as `attnscope bench` (4 B H S^2 D, halved when causal), so
experiments/device/make_prefill_report.py can join the two. Not a correctness check."""
import argparse
import json
import statistics
import sys

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION}


def time_one(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    events = [torch.cuda.Event(enable_timing=True) for _ in range(iters + 1)]
    events[0].record()
    for i in range(iters):
        fn()
        events[i + 1].record()
    torch.cuda.synchronize()
    ms = [events[i].elapsed_time(events[i + 1]) for i in range(iters)]
    return statistics.median(ms), min(ms)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dtypes", default="fp16,bf16")
    ap.add_argument("--head-dims", default="128,64")
    ap.add_argument("--seqlens", default="512,1024,2048,4096,8192,16384")
    ap.add_argument("--tokens", type=int, default=16384)
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--backends", default="flash,cudnn,efficient")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--causal", choices=("both", "on", "off"), default="both")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    gpu = torch.cuda.get_device_name(0)
    out = open(a.json, "w")
    for dt in a.dtypes.split(","):
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[dt]
        for d in map(int, a.head_dims.split(",")):
            for s in map(int, a.seqlens.split(",")):
                b = max(1, a.tokens // s)
                g = torch.Generator(device="cuda").manual_seed(0)
                # [B, H, S, D], PyTorch's layout; uniform [-1, 1) like attnscope bench's inputs
                q, k, v = (torch.rand(b, a.heads, s, d, device="cuda", dtype=torch.float32, generator=g)
                           .mul_(2).sub_(1).to(dtype) for _ in range(3))
                for causal in {"both": (False, True), "on": (True,), "off": (False,)}[a.causal]:
                    flops = 4.0 * b * a.heads * s * s * d / (2 if causal else 1)
                    for name in a.backends.split(","):
                        row = dict(impl="torch." + name, dtype=dt, head_dim=d, batch=b, seqlen=s, heads=a.heads,
                                   causal=causal, gpu=gpu, torch=torch.__version__,
                                   cudnn=torch.backends.cudnn.version())
                        try:
                            with sdpa_kernel([BACKENDS[name]]):
                                fn = lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal)
                                med, mn = time_one(fn, a.warmup, a.iters)
                            row.update(median_ms=med, min_ms=mn, tflops=flops / (med * 1e-3) / 1e12)
                        except Exception as e:  # a backend that refuses the shape is recorded, not hidden
                            row.update(error=str(e).splitlines()[0][:200])
                        print(json.dumps(row), flush=True)
                        out.write(json.dumps(row) + "\n")
                del q, k, v
    out.close()


if __name__ == "__main__":
    sys.exit(main())
