#!/usr/bin/env python3
"""sdpa_worker.py: PyTorch's production attention kernels behind attnscope's external-kernel
protocol (python/attnscope/worker.py), so `attnscope sweep` judges them against the same truth,
metrics, diagnosis and gate as attnscope's own kernels (experiments/sweeps/external_sdpa.toml).

  --backend flash | cudnn | efficient | math   F.scaled_dot_product_attention restricted to that
                                               backend (torch.nn.attention.sdpa_kernel)
  --backend flex                               FlexAttention (torch.compile'd, --compile), masks as mask_mod
  --causal bottom-right (default)              attnscope's causal: query i sees key j iff
                                               j <= i + S_k - S_q. SDPA: is_causal when S_q == S_k,
                                               else torch.nn.attention.bias.causal_lower_right;
                                               Flex: a mask_mod.
  --causal is-causal                           SDPA's is_causal=True as it is: TOP-LEFT aligned when
                                               S_q != S_k (a named variant; attnscope diagnoses it as
                                               "masking: top-left causal" against the contract)
  --gqa enable_gqa (default) | repeat          H_q != H_kv through SDPA's / Flex's enable_gqa, or K/V
                                               heads repeated (repeat_interleave: contiguous groups)
KV-cache lengths (seq_lens) and window masks go in as an explicit boolean mask (Flex: mask_mod);
a backend that cannot take it answers INVALID with PyTorch's reason, as does a backend that
cannot run a shape ("No available kernel"), an interleaved GQA mapping (SDPA has none), or a
torch without a needed feature. The problem's layout must be bhsd (PyTorch's own).

"kernel_ms" is the median of --time-reps CUDA-event-timed repetitions of the same call (the
output comes from the first, untimed call, which also pays any compilation).

Needs torch (and numpy). On a GPU machine: python3 experiments/peers/sdpa_worker.py --backend flash
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # a sweep reads the source tree; it leaves no __pycache__ behind
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from attnscope.worker import Invalid, serve  # noqa: E402

SDPA_BACKENDS = {"flash": "FLASH_ATTENTION", "cudnn": "CUDNN_ATTENTION", "efficient": "EFFICIENT_ATTENTION",
                 "math": "MATH"}
TORCH_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
# Messages by which PyTorch says a backend cannot run a problem (not a failure of the backend).
CANNOT_RUN = ("No available kernel", "not supported", "does not support", "Unsupported", "unsupported",
              "got an unexpected keyword argument")


def visible_mask(problem, seq_lens, device):
    """Boolean [B, 1, S_q, S_k] mask of attnscope's semantics (True = attend)."""
    batch, sq, sk = problem["batch"], problem["seqlen_q"], problem["seqlen_k"]
    i = torch.arange(sq, device=device).view(1, sq, 1)
    j = torch.arange(sk, device=device).view(1, 1, sk)
    keys = torch.full((batch, 1, 1), sk, device=device, dtype=torch.int64)
    if seq_lens is not None:
        keys = torch.as_tensor(seq_lens, device=device, dtype=torch.int64).view(batch, 1, 1)
    diagonal = i + keys - sq
    mask, ok = problem["mask"], j < keys
    if mask == "causal":
        ok = ok & (j <= diagonal)
    elif mask == "top-left":
        ok = ok & (j <= i)
    elif mask.startswith("window:"):
        left, right = (int(x) for x in mask[len("window:"):].split(","))
        if left >= 0:
            ok = ok & (j >= diagonal - left)
        if right >= 0:
            ok = ok & (j <= diagonal + right)
    elif mask != "none":
        raise Invalid(f"mask {mask!r} unknown to this worker")
    return ok.view(batch, 1, sq, sk)


def grouped_kv(problem, k, v, gqa, kwargs):
    """K/V for H_q != H_kv: enable_gqa (kwargs) or the KV heads repeated (contiguous groups)."""
    if problem["num_heads_q"] == problem["num_heads_kv"]:
        return k, v
    if gqa == "repeat":
        group = problem["num_heads_q"] // problem["num_heads_kv"]
        return k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    kwargs["enable_gqa"] = True
    return k, v


class Sdpa:
    def __init__(self, backend, causal, gqa):
        from torch.nn.attention import SDPBackend
        self.backend = getattr(SDPBackend, SDPA_BACKENDS[backend])
        self.causal, self.gqa = causal, gqa

    def __call__(self, problem, q, k, v, seq_lens):
        sq, sk, mask = problem["seqlen_q"], problem["seqlen_k"], problem["mask"]
        kwargs = {"scale": problem["scale"]}
        k, v = grouped_kv(problem, k, v, self.gqa, kwargs)
        if seq_lens is None and mask == "none":
            pass
        elif seq_lens is None and (mask == "top-left" or (mask == "causal" and (sq == sk or self.causal == "is-causal"))):
            kwargs["is_causal"] = True  # top-left; equal to bottom-right when S_q == S_k
        elif seq_lens is None and mask == "causal":
            from torch.nn.attention.bias import causal_lower_right
            kwargs["attn_mask"] = causal_lower_right(sq, sk)
        else:
            kwargs["attn_mask"] = visible_mask(problem, seq_lens, q.device)
        return lambda: F.scaled_dot_product_attention(q, k, v, **kwargs)


class Flex:
    def __init__(self, causal, gqa, compile_mode):
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention
        self.create_block_mask = create_block_mask
        # The production FlexAttention is the compiled one (uncompiled it runs a reference path).
        # dynamic=True: one compilation serves the sweep's many shapes (static recompiles per shape).
        self.flex = flex_attention if compile_mode == "none" else torch.compile(flex_attention,
                                                                                dynamic=compile_mode == "dynamic")
        # Never fall back silently to the uncompiled (reference) path after many recompilations:
        # its numerics are not the production kernel's.
        torch._dynamo.config.cache_size_limit = 1 << 12
        self.causal, self.gqa = causal, gqa

    def __call__(self, problem, q, k, v, seq_lens):
        batch, sq, sk, mask = problem["batch"], problem["seqlen_q"], problem["seqlen_k"], problem["mask"]
        # The mask_mods close over tensors only (no Python ints), so one compiled kernel serves
        # every S_q / S_k / cache length: keys[b] = valid keys, offset[b] = keys[b] - S_q.
        keys = torch.as_tensor(seq_lens if seq_lens is not None else [sk] * batch, device=q.device, dtype=torch.int64)
        offset = keys - sq
        if mask == "causal" and self.causal == "is-causal":
            mask = "top-left"
        if mask == "causal":
            def mask_mod(b, h, qi, kj):
                return (kj < keys[b]) & (kj <= qi + offset[b])
        elif mask == "top-left":
            def mask_mod(b, h, qi, kj):
                return (kj < keys[b]) & (kj <= qi)
        elif mask == "none":
            def mask_mod(b, h, qi, kj):
                return kj < keys[b]
        elif mask.startswith("window:"):
            left, right = (int(x) for x in mask[len("window:"):].split(","))
            lo = torch.tensor(left if left >= 0 else 1 << 40, device=q.device)
            hi = torch.tensor(right if right >= 0 else 1 << 40, device=q.device)

            def mask_mod(b, h, qi, kj):
                diagonal = qi + offset[b]
                return (kj < keys[b]) & (kj >= diagonal - lo) & (kj <= diagonal + hi)
        else:
            raise Invalid(f"mask {mask!r} unknown to this worker")
        block_mask = self.create_block_mask(mask_mod, batch, None, sq, sk, device=q.device)
        kwargs = {"block_mask": block_mask, "scale": problem["scale"]}
        k, v = grouped_kv(problem, k, v, self.gqa, kwargs)
        return lambda: self.flex(q, k, v, **kwargs)


def median_ms(call, reps, device):
    if reps <= 0 or device.type != "cuda":
        return None
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        call()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", required=True, choices=sorted(SDPA_BACKENDS) + ["flex"])
    ap.add_argument("--causal", default="bottom-right", choices=["bottom-right", "is-causal"])
    ap.add_argument("--gqa", default="enable_gqa", choices=["enable_gqa", "repeat"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--time-reps", type=int, default=5, help="timed repetitions for kernel_ms (CUDA only)")
    ap.add_argument("--compile", default="dynamic", choices=["dynamic", "static", "none"],
                    help="FlexAttention: torch.compile with dynamic shapes (default), per shape, or not at all")
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"sdpa_worker: torch {torch.__version__}, backend {args.backend}, causal {args.causal}, gqa {args.gqa}, "
          f"device {device}" + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""),
          file=sys.stderr, flush=True)
    try:
        attention = Flex(args.causal, args.gqa, args.compile) if args.backend == "flex" else \
            Sdpa(args.backend, args.causal, args.gqa)
    except (ImportError, AttributeError) as e:
        attention = e  # every request is then INVALID with the reason

    def run(problem, inputs):
        if isinstance(attention, Exception):
            raise Invalid(f"this torch ({torch.__version__}) lacks {args.backend}: {attention}")
        if problem["layout"] != "bhsd":
            raise Invalid("sdpa_worker takes the bhsd layout (declare layout = \"bhsd\")")
        if problem["gqa"] != "contiguous" and problem["num_heads_q"] != problem["num_heads_kv"]:
            raise Invalid("PyTorch's GQA is contiguous only (query head h reads KV head h // group)")
        if problem["dtype"] not in TORCH_DTYPES:
            raise Invalid(f"dtype {problem['dtype']} not supported")
        dtype = TORCH_DTYPES[problem["dtype"]]
        q, k, v = (torch.from_numpy(np.ascontiguousarray(inputs[n])).to(device=device, dtype=dtype) for n in "qkv")
        try:
            call = attention(problem, q, k, v, inputs["seq_lens"])
            with_backend = call
            if args.backend != "flex":
                from torch.nn.attention import sdpa_kernel

                def with_backend():
                    with sdpa_kernel([attention.backend]):
                        return call()
            o = with_backend()
            if device.type == "cuda":
                torch.cuda.synchronize()
            kernel_ms = median_ms(with_backend, args.time_reps, device)
        except (ImportError, AttributeError) as e:
            raise Invalid(f"this torch ({torch.__version__}) lacks a feature {args.backend} needs here: {e}") from None
        except (RuntimeError, TypeError, ValueError, NotImplementedError) as e:
            message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if any(marker in str(e) for marker in CANNOT_RUN):
                raise Invalid(f"{args.backend}: {message}") from None
            raise
        out = o.float().cpu().numpy()  # exact: fp16 / bf16 values are float32 values
        return (out, kernel_ms) if kernel_ms is not None else out

    serve(run)


if __name__ == "__main__":
    main()
