#!/usr/bin/env bash
# final_pack.sh: fills DEST/.device/final (DEST: the checkout the device call runs in, default
# this checkout) for experiments/device/final_evidence.sh from this checkout's `default` build:
# attnscope, test_gpu, test_references (stripped, xz -9: a call carries at most 64 MiB, the working tree included),
# libmpfr/libgmp, commit.txt, and the script itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash experiments/device/pack_binaries.sh "${1:-.}/.device/final" build/default/cli/attnscope \
  build/default/tests/test_gpu build/default/tests/test_references -- experiments/device/final_evidence.sh
