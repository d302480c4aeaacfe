#!/usr/bin/env bash
# profile_run.sh: the device call that asks WHERE the decode and prefill kernels lose to cuDNN
# (issues 13 and 14), with hardware counters. Runs on the device machine from the repository root
# with .device/profile filled by experiments/device/profile_pack.sh (attnscope and probe_kv_stream
# built here for sm_90a, libmpfr/libgmp, the peers' scripts, this script); builds nothing.
#   provenance  date, commit, GPU, driver, CUDA, torch/cuDNN, ncu version     -> provenance.txt
#   stream      probe_kv_stream: the read bandwidth of each decode access pattern with no math
#                                                                              -> stream.log
#   decode      ncu (--clock-control none) on one launch of each decode kernel at B 8, L 64k,
#               32:8 heads, D 128, FP16 (CUDA-core, tensor-core 12-warp, bulk) and on SDPA's
#               cuDNN and flash decode at the same shape                     -> ncu_decode.log
#   prefill     ncu on fa3 BF16 (D 64 causal S 1k; D 128 causal S 4k; D 128 non-causal S 4k), the
#               FP8 forward (D 128 non-causal S 4k) and cuDNN at the same shapes -> ncu_prefill.log
# Sections: SpeedOfLight, MemoryWorkloadAnalysis, WarpStateStats, SchedulerStats, Occupancy,
# LaunchStats, plus the issue-stall breakdown (source counters off). Each step is time-limited
# against one deadline (PROFILE_RUN_SECONDS, default 400 s).
# Usage: bash .device/profile/profile_run.sh [steps]   (default provenance,stream,decode,prefill)
set -u
STEPS="${1:-provenance,stream,decode,prefill}"
RUN=/tmp/profile_bin
# OUT, SUMMARY, has, note, left, provenance; the binaries unpacked into $RUN.
source experiments/device/run_prelude.sh .device/profile "${PROFILE_RUN_SECONDS:-400}" "$RUN"
NCU=(ncu --clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats
     --section SchedulerStats --section Occupancy --section LaunchStats)
# profile LOG NAME_REGEX SKIP COUNT CMD...: one ncu run appended to LOG, time-limited.
profile() {
  local log="$1" regex="$2" skip="$3" count="$4"; shift 4
  local t; t=$(left 90)
  if [ "$t" -eq 0 ]; then note "ncu SKIPPED (deadline): $*"; return; fi
  echo "### ncu --kernel-name regex:'$regex' --launch-skip $skip --launch-count $count $*" >> "$log"
  ( timeout "$t" "${NCU[@]}" --kernel-name "regex:$regex" --launch-skip "$skip" --launch-count "$count" "$@" ) >> "$log" 2>&1
  note "ncu exit $? ($(grep -c '^  [a-zA-Z_].*(.*)x(.*)' "$log") kernels profiled so far): $*"
}

if has provenance; then
  provenance >> "$SUMMARY"
  echo "ncu: $(ncu --version 2>&1 | tail -1)" | tee -a "$OUT/provenance.txt" >> "$SUMMARY"
fi

if has stream; then
  t=$(left 120)
  ( time timeout "$t" "$RUN/probe_kv_stream" ) > "$OUT/stream.log" 2>&1
  note "probe_kv_stream exit $?"
  grep PROBE "$OUT/stream.log" | sort -t: -k2 -r | head -5 >> "$SUMMARY"
fi

if has decode; then
  LOG="$OUT/ncu_decode.log"
  : > "$LOG"
  for config in cuda-cores mma.w12 bulk; do
    profile "$LOG" "decode_(split|mma|bulk)_kernel" 2 1 \
      "$RUN/attnscope" bench --decode --batches 8 --cache-lens 65536 --cases "$config"
  done
  profile "$LOG" "sdpa|fmha|flash|cudnn|attn|Attention" 3 3 \
    python3 $BIN/bench_torch_decode.py --batches 8 --lens 65536 --iters 10 --warmup 2
fi

if has prefill; then
  LOG="$OUT/ncu_prefill.log"
  : > "$LOG"
  profile "$LOG" "fa3_forward_kernel" 2 1 "$RUN/attnscope" bench --prefill --kernels 'fa3.bf16.d64.m128n128' \
    --dtype bf16 --head-dim 64 --seqlens 1024 --causal on --warmup 2 --iters 5
  for causal in on off; do
    profile "$LOG" "fa3_forward_kernel" 2 1 "$RUN/attnscope" bench --prefill --kernels 'fa3.bf16.d128.m128n128' \
      --dtype bf16 --head-dim 128 --seqlens 4096 --causal $causal --warmup 2 --iters 5
  done
  profile "$LOG" "fa3_forward_kernel" 2 1 "$RUN/attnscope" bench --prefill --kernels 'fa3.bf16.d128.m128n128.e4m3' \
    --dtype bf16 --head-dim 128 --seqlens 4096 --causal off --warmup 2 --iters 5
  for spec in "64 1024 on" "128 4096 on" "128 4096 off"; do
    set -- $spec
    profile "$LOG" "sdpa|fmha|flash|cudnn|attn|Attention" 4 1 python3 $BIN/bench_torch_sdpa.py --dtypes bf16 \
      --head-dims "$1" --seqlens "$2" --causal "$3" --backends cudnn --warmup 2 --iters 3 --json /tmp/profile_sdpa.jsonl
  done
fi

note "elapsed $(( $(date +%s) - START )) s"
echo "=================== summary"
cat "$SUMMARY"
exit 0
