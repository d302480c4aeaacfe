#!/usr/bin/env bash
# fingerprint_run.sh: the device call of issue #16 (precision fingerprint and probe). Runs on the
# device machine from the lead's checkout with what experiments/device/stage_fingerprint.sh put in
# .device/fingerprint/ (attnscope built here, the dump script, this script):
#   dumps     PyTorch SDPA on the GPU (flash, cuDNN, efficient, math) and known numerics written in
#             torch (P cast to e4m3 / e5m2 / the other 16-bit format after an FP32 softmax; the
#             math backend before 2.5), FP16 and BF16, causal, two shapes: the timing shape
#             (S 1024, H 4, D 128) and a small one (S 256, H 2, D 64) whose files come back
#   diagnose  attnscope diagnose on every dump (text and --json, wall time each)
#   probe     attnscope probe on the external/peer kernels attnscope lists (the SDPA worker of the
#             external-kernel work, once registered) and on PROBE_KERNELS (space separated names)
# Usage: bash .device/fingerprint/fingerprint_run.sh [STEPS]   (default dumps,diagnose,probe, or
#        FINGERPRINT_STEPS when set: final_evidence.sh calls this script without arguments)
# Env: DUMP_FILTER (glob of the S 1024 dumps to diagnose, e.g. 'sdpa_p-*'; default all),
#      PROBE_KERNELS (names to probe besides the listed external/peer kernels), PROBE_SPEC (a sweep
#      spec whose [[external]] kernels the probe may name, e.g. experiments/sweeps/external_sdpa.toml).
# Files back in $OUT (at most 8): summary.txt, provenance.txt, diagnose.tar.gz (every text/JSON
# output), small_dumps.tar.gz (the S 256 safetensors), probe.log, run.log.
set -u
STEPS="${1:-${FINGERPRINT_STEPS:-dumps,diagnose,probe}}"
OUT="${OUT:-/tmp/out}"
BIN=.device/fingerprint
WORK=/tmp/fingerprint_work
mkdir -p "$OUT" "$WORK/big" "$WORK/small" "$WORK/diagnose"
bash experiments/device/unpack_binaries.sh "$BIN"
chmod +x $BIN/attnscope 2>/dev/null
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
exec > >(tee -a "$OUT/run.log") 2>&1
note() { echo "$*" | tee -a "$SUMMARY"; }
has() { [[ ",$STEPS," == *",$1,"* ]]; }
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cat $BIN/commit.txt 2>/dev/null)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /'
  echo "torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1)"
  echo "cpu: $(nproc) cores (attnscope diagnose and probe run on the CPU)"
} > "$OUT/provenance.txt" 2>&1
cat "$OUT/provenance.txt"
if has dumps; then
  for dt in fp16 bf16; do
    other=$([[ $dt == fp16 ]] && echo p-bf16 || echo p-fp16)
    custom="p-e4m3,p-e5m2,$other"
    [[ $dt == fp16 ]] && custom="$custom,math-fp16"
    PYTHONUNBUFFERED=1 timeout 120 python3 $BIN/dump_torch_sdpa.py --seqlen-q 1024 --seqlen-k 1024 --heads 4:4 --dim 128 \
      --dtype $dt --causal --seed 1 --custom "$custom" --out "$WORK/big"
    PYTHONUNBUFFERED=1 timeout 120 python3 $BIN/dump_torch_sdpa.py --seqlen-q 256 --seqlen-k 256 --heads 2:2 --dim 64 \
      --dtype $dt --causal --seed 2 --custom "$custom" --out "$WORK/small"
  done
  note "dumps: $(ls $WORK/big | wc -l) at S 1024 H 4 D 128, $(ls $WORK/small | wc -l) at S 256 H 2 D 64"
fi
if has diagnose; then
  for f in "$WORK"/big/${DUMP_FILTER:-*}.safetensors "$WORK"/small/*.safetensors; do
    [[ -f $f ]] || continue
    name=$(basename "$f" .safetensors)
    size=$(basename "$(dirname "$f")")
    start=$(date +%s.%N)
    timeout 300 $BIN/attnscope diagnose "$f" --mask causal > "$WORK/diagnose/${size}_$name.txt" 2>&1
    rc=$?
    secs=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
    timeout 300 $BIN/attnscope diagnose "$f" --mask causal --json > "$WORK/diagnose/${size}_$name.json" 2>/dev/null
    fp=$(grep -o 'precision fingerprint ([^)]*)' "$WORK/diagnose/${size}_$name.txt" | head -1)
    note "diagnose $size $name: exit $rc, ${secs} s (diagnosis + fingerprint; $fp)"
    note "  $(head -1 "$WORK/diagnose/${size}_$name.txt")"
  done
  tar -C "$WORK" -czf "$OUT/diagnose.tar.gz" diagnose
  tar -C "$WORK" -czf "$OUT/small_dumps.tar.gz" small
fi
if has probe; then
  kernels="$($BIN/attnscope list 2>/dev/null | awk '/\[(external|peer)[],]/{print $1}') ${PROBE_KERNELS:-}"
  for k in $kernels; do
    echo "### attnscope probe --kernel $k" >> "$OUT/probe.log"
    ( time timeout 300 $BIN/attnscope probe --kernel "$k" ${PROBE_SPEC:+--spec "$PROBE_SPEC"} ) >> "$OUT/probe.log" 2>&1
    rc=$?
    note "probe $k: exit $rc: $(grep -A0 "^$k:" "$OUT/probe.log" | tail -1)"
  done
  [[ -z "${kernels// /}" ]] && note "probe: no external or peer kernel registered and PROBE_KERNELS empty: nothing probed"
fi
cat "$SUMMARY"
