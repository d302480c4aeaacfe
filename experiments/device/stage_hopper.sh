#!/usr/bin/env bash
# stage_hopper.sh: copies what experiments/device/hopper_run.sh needs into DEST/.device/hopper/
# (DEST: the checkout the device call runs in, default: this checkout): the sm_90a binaries of the
# default preset (test_gpu, attnscope; cudart and MPFI static), the run and report scripts, the
# PyTorch peer script and the commit. Then, from the device tool: run with carry [".device/hopper"]
# and command "bash .device/hopper/hopper_run.sh STEPS".
set -eu
DEST="${1:-$(cd "$(dirname "$0")/../.." && pwd)}/.device/hopper"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$DEST"
cp "$SRC/build/default/tests/test_gpu" "$SRC/build/default/cli/attnscope" "$DEST/"
strip --strip-debug "$DEST/test_gpu" "$DEST/attnscope"
gzip -9 -f "$DEST/test_gpu" "$DEST/attnscope"  # hopper_run.sh unpacks them (the call carries at most 64 MiB)
cp "$SRC/experiments/device/hopper_run.sh" "$SRC/experiments/device/make_hopper_report.py" \
   "$SRC/experiments/peers/bench_torch_sdpa.py" "$SRC/experiments/device/precise_excess.py" \
   "$SRC/experiments/sweeps/hopper_precise.toml" "$SRC/experiments/peers/fp8_accuracy_torch.py" "$DEST/"
cp "$SRC/experiments/tolerances/hopper_precise.toml" "$DEST/hopper_precise_tolerances.toml"
git -C "$SRC" rev-parse HEAD > "$DEST/commit.txt"
git -C "$SRC" diff --quiet || echo "-modified" >> "$DEST/commit.txt"
du -sh "$DEST"
