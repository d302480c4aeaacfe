#!/usr/bin/env bash
# prefill_ab_pack.sh CHECKOUT BASE_ATTNSCOPE: fills CHECKOUT/.device/sched for
# experiments/device/prefill_ab_run.sh: sched_pack.sh's folder (this build's test_gpu and
# attnscope, the run, peer and report scripts) plus BASE_ATTNSCOPE (attnscope built at the base
# commit, e.g. from a worktree of main: stripped, xz -9, as attnscope_base), prefill_ab_run.sh, and
# the base's commit on commit.txt's last line. Builds nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="${1:?checkout}/.device/sched"
base="${2:?attnscope of the base commit}"
[ -x "$base" ] || { echo "attnscope: error: $base is not an executable" >&2; exit 3; }
bash experiments/device/sched_pack.sh "$1"
strip -o "$dest/attnscope_base" "$base"
xz -f -9 -T2 "$dest/attnscope_base"
cp experiments/device/prefill_ab_run.sh "$dest/"
echo "base: $(git -C "$(dirname "$base")" rev-parse --short=12 HEAD 2> /dev/null || echo unknown)" >> "$dest/commit.txt"
du -sh "$dest"
