#!/usr/bin/env bash
# decode_pack.sh: fills CHECKOUT/.device/decode (CHECKOUT: the checkout the device call runs in,
# an absolute path; default this checkout) with what experiments/device/decode_run.sh needs:
# test_gpu and attnscope from this checkout's build/default (nvcc 13.0, sm_90a), stripped and
# xz-compressed (pack_binaries.sh), the commit they were built from, libmpfr/libgmp/libsqlite3 (lib/, in case the
# device image lacks them), decode_run.sh itself and the Python scripts it runs. Run here, before
# the device call; carry .device/decode. The call (timeout_s 240):
#   bash .device/decode/decode_run.sh [steps]
# Usage: experiments/device/decode_pack.sh [CHECKOUT [NAME]]   (NAME: the carry folder .device/NAME,
# default decode; the call then runs DECODE_BIN=.device/NAME bash .device/NAME/decode_run.sh)
# Also packed: probe_kv_stream where it is built (the probe step), and OLD_ATTNSCOPE where set: an
# earlier build's attnscope, a file named attnscope_old (the ab step's A side).
set -euo pipefail
cd "$(dirname "$0")/../.."
extra=()
[ -x build/default/kernels/probe_kv_stream ] && extra+=(build/default/kernels/probe_kv_stream)
if [ -n "${OLD_ATTNSCOPE:-}" ]; then
  [ "$(basename "$OLD_ATTNSCOPE")" = attnscope_old ] || { echo "attnscope: error: OLD_ATTNSCOPE must name a file attnscope_old" >&2; exit 2; }
  extra+=("$OLD_ATTNSCOPE")
fi
bash experiments/device/pack_binaries.sh "${1:-.}/.device/${2:-decode}" build/default/tests/test_gpu build/default/cli/attnscope \
  "${extra[@]}" -- experiments/device/decode_run.sh experiments/peers/bench_torch_decode.py experiments/device/make_decode_bench_table.py
