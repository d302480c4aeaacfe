#!/usr/bin/env bash
# Installs dependencies, builds, and runs the main job: the default attribution sweep, its
# report and its gate (CUDA kernels when a GPU is present, the CPU emulator otherwise).
# Results resume: a rerun with the same spec and build continues where it stopped; after a
# rebuild or a change of the spec the sweep refuses to mix rows (delete results/default.sqlite,
# or pass ATTNSCOPE_SWEEP_FLAGS=--fresh). Exits with the gate's status: 0 only when every point
# was checked and passed and every planted bug was caught.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${ATTNSCOPE_PRESET:-default}"
bash scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
bin=./build/"$preset"/cli/attnscope
mkdir -p results
# shellcheck disable=SC2086  # ATTNSCOPE_SWEEP_FLAGS is a list of flags
$bin sweep experiments/sweeps/default.toml --db results/default.sqlite --progress-every 15 ${ATTNSCOPE_SWEEP_FLAGS:-}
$bin report --db results/default.sqlite --out results/default-report
echo "report: results/default-report/report.md (and report.html)"
# The GPU list has kernels the CPU list has not (lazy rescaling): their rule lives in default_gpu.toml.
tolerances=experiments/tolerances/default.toml
kernel_list="$($bin list 'fa2.*' 2>&1 || true)"
if [[ "$kernel_list" == *"fa2."* && "$kernel_list" != *"GPU kernels need a GPU"* ]]; then
  tolerances=experiments/tolerances/default_gpu.toml
fi
$bin gate --db results/default.sqlite --tolerances "$tolerances" \
  --junit results/default-gate.xml
