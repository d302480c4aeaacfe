"""my_kernel.py: stands in for a kernel team's attention kernel — a FlashAttention-2-style forward
written in NumPy: key tiles of BLOCK_N, a running row max and row sum in FP32, the accumulator
rescaled when the max grows, P cast to the input dtype before P @ V (as FA2 does), the output
divided by the row sum at the end and rounded once. Layout bhsd ([B, H, S, D], PyTorch's).

A bug can be planted to see the checks catch it (MY_KERNEL_BUG, or bug=):
  top-left      causal mask aligned top-left (PyTorch's is_causal) instead of bottom-right
  gqa-modulo    query head h reads KV head h % H_kv instead of h // (H_q / H_kv)
"""
import numpy as np

from attnscope.worker import round_to_dtype

BLOCK_N = 32


def attention(q, k, v, scale, causal=True, dtype="fp16", bug=""):
    """q [B, H_q, S_q, D], k/v [B, H_kv, S_k, D] (values of `dtype`) -> o [B, H_q, S_q, D], float32
    holding values of `dtype`. causal = bottom-right aligned: query i sees key j <= i + S_k - S_q."""
    batch, hq, sq, dim = q.shape
    hkv, sk = k.shape[1], k.shape[2]
    group = hq // hkv
    o = np.zeros((batch, hq, sq, dim), dtype=np.float32)
    rows = np.arange(sq)[:, None]
    offset = 0 if bug == "top-left" else sk - sq
    for b in range(batch):
        for h in range(hq):
            kv = h % hkv if bug == "gqa-modulo" else h // group
            qh = q[b, h].astype(np.float32)
            m = np.full((sq, 1), -np.inf, dtype=np.float32)   # running max (S_q, 1)
            l = np.zeros((sq, 1), dtype=np.float32)           # running sum (S_q, 1)
            acc = np.zeros((sq, dim), dtype=np.float32)       # (S_q, D)
            for j0 in range(0, sk, BLOCK_N):
                kt = k[b, kv, j0:j0 + BLOCK_N].astype(np.float32)          # (BLOCK_N, D)
                vt = v[b, kv, j0:j0 + BLOCK_N].astype(np.float32)
                s = (qh @ kt.T) * np.float32(scale)                           # (S_q, BLOCK_N)
                if causal:
                    cols = j0 + np.arange(kt.shape[0])[None, :]
                    s = np.where(cols <= rows + offset, s, -np.inf).astype(np.float32)
                m_new = np.maximum(m, s.max(axis=1, keepdims=True))
                safe = np.where(np.isinf(m_new), 0, m_new).astype(np.float32)  # a row with no key yet
                p = np.exp(s - safe).astype(np.float32)
                alpha = np.exp(np.where(np.isinf(m), -np.inf, m - safe)).astype(np.float32)
                l = alpha * l + p.sum(axis=1, keepdims=True, dtype=np.float32)
                p_cast = round_to_dtype(p, dtype).astype(np.float32)      # P in the input dtype for P @ V
                acc = alpha * acc + p_cast @ vt
                m = m_new
            o[b, h] = np.where(l > 0, acc / np.where(l > 0, l, 1), 0)
    return round_to_dtype(o, dtype).astype(np.float32)
