#!/usr/bin/env bash
# profile_pack.sh: fills DEST/.device/profile (DEST: the checkout the device call runs in, default
# this checkout) for experiments/device/profile_run.sh from this checkout's `default` build:
# attnscope and probe_kv_stream (experiments/device/pack_binaries.sh: stripped, xz -9), libmpfr/libgmp, the peers' scripts, commit.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash experiments/device/pack_binaries.sh "${1:-.}/.device/profile" build/default/cli/attnscope \
  build/default/kernels/probe_kv_stream -- experiments/device/profile_run.sh experiments/peers/bench_torch_decode.py \
  experiments/peers/bench_torch_sdpa.py
