#!/usr/bin/env bash
# sched_run.sh: issue 13 (session 21), the fa3 BF16/FP16 prefill after the scheduler and short
# causal tile work, in ONE device call of at most BUDGET seconds (default 190), nothing built on
# the device (binaries packed by experiments/device/sched_pack.sh into .device/sched, carried):
#   run(command="bash .device/sched/sched_run.sh STEPS", carry=[".device/sched"], timeout_s=200)
# STEPS (comma list, run in this order; a step that no longer fits the budget is skipped and says so):
#   mutants   test_gpu "[mutant][hopper]": every fa3 mutant fails the FlashAttention rule
#   ragged    test_gpu "[ragged]": NaN past seqlens_k never reaches O
#   sanitize  compute-sanitizer memcheck, racecheck, synccheck on test_gpu "[.sanitize-hopper]"
#   emulator  test_gpu "[.emulator-hopper]": the fa3 defaults and precise variants vs the emulator
#             of their own tile (elements that differ: the ex2.approx gap, not the schedule)
#   bench     attnscope bench of BENCH_KERNELS (default: every 16-bit fa3 tile, no precise/noping)
#             on the 48 shapes (B.S = 16384, H 16, D 64/128, causal and not, FP16/BF16) and
#             bench_torch_sdpa.py (flash, cuDNN) on the same shapes, one after the other in this
#             call; make_hopper_report.py joins them (hopper_benchmark.md)
#   grid      test_gpu "[prefill][hopper]": every fa3 variant within the rule on the grid
#             (GRID_VARIANTS=globs: only those variants, e.g. the tiles a call changed)
#   resources cuobjdump --dump-resource-usage: registers, stack (spills), shared memory per fa3 kernel
# Outputs in $OUT: summary.txt (read first), tests.log, sanitizer.log, ours.jsonl, torch.jsonl,
# bench.log, hopper_benchmark.md, provenance.txt.
set -u
STEPS="${1:-mutants,ragged,sanitize,emulator,bench,grid,resources}"
BENCH_KERNELS="${BENCH_KERNELS:-fa3.*n128 fa3.*n96}"  # globs (space-separated), one bench process each
ITERS="${ITERS:-20}"
# OUT, SUMMARY, has, note, left, provenance; the binaries unpacked in place.
source experiments/device/run_prelude.sh .device/sched "${BUDGET:-190}"
provenance | tee -a "$SUMMARY"
if [[ ! -x $BIN/test_gpu || ! -x $BIN/attnscope ]]; then
  note "FATAL: $BIN/test_gpu or $BIN/attnscope missing: was .device/sched carried?"
  exit 3
fi
run_test() {  # name wanted_seconds filter...
  local name=$1 lim; lim=$(left "$2"); shift 2
  if ((lim == 0)); then note "$name: skipped (budget)"; return; fi
  echo "### test_gpu $* (limit ${lim}s)" >> "$OUT/tests.log"
  timeout "$lim" "$BIN/test_gpu" "$@" --durations yes >> "$OUT/tests.log" 2>&1
  local rc=$?
  note "$name: exit $rc ($(grep -E '^(All tests passed|test cases:)' "$OUT/tests.log" | tail -1))"
}
has mutants && run_test mutants 30 "[mutant][hopper]"
has ragged && run_test ragged 20 "[ragged]"
if has sanitize; then
  for tool in memcheck racecheck synccheck; do
    lim=$(left 30)
    if ((lim == 0)); then note "sanitize $tool: skipped (budget)"; continue; fi
    echo "### compute-sanitizer --tool $tool --error-exitcode 9 test_gpu '[.sanitize-hopper]'" >> "$OUT/sanitizer.log"
    timeout "$lim" "$SANITIZER" --tool "$tool" --error-exitcode 9 "$BIN/test_gpu" "[.sanitize-hopper]" >> "$OUT/sanitizer.log" 2>&1
    rc=$?
    note "sanitize $tool: exit $rc ($(grep -E 'ERROR SUMMARY|All tests passed|test cases:' "$OUT/sanitizer.log" | tail -1))"
  done
fi
has emulator && run_test emulator 30 "[.emulator-hopper]"
if has bench; then
  lim=$(left "${OURS_SECONDS:-70}")
  if ((lim > 0)); then
    end=$((SECONDS + lim)); : > "$OUT/ours.jsonl"
    for glob in $BENCH_KERNELS; do
      left=$((end - SECONDS)); ((left < 3)) && { note "bench ours $glob: skipped (budget)"; continue; }
      timeout "$left" "$BIN/attnscope" bench --kernels "$glob" --warmup 3 --iters "$ITERS" --out "$OUT/ours_part.jsonl" >> "$OUT/bench.log" 2>&1
      note "bench ours $glob: exit $? ($(wc -l < "$OUT/ours_part.jsonl" 2> /dev/null) rows, $(($(date +%s) - START)) s)"
      cat "$OUT/ours_part.jsonl" >> "$OUT/ours.jsonl" 2> /dev/null; rm -f "$OUT/ours_part.jsonl"
    done
  else note "bench ours: skipped (budget)"; fi
  lim=$(left "${TORCH_SECONDS:-60}")
  if ((lim > 0)); then
    PYTHONUNBUFFERED=1 timeout "$lim" python3 "$BIN/bench_torch_sdpa.py" --backends flash,cudnn --warmup 3 --iters "$ITERS" \
      --json "$OUT/torch.jsonl" > /dev/null 2>> "$OUT/bench.log"
    note "bench torch: exit $? ($(wc -l < "$OUT/torch.jsonl" 2> /dev/null) rows, $(($(date +%s) - START)) s)"
  else note "bench torch: skipped (budget)"; fi
  python3 "$BIN/make_hopper_report.py" "$OUT/ours.jsonl" "$OUT/torch.jsonl" "$OUT/provenance.txt" > "$OUT/hopper_benchmark.md" 2>> "$OUT/bench.log"
  grep -E "Geometric|geometric" "$OUT/hopper_benchmark.md" | tee -a "$SUMMARY"
fi
if has grid; then
  [[ -n ${GRID_VARIANTS:-} ]] && export ATTNSCOPE_GRID_VARIANTS="$GRID_VARIANTS"
  run_test grid 90 "[prefill][hopper]"
fi
if has resources; then  # per fa3 kernel: registers, stack (spills), shared memory
  if command -v cuobjdump > /dev/null && (($(left 20) > 0)); then
    timeout "$(left 20)" cuobjdump --dump-resource-usage "$BIN/attnscope" 2>&1 | grep -A1 "fa3_forward" | grep -oE "Function [^:]*|REG:[0-9]+|STACK:[0-9]+|SHARED:[0-9]+|LOCAL:[0-9]+" \
      | paste -sd' ' | sed 's/ Function /\nFunction /g' > "$OUT/resources.txt"
    note "resources: $(wc -l < "$OUT/resources.txt") fa3 kernels; STACK/LOCAL nonzero: $(grep -cE 'STACK:[1-9]|LOCAL:[1-9]' "$OUT/resources.txt")"
    cat "$OUT/resources.txt" >> "$OUT/tests.log"; rm -f "$OUT/resources.txt"  # at most 8 files come back
  else note "resources: skipped (no cuobjdump or budget)"; fi
fi
grep -E "^(FAIL|variant fa3|mutant .*fa3|ragged|emulator vs|grid restricted)" "$OUT/tests.log" 2> /dev/null | cut -c1-160 | tail -40
echo "==== summary ($(($(date +%s) - START)) s)"
cat "$SUMMARY"
