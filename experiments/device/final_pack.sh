#!/usr/bin/env bash
# final_pack.sh: fills DEST/.device/final (DEST: the checkout the device call runs in, default
# this checkout) for experiments/device/final_evidence.sh from this checkout's `default` build:
# attnscope, test_gpu, test_references (stripped, xz -9: a call carries at most 64 MiB, the working tree included),
# libmpfr/libgmp, commit.txt, and the script itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST="${1:-.}/.device/final"
rm -rf "$DEST"; mkdir -p "$DEST/lib"
for b in build/default/cli/attnscope build/default/tests/test_gpu build/default/tests/test_references; do
  cp "$b" "$DEST/"; strip "$DEST/$(basename "$b")"; xz -f -9 -T2 "$DEST/$(basename "$b")"
done
cp /usr/lib/x86_64-linux-gnu/libmpfr.so.6 /usr/lib/x86_64-linux-gnu/libgmp.so.10 "$DEST/lib/"
cp experiments/device/final_evidence.sh "$DEST/"
{ git rev-parse --short=12 HEAD; git diff --quiet || echo modified; } > "$DEST/commit.txt"
du -sh "$DEST"
