#!/usr/bin/env bash
# incremental_run.sh: the incremental-vs-full experiment on the device machine, with the
# attnscope binary built here (nvcc 13.0, sm_90a) and carried as .device/attnscope:
#   attnscope incremental --device gpu --prefill 512 --steps 64 --heads 8:2 --dim 128 --dtype {fp16,bf16}
# (full sequence: the default fa2.<dt>.d128 variant; prefill: the default chunked.<dt>.d128 over the cache; steps:
# decode.<dt>.d128.split; the four GPU cache mutants). Reports land in $OUT/incremental/<dt>-<dist>/.
set -u
OUT="${OUT:-/tmp/out}"
BIN=.device
chmod +x $BIN/attnscope 2>/dev/null
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/$BIN/decode/lib"
mkdir -p "$OUT/incremental"
for cfg in "fp16 normal" "bf16 normal" "fp16 outliers"; do
  set -- $cfg
  dir="$OUT/incremental/$1-$2"
  echo "### $BIN/attnscope incremental --device gpu --prefill 512 --steps 64 --heads 8:2 --dim 128 --dtype $1 --distribution $2 --seed 1 --out $dir"
  ( time timeout 150 $BIN/attnscope incremental --device gpu --prefill 512 --steps 64 --heads 8:2 --dim 128 \
      --dtype "$1" --distribution "$2" --seed 1 --out "$dir" ) 2>&1 | tail -12
done
