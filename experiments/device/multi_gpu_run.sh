#!/usr/bin/env bash
# On a 2-GPU device machine (one call, kind nvidia-h200-x2): `attnscope sweep --devices 0,1` (one
# worker per GPU, shards merged) against the same sweep in one process on GPU 0; the merged
# database must equal the 1-GPU run row for row (point key, kernel, status, message, configuration,
# metrics, attribution), and the wall-time ratio is the scale-out's throughput ratio (same spec,
# same binary, same machine, same call).
#
# Carry .device/reports/ holding `attnscope` built here for sm_90a and `commit.txt` (see
# experiments/device/reports_run.sh for the three build lines); then:
#   run(command="bash experiments/device/multi_gpu_run.sh", carry=[".device/reports"], kind="nvidia-h200-x2", timeout_s=600)
# Optional argument: the spec (default experiments/sweeps/default.toml, its gpu_kernels).
# Writes $OUT/{provenance.txt, multi_gpu.log, one_gpu.sqlite, two_gpu.sqlite, rows_*.txt, verdict.txt}.
set -uo pipefail
out=${OUT:-/tmp/attnscope-out}
bin=.device/reports/attnscope
spec=${1:-experiments/sweeps/default.toml}
mkdir -p "$out"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(cat .device/reports/commit.txt 2>/dev/null || echo unknown)"
  echo "gpus: $(nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader | tr '\n' ';')"
  echo "spec: $spec"
  echo "command: bash experiments/device/multi_gpu_run.sh $*"
} > "$out/provenance.txt"
{
  cat "$out/provenance.txt"
  echo "== 1 GPU (one process, CUDA_VISIBLE_DEVICES=0)"
  t0=$(date +%s.%N)
  CUDA_VISIBLE_DEVICES=0 $bin sweep "$spec" --db "$out/one_gpu.sqlite" --device gpu --progress-every 30
  t1=$(date +%s.%N)
  echo "== 2 GPUs (--devices 0,1)"
  $bin sweep "$spec" --db "$out/two_gpu.sqlite" --device gpu --devices 0,1 --progress-every 30
  t2=$(date +%s.%N)
  query="SELECT point_key, kernel, status, message, config, json_remove(metrics, '$.truth_seconds'), attribution FROM results ORDER BY point_key"
  sqlite3 -readonly "$out/one_gpu.sqlite" "$query" > "$out/rows_one_gpu.txt"
  sqlite3 -readonly "$out/two_gpu.sqlite" "$query" > "$out/rows_two_gpu.txt"
  rows=$(wc -l < "$out/rows_one_gpu.txt")
  one=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'); two=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')
  if [ "$rows" -gt 0 ] && cmp -s "$out/rows_one_gpu.txt" "$out/rows_two_gpu.txt"; then verdict="EQUAL"; else verdict="DIFFERENT"; fi
  printf '%s: %d rows; 1 GPU %.1f s, 2 GPUs %.1f s, throughput ratio %.2fx\n' "$verdict" "$rows" "$one" "$two" \
    "$(awk -v a="$one" -v b="$two" 'BEGIN { print a / b }')" | tee "$out/verdict.txt"
  [ "$verdict" = EQUAL ] || diff "$out/rows_one_gpu.txt" "$out/rows_two_gpu.txt" | head -20
} > "$out/multi_gpu.log" 2>&1
tail -30 "$out/multi_gpu.log"
