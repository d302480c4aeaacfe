#!/usr/bin/env bash
# stages_pack.sh: fills .device/stages/ (git-ignored; carried to the device machine) with what
# experiments/device/stages_check.sh runs: test_gpu and probe_emulator_vs_gpu from an existing
# `cmake --preset default` build (sm_90a, nvcc 13.0), stripped, the commit they were built from,
# and libmpfr/libgmp (the device image may lack them). Builds nothing itself.
# Usage (repository root): bash experiments/device/stages_pack.sh [build dir, default build/default]
set -euo pipefail
BUILD="${1:-build/default}"
DEST=.device/stages
for f in "$BUILD/tests/test_gpu" "$BUILD/kernels/probe_emulator_vs_gpu"; do
  [ -x "$f" ] || { echo "attnscope: error: $f not built (cmake --build --preset default)" >&2; exit 3; }
done
rm -rf "$DEST"
mkdir -p "$DEST/lib"
cp "$BUILD/tests/test_gpu" "$BUILD/kernels/probe_emulator_vs_gpu" "$DEST/"
strip "$DEST/test_gpu" "$DEST/probe_emulator_vs_gpu"
gzip -9 -f "$DEST/test_gpu"  # stages_check.sh unpacks it (a device call carries at most 64 MiB with the tree)
git rev-parse --short=12 HEAD > "$DEST/commit.txt"
git diff --quiet HEAD || sed -i 's/$/-modified/' "$DEST/commit.txt"
for lib in libmpfr.so.6 libgmp.so.10; do
  cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$DEST/lib/"
done
du -sh "$DEST"
