#!/usr/bin/env bash
# decode_run.sh: the device call of the decode work (issue 14). Runs on the device machine from the
# repository root with everything carried in .device/decode/ by experiments/device/decode_pack.sh:
# the binaries (nvcc 13.0, sm_90a, stripped, xz-compressed), libmpfr/libgmp, this script and
# the two Python scripts it runs (the checkout it runs in may predate them); builds nothing.
#   provenance  date, commit, GPU, driver, CUDA, torch/cuDNN               -> provenance.txt
#   sanitize    compute-sanitizer memcheck, racecheck, synccheck on "[.decode_sanitize]": every
#               registered decode variant and mutant of both kernels (bulk: 1 and 4 KV heads per
#               CTA, ragged last tiles), the FP8 cache (contiguous, paged), chunked prefill, the
#               append overflow                                            -> sanitizer.log
#   test        test_gpu "[decode]", one process per test case (a kernel trap cannot take the
#               others down): the rule grid (depths, S_q 1/4/16, GQA 1/4/8, D 64/128, ragged
#               batches) for every variant of both kernels, paged == contiguous, batch
#               invariance, every cache mutant caught, chunked prefill, append overflow; the
#               emulator agreement (exp_fp32/log_fp32 device == host, every decode variant and
#               mutant == its CPU emulator bit for bit); the FP8 cache (== the FP16/BF16 path on
#               the dequantized cache, within the rule, error vs both truths)   -> test_decode.log
#   bench       experiments/peers/bench_torch_decode.py first (SDPA flash, cuDNN; JSON), then
#               attnscope bench --decode, one process per configuration, the production kernel's
#               first (CUDA cores: contiguous, paged 16 / 256, fixed 256-key split; then the bulk
#               kernel's), on B {1,8,64} x L {1k,4k,16k,64k,128k}, cold and warm, and the joined
#               table                                    -> bench.log, ours.jsonl, torch.jsonl, table.md
#   ncu         ncu (--clock-control none; DECODE_NCU_SECTIONS, default SpeedOfLight
#               MemoryWorkloadAnalysis WarpStateStats SchedulerStats) on one launch of each
#               DECODE_NCU_CONFIGS configuration (default "mma.w12"; "torch": the SDPA peers) at
#               B 8 and each of DECODE_NCU_LENS (default "4096 65536"), FP16 D 128 (not in the
#               default steps)                                        -> appended to bench.log
#   ab          same-call A/B of the production kernel: attnscope_old (an earlier build, carried in
#               the same folder: decode_pack.sh's OLD_ATTNSCOPE) and attnscope, alternating, two
#               rounds, bench --decode --cases mma.w12 at B 8 and 64, L 4k-128k (not in the
#               default steps)                                        -> appended to bench.log
#   probe       probe_kv_stream (carried when built), then the same ncu L2 counters on its copy
#               kernels, one launch each (not in the default steps)   -> appended to bench.log
#   depth       test_gpu "[.depth_sweep]" (not in the default steps)       -> depth.log
# Eight files come back at most: the seven of the default steps and summary.txt (printed last);
# a D 64 bench appends its table to table.md, the ncu step its reports to bench.log.
# Every step is time-limited against one deadline (DECODE_RUN_SECONDS, default 225 s from the
# start, for a call of timeout_s 240): a step that no longer fits is skipped and says so; the
# steps run in the order above (the sanitizers and the tests before the bench).
# Usage: bash .device/decode/decode_run.sh [steps]   (comma list; default provenance,sanitize,test,bench)
# Environment: DECODE_RUN_SECONDS (the deadline), DECODE_BENCH_CONFIGS (space list of bench
# configurations; default every one, the tensor-core kernel's first), DECODE_TEST_SKIP (an
# extended regex: [decode] test cases whose names match it are not run, e.g. "FP8|chunked"),
# DECODE_TEST_ONLY (an extended regex: only the [decode] test cases whose names match it run),
# DECODE_BIN (the carried folder, default .device/decode), DECODE_SANITIZE_SPEC (the test_gpu
# spec the sanitizers run, default "[.decode_sanitize]"), DECODE_DTYPE (the bench's and the peers'
# element type, default fp16). A configuration NAME@64 runs at D 64
# (default D 128); DECODE_BENCH_ARGS: more arguments of attnscope bench (e.g. "--batches 8,64
# --cache-lens 4096,65536"); DECODE_NCU_METRICS: a comma list of raw ncu metrics, in place of the
# sections where set (e.g. the L2 counters of reports/h200/decode/call12/ncu-l2);
# DECODE_PEER_ARGS: of bench_torch_decode.py (e.g. "--batches 8,64 --lens 4096,65536"), run at
# D 128 and, where a configuration asks for D 64, at D 64 too.
set -u
STEPS="${1:-provenance,sanitize,test,bench}"
DT="${DECODE_DTYPE:-fp16}"  # the bench's and the peers' element type (fp16 or bf16)
RUN=/tmp/decode_bin
# OUT, SUMMARY, has, note, left, provenance; the binaries unpacked into $RUN.
source experiments/device/run_prelude.sh "${DECODE_BIN:-.device/decode}" "${DECODE_RUN_SECONDS:-225}" "$RUN"

has provenance && provenance >> "$SUMMARY"

if has sanitize; then
  : > "$OUT/sanitizer.log"
  for tool in memcheck racecheck synccheck; do
    t=$(left 60)
    if [ "$t" -eq 0 ]; then note "compute-sanitizer $tool SKIPPED (deadline)"; continue; fi
    spec="${DECODE_SANITIZE_SPEC:-[.decode_sanitize]}"
    echo "### compute-sanitizer --tool $tool --error-exitcode 9 test_gpu '$spec'" >> "$OUT/sanitizer.log"
    ( time timeout "$t" compute-sanitizer --tool $tool --error-exitcode 9 "$RUN/test_gpu" "$spec" ) >> "$OUT/sanitizer.log" 2>&1
    rc=$?
    note "compute-sanitizer $tool exit $rc ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|All tests passed|test cases:' "$OUT/sanitizer.log" | tail -1))"
  done
  # Where racecheck found hazards (file:line pairs), if anywhere.
  grep -E "Race reported|and (Read|Write) access" "$OUT/sanitizer.log" | grep -oE "[a-z_]+\.cuh?:[0-9]+" | sort | uniq -c | head -20 >> "$SUMMARY"
fi

if has test; then
  : > "$OUT/test_decode.log"
  failed_cases=0
  # One process per test case, selected by the name up to its first character Catch2's test
  # spec would parse (comma, bracket) followed by a wildcard.
  while IFS= read -r name; do
    [ -z "$name" ] && continue
    spec="${name%%[,\[]*}*"
    t=$(left 150)
    if [ "$t" -eq 0 ]; then note "SKIPPED (deadline): $name"; failed_cases=$((failed_cases + 1)); continue; fi
    echo "### test_gpu \"$spec\"" >> "$OUT/test_decode.log"
    ( time timeout "$t" "$RUN/test_gpu" "$spec" --durations yes ) >> "$OUT/test_decode.log" 2>&1
    rc=$?
    [ $rc -ne 0 ] && failed_cases=$((failed_cases + 1))
    note "test exit $rc: $name"
  done < <("$RUN/test_gpu" "[decode]" --list-test-names-only 2>/dev/null | sed 's/^ *//' |
           { if [ -n "${DECODE_TEST_SKIP:-}" ]; then grep -Ev "$DECODE_TEST_SKIP"; else cat; fi } |
           { if [ -n "${DECODE_TEST_ONLY:-}" ]; then grep -E "$DECODE_TEST_ONLY"; else cat; fi })
  note "test_gpu [decode]: $failed_cases test case(s) failed"
  grep -E "rule:|^FAIL|differ from contiguous|differ alone|EMULATOR|ELEMENTARY|FP8 rule|^mutant|failed|passed" \
    "$OUT/test_decode.log" | grep -v " 0 elements differ" | tail -60 >> "$SUMMARY"
fi

if has bench; then
  : > "$OUT/bench.log"
  : > "$OUT/ours.jsonl"
  # The peers first (the ratio table needs them), then ours, the production kernel's configurations first.
  CONFIGS="${DECODE_BENCH_CONFIGS:-mma.w12 mma.w12.paged16 mma.w12.paged256 mma.w12.fixed2048 mma.w12.fp8 mma.w12.fixed256 mma cuda-cores cuda-cores.paged16 \
           cuda-cores.paged256 cuda-cores.fixed256 bulk bulk.fp8 bulk.paged16 bulk.paged256 bulk.fixed256 bulk1h bulk1h.1cta}"
  PEER_DIMS=128
  [[ " $CONFIGS " == *"@64 "* ]] && PEER_DIMS="128 64"
  : > "$OUT/torch.jsonl"
  for d in $PEER_DIMS; do
    t=$(left 40)
    echo "### python3 experiments/peers/bench_torch_decode.py --head-dim $d --dtype $DT ${DECODE_PEER_ARGS:-} --json (carried copy)" >> "$OUT/bench.log"
    if [ "$t" -gt 0 ]; then
      ( PYTHONUNBUFFERED=1 timeout "$t" python3 $BIN/bench_torch_decode.py --head-dim $d --dtype $DT ${DECODE_PEER_ARGS:-} --json "/tmp/torch_$d.jsonl" ) >> "$OUT/bench.log" 2>&1
      note "torch peers D $d exit $?"
      cat "/tmp/torch_$d.jsonl" >> "$OUT/torch.jsonl" 2>/dev/null
    else
      note "torch peers D $d SKIPPED (deadline)"
    fi
  done
  for entry in $CONFIGS; do
    config="${entry%@*}"; d=128
    [ "$entry" != "$config" ] && d="${entry#*@}"
    t=$(left 30)
    if [ "$t" -eq 0 ]; then note "bench SKIPPED (deadline): $entry"; continue; fi
    echo "### attnscope bench --decode --cases $config --head-dim $d --dtype $DT ${DECODE_BENCH_ARGS:-} --out (appended to ours.jsonl)" >> "$OUT/bench.log"
    ( time timeout "$t" "$RUN/attnscope" bench --decode --cases "$config" --head-dim $d --dtype $DT ${DECODE_BENCH_ARGS:-} \
        --out "/tmp/decode_${config}_$d.jsonl" ) >> "$OUT/bench.log" 2>&1
    note "attnscope bench --decode --cases $config --head-dim $d exit $?"
    cat "/tmp/decode_${config}_$d.jsonl" >> "$OUT/ours.jsonl" 2>/dev/null
  done
  python3 $BIN/make_decode_bench_table.py "$OUT/ours.jsonl" "$OUT/torch.jsonl" $DT 128 > "$OUT/table.md" 2>> "$OUT/bench.log"
  note "table exit $?"
  if [[ "$PEER_DIMS" == *64* ]]; then
    { echo; echo "## D 64"; echo; python3 $BIN/make_decode_bench_table.py "$OUT/ours.jsonl" "$OUT/torch.jsonl" $DT 64; } >> "$OUT/table.md" 2>> "$OUT/bench.log"
    note "table D 64 exit $?"
  fi
fi

# What ncu collects (the ncu and probe steps): the sections, or the raw metrics where given.
NCU_SECTIONS=()
for section in ${DECODE_NCU_SECTIONS:-SpeedOfLight MemoryWorkloadAnalysis WarpStateStats SchedulerStats}; do
  NCU_SECTIONS+=(--section "$section")
done
[ -n "${DECODE_NCU_METRICS:-}" ] && NCU_SECTIONS=(--metrics "$DECODE_NCU_METRICS")

if has ncu; then
  NCU_LOG="$OUT/bench.log"
  for config in ${DECODE_NCU_CONFIGS:-mma.w12}; do
    for len in ${DECODE_NCU_LENS:-4096 65536}; do
      t=$(left 60)
      if [ "$t" -eq 0 ]; then note "ncu SKIPPED (deadline): $config L $len"; continue; fi
      if [ "$config" = torch ]; then  # the SDPA peers (flash, cuDNN) after their warm-up calls
        echo "### ncu SDPA peers B 8 L $len" >> "$NCU_LOG"
        ( timeout "$t" ncu --clock-control none "${NCU_SECTIONS[@]}" --kernel-name "regex:sdpa|fmha|flash|cudnn|attn|Attention" \
            --launch-skip 3 --launch-count 3 python3 $BIN/bench_torch_decode.py --batches 8 --lens "$len" --iters 10 --warmup 2 ) \
          >> "$NCU_LOG" 2>&1
      else
        echo "### ncu $config B 8 L $len (one launch after the check and the first warm-up)" >> "$NCU_LOG"
        ( timeout "$t" ncu --clock-control none "${NCU_SECTIONS[@]}" --kernel-name "regex:decode_(split|mma|bulk)_kernel" \
            --launch-skip 2 --launch-count 1 "$RUN/attnscope" bench --decode --cases "$config" --batches 8 --cache-lens "$len" \
            --iters 10 ) >> "$NCU_LOG" 2>&1
      fi
      note "ncu $config L $len exit $? ($(grep -E 'DRAM Throughput' "$NCU_LOG" | tail -1 | tr -s ' '))"
    done
  done
fi

if has ab; then
  for round in 1 2; do
    for a in attnscope_old attnscope; do
      t=$(left 40)
      if [ "$t" -eq 0 ] || [ ! -x "$RUN/$a" ]; then note "ab SKIPPED (deadline or no $a): round $round"; continue; fi
      echo "### ab round $round $a: bench --decode --cases mma.w12 --batches 8,64 --cache-lens 4096,16384,65536,131072" >> "$OUT/bench.log"
      timeout "$t" "$RUN/$a" bench --decode --cases mma.w12 --batches 8,64 --cache-lens 4096,16384,65536,131072 >> "$OUT/bench.log" 2>&1
      note "ab round $round $a exit $?"
    done
  done
fi

if has probe; then
  t=$(left 90)
  if [ "$t" -eq 0 ] || [ ! -x "$RUN/probe_kv_stream" ]; then
    note "probe SKIPPED (deadline or not carried)"
  else
    echo "### probe_kv_stream" >> "$OUT/bench.log"
    timeout "$t" "$RUN/probe_kv_stream" >> "$OUT/bench.log" 2>&1
    note "probe exit $? ($(grep -E '^PROBE copy' "$OUT/bench.log" | tail -1))"
    for kernel in copy_rows_plain copy_rows_padded; do
      t=$(left 60)
      [ "$t" -eq 0 ] && { note "probe ncu SKIPPED (deadline): $kernel"; continue; }
      echo "### ncu --metrics ${DECODE_NCU_METRICS:-(sections)} --kernel-name $kernel --launch-skip 1 --launch-count 1 probe_kv_stream" >> "$OUT/bench.log"
      timeout "$t" ncu --clock-control none "${NCU_SECTIONS[@]}" --kernel-name "$kernel" --launch-skip 1 --launch-count 1 \
        "$RUN/probe_kv_stream" 2>&1 | grep -vE "^PROBE|^probe_kv_stream" >> "$OUT/bench.log"
      note "probe ncu $kernel exit ${PIPESTATUS[0]}"
    done
  fi
fi

if has depth; then
  t=$(left 240)
  ( time timeout "$t" "$RUN/test_gpu" "[.depth_sweep]" ) > "$OUT/depth.log" 2>&1
  note "depth sweep exit $?"
fi

note "elapsed $(( $(date +%s) - START )) s"
echo "=================== summary"
cat "$SUMMARY"
[ -f "$OUT/table.md" ] && sed -n '1,24p' "$OUT/table.md"
exit 0
