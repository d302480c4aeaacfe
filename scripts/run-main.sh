#!/usr/bin/env bash
# Installs dependencies, builds, and runs the main job: the default attribution sweep, its
# report and its gate (CUDA kernels when a GPU is present, the CPU emulator otherwise).
# Results resume: delete results/default.sqlite to start over.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${ATTNSCOPE_PRESET:-default}"
bash scripts/install-deps.sh
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$(nproc)"
bin=./build/"$preset"/cli/attnscope
mkdir -p results
$bin sweep experiments/sweeps/default.toml --db results/default.sqlite --quiet
$bin report --db results/default.sqlite --out results/default-report
# The gate's verdict is part of the report a person reads; CI gates with `attnscope gate` itself.
$bin gate --db results/default.sqlite --tolerances experiments/tolerances/default.toml \
  --junit results/default-gate.xml || echo "gate: see the failures above (results/default-gate.xml)"
echo "report: results/default-report/report.md (and report.html)"
