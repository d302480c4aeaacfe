#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ with clang (ASan + UBSan, Debian's clang and
# libclang-rt) and runs each for a given number of executions on its corpus.
#
#   bash scripts/fuzz.sh                    # 1,000,000 executions per harness (the published run)
#   bash scripts/fuzz.sh --runs 200000      # any count
#   bash scripts/fuzz.sh --smoke            # CI: 3,000 executions per harness on the seeds, seconds
#   bash scripts/fuzz.sh --targets "npz"    # some harnesses only
#   bash scripts/fuzz.sh --out DIR          # logs and the grown corpus (default build/fuzz-out)
#
# Past findings (fuzz/regressions/<target>-*) are replayed first. The seeds
# (fuzz/corpus/<target>/) are read, never written; the grown corpus goes to
# <out>/corpus/<target>. The summary lists executions, new corpus entries and crashes per
# harness; any crash, leak, sanitizer report or timeout makes the script exit 1 (the reproducer
# is kept in <out>/artifacts/). Exit 3 when clang or libFuzzer is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=1000000
out=build/fuzz-out
targets="safetensors npz sweep_spec tolerances"
smoke=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --smoke) smoke=1; runs=3000; shift ;;
    --targets) targets="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see the header)" >&2; exit 2 ;;
  esac
done

cxx=$(command -v clang++ || command -v clang++-14 || true)
cc=$(command -v clang || command -v clang-14 || true)
if [ -z "$cxx" ] || [ -z "$cc" ]; then
  echo "fuzz.sh: clang is not installed (bash scripts/install-deps.sh)" >&2
  exit 3
fi

build=build/fuzz
launcher=()
command -v ccache > /dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S fuzz -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" \
  "${launcher[@]}" > "$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 3; }
cmake --build "$build" -j "$(nproc)" > "$build.build.log" 2>&1 || { tail -40 "$build.build.log"; exit 1; }

mkdir -p "$out/artifacts"
status=0
printf "%-12s %14s %10s %10s %8s %s\n" "harness" "executions" "exec/s" "corpus" "crashes" "log"
for t in $targets; do
  seeds=fuzz/corpus/$t
  work=$out/corpus/$t
  mkdir -p "$work"
  dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  log=$out/$t.log
  # Past findings (fuzz/regressions/<target>-*) run first: each must now pass.
  regressions=(fuzz/regressions/"$t"-*)
  if [ -e "${regressions[0]}" ]; then
    if ! "$build/fuzz_$t" "${regressions[@]}" > "$out/$t.regressions.log" 2>&1; then
      echo "fuzz.sh: a past finding of $t fails again (see $out/$t.regressions.log)" >&2
      status=1
    fi
  fi
  before=$(find "$work" -type f | wc -l)
  set +e
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/fuzz_$t" -runs="$runs" -max_len=65536 -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t-" "${dict[@]}" "$work" "$seeds" > "$log" 2>&1
  rc=$?
  set -e
  executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  crashes=$(find "$out/artifacts" -name "$t-*" -type f | wc -l)
  [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
  after=$(find "$work" -type f | wc -l)
  printf "%-12s %14s %10s %10s %8s %s\n" "$t" "${executions:-?}" "${speed:-?}" "$after (+$((after - before)))" "$crashes" "$log"
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    status=1
    grep -m 5 -E "ERROR|runtime error|SUMMARY" "$log" >&2 || true
  fi
done
[ "$smoke" -eq 1 ] && echo "fuzz smoke: $runs executions per harness"
exit $status
