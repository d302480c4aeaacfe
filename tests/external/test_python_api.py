"""test_python_api.py (run by test_python.cpp with pytest): the attnscope package against
independent numbers — a float64 NumPy attention for truth(), outputs built to be correct or wrong
in known ways for check() / diagnose(), the layout hint, bfloat16 as uint16 bits, and make_case()
reproducing the exact inputs of `attnscope make-inputs` (read here from the safetensors file)."""
import json
import os
import struct
import subprocess

import numpy as np
import pytest

import attnscope
from attnscope.worker import bf16_bits, round_to_dtype


def reference(q, k, v, scale, top_left=False):
    """float64 attention, bshd, contiguous GQA, causal (bottom-right unless top_left)."""
    b, sq, hq, d = q.shape
    sk, hkv = k.shape[1], k.shape[2]
    o = np.zeros((b, sq, hq, d))
    for bi in range(b):
        for h in range(hq):
            kv = h // (hq // hkv)
            s = q[bi, :, h].astype(np.float64) @ k[bi, :, kv].astype(np.float64).T * scale
            for i in range(sq):
                visible = np.arange(sk) <= (i if top_left else i + sk - sq)
                e = np.exp(np.where(visible, s[i], -np.inf) - s[i][visible].max())
                o[bi, i, h] = e @ v[bi, :, kv].astype(np.float64) / e.sum()
    return o


@pytest.fixture(scope="module")
def case():
    return attnscope.make_case(seqlen_q=7, cache_depth=33, heads=(8, 2), head_dim=32, dtype="fp16", seed=3)


def test_truth_matches_an_independent_float64_attention(case):
    t = attnscope.truth(case["q"], case["k"], case["v"])
    ref = reference(case["q"], case["k"], case["v"], 32 ** -0.5)
    assert t.dtype == np.float64 and t.shape == (1, 7, 8, 32)
    assert np.max(np.abs(t - ref)) < 1e-12


def test_check_passes_a_correct_output_and_names_a_wrong_mask(case):
    ref = reference(case["q"], case["k"], case["v"], 32 ** -0.5)
    good = attnscope.check(ref.astype(np.float16), case["q"], case["k"], case["v"])
    for key in ("max_abs", "rmse", "ulp_max", "excess", "fa_rule_pass", "verdict"):
        assert key in good
    assert good["fa_rule_pass"] and good["pass"] and good["verdict"] == "no semantic bug"
    assert good["excess"] == pytest.approx(1.0, abs=0.05)  # correctly rounded: the floor itself
    wrong = reference(case["q"], case["k"], case["v"], 32 ** -0.5, top_left=True).astype(np.float16)
    bad = attnscope.check(wrong, case["q"], case["k"], case["v"])
    assert not bad["fa_rule_pass"] and not bad["pass"]
    assert bad["category"] == "masking" and "top-left" in bad["verdict"]
    dx = attnscope.diagnose(case["q"], case["k"], case["v"], wrong)
    assert dx["category"] == "masking" and dx["verdict"].startswith("semantic bug")
    assert dx["evidence"]["declared"]["excess"] > 16


def test_layout_bhsd_declared_and_misdeclared(case):
    ref = reference(case["q"], case["k"], case["v"], 32 ** -0.5).astype(np.float16)
    t = lambda x: np.ascontiguousarray(np.swapaxes(x, 1, 2))  # bshd <-> bhsd
    ok = attnscope.check(t(ref), t(case["q"]), t(case["k"]), t(case["v"]), layout="bhsd")
    assert ok["pass"]
    # PyTorch-layout tensors declared bshd: the verdict says which layout fits.
    dx = attnscope.diagnose(t(case["q"]), t(case["k"]), t(case["v"]), t(ref))
    assert dx["fits_layout"] == "bhsd" and dx["verdict"].startswith("layout:")


def test_bf16_as_uint16_bits_and_as_float32():
    c = attnscope.make_case(seqlen_q=5, cache_depth=20, heads=(4, 4), head_dim=16, dtype="bf16", seed=1)
    assert c["q"].dtype == np.float32
    ref = reference(c["q"], c["k"], c["v"], 0.25)
    o32 = round_to_dtype(ref, "bf16").astype(np.float32)
    r = attnscope.check(o32, c["q"], c["k"], c["v"], dtype="bf16")
    assert r["pass"] and r["out_dtype"] == "bf16"
    bits = lambda x: bf16_bits(x)
    r2 = attnscope.check(bits(o32), bits(c["q"]), bits(c["k"]), bits(c["v"]), dtype="bf16")
    assert r2["pass"] and r2["max_abs"] == r["max_abs"]
    with pytest.raises(TypeError, match="uint16"):
        attnscope.check(bits(o32), c["q"], c["k"], c["v"])  # undeclared bit patterns are refused


def test_inputs_not_in_their_dtype_are_refused(case):
    q = case["q"].astype(np.float32) + np.float32(1e-4)
    with pytest.raises(ValueError, match="not a fp16 value"):
        attnscope.truth(q, case["k"], case["v"], dtype="fp16")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F16": np.float16, "F64": np.float64, "I64": np.int64}[e["dtype"]]
        out[name] = np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], dtype=dtype).reshape(e["shape"])
    return out, header["__metadata__"]


def test_make_case_gives_the_inputs_of_make_inputs(tmp_path):
    path = str(tmp_path / "case.safetensors")
    cli = os.environ["ATTNSCOPE_CLI"]
    subprocess.run([cli, "make-inputs", "--seqlen-q", "9", "--seqlen-k", "30", "--heads", "4:2", "--dim", "16",
                    "--seed", "5", "--layout", "bhsd", "--out", path], check=True, capture_output=True)
    tensors, meta = read_safetensors(path)
    c = attnscope.make_case(seqlen_q=9, seqlen_k=30, heads="4:2", head_dim=16, seed=5, layout="bhsd", with_truth=True)
    for name in ("q", "k", "v"):
        assert np.array_equal(tensors[name], c[name])
    assert np.array_equal(tensors["truth"], c["truth"])
    assert json.loads(meta["attnscope.problem"])["layout"] == "bhsd"
