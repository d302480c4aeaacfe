#!/usr/bin/env bash
# On a 2-GPU device machine (one call, kind nvidia-h200-x2, <= 240 s): `attnscope sweep --devices
# 0,1` (one worker per GPU, shards merged) against the same sweep in one process on GPU 0; the
# merged database must equal the 1-GPU run row for row (point key, kernel, status, message,
# configuration, metrics less the truth's run time, attribution less its run time), and the wall-time ratio is the
# scale-out's throughput ratio (same spec, binary, machine and call).
#
# Here, first: bash experiments/device/reports_pack.sh   (fills .device/reports from build/default)
# Then:  run(command="bash experiments/device/multi_gpu_run.sh", carry=[".device/reports"],
#            kind="nvidia-h200-x2", timeout_s=300)
# Optional argument: the spec (default experiments/sweeps/default.toml, its gpu_kernels: 1408
# points, 68 s on one H200 in reports/h200/main-job-gpu). Deadline REPORTS_SECONDS (default 230).
# Writes $OUT/{provenance.txt, multi_gpu.log, one_gpu.sqlite, two_gpu.sqlite, verdict.txt}.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPORTS_SECONDS=${REPORTS_SECONDS:-230}
source experiments/device/reports_env.sh
spec=${1:-experiments/sweeps/default.toml}
echo "spec: $spec" >> "$out/provenance.txt"
{
  cat "$out/provenance.txt"
  echo "== 1 GPU (one process, CUDA_VISIBLE_DEVICES=0)"
  t0=$(date +%s.%N)
  CUDA_VISIBLE_DEVICES=0 timeout -k 5 $(( $(seconds_left 20) * 3 / 5 )) \
    "$bin" sweep "$spec" --db "$out/one_gpu.sqlite" --device gpu --progress-every 30
  rc1=$?
  t1=$(date +%s.%N)
  echo "== 2 GPUs (--devices 0,1)"
  timeout -k 5 "$(seconds_left 15)" "$bin" sweep "$spec" --db "$out/two_gpu.sqlite" --device gpu --devices 0,1 --progress-every 30
  rc2=$?
  t2=$(date +%s.%N)
  echo "exit: 1 GPU $rc1, 2 GPUs $rc2"
  # Row for row, with Python's own sqlite3 (the device machine has no sqlite3 program).
  python3 - "$out/one_gpu.sqlite" "$out/two_gpu.sqlite" "$t0" "$t1" "$t2" "$rc1" "$rc2" \
    experiments/sweeps/comparable_rows.sql <<'PY' | tee "$out/verdict.txt"
import sqlite3, sys
one, two, t0, t1, t2, rc1, rc2, query_file = sys.argv[1:]
# Everything but the two measured times (experiments/sweeps/comparable_rows.sql).
q = open(query_file).read()
def rows(path):
    try:
        con = sqlite3.connect("file:" + path + "?mode=ro", uri=True)
        return con.execute(q).fetchall()
    except sqlite3.Error as e:  # no database: that run failed (its exit status is above)
        print("%s: %s" % (path, e))
        return []
a, b = rows(one), rows(two)
t_one, t_two = float(t1) - float(t0), float(t2) - float(t1)
equal = rc1 == "0" and rc2 == "0" and len(a) > 0 and a == b
print("%s: %d rows (1 GPU) vs %d rows (2 GPUs); 1 GPU %.1f s, 2 GPUs %.1f s, throughput ratio %.2fx"
      % ("EQUAL" if equal else "DIFFERENT", len(a), len(b), t_one, t_two, t_one / t_two if t_two > 0 else float("nan")))
if not equal:
    keys_a = {r[0] + "|" + r[1]: r for r in a}
    keys_b = {r[0] + "|" + r[1]: r for r in b}
    for k in sorted(set(keys_a) ^ set(keys_b))[:10]:
        print("  only in %s: %s" % ("1 GPU" if k in keys_a else "2 GPUs", k))
    for k in sorted(set(keys_a) & set(keys_b)):
        if keys_a[k] != keys_b[k]:
            print("  differs: %s" % k)
            break
PY
} > "$out/multi_gpu.log" 2>&1
tail -30 "$out/multi_gpu.log"
