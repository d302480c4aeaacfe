#!/usr/bin/env bash
# decode_pack.sh: fills CHECKOUT/.device/decode (CHECKOUT: the checkout the device call runs in,
# an absolute path; default this checkout) with what experiments/device/decode_run.sh needs:
# test_gpu and attnscope from this checkout's build/default (nvcc 13.0, sm_90a), stripped and
# gzip-compressed, the commit they were built from, libmpfr/libgmp/libsqlite3 (lib/, in case the
# device image lacks them), decode_run.sh itself and the Python scripts it runs. Run here, before
# the device call; carry .device/decode. The call (timeout_s 240):
#   bash .device/decode/decode_run.sh [steps]
# Usage: experiments/device/decode_pack.sh [CHECKOUT]
set -eu
cd "$(dirname "$0")/../.."
CHECKOUT="${1:-.}"
DEST="$CHECKOUT/.device/decode"
BUILD=build/default
mkdir -p "$DEST"
rm -f "$DEST"/*.gz "$DEST"/*.xz
for b in tests/test_gpu cli/attnscope; do
  [ -x "$BUILD/$b" ] || { echo "decode_pack: $BUILD/$b missing (cmake --build build/default --target test_gpu attnscope)"; exit 3; }
  strip -o "/tmp/decode_pack_$(basename $b)" "$BUILD/$b"
  xz -9 -T2 -c "/tmp/decode_pack_$(basename $b)" > "$DEST/$(basename $b).xz"
done
mkdir -p "$DEST/lib"
for lib in libmpfr.so.6 libgmp.so.10 libsqlite3.so.0; do cp -L "/lib/x86_64-linux-gnu/$lib" "$DEST/lib/"; done
cp experiments/device/decode_run.sh experiments/peers/bench_torch_decode.py experiments/device/make_decode_bench_table.py "$DEST/"
git rev-parse --short=12 HEAD > "$DEST/commit.txt"
git diff --quiet HEAD -- . || echo "$(cat "$DEST/commit.txt")-modified" > "$DEST/commit.txt"
du -sh "$DEST"/* "$DEST"/lib
