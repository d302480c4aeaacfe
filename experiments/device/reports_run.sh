#!/usr/bin/env bash
# On the device machine (one call, kind nvidia-h200): the investigation specs at full size
# (experiments/specs/gpu/*.toml + prefill/decode vs full) with the CUDA kernels, each into its
# own report.
#
# Carry .device/reports/ holding `attnscope` built here for sm_90a and `commit.txt`:
#   cmake --preset default && cmake --build --preset default --target attnscope
#   mkdir -p .device/reports && cp build/default/cli/attnscope .device/reports/ && strip .device/reports/attnscope
#   git rev-parse HEAD > .device/reports/commit.txt
# Then: run(command="bash experiments/device/reports_run.sh", carry=[".device/reports"], timeout_s=600)
# Optional argument: the spec names to run (default: all). Writes $OUT/{provenance.txt,
# reports_run.log, specs/<name>/ (report.md, report.html, plots/, results_flat.csv), db/<name>.sqlite}.
# The sqlite files stay under $OUT/db (the lead copies report folders into reports/h200/specs/).
set -uo pipefail
out=${OUT:-/tmp/attnscope-out}
bin=.device/reports/attnscope
mkdir -p "$out/specs" "$out/db"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(cat .device/reports/commit.txt 2>/dev/null || echo unknown)"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
  echo "cuda: binaries built with nvcc 13.0 for sm_90a, carried"
  echo "torch: $(python3 -c 'import torch; print(torch.__version__)' 2>&1 | tail -1) (the FA3 table's SDPA peers need it)"
  echo "command: bash experiments/device/reports_run.sh $*"
} > "$out/provenance.txt"
{
  cat "$out/provenance.txt"
  # Each spec within a budget, so that one slow spec cannot take the others' time (10 min call).
  timeout 540 bash experiments/specs/run_specs.sh --gpu --bin "$bin" --out "$out/specs" --work "$out/db" "$@"
  echo "run_specs exit: $?"
  for db in "$out"/db/*.sqlite; do
    [ -f "$db" ] || continue
    echo "== $(basename "$db"): rows by status"
    sqlite3 -readonly "$db" "SELECT status, count(*) FROM results GROUP BY status"
  done
} > "$out/reports_run.log" 2>&1
tail -40 "$out/reports_run.log"
