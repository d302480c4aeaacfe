#!/usr/bin/env python3
"""dump_torch_sdpa.py: run PyTorch SDPA's backends on generated inputs and write one safetensors
file per backend with q, k, v, o in attnscope's [B, S, H, D] layout, for `attnscope diagnose`.

PyTorch's layout is [B, H, S, D]; the transpose to [B, S, H, D] is explicit, here. Note that SDPA's
is_causal=True is TOP-LEFT aligned when S_q != S_k (query i sees keys j <= i), while attnscope's
default causal mask is bottom-right aligned: diagnosing such a dump with `--mask causal` must
report the masking bug "top-left causal", and with `--mask top-left` no bug.

Needs only torch (safetensors is written with struct + json). Runs on a GPU (flash, cudnn,
efficient, math) or with --device cpu (math only).

--custom adds outputs of known numerics written here in torch, for the precision fingerprint
(issue #16; each is one PrecisionHypothesis of analysis/precision_hypotheses.h):
  p-e4m3 / p-e5m2  upcast softmax in FP32, P = softmax(S) cast to float8_e4m3fn / float8_e5m2
                   (torch's RNE cast), back to FP32, P V in FP32, output in the input dtype
  p-bf16 / p-fp16  the same with P cast to the other 16-bit format
  math-fp16        PyTorch's math backend before 2.5: q and k times sqrt(scale) in the input
                   dtype, S = q k^T and softmax in the input dtype, P V in the input dtype

  python3 dump_torch_sdpa.py --seqlen-q 10 --seqlen-k 74 --heads 8:2 --dim 64 --dtype fp16 \
      --causal --out dumps/
"""
import argparse
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

BACKENDS = {
    "flash": "FLASH_ATTENTION",
    "cudnn": "CUDNN_ATTENTION",
    "efficient": "EFFICIENT_ATTENTION",
    "math": "MATH",
}
DTYPES = {"fp16": (torch.float16, "F16"), "bf16": (torch.bfloat16, "BF16")}


def causal_mask(sq, sk, device):
    """SDPA's is_causal: top-left aligned (query i sees keys j <= i)."""
    return torch.ones(sq, sk, dtype=torch.bool, device=device).tril()


def softmax_p_cast(q, k, v, causal, p_dtype):
    """Upcast two-pass softmax with P cast to p_dtype before P V (enable_gqa: KV heads repeated)."""
    rep = q.shape[1] // k.shape[1]
    qf, kf, vf = q.float(), k.float().repeat_interleave(rep, 1), v.float().repeat_interleave(rep, 1)
    s = (qf @ kf.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if causal:
        s = s.masked_fill(~causal_mask(s.shape[-2], s.shape[-1], s.device), float("-inf"))
    p = torch.softmax(s, dim=-1).to(p_dtype).float()
    return (p @ vf).to(q.dtype)


def math_without_upcast(q, k, v, causal):
    """PyTorch's math backend before 2.5: scale split as sqrt onto q and k, all in the input dtype."""
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    sf = q.shape[-1] ** -0.25
    s = (q * sf) @ (k * sf).transpose(-2, -1)
    if causal:
        s = s.masked_fill(~causal_mask(s.shape[-2], s.shape[-1], s.device), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


CUSTOM = {
    "p-e4m3": lambda q, k, v, c: softmax_p_cast(q, k, v, c, torch.float8_e4m3fn),
    "p-e5m2": lambda q, k, v, c: softmax_p_cast(q, k, v, c, torch.float8_e5m2),
    "p-bf16": lambda q, k, v, c: softmax_p_cast(q, k, v, c, torch.bfloat16),
    "p-fp16": lambda q, k, v, c: softmax_p_cast(q, k, v, c, torch.float16),
    "math-fp16": math_without_upcast,
}


def write_safetensors(path, tensors, metadata):
    """tensors: name -> (contiguous CPU tensor, safetensors dtype string)."""
    header, chunks, offset = {}, [], 0
    for name, (t, dtype) in tensors.items():
        raw = t.contiguous().view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - (8 + len(blob)) % 8) % 8)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)  # never leave a truncated file behind


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seqlen-q", type=int, default=10)
    ap.add_argument("--seqlen-k", type=int, default=74)
    ap.add_argument("--heads", default="8:2", help="HQ:HKV")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp16")
    ap.add_argument("--causal", action="store_true", help="SDPA is_causal=True (top-left aligned!)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--backends", default="flash,cudnn,efficient,math")
    ap.add_argument("--custom", default="", help="comma list of known numerics to dump too: " + ",".join(sorted(CUSTOM)))
    ap.add_argument("--out", required=True, help="output folder")
    a = ap.parse_args()

    hq, hkv = (int(x) for x in a.heads.split(":"))
    if hq % hkv:
        sys.exit(f"--heads {a.heads}: HQ must be a multiple of HKV")
    dtype, st_dtype = DTYPES[a.dtype]
    gen = torch.Generator(device="cpu").manual_seed(a.seed)
    # Generated on the CPU (reproducible across devices), rounded to the dtype once.
    q = torch.randn(a.batch, hq, a.seqlen_q, a.dim, generator=gen).to(dtype)
    k = torch.randn(a.batch, hkv, a.seqlen_k, a.dim, generator=gen).to(dtype)
    v = torch.randn(a.batch, hkv, a.seqlen_k, a.dim, generator=gen).to(dtype)
    os.makedirs(a.out, exist_ok=True)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    gpu = torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu"
    custom = [c for c in a.custom.split(",") if c]
    for c in custom:
        if c not in CUSTOM:
            sys.exit(f"--custom {c}: unknown (known: {', '.join(sorted(CUSTOM))})")
    for name in [b for b in a.backends.split(",") if b] + custom:
        try:
            if name in CUSTOM:
                with torch.no_grad():
                    o = CUSTOM[name](q.to(a.device), k.to(a.device), v.to(a.device), a.causal)
            else:
                with sdpa_kernel(getattr(SDPBackend, BACKENDS[name])):
                    o = F.scaled_dot_product_attention(q.to(a.device), k.to(a.device), v.to(a.device),
                                                       is_causal=a.causal, enable_gqa=hq != hkv)
        except Exception as e:  # a backend that cannot run this shape says so and is skipped
            print(f"{name}: not run: {str(e).splitlines()[0]}")
            continue
        to_bshd = lambda t: t.detach().to("cpu").transpose(1, 2).contiguous()  # [B,H,S,D] -> [B,S,H,D]
        path = os.path.join(a.out, f"sdpa_{name}_{a.dtype}_sq{a.seqlen_q}_sk{a.seqlen_k}_h{hq}-{hkv}"
                                   f"{'_causal' if a.causal else ''}.safetensors")
        write_safetensors(path, {n: (to_bshd(t), st_dtype) for n, t in
                                 {"q": q, "k": k, "v": v, "o": o}.items()},
                          {"backend": name, "custom": name in CUSTOM, "torch": torch.__version__, "gpu": gpu, "is_causal": a.causal,
                           "mask_semantics": "top-left" if a.causal else "none", "seed": a.seed})
        print(f"{name}: wrote {path}")


if __name__ == "__main__":
    main()
