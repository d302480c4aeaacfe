#!/usr/bin/env bash
# On the device machine (one call): PyTorch's production attention kernels — SDPA flash, cuDNN,
# efficient, math and FlexAttention, plus SDPA's top-left is_causal variants — swept through the
# [[external]] worker (experiments/peers/sdpa_worker.py) beside attnscope's own GPU kernels on the
# main job's grid (experiments/sweeps/external_sdpa.toml), gated, reported; then `check` and
# `diagnose` on the same inputs shown to agree with the sweep (experiments/device/external_agreement.py);
# and the protocol's overhead per point beside each kernel's own time.
#
# Carry .device/external/ holding `attnscope` built here for sm_90a and `commit.txt`:
#   cmake --preset default && cmake --build --preset default --target attnscope
#   mkdir -p .device/external && cp build/default/cli/attnscope .device/external/ && strip .device/external/attnscope
#   git rev-parse HEAD > .device/external/commit.txt
# Then: run(command="bash experiments/device/external_run.sh", carry=[".device/external"])
# Writes $OUT/{provenance.txt, external_run.log, external_sdpa.sqlite, gate.xml, report/, agreement.log, overhead.txt}.
set -uo pipefail
out=${OUT:-/tmp/attnscope-out}
bin=.device/external/attnscope
mkdir -p "$out"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(cat .device/external/commit.txt)"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
  echo "cuda: $(nvcc --version 2>/dev/null | tail -1) (binaries built with nvcc 13.0 for sm_90a, carried)"
  echo "torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())')"
  echo "python: $(python3 --version 2>&1), numpy $(python3 -c 'import numpy; print(numpy.__version__)')"
  echo "command: bash experiments/device/external_run.sh"
} > "$out/provenance.txt"
{
  cat "$out/provenance.txt"
  echo "== attnscope sweep experiments/sweeps/external_sdpa.toml --device gpu"
  time $bin sweep experiments/sweeps/external_sdpa.toml --db "$out/external_sdpa.sqlite" --device gpu --quiet
  echo "== attnscope gate"
  $bin gate --db "$out/external_sdpa.sqlite" --tolerances experiments/tolerances/external_sdpa.toml --junit "$out/gate.xml"
  echo "== attnscope report"
  $bin report --db "$out/external_sdpa.sqlite" --out "$out/report"
  echo "== rows not ok (invalid: the backend declined, with PyTorch's reason; error: a failure)"
  python3 - "$out/external_sdpa.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for kernel, status, n, msg in db.execute(
        "SELECT kernel, status, COUNT(*), MIN(substr(message, 1, 160)) FROM results WHERE status != 'ok' "
        "GROUP BY kernel, status ORDER BY kernel"):
    print(f"{kernel:28} {status:8} {n:4}  e.g. {msg}")
PY
} > "$out/external_run.log" 2>&1
# check / diagnose on the same inputs and outputs as the sweep (fp16 and bf16, square and cached,
# GQA 1 and 4, correct and is_causal).
python3 experiments/device/external_agreement.py --attnscope "$bin" --spec experiments/sweeps/external_sdpa.toml \
  --db "$out/external_sdpa.sqlite" --out "$out/agreement" \
  --points "sdpa.flash:7:300:8:2:fp16,sdpa.cudnn:65:0:4:4:bf16,sdpa.efficient:63:1:8:2:fp16,sdpa.math:7:300:8:2:bf16,flex:64:300:8:2:fp16,sdpa.math.is-causal:7:300:8:2:fp16,sdpa.cudnn.is-causal:65:300:4:4:fp16" \
  > "$out/agreement.log" 2>&1
# The protocol's cost per point (ms, wall) beside the kernel's own time (CUDA events, median).
python3 - "$out/external_sdpa.sqlite" > "$out/overhead.txt" 2>&1 <<'PY'
import json, sqlite3, statistics, sys
db = sqlite3.connect(sys.argv[1])
per = {}
for kernel, metrics in db.execute("SELECT kernel, metrics FROM results WHERE status = 'ok'"):
    info = json.loads(metrics).get("run_info")
    if info and not info.get("external_worker_started"):
        per.setdefault(kernel, []).append(info)
print(f"{'kernel':28} {'points':>6} {'total ms':>9} {'kernel ms':>9} {'worker run ms':>13} {'overhead ms':>11} {'write':>6} {'read':>6}  (medians; points without a worker start)")
for kernel, rows in sorted(per.items()):
    med = lambda k: statistics.median(r[k] for r in rows if k in r) if any(k in r for r in rows) else float("nan")
    print(f"{kernel:28} {len(rows):>6} {med('external_total_ms'):>9.2f} {med('external_kernel_ms'):>9.3f} "
          f"{med('external_run_ms'):>13.2f} {med('external_overhead_ms'):>11.2f} {med('external_write_ms'):>6.2f} {med('external_read_ms'):>6.2f}")
PY
tail -40 "$out/external_run.log"
cat "$out/agreement.log" "$out/overhead.txt"
