#!/usr/bin/env bash
# final_evidence.sh: one device call that re-checks what landed on main, in priority order, against
# one deadline (FINAL_SECONDS, default 560 s from the start; a step that no longer fits is skipped
# and says so). Binaries built here (nvcc 13.0, sm_90a, `default` preset) are carried
# xz-compressed in .device/final/ (attnscope, test_gpu, test_references, commit.txt, lib/) by
# experiments/device/final_pack.sh; each step runs the experiment's own device script with the
# layout that script expects:
#   main      experiments/device/run_main_gpu.sh: the main job on the GPU (default sweep, gate)
#   stages    test_gpu "[stages]": GPU vs emulator vs diagnosis per planted bug (issue 9)
#   sanitize  compute-sanitizer memcheck and racecheck on the FA2 prefill kernels ("[.sanitize]")
#   truth     .device/truth/truth_run.sh: GPU truth vs CPU truth, run at S 8192 / 32768 (issue 12)
#   external  experiments/device/external_run.sh: PyTorch SDPA backends through the worker (issue 11)
#   fingerprint .device/fingerprint/fingerprint_run.sh: PyTorch dumps diagnosed (issue 16)
#   agreement check/diagnose vs a carried external sweep database (issue 11; not in the default list)
#   precise   .device/hopper/hopper_run.sh precise: the precise mode's excess sweep (issue 13; not default)
#   fa3fix    experiments/device/fa3fix_check.sh: [stages] + fa3 tests + sanitizers after the fa3 leak fix (issue 9; not default)
#   specs     experiments/device/reports_run.sh [SPECS_LIST]: the investigation specs at full size (issue 15; not default)
#   decode    experiments/device/decode_run.sh DECODE_STEPS: the decode sanitizers, tests, bench, ncu (issue 14; not default)
# Each step's files are packed into $OUT/<step>.tar.gz; summary.txt is printed last.
# Usage: bash .device/final/final_evidence.sh [steps]   (comma list; default: all, in the order above)
# A step's cap (seconds) can be raised where the call has room: EXTERNAL_CAP, FINGERPRINT_CAP, PRECISE_CAP, FA3FIX_CAP, SPECS_CAP, DECODE_CAP.
# FINGERPRINT_STEPS (e.g. "probe") picks fingerprint_run.sh's own steps (default dumps,diagnose,probe).
set -u
STEPS="${1:-main,stages,sanitize,truth,external,fingerprint}"
F=.device/final
# OUT, SUMMARY, has, note, left, provenance; the binaries unpacked in place.
source experiments/device/run_prelude.sh "$F" "${FINAL_SECONDS:-560}"
provenance > "$SUMMARY"
cat "$SUMMARY"
# The layouts the experiments' own scripts expect (hard links: no copies).
mkdir -p .device/external .device/truth .device/fingerprint
ln -f $F/attnscope .device/attnscope; cp $F/commit.txt .device/commit.txt
ln -f $F/attnscope .device/external/attnscope; cp $F/commit.txt .device/external/
for b in attnscope test_gpu test_references; do ln -f $F/$b .device/truth/$b; done
cp $F/commit.txt experiments/device/truth_run.sh .device/truth/
ln -f $F/attnscope .device/fingerprint/attnscope
cp $F/commit.txt experiments/device/fingerprint_run.sh experiments/peers/dump_torch_sdpa.py .device/fingerprint/
mkdir -p .device/hopper; ln -f $F/attnscope .device/hopper/attnscope; cp $F/commit.txt .device/hopper/
mkdir -p .device/reports; ln -f $F/attnscope .device/reports/attnscope; cp $F/commit.txt .device/reports/
cp experiments/device/hopper_run.sh experiments/device/precise_excess.py experiments/sweeps/hopper_precise.toml .device/hopper/
cp experiments/tolerances/hopper_precise.toml .device/hopper/hopper_precise_tolerances.toml
step() {  # step NAME CAP CMD...: runs CMD with OUT=$OUT/NAME under the time left, packs its files
  local name=$1 cap; cap=$(left "$2" 20); shift 2
  if ((cap == 0)); then echo "$name: SKIPPED (no time left before the deadline)" | tee -a "$SUMMARY"; return; fi
  mkdir -p "$OUT/$name"
  local t0; t0=$(date +%s)
  ( OUT="$OUT/$name" timeout "$cap" "$@" ) > "$OUT/$name/step.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $(( $(date +%s) - t0 )) s (cap $cap s)" | tee -a "$SUMMARY"
  tail -n 25 "$OUT/$name/step.log" | sed "s/^/  $name| /" >> "$SUMMARY"
  tar -C "$OUT" -czf "$OUT/$name.tar.gz" "$name" && rm -rf "${OUT:?}/$name"
}
has main && step main 170 bash experiments/device/run_main_gpu.sh
has stages && step stages 70 $F/test_gpu "[stages]"
if has sanitize; then
  step memcheck 60 compute-sanitizer --tool memcheck --error-exitcode 9 $F/test_gpu "[.sanitize]"
  step racecheck 70 compute-sanitizer --tool racecheck --error-exitcode 9 $F/test_gpu "[.sanitize]"
fi
has truth && step truth 170 bash .device/truth/truth_run.sh
has external && step external "${EXTERNAL_CAP:-150}" bash experiments/device/external_run.sh
# agreement: `check`/`diagnose` vs the rows of an external sweep already run (its database carried
# as $F/external_sdpa.sqlite.gz), without sweeping again.
if has agreement && [[ -f $F/external_sdpa.sqlite.gz ]]; then
  gunzip -kf $F/external_sdpa.sqlite.gz
  step agreement 90 python3 experiments/device/external_agreement.py --attnscope $F/attnscope \
    --spec experiments/sweeps/external_sdpa.toml --db $F/external_sdpa.sqlite --out /tmp/agreement_work \
    --points "$(sed -n 's/^ *--points "\([^"]*\)".*/\1/p' experiments/device/external_run.sh)"
fi
has precise && step precise "${PRECISE_CAP:-300}" env PRECISE_SECONDS=$(( ${PRECISE_CAP:-300} - 30 )) bash .device/hopper/hopper_run.sh precise
has fa3fix && step fa3fix "${FA3FIX_CAP:-240}" env BIN=$F bash experiments/device/fa3fix_check.sh
has specs && step specs "${SPECS_CAP:-300}" env REPORTS_SECONDS=$(( ${SPECS_CAP:-300} - 15 )) bash experiments/device/reports_run.sh ${SPECS_LIST:-}
has fingerprint && step fingerprint "${FINGERPRINT_CAP:-120}" bash .device/fingerprint/fingerprint_run.sh
# decode: experiments/device/decode_run.sh (issue 14) with these binaries, its steps DECODE_STEPS
# (default sanitize,test) under DECODE_CAP (default 240 s); DECODE_BENCH_CONFIGS, DECODE_NCU_* pass through.
if has decode; then
  mkdir -p .device/decode
  ln -f $F/attnscope $F/test_gpu .device/decode/
  cp $F/commit.txt experiments/peers/bench_torch_decode.py experiments/device/make_decode_bench_table.py .device/decode/
  step decode "${DECODE_CAP:-240}" env DECODE_BIN=.device/decode DECODE_RUN_SECONDS=$(( ${DECODE_CAP:-240} - 10 )) \
    bash experiments/device/decode_run.sh "provenance,${DECODE_STEPS:-sanitize,test}"
fi
echo "==== summary"; cat "$SUMMARY"
