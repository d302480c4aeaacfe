#!/usr/bin/env bash
# On the device machine: the main job on the GPU (default sweep with the CUDA kernels, each
# attributed through the emulator of its tiling) and PyTorch SDPA dumps for `attnscope diagnose`.
# Carry .device/ holding attnscope (built here for sm_90a, stripped) and commit.txt.
# Writes $OUT/{provenance.txt, main_gpu.log, gpu_default.sqlite, dumps/*.safetensors}.
set -uo pipefail
out=${OUT:-/tmp/attnscope-out}
mkdir -p "$out/dumps"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(cat .device/commit.txt)"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
  echo "cuda: $(nvcc --version | tail -1) (binaries built with nvcc 13.0 for sm_90a, carried)"
  echo "torch: $(python3 -c 'import torch; print(torch.__version__, "cudnn", torch.backends.cudnn.version())')"
  echo "command: experiments/device/run_main_gpu.sh"
} > "$out/provenance.txt"
{
  cat "$out/provenance.txt"
  echo "== attnscope sweep experiments/sweeps/default.toml --device gpu"
  time .device/attnscope sweep experiments/sweeps/default.toml --db "$out/gpu_default.sqlite" --device gpu --quiet
  echo "== attnscope gate"
  .device/attnscope gate --db "$out/gpu_default.sqlite" --tolerances experiments/tolerances/default_gpu.toml
  echo "== dump_torch_sdpa.py (is_causal with S_q != S_k: top-left aligned)"
  python3 experiments/peers/dump_torch_sdpa.py --seqlen-q 10 --seqlen-k 74 --heads 8:2 --dim 64 --dtype fp16 \
    --causal --out "$out/dumps"
  python3 experiments/peers/dump_torch_sdpa.py --seqlen-q 128 --seqlen-k 128 --heads 8:2 --dim 64 --dtype bf16 \
    --causal --backends flash --out "$out/dumps"
} > "$out/main_gpu.log" 2>&1
tail -30 "$out/main_gpu.log"
