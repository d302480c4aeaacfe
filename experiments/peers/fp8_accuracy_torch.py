#!/usr/bin/env python3
"""fp8_accuracy_torch.py: PyTorch SDPA's BF16 backends on the inputs of the FP8 accuracy table
(test_gpu "[.fp8-accuracy]" writes q.npy, k.npy, v.npy as BF16 bits in attnscope's [B, S, H, D]
layout and truth.npy, the certified FP64 truth, to $ATTNSCOPE_FP8_DUMP), the same metrics
(RMSE, max |error|, relative Frobenius error vs the truth), printed in the table's format.

PyTorch's layout is [B, H, S, D]: the transposes are explicit, here. No mask (FA3's setting),
softmax scale 1/sqrt(D) (SDPA's default, attnscope's too).

Also one independent "baseline FP8" row (torch.float8_e4m3fn, written here, not a PyTorch
backend): Q, K, V each quantized with ONE per-tensor scale amax / 448, the scores in FP32 (TF32
off), an exact-max softmax whose P (scaled by 256) is rounded to E4M3 while the row sum keeps
the FP32 P, O = P V / l in FP32. It is the per-tensor design without tiles (no online softmax):
a cross-check of attnscope's e4m3-tensor variant by another hand.

  python3 fp8_accuracy_torch.py DIR [--backends flash,cudnn,efficient,math]
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}


def load_bf16(path, device):
    bits = np.load(path)  # uint16, [B, S, H, D]
    t = torch.from_numpy(bits.astype(np.int16)).view(torch.bfloat16)
    return t.to(device).transpose(1, 2).contiguous()  # [B, H, S, D]


def fp8_baseline(q, k, v):
    """Per-tensor E4M3 attention in FP32 ([B, H, S, D] BF16 in, FP32 out); see the module text."""
    f8 = torch.float8_e4m3fn

    def quant(x):
        scale = x.float().abs().amax() / 448.0
        return (x.float() / scale).to(f8).float() * scale

    qf, kf, vf = quant(q), quant(k), quant(v)
    out = torch.empty(q.shape, dtype=torch.float32, device=q.device)
    for h in range(q.shape[1]):  # one head at a time: [S, S] FP32 scores
        s = (qf[:, h] @ kf[:, h].transpose(-1, -2)) / (q.shape[-1] ** 0.5)
        p = torch.exp(s - s.amax(-1, keepdim=True))
        l = p.sum(-1, keepdim=True)
        p8 = (p * 256.0).to(f8).float()
        out[:, h] = (p8 @ vf[:, h]) / (256.0 * l)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--backends", default="flash,cudnn,efficient,math")
    args = ap.parse_args()
    q, k, v = (load_bf16(os.path.join(args.dir, f"{n}.npy"), "cuda") for n in ("q", "k", "v"))
    truth = np.load(os.path.join(args.dir, "truth.npy"))  # float64, [B, S, H, D]
    norm = np.sqrt(np.sum(truth * truth))
    torch.backends.cuda.matmul.allow_tf32 = False

    def report(label, got):
        err = got - truth
        rmse = float(np.sqrt(np.mean(err * err)))
        print(f"fp8 accuracy: {label:40s} {rmse:12.4g} {float(np.max(np.abs(err))):12.4g} "
              f"{float(np.sqrt(np.sum(err * err)) / norm):12.4g}")

    try:
        report("baseline fp8 per-tensor (torch, fp32)", fp8_baseline(q, k, v).transpose(1, 2).double().cpu().numpy())
    except (RuntimeError, AttributeError, TypeError) as e:  # no float8 in this torch: said, never a fake row
        print(f"fp8 accuracy: {'baseline fp8 per-tensor (torch, fp32)':40s} unavailable: {str(e).splitlines()[0][:80]}")
    for name in args.backends.split(","):
        try:
            with sdpa_kernel([BACKENDS[name]]):
                o = F.scaled_dot_product_attention(q, k, v)
        except RuntimeError as e:  # a backend that refuses the shape says so, never a fake row
            print(f"fp8 accuracy: {'torch ' + name + ' (bf16)':40s} unavailable: {str(e).splitlines()[0][:80]}")
            continue
        report(f"torch {name} (bf16)", o.transpose(1, 2).float().double().cpu().numpy())
    print(f"fp8 accuracy: torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}", file=sys.stderr)


if __name__ == "__main__":
    main()
