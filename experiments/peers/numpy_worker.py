#!/usr/bin/env python3
"""numpy_worker.py: a pure-NumPy attention kernel behind attnscope's external-kernel protocol
(python/attnscope/worker.py), correct or with one planted bug, for the CPU tests of the
`[[external]]` path and as the simplest example of a worker.

The kernel: FP32 scores (q . k in float32, times the scale), a max-subtracted FP32 softmax, FP32
P @ V, the output rounded once to the problem's dtype — the numerics of an "upcast" kernel, so a
correct run sits at the rounding floor (excess ~1). Planted bugs (--bug), each a meaning a real
kernel has gotten wrong, and the category attnscope's diagnosis must name:
  top-left-mask       causal mask aligned top-left (PyTorch's is_causal) instead of bottom-right  masking
  unmasked-tile-edge  keys padded to a multiple of --tile leak into the softmax (score 0, V 0)    masking
  interleaved-gqa     query head h reads KV head h % H_kv instead of h // (H_q / H_kv)             gqa
  stale-cache-length  the newest key of every batch entry is not read (length - 1)               cache-length
  wrong-scale         scores scaled by 1/D instead of the declared scale                          scale
  p-e4m3              P = exp(s - m) rounded to FP8 e4m3 before P @ V                              intermediate-precision
Faults for the protocol tests (--fault KIND@N: at this process's N-th request; with
--fault-marker FILE only once across restarts): kill (SIGKILL itself), exit (status 3), hang,
garbage (a non-JSON line), wrong-id, wrong-shape, nan, error (ok false), invalid (ok false).
--mha-only declines every problem with H_q != H_kv (the probe's fallback test).

Needs only NumPy. Run by attnscope, e.g. (experiments/sweeps/external_numpy.toml):
  [[external]]
  name = "numpy.top-left-mask"
  command = ["python3", "{spec_dir}/../peers/numpy_worker.py", "--bug", "top-left-mask"]
  layout = "bhsd"
"""
import argparse
import json
import os
import signal
import sys
import time

try:
    import numpy as np
except ImportError:  # a python3 without NumPy (e.g. a pyenv shim): try Debian's, same CPython ABI
    sys.path.append("/usr/lib/python3/dist-packages")
    import numpy as np

sys.dont_write_bytecode = True  # a sweep reads the source tree; it leaves no __pycache__ behind
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from attnscope.worker import Invalid, serve, visible_keys  # noqa: E402

BUGS = {
    "none": "",
    "top-left-mask": "masking",
    "unmasked-tile-edge": "masking",
    "interleaved-gqa": "gqa",
    "stale-cache-length": "cache-length",
    "wrong-scale": "scale",
    "p-e4m3": "intermediate-precision",
}
FAULTS = ("kill", "exit", "hang", "garbage", "wrong-id", "wrong-shape", "nan", "error", "invalid")


def round_e4m3(p):
    """Non-negative values rounded to FP8 e4m3 (3 mantissa bits, emin -6, subnormals; P <= 1 never
    reaches its largest value 448), ties to even."""
    p = np.asarray(p, dtype=np.float64)
    exponent = np.floor(np.log2(np.where(p > 0, p, 1.0)))
    quantum = 2.0 ** (np.maximum(exponent, -6.0) - 3.0)
    return np.where(p > 0, np.round(p / quantum) * quantum, 0.0)


def to_bshd(x, layout):
    return x if layout == "bshd" else np.swapaxes(x, 1, 2)


def attention(problem, q, k, v, seq_lens, bug, tile):
    """q [B, S_q, H_q, D], k/v [B, S_k, H_kv, D] (float arrays) -> o [B, S_q, H_q, D] float32."""
    batch, sq, hq, dim = q.shape
    sk, hkv = k.shape[1], k.shape[2]
    group = hq // hkv
    scale = 1.0 / dim if bug == "wrong-scale" else problem["scale"]
    q32, k32, v32 = (np.asarray(x, dtype=np.float32) for x in (q, k, v))
    o = np.zeros((batch, sq, hq, dim), dtype=np.float32)
    row_problem = dict(problem, mask="top-left" if bug == "top-left-mask" and problem["mask"] == "causal" else problem["mask"])
    for b in range(batch):
        keys = int(seq_lens[b]) if seq_lens is not None else sk
        if bug == "stale-cache-length":
            keys = max(keys - 1, 0)
        padded = -(-keys // tile) * tile if bug == "unmasked-tile-edge" else keys
        kb = np.zeros((padded, hkv, dim), dtype=np.float32)
        vb = np.zeros((padded, hkv, dim), dtype=np.float32)
        kb[:keys], vb[:keys] = k32[b, :keys], v32[b, :keys]
        for h in range(hq):
            kv = h % hkv if bug == "interleaved-gqa" else h // group
            scores = (q32[b, :, h, :] @ kb[:, kv, :].T) * np.float32(scale)  # (S_q, padded)
            for i in range(sq):
                visible = np.zeros(padded, dtype=bool)
                visible[:keys] = visible_keys(row_problem, i, keys) if keys else False
                if padded > keys and keys > 0 and visible[keys - 1]:
                    visible[keys:] = True  # the tile-edge leak: padding past the last key is not masked
                if not visible.any():
                    continue  # a row that sees no key: output 0
                s = np.where(visible, scores[i], -np.inf).astype(np.float32)
                p = np.exp(s - s.max()).astype(np.float32)
                row_sum = p.sum(dtype=np.float32)
                if bug == "p-e4m3":
                    p = round_e4m3(p).astype(np.float32)
                o[b, i, h] = (p @ vb[:, kv, :]) / row_sum
    return o


def make_fault(spec, marker):
    if not spec:
        return None
    kind, _, when = spec.partition("@")
    if kind not in FAULTS or not when.isdigit():
        raise SystemExit(f"numpy_worker: --fault must be KIND@N with KIND in {', '.join(FAULTS)}")
    at = int(when)

    def before(count, request):
        if count != at or (marker and os.path.exists(marker)):
            return
        if marker:
            open(marker, "w").close()
        print(f"numpy_worker: fault '{kind}' at request {count}", file=sys.stderr, flush=True)
        if kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if kind == "exit":
            os._exit(3)
        if kind == "hang":
            time.sleep(3600)
        if kind == "garbage":
            sys.stdout.write("this is not JSON\n")
            sys.stdout.flush()
            time.sleep(3600)  # attnscope must not wait for a second line
        if kind == "wrong-id":
            sys.stdout.write(json.dumps({"id": request["id"] + 1000, "ok": True}) + "\n")
            sys.stdout.flush()
            time.sleep(3600)
        if kind == "error":
            raise RuntimeError("planted worker error")
        if kind == "invalid":
            raise Invalid("this worker declines the problem (planted)")
        request["fault"] = kind  # wrong-shape / nan: applied to the output
    return before


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bug", default="none", choices=sorted(BUGS))
    ap.add_argument("--tile", type=int, default=64, help="key tile of the unmasked-tile-edge bug")
    ap.add_argument("--widen", action="store_true", help="write o as float32 holding the rounded values")
    ap.add_argument("--mha-only", action="store_true",
                    help="decline H_q != H_kv (invalid), as SDPA's efficient backend declines enable_gqa")
    ap.add_argument("--fault", default="", help="KIND@N (tests): " + ", ".join(FAULTS))
    ap.add_argument("--fault-marker", default="", help="fire the fault once across restarts")
    args = ap.parse_args()
    fault = make_fault(args.fault, args.fault_marker)
    pending = {}

    def before(count, request):
        if fault:
            fault(count, request)
        pending["fault"] = request.get("fault")

    def run(problem, inputs):
        if args.mha_only and problem["num_heads_q"] != problem["num_heads_kv"]:
            raise Invalid("mha-only: No available kernel for H_q != H_kv")
        layout = problem["layout"]
        q, k, v = (to_bshd(inputs[n], layout) for n in ("q", "k", "v"))
        o = attention(problem, q, k, v, inputs["seq_lens"], args.bug, args.tile)
        if pending.get("fault") == "wrong-shape":
            o = o[:, :, :, :-1]
        if pending.get("fault") == "nan":
            o[0, 0, 0, 0] = np.nan
        return np.ascontiguousarray(to_bshd(o, layout))  # bshd <-> bhsd is its own inverse

    serve(run, before=before, widen=args.widen)


if __name__ == "__main__":
    main()
