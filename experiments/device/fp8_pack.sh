#!/usr/bin/env bash
# fp8_pack.sh [DEST [NAME]]: fills DEST/.device/NAME (DEST: the checkout the device call runs in,
# default this checkout; NAME default fp8, e.g. a helper's own folder in the lead checkout) for
# experiments/device/fp8_run.sh from this checkout's `default` build: test_gpu and
# attnscope (stripped, xz -9: a call carries at most 64 MiB, the working tree included), the shared libraries they need
# that a bare device may lack (libmpfr, libgmp, as final_pack.sh), fp8_accuracy_torch.py,
# commit.txt and the run script itself. Builds nothing: run
#   cmake --build --preset default -j2 --target test_gpu attnscope
# first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash experiments/device/pack_binaries.sh "${1:-.}/.device/${2:-fp8}" build/default/tests/test_gpu build/default/cli/attnscope \
  -- experiments/device/fp8_run.sh experiments/peers/fp8_accuracy_torch.py
