# run_prelude.sh: the start every device run script shares (experiments/device/*_run.sh,
# final_evidence.sh), sourced from the repository root on the device machine:
#   source experiments/device/run_prelude.sh BIN SECONDS [DEST]
# BIN: the carried folder (.device/<name>, filled by a *_pack.sh through pack_binaries.sh);
# SECONDS: the call's deadline from now (a step that no longer fits is skipped and says so), or
# "none" where the script's steps carry their own timeouts (then `left CAP` is CAP);
# DEST: where the binaries are unpacked (default BIN itself). It unpacks them (xz, through
# unpack_binaries.sh), puts BIN/lib (libmpfr, libgmp, libsqlite3 built here) on the library path,
# empties $OUT/summary.txt, and defines:
#   has STEP       STEP is in the comma list $STEPS
#   note TEXT      TEXT to stdout and to the summary
#   left CAP [MIN] the seconds a step may take: CAP, or what is left before the deadline; 0 (skip)
#                  when less than MIN (default 6) is left
#   provenance     date, commit, GPU, driver, CUDA, torch/cuDNN, compute-sanitizer -> $OUT/provenance.txt
# Not a run script of its own, and it runs nothing on the GPU.
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
BIN="$1"
START=$(date +%s)
DEADLINE=""
[ "$2" = none ] || DEADLINE=$((START + $2))
bash experiments/device/unpack_binaries.sh "$BIN" ${3:+"$3"}
export LD_LIBRARY_PATH="$PWD/$BIN/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2> /dev/null | head -1)
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
has() { [[ ",$STEPS," == *",$1,"* ]]; }
note() { echo "$*" | tee -a "$SUMMARY"; }
left() {
  [ -z "$DEADLINE" ] && { echo "$1"; return; }
  local rest=$((DEADLINE - $(date +%s))) min=${2:-6}
  ((rest < min)) && { echo 0; return; }
  ((rest < $1)) && echo "$rest" || echo "$1"
}
provenance() {
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(tr '\n' ' ' < "$BIN/commit.txt" 2> /dev/null)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader | sed 's/^/gpu: /'
    echo "cuda: binaries built with nvcc 13.0 for sm_90a, carried; compute-sanitizer: ${SANITIZER:-none}"
    echo "torch: $(python3 -c 'import torch; print(torch.__version__, "cudnn", torch.backends.cudnn.version())' 2>&1 | tail -1)"
    echo "steps: ${STEPS:-}"
  } > "$OUT/provenance.txt" 2>&1
  cat "$OUT/provenance.txt"
}
