#!/usr/bin/env bash
# Configures and builds cosmos-ar into build/ (Release; CPU backend, plus the CUDA backend when nvcc
# is found). Extra arguments go to cmake; BUILD_DIR=DIR builds into DIR instead (tools/sanitize.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# The CUDA backend is built whenever nvcc is found (so CI compiles it, even without a GPU); later
# arguments win, e.g. -DCOSMOS_CUDA=OFF.
cuda_args=()
nvcc_bin="$(command -v nvcc || true)"
if [ -z "$nvcc_bin" ] && [ -x /usr/local/cuda/bin/nvcc ]; then nvcc_bin=/usr/local/cuda/bin/nvcc; fi
if [ -n "$nvcc_bin" ]; then cuda_args=(-DCOSMOS_CUDA=ON "-DCMAKE_CUDA_COMPILER=$nvcc_bin"); fi
dir="${BUILD_DIR:-build}"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release ${cuda_args[@]+"${cuda_args[@]}"} "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
