#!/usr/bin/env python3
"""fp8_accuracy_torch.py: PyTorch SDPA's BF16 backends on the inputs of the FP8 accuracy table
(test_gpu "[.fp8-accuracy]" writes q.npy, k.npy, v.npy as BF16 bits in attnscope's [B, S, H, D]
layout and truth.npy, the certified FP64 truth, to $ATTNSCOPE_FP8_DUMP), the same metrics
(RMSE, max |error|, relative Frobenius error vs the truth), printed in the table's format.

PyTorch's layout is [B, H, S, D]: the transposes are explicit, here. No mask (FA3's setting),
softmax scale 1/sqrt(D) (SDPA's default, attnscope's too).

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--backends", default="flash,cudnn,efficient,math")
    args = ap.parse_args()
    q, k, v = (load_bf16(os.path.join(args.dir, f"{n}.npy"), "cuda") for n in ("q", "k", "v"))
    truth = np.load(os.path.join(args.dir, "truth.npy"))  # float64, [B, S, H, D]
    norm = np.sqrt(np.sum(truth * truth))
    for name in args.backends.split(","):
        try:
            with sdpa_kernel([BACKENDS[name]]):
                o = F.scaled_dot_product_attention(q, k, v)
        except RuntimeError as e:  # a backend that refuses the shape says so, never a fake row
            print(f"fp8 accuracy: {'torch ' + name + ' (bf16)':40s} unavailable: {str(e).splitlines()[0][:80]}")
            continue
        got = o.transpose(1, 2).float().double().cpu().numpy()
        err = got - truth
        rmse = float(np.sqrt(np.mean(err * err)))
        print(f"fp8 accuracy: {'torch ' + name + ' (bf16)':40s} {rmse:12.4g} {float(np.max(np.abs(err))):12.4g} "
              f"{float(np.sqrt(np.sum(err * err)) / norm):12.4g}")
    print(f"fp8 accuracy: torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}", file=sys.stderr)


if __name__ == "__main__":
    main()
