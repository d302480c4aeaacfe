#!/usr/bin/env bash
# stage_fingerprint.sh: copies what experiments/device/fingerprint_run.sh needs into
# DEST/.device/fingerprint/ (DEST: the checkout the device call runs in, default: this checkout): the
# attnscope binary of the default preset (cudart and MPFI static; the fingerprint and the probe
# run on the device's CPU), the dump script, the run script and the commit. Then, from the device
# tool: carry [".device/fingerprint"], command "bash .device/fingerprint/fingerprint_run.sh"
# (with PROBE_KERNELS="fa2.fp16.d64.m128n128 ..." in front to probe GPU kernels too).
set -eu
DEST="${1:-$(cd "$(dirname "$0")/../.." && pwd)}/.device/fingerprint"
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$DEST"
cp "$SRC/build/default/cli/attnscope" "$DEST/"
strip --strip-debug "$DEST/attnscope"
gzip -9 -f "$DEST/attnscope"
cp "$SRC/experiments/device/fingerprint_run.sh" "$SRC/experiments/peers/dump_torch_sdpa.py" "$DEST/"
git -C "$SRC" rev-parse HEAD > "$DEST/commit.txt"
git -C "$SRC" diff --quiet || echo "-modified" >> "$DEST/commit.txt"
du -sh "$DEST"
