#!/usr/bin/env bash
# Installs dependencies, builds, and runs the main job: the default attribution sweep and its
# report (GPU kernels when a GPU is present, the CPU emulator otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${ATTNSCOPE_PRESET:-default}"
bash scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
./build/"$preset"/cli/attnscope run --batch 1 --seqlen-q 10 --seqlen-k 74 --heads 8:2 --dim 64 --dtype fp16 --mask causal --kernel naive-fp16
