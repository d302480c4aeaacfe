#!/usr/bin/env bash
# unpack_binaries.sh SRC [DEST]: the device side of the pack scripts (final_pack.sh, decode_pack.sh,
# fp8_pack.sh): every SRC/*.xz and SRC/*.gz decompressed into DEST (default SRC; there the archive
# is removed) and made executable; with a DEST of its own, SRC's plain executables linked there too. The packs use xz -9 (half of gzip's size: the working tree,
# ~37 MB of tracked files, and the carried binaries share one 64 MiB limit per call); xz is read
# with Python's lzma module, since the device image need not have the xz program.
set -euo pipefail
src="$1"; dest="${2:-$1}"
mkdir -p "$dest"
shopt -s nullglob
for f in "$src"/*.xz "$src"/*.gz; do
  out="$dest/$(basename "${f%.*}")"
  python3 -c 'import gzip, lzma, shutil, sys
opener = lzma.open if sys.argv[1].endswith(".xz") else gzip.open
with opener(sys.argv[1]) as i, open(sys.argv[2], "wb") as o: shutil.copyfileobj(i, o)' "$f" "$out"
  chmod +x "$out"
  [ "$dest" = "$src" ] && rm -f "$f"
done
# Binaries already unpacked in SRC (hard links set up by final_evidence.sh) are linked into DEST too.
if [ "$dest" != "$src" ]; then
  for f in "$src"/*; do
    case "$f" in *.xz | *.gz) continue ;; esac
    [ -f "$f" ] && [ -x "$f" ] && { ln -f "$f" "$dest/" 2> /dev/null || cp "$f" "$dest/"; }
  done
fi
exit 0
