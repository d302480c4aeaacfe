#!/usr/bin/env bash
# On the device machine (one call, kind nvidia-h200, <= 420 s): the investigation specs at full
# size (experiments/specs/gpu/*.toml, then prefill + decode vs the full kernel) with the CUDA
# kernels, each into its own report, cheapest questions first. One deadline (REPORTS_SECONDS,
# default 400 s from the start): each spec gets at most SPEC_SECONDS (default 90) and never more
# than what is left; a spec that runs out is named TIMED OUT (its partial database kept, no
# report), one that no longer fits is named NOT RUN — neither counts as done.
#
# Here, first: bash experiments/device/reports_pack.sh   (fills .device/reports from build/default)
# Then:  run(command="bash experiments/device/reports_run.sh", carry=[".device/reports"],
#            kind="nvidia-h200", timeout_s=480)
# Optional arguments: spec names (default: all, in the order below). Writes $OUT/{provenance.txt,
# reports_run.log, specs/<name>/ (report.md, report.html, plots/, results_flat.csv), db/<name>.sqlite};
# the lead copies the report folders into reports/h200/specs/.
set -uo pipefail
cd "$(dirname "$0")/../.."
source experiments/device/reports_env.sh
mkdir -p "$out/specs" "$out/db"
echo "torch: $(python3 -c 'import torch; print(torch.__version__)' 2>&1 | tail -1) (the FA3 table's SDPA peers)" >> "$out/provenance.txt"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(tile-edge-32-tokens block-size gqa-ratio gqa-kv-cache causal-kv-cache
                                 cache-depth-0-to-128k prefill-decode-vs-full seqlen-1-to-32k fa3-accuracy-table)
{
  cat "$out/provenance.txt"
  done_=(); timed_out=(); failed=(); not_run=()
  for name in "${names[@]}"; do
    budget=$(seconds_left 10)
    [ "$budget" -gt "${SPEC_SECONDS:-90}" ] && budget=${SPEC_SECONDS:-90}
    if [ "$budget" -lt 20 ]; then not_run+=("$name"); echo "== $name: NOT RUN (deadline)"; continue; fi
    timeout -k 5 "$budget" bash experiments/specs/run_specs.sh --gpu --bin "$bin" --out "$out/specs" --work "$out/db" "$name"
    rc=$?
    if [ $rc = 0 ]; then done_+=("$name")
    elif [ $rc = 124 ] || [ $rc = 137 ]; then timed_out+=("$name"); echo "== $name: TIMED OUT after $budget s"
    else failed+=("$name"); fi
  done
  echo "== summary: done ${#done_[@]} [${done_[*]}]; TIMED OUT ${#timed_out[@]} [${timed_out[*]}];" \
       "FAILED ${#failed[@]} [${failed[*]}]; NOT RUN ${#not_run[@]} [${not_run[*]}]"
} > "$out/reports_run.log" 2>&1
tail -60 "$out/reports_run.log"
