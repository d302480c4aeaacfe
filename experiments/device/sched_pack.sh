#!/usr/bin/env bash
# sched_pack.sh: fills DEST/.device/sched (DEST: the checkout the device call runs in, default this
# checkout) for experiments/device/sched_run.sh (issue 13, session 21: the fa3 scheduler and short
# causal tiles) from this checkout's `default` build: test_gpu and attnscope (pack_binaries.sh: stripped, xz -9: a
# call carries at most 64 MiB), libmpfr/libgmp, the run, peer and report scripts, commit.txt.
# Builds nothing: run `cmake --build --preset default -j2 --target test_gpu attnscope` first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash experiments/device/pack_binaries.sh "${1:-.}/.device/sched" build/default/tests/test_gpu build/default/cli/attnscope \
  -- experiments/device/sched_run.sh experiments/peers/bench_torch_sdpa.py experiments/device/make_hopper_report.py \
  experiments/device/make_sched_table.py
