#!/usr/bin/env bash
# The test suite under AddressSanitizer + UBSan (CPU backend; the device CUDA and NCCL tests are left
# out: the sanitizers do not see device code). Builds into build-asan/ (RelWithDebInfo,
# -DCOSMOS_SANITIZE=ON; CUDA on where nvcc is found, as tools/build.sh) and runs every other CTest
# suite, the CUDA suites on the CUDA emulator included (their kernels are host code there, so ASan
# sees their device- and shared-memory accesses: docs/cuda.md); an ASan or UBSan report fails its
# test. Leak checking is off by default (Open MPI and FFmpeg keep allocations to exit);
# LEAKS=1 turns it on for the suites that start no MPI job. Extra arguments go to ctest (e.g. -R t5).
# Slower than tools/test.sh (about 2-3x); not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh test
# tools/build.sh's configuration (CUDA where nvcc is found), into build-asan/, with the sanitizers
BUILD_DIR=build-asan bash tools/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOSMOS_SANITIZE=ON
cd build-asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ "${LEAKS:-0}" = 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1
  # (not the emulator's suites: their tests leave device buffers to the process exit)
  ctest --output-on-failure --timeout 1800 -L 'unit|kernels' -LE emu "$@"
else
  export ASAN_OPTIONS=detect_leaks=0
  ctest --output-on-failure --timeout 3600 -E '^test_cuda_(ops|sample|dit|llama|dv|t5|guardrail)$|nccl' "$@"
fi
