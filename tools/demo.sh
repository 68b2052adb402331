#!/usr/bin/env bash
# The demo (README "Run the demo"): installs missing Debian packages, builds, creates the embedded
# default model directory (tiny random-weight 5B-Video2World-family transformer, DV tokenizer with
# an 8x8x8 codebook and T5 text encoder, seed 0), and runs the whole pipeline on 4 MPI ranks (text
# guardrail -> T5 -> tokenizer -> transformer -> diffusion decoder -> mp4): ranks 0-1 hold the
# transformer (tensor-parallel 2), rank 2 T5 and the guardrail, rank 3 the tokenizer and decoder.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh build
bash tools/build.sh
out=demo-output
mkdir -p "$out"
./build/cosmos-ar init --config configs/pipelines/tiny-5b-video2world.json --seed 0 --out "$out/tiny-5b-video2world"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
mpirun -np 4 --oversubscribe ./build/cosmos-ar generate --model-dir "$out/tiny-5b-video2world" \
  --input tests/data/media-tiny.png --prompt "A robot arm picks up a red cube from a table" --seed 0 \
  --output "$out/generated.mp4" --save-tokens "$out/generated-tokens.txt" --timing-json "$out/timing.json"
./build/cosmos-ar info "$out/generated.mp4"
echo "wrote $out/generated.mp4 (random weights: expect coloured noise that moves, not a robot), its token ids in"
echo "$out/generated-tokens.txt and the per-stage timings in $out/timing.json"
