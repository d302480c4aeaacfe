#!/usr/bin/env bash
# submit.sh: a sweep on Slurm — a job array of N shards, then the merge once all succeeded.
#   bash experiments/slurm/submit.sh SPEC.toml OUTDIR N [extra sweep flags]
# Prints the two job ids (array, merge). The merged database: OUTDIR/merged.sqlite.
set -euo pipefail
spec="$1"; outdir="$2"; count="$3"; shift 3
here="$(dirname "$0")"
array=$(sbatch --parsable --array="0-$((count - 1))" "$here/sweep.sbatch" "$spec" "$outdir" "$@")
merge=$(sbatch --parsable --dependency="afterok:${array%%;*}" "$here/merge.sbatch" "$outdir" "$count")
echo "array ${array%%;*} merge ${merge%%;*}"
