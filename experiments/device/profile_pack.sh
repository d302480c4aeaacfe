#!/usr/bin/env bash
# profile_pack.sh: fills DEST/.device/profile (DEST: the checkout the device call runs in, default
# this checkout) for experiments/device/profile_run.sh from this checkout's `default` build:
# attnscope and probe_kv_stream (stripped, gzip -9), libmpfr/libgmp, the peers' scripts, commit.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST="${1:-.}/.device/profile"
rm -rf "$DEST"; mkdir -p "$DEST/lib"
for b in build/default/cli/attnscope build/default/kernels/probe_kv_stream; do
  cp "$b" "$DEST/"; strip "$DEST/$(basename "$b")"; gzip -f -9 "$DEST/$(basename "$b")"
done
cp /usr/lib/x86_64-linux-gnu/libmpfr.so.6 /usr/lib/x86_64-linux-gnu/libgmp.so.10 "$DEST/lib/"
cp experiments/device/profile_run.sh experiments/peers/bench_torch_decode.py experiments/peers/bench_torch_sdpa.py "$DEST/"
{ git rev-parse --short=12 HEAD; git diff --quiet || echo modified; } > "$DEST/commit.txt"
du -sh "$DEST"
