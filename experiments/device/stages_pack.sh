#!/usr/bin/env bash
# stages_pack.sh: fills a carry folder (git-ignored; default .device/stages/) with what a device
# check script runs: test_gpu (and probe_emulator_vs_gpu where built, for stages_check.sh's
# emulator step) from an existing `cmake --preset default` build (sm_90a, nvcc 13.0), stripped,
# the commit they were built from, libmpfr/libgmp (the device image may lack them), and the
# check scripts themselves (so the folder runs on a checkout that does not have them yet).
# Builds nothing itself.
# Usage (repository root): bash experiments/device/stages_pack.sh [build dir, default build/default]
#   [carry folder, default .device/stages]
set -euo pipefail
BUILD="${1:-build/default}"
DEST="${2:-.device/stages}"
case "$DEST" in  # it is emptied first: only a folder under a .device/ carry root
  .device/?* | */.device/?*) ;;
  *) echo "attnscope: error: carry folder '$DEST' is not under a .device/ folder" >&2; exit 2 ;;
esac
[ -x "$BUILD/tests/test_gpu" ] || { echo "attnscope: error: $BUILD/tests/test_gpu not built (cmake --build --preset default)" >&2; exit 3; }
rm -rf "$DEST"
mkdir -p "$DEST/lib"
cp "$BUILD/tests/test_gpu" "$DEST/"
strip "$DEST/test_gpu"
if [ -x "$BUILD/kernels/probe_emulator_vs_gpu" ]; then
  cp "$BUILD/kernels/probe_emulator_vs_gpu" "$DEST/"
  strip "$DEST/probe_emulator_vs_gpu"
fi
cp experiments/device/stages_check.sh experiments/device/fa3fix_check.sh "$DEST/"
gzip -9 -f "$DEST/test_gpu"  # stages_check.sh unpacks it (a device call carries at most 64 MiB with the tree)
git rev-parse --short=12 HEAD > "$DEST/commit.txt"
git diff --quiet HEAD || sed -i 's/$/-modified/' "$DEST/commit.txt"
for lib in libmpfr.so.6 libgmp.so.10; do
  cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$DEST/lib/"
done
du -sh "$DEST"
