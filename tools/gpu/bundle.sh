#!/usr/bin/env bash
# Prepares the GPU checks for the device machine (docs/gpu-checks.md). That machine has CUDA, PyTorch
# and h5py but none of our Debian libraries and no network, so the CUDA binaries are built HERE
# (x86-64, no -march=native, no MPI, linked --as-needed so that only the libraries they really use
# are needed: no FFmpeg) and travel in .gpu-bundle/ (git-ignored; carry it) with those libraries,
# except glibc, libstdc++/libgcc and the CUDA libraries, which the device machine has.
# Usage: bash tools/gpu/bundle.sh   (then: device run with carry [".gpu-bundle"] and
#        command "bash tools/gpu/device_checks.sh tests|bench|peer|dd|attention|gemv|dv|guardrail|t5")
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build-gpu-bundle
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DCOSMOS_CUDA=ON -DCOSMOS_MPI=OFF -DCOSMOS_NATIVE=OFF \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,--as-needed" >/dev/null
targets=(cosmos-bench cosmos-bench-dd cosmos-bench-attention cosmos-bench-gemv cosmos-bench-dv cosmos-bench-guardrail cosmos-bench-t5 test_cublaslt_loader test_cuda_ops test_cuda_sample test_cuda_dit
  test_cuda_llama test_cuda_dv test_cuda_t5 test_cuda_guardrail)
cmake --build "$B" -j"$(nproc)" --target "${targets[@]}"
rm -rf .gpu-bundle && mkdir -p .gpu-bundle/bin .gpu-bundle/lib
for t in "${targets[@]}"; do
  if [ -f "$B/$t" ]; then cp "$B/$t" .gpu-bundle/bin/; else cp "$B/tests/$t" .gpu-bundle/bin/; fi
done
for b in .gpu-bundle/bin/*; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libpthread|libdl|librt|libresolv|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so|/usr/local/cuda' |
  while read -r lib; do cp -L "$lib" .gpu-bundle/lib/; done
tar -C .gpu-bundle -cJf .gpu-bundle/lib.tar.xz lib && rm -rf .gpu-bundle/lib
# the binaries too: each carries the whole library with its sm_80 + sm_90 kernels (~4.5 MB), which
# one solid xz archive stores about once
needed=$(for b in .gpu-bundle/bin/*; do echo "  $(basename "$b"): $(readelf -d "$b" | awk '/NEEDED/ {printf "%s ", $5}')"; done)
tar -C .gpu-bundle -cJf .gpu-bundle/bin.tar.xz bin && rm -rf .gpu-bundle/bin
git rev-parse HEAD >.gpu-bundle/commit
git status --porcelain >.gpu-bundle/dirty
du -sh .gpu-bundle
# the device tool carries at most 64 MiB with the working tree: refuse a bundle that cannot travel
# (FFmpeg and its codecs pulled in by a new library reference were once 50 MB of it)
kb=$(du -sk .gpu-bundle | cut -f1)
if [ "$kb" -gt 49152 ]; then
  echo "bundle.sh: .gpu-bundle is $((kb / 1024)) MiB, over the 48 MiB this script allows (the carry limit is 64 MiB" \
    "with the working tree); the binaries need these libraries:" >&2
  echo "$needed" >&2
  exit 1
fi
