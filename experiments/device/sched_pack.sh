#!/usr/bin/env bash
# sched_pack.sh: fills DEST/.device/sched (DEST: the checkout the device call runs in, default this
# checkout) for experiments/device/sched_run.sh (issue 13, session 21: the fa3 scheduler and short
# causal tiles) from this checkout's `default` build: test_gpu and attnscope (stripped, gzip -9: a
# call carries at most 64 MiB), libmpfr/libgmp, the run, peer and report scripts, commit.txt.
# Builds nothing: run `cmake --build --preset default -j2 --target test_gpu attnscope` first.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST="${1:-.}/.device/sched"
for b in build/default/tests/test_gpu build/default/cli/attnscope; do
  [[ -x $b ]] || { echo "attnscope: error: $b is not built (cmake --build --preset default --target test_gpu attnscope)" >&2; exit 3; }
done
rm -rf "$DEST"; mkdir -p "$DEST/lib"
for b in build/default/tests/test_gpu build/default/cli/attnscope; do
  cp "$b" "$DEST/"; strip "$DEST/$(basename "$b")"; gzip -f -9 "$DEST/$(basename "$b")"
done
cp /usr/lib/x86_64-linux-gnu/libmpfr.so.6 /usr/lib/x86_64-linux-gnu/libgmp.so.10 "$DEST/lib/"
cp experiments/device/sched_run.sh experiments/peers/bench_torch_sdpa.py experiments/device/make_hopper_report.py "$DEST/"
{ git rev-parse --short=12 HEAD; git diff --quiet || echo modified; } > "$DEST/commit.txt"
du -sh "$DEST"
