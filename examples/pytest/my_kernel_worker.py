#!/usr/bin/env python3
"""my_kernel_worker.py: the same kernel behind attnscope's worker protocol, so that
`attnscope sweep examples/pytest/my_kernel_sweep.toml` sweeps, diagnoses, reports and gates it
like attnscope's own kernels (MY_KERNEL_BUG plants a bug here too)."""
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # a sweep leaves no __pycache__ beside the example
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attnscope.worker import Invalid, serve  # noqa: E402
from my_kernel import attention  # noqa: E402


def run(problem, inputs):
    if problem["mask"] not in ("causal", "none") or inputs["seq_lens"] is not None or problem["gqa"] != "contiguous":
        raise Invalid("my_kernel: bottom-right causal or no mask, full-length keys, contiguous GQA only")
    return attention(inputs["q"], inputs["k"], inputs["v"], problem["scale"], causal=problem["mask"] == "causal",
                     dtype=problem["dtype"], bug=os.environ.get("MY_KERNEL_BUG", ""))


if __name__ == "__main__":
    np.seterr(all="ignore")
    serve(run)
