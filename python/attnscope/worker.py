"""attnscope.worker: the worker side of attnscope's external-kernel protocol, in pure Python +
NumPy (no compiled attnscope needed), so that any kernel — NumPy, Triton, a PyTorch extension —
can be swept, diagnosed and gated by `attnscope sweep` through an `[[external]]` entry.

attnscope writes one JSON line per point on the worker's stdin:
    {"id": 12, "dir": "/tmp/.../12", "problem": {"batch": 1, "seqlen_q": 7, "seqlen_k": 307,
     "num_heads_q": 8, "num_heads_kv": 2, "head_dim": 64, "dtype": "fp16", "mask": "causal",
     "window": null, "scale": 0.125, "gqa": "contiguous", "seq_lens": null, "layout": "bhsd", ...}}
The folder holds q.npy, k.npy, v.npy (+ seq_lens.npy) in the problem's layout: fp16 as float16,
fp32 as float32, bf16 as uint16 bit patterns (NumPy has no bfloat16). The worker writes o.npy
there and answers {"id": 12, "ok": true, "kernel_ms": 0.4, "run_ms": 3.1} (the kernel's own time,
and the time spent in `run`, timing repetitions included: attnscope counts the rest as the
protocol's overhead), or {"ok": false, "error": "..."}
(an ERROR row) or {"ok": false, "invalid": "..."} (this kernel cannot run that problem: an
INVALID row). Nothing else may be written to stdout: log to stderr.

    from attnscope.worker import serve
    def run(problem, inputs):           # inputs: q, k, v (+ seq_lens), NumPy, problem's layout
        return my_attention(inputs["q"], inputs["k"], inputs["v"], ...)   # o, same layout
    serve(run)

`run` returns o (any float array; it is rounded once to the problem's dtype when saved) or
(o, kernel_ms) to report its own kernel time; it raises `Invalid("reason")` for a problem it
cannot run. Semantics the problem asks for (attnscope's contract, DESIGN.md): causal = bottom-
right aligned (query i sees key j iff j <= i + S_k - S_q), "top-left" is PyTorch's is_causal;
GQA contiguous (query head h reads KV head h // (H_q / H_kv)); seq_lens[b] = valid keys of
batch entry b (bottom-right against that length); a row that sees no key outputs 0.
"""
import json
import os
import sys
import time

import numpy as np

__all__ = ["Invalid", "serve", "load_inputs", "save_output", "round_to_dtype", "bf16_bits", "bf16_values",
           "visible_keys"]


class Invalid(Exception):
    """Raised by a kernel for a problem it cannot run (answered as an INVALID point, not an error)."""


def bf16_values(bits):
    """uint16 bfloat16 bit patterns -> float32 holding exactly those values."""
    return (np.asarray(bits).astype(np.uint32) << 16).view(np.float32)


def bf16_bits(x):
    """float array -> uint16 bfloat16 bit patterns, rounded to nearest, ties to even (NaN kept NaN)."""
    f = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    u = f.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(f), np.uint16(0x7FC0), rounded)


def _round_to_bits(x, precision, emin, emax):
    """float64 x rounded once (nearest, ties to even) to a binary format with `precision`
    significant bits, gradual underflow below 2^emin and overflow to inf above its largest value.
    Works on the float64 bit pattern, so there is no double rounding through float32."""
    drop = 53 - precision
    u = x.view(np.uint64)
    half_minus_one = np.uint64((1 << (drop - 1)) - 1)
    r = ((u + half_minus_one + ((u >> np.uint64(drop)) & np.uint64(1))) >> np.uint64(drop)) << np.uint64(drop)
    y = r.view(np.float64)
    quantum = 2.0 ** (emin - precision + 1)  # subnormal spacing: fixed, so round the multiple
    y = np.where(np.abs(x) < 2.0 ** emin, np.round(x / quantum) * quantum, y)
    y = np.where(np.abs(y) >= 2.0 ** (emax + 1), np.copysign(np.inf, x), y)
    return np.where(np.isnan(x), x, y)


def round_to_dtype(x, dtype):
    """x rounded once to attnscope dtype 'fp16' | 'bf16' | 'fp32' | 'fp64', as float64 values."""
    x = np.asarray(x, dtype=np.float64)
    if dtype == "fp16":
        return x.astype(np.float16).astype(np.float64)
    if dtype == "bf16":
        return _round_to_bits(x, precision=8, emin=-126, emax=127)
    if dtype == "fp32":
        return x.astype(np.float32).astype(np.float64)
    if dtype == "fp64":
        return x
    raise ValueError(f"unknown dtype {dtype!r} (fp16, bf16, fp32, fp64)")


def load_inputs(folder, problem):
    """q, k, v (+ seq_lens) of a request folder as NumPy arrays in the problem's layout:
    fp16 -> float16, bf16 -> float32 holding the bf16 values, fp32 -> float32."""
    out = {}
    for name in ("q", "k", "v"):
        a = np.load(os.path.join(folder, name + ".npy"), allow_pickle=False)
        out[name] = bf16_values(a) if problem["dtype"] == "bf16" else a
    path = os.path.join(folder, "seq_lens.npy")
    out["seq_lens"] = np.load(path, allow_pickle=False) if os.path.exists(path) else None
    return out


def save_output(folder, o, problem, widen=False):
    """Writes o.npy: rounded once to the problem's dtype; fp16 as float16, bf16 as uint16 bits
    (or, with widen=True, float32 holding the rounded values), fp32 as float32."""
    dtype = problem["dtype"]
    o = np.asarray(o)
    if dtype == "fp16":
        data = o.astype(np.float16)
        if widen:
            data = data.astype(np.float32)
    elif dtype == "bf16":
        # float32 input rounds directly; wider input is rounded once from float64 (no double rounding)
        bits = bf16_bits(o) if o.dtype == np.float32 else bf16_bits(round_to_dtype(o, "bf16").astype(np.float32))
        data = bf16_values(bits) if widen else bits
    elif dtype == "fp32":
        data = o.astype(np.float32)
    else:
        data = o.astype(np.float64)
    tmp = os.path.join(folder, "o.partial.npy")
    np.save(tmp, np.ascontiguousarray(data), allow_pickle=False)
    os.replace(tmp, os.path.join(folder, "o.npy"))


def visible_keys(problem, i, keys):
    """Boolean mask over key indices 0..keys-1 that query row i sees (attnscope's mask rule)."""
    sq = problem["seqlen_q"]
    j = np.arange(keys)
    diagonal = i + keys - sq
    mask = problem["mask"]
    if mask == "causal":
        return j <= diagonal
    if mask == "top-left":
        return j <= i
    if mask == "none":
        return np.ones(keys, dtype=bool)
    if mask.startswith("window:"):
        left, right = (int(x) for x in mask[len("window:"):].split(","))
        ok = np.ones(keys, dtype=bool)
        if left >= 0:
            ok &= j >= diagonal - left
        if right >= 0:
            ok &= j <= diagonal + right
        return ok
    raise Invalid(f"unknown mask {mask!r}")


def _answer(stdout, reply):
    stdout.write(json.dumps(reply) + "\n")
    stdout.flush()


def _exit_with_parent():
    """Linux: SIGTERM this worker when the attnscope that started it dies (even by SIGKILL), so a
    worker busy in a long kernel call never outlives its sweep. Best effort elsewhere."""
    try:
        import ctypes
        import signal
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def serve(run, stdin=None, stdout=None, before=None, widen=False):
    """Answers requests until stdin closes (EOF: attnscope is done or gone). `before(request_number,
    request)` is called first (tests use it to inject faults)."""
    _exit_with_parent()
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    count = 0
    for line in stdin:
        if not line.strip():
            continue
        count += 1
        request = json.loads(line)
        rid = request.get("id")
        try:
            if before is not None:
                before(count, request)
            problem = request["problem"]
            inputs = load_inputs(request["dir"], problem)
            t0 = time.perf_counter()
            result = run(problem, inputs)
            elapsed_ms = (time.perf_counter() - t0) * 1e3
            o, kernel_ms = result if isinstance(result, tuple) else (result, elapsed_ms)
            save_output(request["dir"], o, problem, widen=widen)
            _answer(stdout, {"id": rid, "ok": True, "kernel_ms": kernel_ms, "run_ms": elapsed_ms})
        except Invalid as e:
            _answer(stdout, {"id": rid, "ok": False, "invalid": str(e)})
        except Exception as e:  # noqa: BLE001 — every failure is answered, never swallowed
            print(f"worker: request {rid}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            _answer(stdout, {"id": rid, "ok": False, "error": f"{type(e).__name__}: {e}"})
