"""test_my_kernel.py: what a kernel team puts in its CI — its kernel judged by attnscope on the
problems a sweep uses (sequence length, GQA ratio, KV-cache depth), against the certified truth:
the FlashAttention rule (error <= 2 x a same-precision naive kernel's + 1e-5) and the semantic
diagnosis (a wrong mask corner, KV head, cache length, scale ... is named, not just "too large").

    PYTHONPATH=<attnscope build>/python python3 -m pytest examples/pytest/test_my_kernel.py
    MY_KERNEL_BUG=top-left python3 -m pytest ...      # a planted bug: these tests fail, and say why
"""
import os

import pytest

import attnscope
from my_kernel import attention

BUG = os.environ.get("MY_KERNEL_BUG", "")


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
@pytest.mark.parametrize("cache_depth", [0, 37])
@pytest.mark.parametrize("heads", [(4, 4), (8, 2)])
@pytest.mark.parametrize("seqlen_q", [1, 7, 65])
def test_my_kernel(seqlen_q, heads, cache_depth, dtype):
    case = attnscope.make_case(seqlen_q=seqlen_q, cache_depth=cache_depth, heads=heads, head_dim=64, dtype=dtype,
                               layout="bhsd", seed=seqlen_q)
    o = attention(case["q"], case["k"], case["v"], scale=case["problem"]["scale"], dtype=dtype, bug=BUG)
    r = attnscope.check(o, case["q"], case["k"], case["v"], layout="bhsd", dtype=dtype)
    assert r["fa_rule_pass"], f"{case['label']}: max_abs {r['max_abs']:.3g} > {r['fa_rule_bound']:.3g}; {r['verdict']}"
    assert r["pass"], f"{case['label']}: {r['failures']}"
