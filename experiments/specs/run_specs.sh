#!/usr/bin/env bash
# run_specs.sh: runs the investigation specs (experiments/specs/*.toml: one question each, read
# the header of each file) and writes one report per question:
#   <out>/<name>/report.md, report.html, plots/, results_flat.csv   (+ rmse_table.md for the FA3 table)
#   <out>/prefill-decode-vs-full/   (attnscope incremental: prefill + decode against the full kernel)
# Usage: bash experiments/specs/run_specs.sh [--gpu] [--bin PATH] [--out DIR] [--work DIR] [NAME...]
#   default: the CPU specs (small sizes, what CI runs) into reports/cpu/specs with build/cpu's
#   attnscope; --gpu: experiments/specs/gpu/*.toml (full sizes) with --device gpu.
# Databases go to --work (default: a temporary folder); a report is rewritten only when its sweep
# ran without ERROR rows. Exit status: 0 when every spec ran, 1 otherwise (each failure named).
# SPEC_DEVICES=0,1 (environment): the sweeps run one worker per listed GPU (`sweep --devices`).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/cpu/cli/attnscope
out=""
work=""
gpu=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu) gpu=1 ;;
    --bin) bin="$2"; shift ;;
    --out) out="$2"; shift ;;
    --work) work="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "run_specs.sh: unknown flag $1" >&2; exit 2 ;;
    *) names+=("$1") ;;
  esac
  shift
done
if [ "$gpu" = 1 ]; then spec_dir=experiments/specs/gpu; device=gpu; out="${out:-reports/h200/specs}"
else spec_dir=experiments/specs; device=cpu; out="${out:-reports/cpu/specs}"; fi
[ -x "$bin" ] || { echo "run_specs.sh: no attnscope at $bin (build it first, or pass --bin)" >&2; exit 3; }
if [ -z "$work" ]; then work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; fi
mkdir -p "$out" "$work"
if [ ${#names[@]} -eq 0 ]; then
  for f in "$spec_dir"/*.toml; do names+=("$(basename "$f" .toml)"); done
  names+=(prefill-decode-vs-full)
fi

failed=()
for name in "${names[@]}"; do
  start=$(date +%s)
  echo "== $name"
  if [ "$name" = prefill-decode-vs-full ]; then
    # Question: does prefill + token-by-token decode over the KV cache give the full-sequence
    # kernel's answer (bit for bit, or within rounding), and is every cache mutant caught?
    # (GPU: production heads; 1024 + 16 steps because the references, the diagnosis and the
    # attribution run on the CPU: 2048 + 64 did not end in 90 s.) Every decode step is attributed
    # (about 0.2 s per step and path on the H200's host; the run takes about 100 s: give it
    # SPEC_SECONDS >= 150 there).
    if [ "$gpu" = 1 ]; then args=(--prefill 1024 --steps 16 --heads 32:8 --head-dim 128 --dtype bf16)
    else args=(--prefill 128 --steps 16 --heads 8:2 --head-dim 64 --dtype fp16); fi
    args+=(--attribute-steps all)
    rm -rf "$work/$name"
    if "$bin" incremental "${args[@]}" --distribution normal --out "$work/$name"; then
      rm -rf "${out:?}/$name"; cp -r "$work/$name" "$out/$name"
      # The recorded command names the scratch folder it wrote to: name the published one instead.
      grep -rlF -- "$work/$name" "$out/$name" | while read -r f; do sed -i "s#$work/$name#$out/$name#g" "$f"; done
    else
      failed+=("$name")
    fi
  else
    spec="$spec_dir/$name.toml"
    db="$work/$name.sqlite"
    rm -f "$db"
    devices=(); [ -n "${SPEC_DEVICES:-}" ] && devices=(--devices "$SPEC_DEVICES")
    if "$bin" sweep "$spec" --db "$db" --device "$device" "${devices[@]}" --fresh; then
      rm -rf "${out:?}/$name"
      "$bin" report --db "$db" --out "$out/$name"
      "$bin" export --db "$db" --csv "$out/$name/results_flat.csv"
      # The report names the scratch database it read: say so instead of a temporary path.
      grep -rlF -- "$work/" "$out/$name" | while read -r f; do sed -i "s#$work/#<scratch>/#g" "$f"; done
      if [ "$name" = fa3-accuracy-table ]; then
        # The paper's table: RMSE against the certified truth per kernel, dtype, S and head dim.
        {
          echo "# FA3-paper accuracy table: RMSE against the truth (outliers: N(0,1) + N(0,100) x Bernoulli(0.001))"
          echo
          echo "| kernel | dtype | S | D | RMSE | rounding floor RMSE | RMSE / floor |"
          echo "|---|---|---|---|---|---|---|"
          # Python's own sqlite3: the device machine has no sqlite3 program.
          python3 - "$db" <<'PY'
import sqlite3, sys
con = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
for kernel, dtype, s, d, rmse, floor, excess in con.execute(
        "SELECT kernel, dtype, seqlen_q, head_dim, kernel_rmse, floor_rmse, excess FROM results_flat "
        "WHERE status = 'ok' ORDER BY dtype, head_dim, seqlen_q, kernel_rmse"):
    f = lambda v, spec: "-" if v is None else spec % v
    print("| `%s` | %s | %s | %s | %s | %s | %s |" % (kernel, dtype, s, d, f(rmse, "%.3e"), f(floor, "%.3e"), f(excess, "%.3f")))
PY
        } > "$out/$name/rmse_table.md"
      fi
    else
      failed+=("$name")
    fi
  fi
  echo "== $name: $(( $(date +%s) - start )) s"
done
if [ ${#failed[@]} -gt 0 ]; then echo "run_specs.sh: FAILED: ${failed[*]}" >&2; exit 1; fi
echo "run_specs.sh: ${#names[@]} specs -> $out"
