#!/usr/bin/env bash
# Installs attnscope's build and run dependencies from Debian's packages (idempotent).
# Used by the README's two commands and by .ci/run. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libeigen3-dev libboost-dev libmpfr-dev libmpfi-dev libgmp-dev
  libcli11-dev catch2 nlohmann-json3-dev libsqlite3-dev libtomlplusplus-dev
  gnuplot-nox sqlite3 zlib1g-dev
  python3  # kernels/generate_instantiations.py --check at configure (tomllib: Python >= 3.11)
  chromium   # the browser check of the committed reports (scripts/check-reports-browser.py)
  slurm-wlm munge   # tests/slurm: a single-node Slurm started by the test (job array + merge)
  clang libclang-rt-14-dev   # libFuzzer + ASan/UBSan for the fuzz harnesses (scripts/fuzz.sh)
  # the attnscope Python package and the [[external]] NumPy workers / pytest example
  pybind11-dev python3-dev python3-numpy python3-pytest
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
