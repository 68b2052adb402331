#!/usr/bin/env bash
# The test suite under AddressSanitizer + UBSan (CPU backend; the CUDA and NCCL tests are left out:
# the sanitizers do not see device code). Builds into build-asan/ (RelWithDebInfo,
# -DCOSMOS_SANITIZE=ON -DCOSMOS_CUDA=OFF) and runs every other CTest suite; an ASan or UBSan report
# fails its test. Leak checking is off by default (Open MPI and FFmpeg keep allocations to exit);
# LEAKS=1 turns it on for the suites that start no MPI job. Extra arguments go to ctest (e.g. -R t5).
# Slower than tools/test.sh (about 2-3x); not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh test
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOSMOS_SANITIZE=ON -DCOSMOS_CUDA=OFF >/dev/null
cmake --build build-asan -j"$(nproc)"
cd build-asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ "${LEAKS:-0}" = 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1
  ctest --output-on-failure --timeout 1800 -L 'unit|kernels' "$@"
else
  export ASAN_OPTIONS=detect_leaks=0
  ctest --output-on-failure --timeout 1800 -E 'cuda|nccl' "$@"
fi
