#!/usr/bin/env bash
# prefill_ab_run.sh: issue 13 (session 22): the fa3 prefill in ONE device call of at most BUDGET
# seconds (default 185): sched_run.sh's STEPS on this build (.device/sched, packed by
# sched_pack.sh), then an A/B of the speed: the same `attnscope bench` (AB_KERNELS, default the
# fa3 16-bit tiles matching fa3.*n128) with the binary of the base commit (.device/sched/
# attnscope_base, packed beside it) and with this build, back to back, so that a change is
# measured against its base in the same call (not against another call's numbers). Builds nothing.
#   run(command="OUT=$OUT bash .device/sched/prefill_ab_run.sh STEPS", carry=[".device/sched"], timeout_s=200)
# Outputs in $OUT: sched_run.sh's files (sanitizer.log appended to tests.log: at most 8 files come
# back) and ab.jsonl (bench rows, each with "build": "base" or "new").
set -u
T0=$SECONDS
BUDGET="${BUDGET:-185}"
AB_SECONDS="${AB_SECONDS:-40}"
AB_KERNELS="${AB_KERNELS:-fa3.*n128}"
OUT="${OUT:-/tmp/out}"
BIN=.device/sched
mkdir -p "$OUT"
BUDGET=$((BUDGET - AB_SECONDS)) OUT="$OUT" bash "$BIN/sched_run.sh" "${1:-mutants,ragged,sanitize,emulator,bench,grid}"
if [[ -f "$OUT/sanitizer.log" ]]; then
  { echo "### sanitizer.log"; cat "$OUT/sanitizer.log"; } >> "$OUT/tests.log"
  rm -f "$OUT/sanitizer.log"
fi
export LD_LIBRARY_PATH="$PWD/$BIN/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
: > "$OUT/ab.jsonl"
for build in base new; do
  bin="$BIN/attnscope"; [[ $build == base ]] && bin="$BIN/attnscope_base"
  left=$((BUDGET - (SECONDS - T0) - 2)); ((left > AB_SECONDS / 2)) && left=$((AB_SECONDS / 2))
  if [[ ! -x $bin ]] || ((left < 5)); then echo "ab $build: skipped (no binary or budget)" | tee -a "$OUT/summary.txt"; continue; fi
  end=$((SECONDS + left))
  for glob in $AB_KERNELS; do
    rm -f "$OUT/ab_part.jsonl"
    ((end - SECONDS < 3)) && break
    timeout $((end - SECONDS)) "$bin" bench --kernels "$glob" --warmup 3 --iters "${ITERS:-20}" --out "$OUT/ab_part.jsonl" >> "$OUT/bench.log" 2>&1
    [[ -f "$OUT/ab_part.jsonl" ]] && python3 -c 'import json, sys
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line); r["build"] = sys.argv[2]; print(json.dumps(r))' "$OUT/ab_part.jsonl" "$build" >> "$OUT/ab.jsonl" 2>> "$OUT/bench.log"
  done
  rm -f "$OUT/ab_part.jsonl"
  echo "ab $build: $(grep -c "\"build\": \"$build\"" "$OUT/ab.jsonl") rows, $((SECONDS - T0)) s" | tee -a "$OUT/summary.txt"
done
echo "==== prefill_ab_run ($((SECONDS - T0)) s)"
cat "$OUT/summary.txt"
