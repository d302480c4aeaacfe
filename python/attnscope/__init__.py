"""attnscope: numerical accuracy of attention kernels, from Python.

Judge your kernel's output exactly like attnscope judges its own: against the certified truth
of the inputs your kernel saw, with the rounding floor, the FlashAttention rule against a
same-precision naive baseline, and the semantic diagnosis (mask corner, tile-edge leak, wrong KV
head, stale cache length, wrong scale, ...).

    import attnscope
    case = attnscope.make_case(seqlen_q=7, cache_depth=300, heads=(8, 2), dtype="fp16", layout="bhsd")
    o = my_kernel(case["q"], case["k"], case["v"])            # NumPy, or torch via .numpy()
    r = attnscope.check(o, case["q"], case["k"], case["v"], layout="bhsd")
    assert r["fa_rule_pass"], r["verdict"]

Arrays: NumPy arrays or torch tensors (moved to the CPU; bfloat16 widened to float32 exactly).
The problem's dtype is q's (float16 -> fp16, ml_dtypes/torch bfloat16 -> bf16, float32 -> fp32)
unless `dtype=` says otherwise (e.g. dtype="bf16" for float32 arrays holding bf16 values, or for
uint16 bit patterns). Semantics follow attnscope's contract (docs in the README / DESIGN.md):
mask "causal" is bottom-right aligned ("top-left" is PyTorch's is_causal), GQA "contiguous"
(query head h reads KV head h // (H_q / H_kv)), `seq_lens[b]` = valid keys of batch entry b,
layout "bshd" = [B, S, H, D] (FlashAttention) or "bhsd" = [B, H, S, D] (PyTorch).

Importing needs nothing; calling needs NumPy (an interpreter without it — e.g. a pyenv python3 of
the same CPython version as Debian's — falls back to Debian's /usr/lib/python3/dist-packages).
`attnscope.worker` is the pure-Python side of the sweep protocol (`[[external]]` kernels).
"""
import json
import math
import os
import sys

__all__ = ["truth", "check", "diagnose", "make_case", "worker"]

_DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def _numpy():
    try:
        import numpy
    except ImportError:
        # Same CPython minor version as Debian's interpreter: its NumPy is ABI-compatible.
        if sys.version_info[:2] == (3, 11) and os.path.isdir(os.path.join(_DEBIAN_DIST_PACKAGES, "numpy")):
            sys.path.append(_DEBIAN_DIST_PACKAGES)
            import numpy
        else:
            raise ImportError("attnscope needs NumPy in this interpreter (" + sys.executable + "): "
                              "pip install numpy, or use /usr/bin/python3") from None
    return numpy


def _core():
    from . import _attnscope
    return _attnscope


def __getattr__(name):  # `attnscope.worker` without importing NumPy at `import attnscope`
    if name == "worker":
        _numpy()
        from . import worker
        return worker
    raise AttributeError(f"module 'attnscope' has no attribute {name!r}")


_NUMPY_DTYPES = {"float16": "fp16", "float32": "fp32", "float64": "fp64", "bfloat16": "bf16"}


def _as_array(x, name, declared=None):
    """x (NumPy array, torch tensor, or array-like) -> (float64 C array, stored attnscope dtype)."""
    np = _numpy()
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        t = x.detach().cpu()
        stored = str(t.dtype).replace("torch.", "")
        if stored == "bfloat16":
            t = t.float()  # exact: every bfloat16 value is a float32 value
        x = t.numpy()
    else:
        x = np.asarray(x)
        stored = x.dtype.name
    if stored == "uint16" and declared == "bf16":
        from .worker import bf16_values
        return np.ascontiguousarray(bf16_values(x), dtype=np.float64), "bf16"
    if stored == "bfloat16":  # ml_dtypes
        x = x.astype(np.float32)
    if stored not in _NUMPY_DTYPES:
        raise TypeError(f"attnscope: {name} has dtype {stored}; expected float16, bfloat16, float32 or float64 "
                        "(or uint16 bfloat16 bit patterns with dtype='bf16')")
    return np.ascontiguousarray(x, dtype=np.float64), _NUMPY_DTYPES[stored]


def _operands(q, k, v, dtype):
    q64, q_stored = _as_array(q, "q", dtype)
    k64, _ = _as_array(k, "k", dtype)
    v64, _ = _as_array(v, "v", dtype)
    return q64, k64, v64, dtype or q_stored


def _seq_lens(seq_lens):
    if seq_lens is None:
        return None
    np = _numpy()
    return [int(x) for x in np.asarray(seq_lens).reshape(-1)]


def truth(q, k, v, mask="causal", scale=None, gqa="contiguous", seq_lens=None, layout="bshd", dtype=None):
    """The exact attention of q, k, v (values of their dtype) as a float64 array in `layout`."""
    q64, k64, v64, dt = _operands(q, k, v, dtype)
    return _core().truth(q64, k64, v64, dt, mask, scale, gqa, _seq_lens(seq_lens), layout)


def check(o, q, k, v, mask="causal", scale=None, gqa="contiguous", seq_lens=None, layout="bshd", dtype=None,
          max_rows=256):
    """Judges the output o of a kernel on q, k, v. Returns a dict: max_abs, rmse, ulp_max, excess,
    fa_rule_pass, fa_rule_bound, verdict, category, pass (rule + finite + no bug diagnosed),
    failures, fits_layout, out_dtype, and the full `metrics` and `diagnosis`."""
    q64, k64, v64, dt = _operands(q, k, v, dtype)
    o64, o_stored = _as_array(o, "o", dtype)
    r = json.loads(_core().check(o64, o_stored, q64, k64, v64, dt, mask, scale, gqa, _seq_lens(seq_lens), layout,
                                 max_rows))
    m, dx = r["metrics"], r["diagnosis"]
    return {
        "max_abs": m["kernel"]["max_abs"],
        "rmse": m["kernel"]["rmse"],
        "ulp_max": m["kernel"]["ulp_max"],
        "excess": m["excess"],
        "fa_rule_pass": m.get("fa_rule_pass"),
        "fa_rule_bound": m.get("fa_rule_bound"),
        "verdict": r["verdict"],
        "category": dx["category"],
        "pass": r["pass"],
        "failures": r["failures"],
        "fits_layout": r["fits_layout"],
        "out_dtype": r["out_dtype"],
        "metrics": m,
        "diagnosis": dx,
    }


def diagnose(q, k, v, o, mask="causal", scale=None, gqa="contiguous", seq_lens=None, layout="bshd", dtype=None,
             max_rows=256):
    """Semantic diagnosis of o. Returns a dict: verdict (the CLI's verdict line), category, bug,
    fits_layout, and evidence (declared and alternative semantics with their excess, where)."""
    q64, k64, v64, dt = _operands(q, k, v, dtype)
    o64, o_stored = _as_array(o, "o", dtype)
    r = json.loads(_core().diagnose(q64, k64, v64, o64, o_stored, dt, mask, scale, gqa, _seq_lens(seq_lens), layout,
                                    max_rows))
    return {
        "verdict": r["verdict_line"],
        "category": r["category"],
        "bug": r["bug"],
        "fits_layout": r["fits_layout"],
        "problem": r["problem"],
        "evidence": {key: r[key] for key in ("declared", "alternatives", "also_matching", "where", "rows_checked",
                                             "rows_total")},
    }


def make_case(seqlen_q=64, seqlen_k=None, cache_depth=0, heads=(8, 2), head_dim=64, batch=1, dtype="fp16",
              mask="causal", scale=None, gqa="contiguous", seq_lens=None, distribution="normal", seed=0,
              layout="bshd", with_truth=False):
    """The inputs a sweep point of this problem uses (same generator, same seed): a dict with q, k,
    v (float16 for fp16; float32 holding the values for bf16 and fp32), seq_lens (or None), the
    problem (dict), its label, and the float64 truth when with_truth=True. seqlen_k defaults to
    seqlen_q + cache_depth (bottom-right: the cache precedes the queries); heads is (H_q, H_kv),
    "HQ:HKV" or H."""
    np = _numpy()
    if isinstance(heads, str):
        hq, _, hkv = heads.partition(":")
        heads = (int(hq), int(hkv or hq))
    elif isinstance(heads, int):
        heads = (heads, heads)
    problem = {
        "batch": batch, "seqlen_q": seqlen_q, "seqlen_k": seqlen_k if seqlen_k is not None else seqlen_q + cache_depth,
        "num_heads_q": heads[0], "num_heads_kv": heads[1], "head_dim": head_dim, "dtype": dtype, "mask": mask,
        "scale": scale if scale is not None else 1.0 / math.sqrt(head_dim), "scale_is_default": scale is None, "gqa": gqa,
        "seq_lens": _seq_lens(seq_lens), "layout": layout,
    }
    r = _core().make_case(json.dumps(problem), distribution, seed, with_truth)
    store = np.float16 if dtype == "fp16" else np.float64 if dtype == "fp64" else np.float32
    case = {name: np.asarray(r[name]).astype(store) for name in ("q", "k", "v")}
    case["seq_lens"] = None if problem["seq_lens"] is None else np.asarray(problem["seq_lens"], dtype=np.int64)
    case["problem"] = json.loads(r["problem"])
    case["label"] = r["label"]
    if with_truth:
        case["truth"] = np.asarray(r["truth"])
    return case
