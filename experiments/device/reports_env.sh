# reports_env.sh: sourced by reports_run.sh and multi_gpu_run.sh on the device machine: unpacks
# the binary that experiments/device/reports_pack.sh carried in .device/reports, puts its
# libraries on the path, sets $bin, $out and $deadline (REPORTS_SECONDS from now), and writes
# $out/provenance.txt (date, commit, GPUs, driver, the command). Not a script of its own.
R=.device/reports
out=${OUT:-/tmp/attnscope-out}
mkdir -p "$out"
deadline=$(( $(date +%s) + ${REPORTS_SECONDS:-400} ))
bash experiments/device/unpack_binaries.sh $R
chmod +x $R/attnscope 2>/dev/null
bin=$R/attnscope
[ -x "$bin" ] || { echo "no $bin: run experiments/device/reports_pack.sh here first and carry .device/reports" >&2; exit 3; }
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/$R/lib"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(head -1 $R/commit.txt 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /'
  echo "cuda: binaries built with nvcc 13.0 for sm_90a (experiments/device/reports_pack.sh), carried"
  echo "command: bash $0 $*"
} > "$out/provenance.txt" 2>&1
# Seconds left before the deadline, less a margin for what follows a step.
seconds_left() { echo $(( deadline - $(date +%s) - ${1:-0} )); }
