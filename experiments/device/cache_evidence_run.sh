#!/usr/bin/env bash
# cache_evidence_run.sh: one device call for the KV-cache work's remaining evidence, with
# .device/attnscope and .device/decode/test_gpu built here (nvcc 13.0, sm_90a) and carried:
#   1. compute-sanitizer memcheck + racecheck on every prefill variant ("[.sanitize]": the FA2
#      kernel's K/V addressing now goes through kv_layout.h) -> prefill_sanitizer.log;
#   2. the incremental-vs-full experiment on the GPU (incremental_run.sh) -> incremental.tar;
#   3. the main job on the GPU (run_main_gpu.sh: default sweep incl. the KV-cache kernels, gate,
#      SDPA dumps) -> main.tar.
# Tarballs keep the file count under what the device tool brings back.
set -u
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/.device/decode/lib"
chmod +x .device/attnscope .device/decode/test_gpu
for tool in memcheck racecheck; do
  echo "### compute-sanitizer --tool $tool --error-exitcode 9 .device/decode/test_gpu '[.sanitize]'" >> "$OUT/prefill_sanitizer.log"
  ( time timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 .device/decode/test_gpu "[.sanitize]" ) >> "$OUT/prefill_sanitizer.log" 2>&1
  echo "compute-sanitizer $tool exit $?" | tee -a "$OUT/prefill_sanitizer.log"
done
OUT="$OUT/inc" bash experiments/device/incremental_run.sh > "$OUT/incremental.log" 2>&1
grep -A7 "^FP64" "$OUT/incremental.log" | cut -c1-160
tar -C "$OUT/inc" -cf "$OUT/incremental.tar" incremental && rm -rf "$OUT/inc"
OUT="$OUT/main" bash experiments/device/run_main_gpu.sh | tail -12
tar -C "$OUT/main" -cf "$OUT/main.tar" . && rm -rf "$OUT/main"
