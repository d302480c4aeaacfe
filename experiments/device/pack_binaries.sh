#!/usr/bin/env bash
# pack_binaries.sh DEST BINARY... [-- FILE...]: what every experiments/device/*_pack.sh does to fill
# the folder a device call carries, run from the repository root:
#   DEST (a folder under a .device/ folder) emptied; each BINARY (a path under build/, built here
#   for sm_90a) copied stripped and xz -9 compressed (unpack_binaries.sh reverses it there: the
#   tracked tree, ~37 MB, and the carried files share one 64 MiB limit per call); libmpfr, libgmp
#   and libsqlite3 into DEST/lib (the device image may lack them); each FILE copied as it is;
#   DEST/commit.txt: the commit, and "modified" on a second line when the working tree differs.
# Exit status 3 (named) when a binary is not built, 2 when DEST is not under a .device/ folder.
set -euo pipefail
DEST="$1"; shift
case "$DEST" in
  .device/?* | */.device/?*) ;;
  *) echo "attnscope: error: carry folder '$DEST' is not under a .device/ folder" >&2; exit 2 ;;
esac
bins=(); files=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do bins+=("$1"); shift; done
[ $# -gt 0 ] && shift
files=("$@")
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "attnscope: error: $b is not built (cmake --build --preset default --target $(basename "$b"))" >&2; exit 3; }
done
rm -rf "$DEST"; mkdir -p "$DEST/lib"
for b in "${bins[@]}"; do
  strip -o "$DEST/$(basename "$b")" "$b"
  xz -f -9 -T2 "$DEST/$(basename "$b")"
done
for lib in libmpfr.so.6 libgmp.so.10 libsqlite3.so.0; do cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$DEST/lib/"; done
[ ${#files[@]} -gt 0 ] && cp "${files[@]}" "$DEST/"
{ git rev-parse --short=12 HEAD; git diff --quiet HEAD -- . ':!reports' || echo modified; } > "$DEST/commit.txt"
du -sh "$DEST"
