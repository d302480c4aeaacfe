#!/usr/bin/env bash
# slurm_test.sh ATTNSCOPE SOURCE_DIR: a real single-node Slurm (Debian's slurm-wlm + munge, started
# here in a temporary folder) runs experiments/slurm/submit.sh on the smoke-size spec as a 3-task
# job array plus the dependent merge job; the merged database must equal the unsharded run row for
# row (point key, kernel, status, message, configuration, metrics, attribution). Where slurm cannot
# start (not installed, no root, daemons that do not come up) it prints SKIPPED with the reason and
# exits 77 (ctest: skipped, never passed).
set -uo pipefail
bin="$(readlink -f "$1")"; src="$(readlink -f "$2")"
skip() { echo "SKIPPED: $*"; exit 77; }
for tool in slurmctld slurmd sbatch squeue munged; do
  command -v "$tool" > /dev/null || skip "no $tool (apt-get install slurm-wlm munge)"
done
[ "$(id -u)" -eq 0 ] || skip "slurmd needs root here"
work="$(mktemp -d /tmp/attnscope-slurm.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done; sleep 1; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work"/{state,spool,munge,log,out}
host="$(hostname -s)"
cpus="$(nproc)"
# munge: a fresh key and socket in the temporary folder
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --key-file="$work/munge/munge.key" --socket="$work/munge/socket" --pid-file="$work/munge/pid" \
  --log-file="$work/log/munged.log" --seed-file="$work/munge/seed" -f 2> "$work/log/munged.err" \
  || skip "munged did not start: $(tail -2 "$work/log/munged.err" "$work/log/munged.log" 2> /dev/null | tr '\n' ' ')"
pids+=("$(cat "$work/munge/pid" 2> /dev/null)")
cat > "$work/slurm.conf" <<CONF
ClusterName=attnscope-test
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$work/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -c -f "$SLURM_CONF" > "$work/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" > "$work/log/slurmd.out" 2>&1 &
pids+=($!)
up=0
for _ in $(seq 1 30); do
  if sinfo -h -o '%t' 2> /dev/null | grep -q 'idle'; then up=1; break; fi
  sleep 1
done
[ "$up" = 1 ] || skip "slurm did not come up: $(tail -3 "$work/log/slurmctld.log" "$work/log/slurmd.log" "$work/log/slurmd.out" 2> /dev/null | tr '\n' ' ' | cut -c1-600)"

spec="$src/experiments/sweeps/smoke.toml"
cd "$work/out"
ids=$(ATTNSCOPE="$bin" bash "$src/experiments/slurm/submit.sh" "$spec" "$work/out/shards" 3) || { echo "FAIL: submit"; exit 1; }
echo "submitted: $ids"
merge_id="${ids##* }"
for _ in $(seq 1 300); do
  [ -z "$(squeue -h -j "$merge_id" 2> /dev/null)" ] && break
  sleep 1
done
[ -f "$work/out/shards/merged.sqlite" ] || { echo "FAIL: no merged database"; cat "$work"/out/*.out 2> /dev/null | tail -20; exit 1; }
"$bin" sweep "$spec" --db "$work/out/unsharded.sqlite" --quiet > /dev/null || { echo "FAIL: unsharded run"; exit 1; }
# Every column but the measured times (the query shared with the 2-GPU comparison).
query="$(grep -v '^--' "$src/experiments/sweeps/comparable_rows.sql")"
sqlite3 -readonly "$work/out/shards/merged.sqlite" "$query" > "$work/merged.txt"
sqlite3 -readonly "$work/out/unsharded.sqlite" "$query" > "$work/unsharded.txt"
rows=$(wc -l < "$work/unsharded.txt")
if [ "$rows" -gt 0 ] && cmp -s "$work/merged.txt" "$work/unsharded.txt"; then
  echo "PASS: slurm job array (3 shards) + merge == unsharded run, $rows rows identical"
  exit 0
fi
echo "FAIL: merged database differs from the unsharded run ($rows rows)"
diff "$work/merged.txt" "$work/unsharded.txt" | head -10
exit 1
