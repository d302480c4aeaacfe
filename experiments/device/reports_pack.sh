#!/usr/bin/env bash
# reports_pack.sh: fills DEST/.device/reports (DEST: the checkout the device call runs in, default
# this checkout) for experiments/device/reports_run.sh and multi_gpu_run.sh from THIS checkout's
# `default` build: attnscope (stripped, gzip -9: a call carries at most 64 MiB), libmpfr/libgmp
# (the device machine lacks them), commit.txt. Refuses a build without the CUDA kernels.
# Usage: bash experiments/device/reports_pack.sh [DEST]     e.g. DEST = the lead's checkout
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/default/cli/attnscope
[ -x "$bin" ] || { echo "reports_pack.sh: no $bin (cmake --preset default && cmake --build --preset default --target attnscope)" >&2; exit 3; }
if ! "$bin" list 'fa3.*' 2>&1 | grep -q 'fa3\.'; then
  echo "reports_pack.sh: $bin has no fa3.* kernels (not a CUDA build?)" >&2; exit 3
fi
DEST="${1:-.}/.device/reports"
rm -rf "$DEST"; mkdir -p "$DEST/lib"
cp "$bin" "$DEST/attnscope"; strip "$DEST/attnscope"; gzip -f -9 "$DEST/attnscope"
cp /usr/lib/x86_64-linux-gnu/libmpfr.so.6 /usr/lib/x86_64-linux-gnu/libgmp.so.10 "$DEST/lib/"
{ git rev-parse --short=12 HEAD; git diff --quiet HEAD -- . ':!reports' || echo modified; } > "$DEST/commit.txt"
size=$(du -sm "$DEST" | cut -f1)
echo "reports_pack.sh: $DEST ($size MiB, commit $(head -1 "$DEST/commit.txt"))"
[ "$size" -le 60 ] || { echo "reports_pack.sh: more than 60 MiB" >&2; exit 1; }
