#!/usr/bin/env bash
# fp8_pack.sh: fills DEST/.device/fp8 (DEST: the checkout the device call runs in, default this
# checkout) for experiments/device/fp8_run.sh from this checkout's `default` build: test_gpu and
# attnscope (stripped, xz -9: a call carries at most 64 MiB, the working tree included), the shared libraries they need
# that a bare device may lack (libmpfr, libgmp, as final_pack.sh), fp8_accuracy_torch.py,
# commit.txt and the run script itself. Builds nothing: run
#   cmake --build --preset default -j2 --target test_gpu attnscope
# first.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST="${1:-.}/.device/fp8"
for b in build/default/tests/test_gpu build/default/cli/attnscope; do
  [[ -x $b ]] || { echo "attnscope: error: $b is not built (cmake --build --preset default --target test_gpu attnscope)" >&2; exit 3; }
done
rm -rf "$DEST"; mkdir -p "$DEST/lib"
for b in build/default/tests/test_gpu build/default/cli/attnscope; do
  cp "$b" "$DEST/"; strip "$DEST/$(basename "$b")"; xz -f -9 -T2 "$DEST/$(basename "$b")"
done
cp /usr/lib/x86_64-linux-gnu/libmpfr.so.6 /usr/lib/x86_64-linux-gnu/libgmp.so.10 "$DEST/lib/"
cp experiments/device/fp8_run.sh experiments/peers/fp8_accuracy_torch.py "$DEST/"
{ git rev-parse --short=12 HEAD; git diff --quiet || echo modified; } > "$DEST/commit.txt"
du -sh "$DEST"
