#!/usr/bin/env bash
# hopper_run.sh: the device call(s) of the Hopper prefill work (issue 13). Runs on the device
# machine from the lead's checkout with the binaries and scripts carried in .device/hopper/
# (built here for sm_90a with nvcc 13.0, cudart and MPFI static):
#   sass     cuobjdump of the attnscope binary: HGMMA / UTMALDG / UTMASTG / local memory per fa3 kernel
#   blocks   test_gpu [blocks]: TMA box + swizzle, wgmma chains in the kernels' layouts
#   ragged   test_gpu [ragged]: NaN in V past seqlens_k never reaches O
#   mutants  test_gpu [mutant][hopper]: every fa3 mutant fails the FlashAttention rule
#   grid     test_gpu [prefill][hopper]: every fa3 variant within the rule on the grid
#   probe    test_gpu [.probe-wgmma]: 10^6 dot products per input type vs the tensor-core model family
#   sanitize compute-sanitizer memcheck, racecheck, synccheck on [.sanitize-hopper]
#   emulator test_gpu [.emulator-hopper]: fa3 defaults vs the all-kernel emulator
#   quick    attnscope bench (fa2 + fa3 defaults) and the PyTorch peers at S = 4096, 16384
#   bench    the 48-shape table: attnscope bench and bench_torch_sdpa.py, joined by make_hopper_report.py
#   fp8      test_gpu [fp8]: the FP8 (E4M3) fa3 variants on a grid vs their emulator configuration
#            and the truth (every element written; RMSE within 10 % of the emulator's), NaN past
#            seqlens_k changes no bit
#   fp8acc   test_gpu [.fp8-accuracy]: RMSE vs the certified truth on FA3's inputs (FP8 per-block,
#            + rotation, per-tensor baseline, their emulator, BF16 fa3/fa2, naive) and PyTorch's
#            BF16 backends on the same inputs (fp8_accuracy_torch.py); all in fp8_accuracy.log
#   fp8bench attnscope bench of the D 128 BF16 fa3 tile and its FP8 variants (with and without the
#            quantization pre-pass) at S = 4096, 16384: FP8 vs the BF16 default in one run
#   precise  the precise mode's excess over the rounding floor (issue 13 target <= 1.05): attnscope
#            sweep hopper_precise.toml (fa3 and fa2, default and precise, 48 data points) vs the
#            certified truth, gated by hopper_precise_tolerances.toml, summarized by
#            precise_excess.py; everything in precise.log (its speed: the bench/quick steps)
# Usage: bash .device/hopper/hopper_run.sh STEPS (comma list). Logs in $OUT; summary printed last.
set -u
STEPS="${1:-sass,blocks,ragged,mutants,grid,probe,sanitize,quick}"
# OUT, SUMMARY, has, note, left, provenance; the binaries unpacked in place (no deadline: each
# step has its own timeout).
source experiments/device/run_prelude.sh .device/hopper none
provenance
run_test() {  # name timeout filter...
  local name=$1 limit=$2; shift 2
  ( time timeout "$limit" $BIN/test_gpu "$@" --durations yes ) >> "$OUT/tests.log" 2>&1
  local rc=$?
  note "$name: exit $rc ($(grep -E '^(All tests passed|test cases:)' "$OUT/tests.log" | tail -1))"
}
if has sass; then
  if command -v cuobjdump > /dev/null; then
    cuobjdump -sass $BIN/attnscope > "$OUT/sass.txt" 2>&1 || true
    python3 - "$OUT/sass.txt" <<'PY' | tee -a "$SUMMARY"
import re, sys
fn, counts = None, {}
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"Function : (\S+)", line)
    if m:
        fn = m.group(1); counts[fn] = {"HGMMA": 0, "UTMALDG": 0, "UTMASTG": 0, "LDL": 0, "STL": 0, "USETMAXREG": 0}
        continue
    if fn:
        for op in counts[fn]:
            if re.search(r"\b" + op + r"\b", line): counts[fn][op] += 1
fa3 = {f: c for f, c in counts.items() if "fa3_forward" in f}
print(f"sass: {len(fa3)} fa3 kernels; " + ("all with HGMMA, UTMALDG, UTMASTG, USETMAXREG and no LDL/STL" if fa3 and all(
    c["HGMMA"] and c["UTMALDG"] and c["UTMASTG"] and c["USETMAXREG"] and not c["LDL"] and not c["STL"] for c in fa3.values())
    else "CHECK: " + "; ".join(f"{f[-60:]} {c}" for f, c in list(fa3.items())[:4])))
PY
    gzip -f "$OUT/sass.txt"
  else
    note "sass: no cuobjdump on the device"
  fi
fi
has blocks && run_test blocks 60 "[blocks]"
has ragged && run_test ragged 60 "[ragged]"
has mutants && run_test mutants 90 "[mutant][hopper]"
has grid && run_test grid 150 "[prefill][hopper]"
has probe && run_test probe 60 "[.probe-wgmma]"
if has sanitize; then
  for tool in memcheck racecheck synccheck; do
    echo "### compute-sanitizer --tool $tool --error-exitcode 9 test_gpu '[.sanitize-hopper]'" >> "$OUT/sanitizer.log"
    ( time timeout 45 compute-sanitizer --tool $tool --error-exitcode 9 $BIN/test_gpu "[.sanitize-hopper]" ) >> "$OUT/sanitizer.log" 2>&1
    rc=$?
    note "sanitize $tool: exit $rc ($(grep -E 'ERROR SUMMARY|All tests passed|test cases:' "$OUT/sanitizer.log" | tail -1))"
  done
fi
has emulator && run_test emulator 150 "[.emulator-hopper]"
if has quick; then
  timeout 60 $BIN/attnscope bench --kernels default --seqlens 4096,16384 --warmup 3 --iters 15 --out "$OUT/quick_ours.jsonl" >> "$OUT/bench.log" 2>&1
  note "quick bench: exit $?"
  PYTHONUNBUFFERED=1 timeout 45 python3 $BIN/bench_torch_sdpa.py --seqlens 4096,16384 --backends flash,cudnn --warmup 3 --iters 15 \
    --json "$OUT/quick_torch.jsonl" > /dev/null 2>> "$OUT/bench.log"
  python3 $BIN/make_hopper_report.py "$OUT/quick_ours.jsonl" "$OUT/quick_torch.jsonl" "$OUT/provenance.txt" > "$OUT/quick_bench.md" 2>> "$OUT/bench.log"
  grep -E "^\| |Geometric" "$OUT/quick_bench.md" | tail -12
  cat "$OUT"/quick_*.jsonl >> "$OUT/bench.log" 2>/dev/null; rm -f "$OUT"/quick_*.jsonl  # at most 8 files come back
fi
if has bench; then
  timeout 200 $BIN/attnscope bench --warmup 5 --iters 30 --out "$OUT/ours.jsonl" >> "$OUT/bench.log" 2>&1
  note "bench: exit $?"
  # The other fa3 tiles (no ping-pong; 3 consumer warpgroups at D = 64) at two lengths, same JSON.
  timeout 60 $BIN/attnscope bench --kernels 'fa3.*.no*' --seqlens 4096,16384 --warmup 5 --iters 30 --out "$OUT/ours_noping.jsonl" >> "$OUT/bench.log" 2>&1
  timeout 60 $BIN/attnscope bench --kernels 'fa3.*.d64.m192n96' --seqlens 4096,16384 --warmup 5 --iters 30 --out "$OUT/ours_m192.jsonl" >> "$OUT/bench.log" 2>&1
  cat "$OUT/ours_noping.jsonl" "$OUT/ours_m192.jsonl" >> "$OUT/ours.jsonl" 2>/dev/null
  rm -f "$OUT/ours_noping.jsonl" "$OUT/ours_m192.jsonl"
  PYTHONUNBUFFERED=1 timeout 110 python3 $BIN/bench_torch_sdpa.py --backends flash,cudnn --warmup 5 --iters 30 --json "$OUT/torch.jsonl" \
    > /dev/null 2>> "$OUT/bench.log"
  note "torch bench: exit $?"
  python3 $BIN/make_hopper_report.py "$OUT/ours.jsonl" "$OUT/torch.jsonl" "$OUT/provenance.txt" > "$OUT/hopper_benchmark.md" 2>> "$OUT/bench.log"
  grep -E "Geometric|default" "$OUT/hopper_benchmark.md" | tail -6 | tee -a "$SUMMARY"
fi
has fp8 && run_test fp8 120 "[fp8]"
if has fp8acc; then
  mkdir -p /tmp/fp8dump
  { ATTNSCOPE_FP8_DUMP=/tmp/fp8dump timeout 200 $BIN/test_gpu "[.fp8-accuracy]" --durations yes
    echo "test_gpu [.fp8-accuracy] exit $?"
    PYTHONUNBUFFERED=1 timeout 60 python3 $BIN/fp8_accuracy_torch.py /tmp/fp8dump
    echo "fp8_accuracy_torch.py exit $?"
  } > "$OUT/fp8_accuracy.log" 2>&1
  note "fp8acc: $(grep -E 'exit' "$OUT/fp8_accuracy.log" | tr '\n' ' ')"
  grep -E "^fp8 accuracy" "$OUT/fp8_accuracy.log" | tee -a "$SUMMARY"
fi
if has fp8bench; then
  timeout 90 $BIN/attnscope bench --kernels 'fa3.bf16.d128.m128n128*' --dtype bf16 --head-dim 128 --seqlens 4096,16384 \
    --warmup 5 --iters 30 >> "$OUT/bench.log" 2>&1
  note "fp8bench: exit $?"
  grep -E "^fa3.bf16.d128.m128n128" "$OUT/bench.log" | tail -24 | tee -a "$SUMMARY"
fi
if has precise; then
  # One log (the call returns at most 8 files): sweep, gate, the excess tables and every row as CSV.
  { echo "### attnscope sweep hopper_precise.toml --device gpu"
    ( time timeout "${PRECISE_SECONDS:-240}" $BIN/attnscope sweep $BIN/hopper_precise.toml --db "$OUT/precise.sqlite" --device gpu ) 2>&1 | tail -15
    echo "sweep exit ${PIPESTATUS[0]}"
    echo "### attnscope gate (fa3 precise: excess <= 1.05; the others: <= 4, FlashAttention rule)"
    timeout 30 $BIN/attnscope gate --db "$OUT/precise.sqlite" --tolerances $BIN/hopper_precise_tolerances.toml 2>&1 | tail -30
    echo "gate exit ${PIPESTATUS[0]}"
    echo "### precise_excess.py"
    python3 $BIN/precise_excess.py "$OUT/precise.sqlite"
  } > "$OUT/precise.log" 2>&1
  note "precise: $(grep -E '^(sweep|gate) exit' "$OUT/precise.log" | tr '\n' ' ')"
  sed -n '/^| precise kernel/,/^$/p' "$OUT/precise.log" | tee -a "$SUMMARY"
  rm -f "$OUT"/precise.sqlite-*  # the database itself comes back compressed (raw data of the answer)
  gzip -f "$OUT/precise.sqlite"
fi
grep -E "^(FAIL|variant fa3|mutant .*fa3|ragged|wgmma (layout|probe .*best)|emulator vs fa3)" "$OUT/tests.log" 2>/dev/null | cut -c1-200 | tail -40
echo "==== summary"
cat "$SUMMARY"
