#!/usr/bin/env bash
# The demo (README "Run the demo"): installs missing Debian packages, builds, creates the embedded
# default model (tiny 4B-family config, random weights, seed 0), and generates the last two latent
# frames of a 3x4x6 token grid from the first one with the default sampler (T=1, top-p 0.8, seed 0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh build
bash tools/build.sh
out=demo-output
mkdir -p "$out"
./build/cosmos-ar init --config configs/models/tiny-ar-4b.json --seed 0 --out "$out/tiny-ar-4b.h5"
./build/cosmos-ar info "$out/tiny-ar-4b.h5"
# prompt: one latent frame (4 x 6 = 24 tokens) of video codes
awk 'BEGIN { for (i = 0; i < 24; i++) printf "%d ", (i * 37 + 11) % 512; print "" }' >"$out/prompt.txt"
./build/cosmos-ar sample --model "$out/tiny-ar-4b.h5" --tokens "$out/prompt.txt" --num-gen 48 --seed 0 \
  --out "$out/generated.txt"
echo "generated latent frames 1 and 2 (4 x 6 token ids each), in $out/generated.txt:"
awk '{ printf "%5d", $1; if (NR % 6 == 0) print ""; if (NR % 24 == 0) print "" }' "$out/generated.txt"
