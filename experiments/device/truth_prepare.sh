#!/usr/bin/env bash
# truth_prepare.sh: builds (here, `default` preset: CPU + CUDA sm_90a) what truth_run.sh needs
# on the device machine and puts it in .device/truth/: attnscope, test_gpu, test_references
# (stripped, gzip-compressed: the carried tree is limited to 64 MiB), commit.txt and a copy of
# truth_run.sh. Then, with .device/truth in the checkout that travels:
# run(command="bash .device/truth/truth_run.sh", carry=[".device/truth"]).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CCACHE_BASEDIR=/work CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_CUDA_COMPILER_LAUNCHER=ccache
cmake --preset default > /dev/null
cmake --build --preset default -j2 --target attnscope test_gpu test_references
rm -rf .device/truth
mkdir -p .device/truth
for b in build/default/cli/attnscope build/default/tests/test_gpu build/default/tests/test_references; do
  cp "$b" .device/truth/
  strip ".device/truth/$(basename "$b")"
  gzip -f -9 ".device/truth/$(basename "$b")"
done
cp experiments/device/truth_run.sh .device/truth/  # runnable from a checkout without this branch
git rev-parse --short=12 HEAD > .device/truth/commit.txt
git diff --quiet || echo "modified" >> .device/truth/commit.txt
du -sh .device/truth
