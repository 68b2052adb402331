#!/usr/bin/env bash
# The CLI on the CUDA emulator (tests/cuda_emu, docs/cuda.md "The CUDA emulator"): cosmos-ar-emu is
# the launcher linked against it, so `--backend cuda` runs the real CUDA backend code paths of the
# whole pipeline (transformer, GPU sampler, CUDA-graph decode, the diffusion decoder's DiT) on the
# CPU. Checks: env names the emulated device and cuBLASLt; a tiny Video2World generate with
# --backend cuda writes the clip, T5, its tokenizers (DV encoder, CV decoder) and the video
# guardrail's SigLIP and RetinaFace on cuda:0; `encode-text
# --backend cuda` runs; `tokenize --backend cuda` gives the
# CPU's token count and at least 80% of its tokens (bf16 vs f32 encoder: a latent near an FSQ
# level boundary may land on the neighbour); `detokenize --backend cuda` and a generate without the
# diffusion decoder (the streamed DV decoder on cuda:0) write their 17 frames; a rerun gives the same tokens and bytes; CUDA-graph decode
# (COSMOS_CUDA_GRAPHS=1, logged) gives the eager run's tokens and bytes; 2 ranks (each its own
# emulated device) give 1 process's tokens and frames (to 0.1, as test_generate.sh); a device
# index past the devices is a clear error with no output. cosmos-bench-emu (the decode benchmark on
# the emulator) runs its three CUDA modes (logits back, token drawn on the device, replayed graph)
# with the JSON a GPU run's report reads (bandwidth measured on the device, the mode, graphs), and
# cosmos-bench-dd-emu times the tiny DiT's forwards on cuda:0. A card too small for the run
# (COSMOS_EMU_MEMORY_MB) is a clear out-of-memory error and leaves no video and no temporary file.
# cosmos-bench-dv-emu runs the tokenizer benchmark's phases on cuda:0 with the device GEMM floor;
# cosmos-bench-guardrail-emu the video guardrail's two networks and cosmos-bench-t5-emu the T5
# encoder, with the device's f32 GEMM floor.
# Usage: test_cuda_emu_cli.sh COSMOS_AR_EMU MPIEXEC SOURCE_DIR WORK_DIR COSMOS_BENCH_EMU COSMOS_BENCH_DD_EMU
#        COSMOS_BENCH_DV_EMU COSMOS_BENCH_GUARDRAIL_EMU COSMOS_BENCH_T5_EMU
. "$(dirname "${BASH_SOURCE[0]}")/mpi_prologue.sh" "$@"
run() { timeout 600 "$MPIRUN" --oversubscribe --bind-to none "$@"; }
frames_of() { "$BIN" info "$1" 2>/dev/null | awk '/^media/ {print $3 " " $6}'; }
IMG=$SRC/tests/data/media-tiny.png
PROMPT="a robot arm picks up a red cube"

"$BIN" env >"$WORK/env.txt" 2>&1 || bad "env: $(tail -2 "$WORK/env.txt")"
grep -q "devices .*cosmos-ar CUDA emulator" "$WORK/env.txt" && grep -q "cublaslt .*libcosmos_cudaemu" "$WORK/env.txt" \
  && ok || bad "env does not show the emulated device and cuBLASLt: $(grep -E 'devices|cublaslt' "$WORK/env.txt")"

"$BIN" init --config "$SRC/configs/pipelines/tiny-5b-video2world.json" --seed 1 --out "$WORK/v2w" 2>"$WORK/err.txt" \
  && ok || bad "init: $(tail -2 "$WORK/err.txt")"

gen() { # gen NAME [extra args]: one process, --backend cuda
  local name=$1
  shift
  "$BIN" generate --backend cuda --model-dir "$WORK/v2w" --input "$IMG" --prompt "$PROMPT" --seed 3 \
    --output "$WORK/$name.mp4" --save-tokens "$WORK/$name.tokens.txt" "$@" 2>"$WORK/$name.err"
}
if gen eager; then
  [ "$(frames_of "$WORK/eager.mp4")" = "17 96x64" ] && [ -s "$WORK/eager.tokens.txt" ] && ok || bad "eager: output"
  grep -q "cuda:0" "$WORK/eager.err" && ok || bad "eager: the log does not name cuda:0"
  grep -q "rank 0: loaded; cuda:0 holds .* MB of backend workspaces" "$WORK/eager.err" && ok \
    || bad "eager: no workspace report after the load"
  grep -q "DV tokenizer '.*' (encoder) on cuda:0" "$WORK/eager.err" && ok \
    || bad "eager: the tokenizers did not run on cuda:0"
  grep -q "T5 encoder '.*' on cuda:0" "$WORK/eager.err" && ok || bad "eager: T5 did not run on cuda:0"
  grep -q "SigLIP tower '.*' on cuda:0" "$WORK/eager.err" && grep -q "RetinaFace '.*' on cuda:0" "$WORK/eager.err" \
    && ok || bad "eager: the video guardrail did not run on cuda:0"
  ! grep -q "replay CUDA graphs" "$WORK/eager.err" && ok || bad "eager run replayed graphs"
else
  bad "generate --backend cuda: $(tail -3 "$WORK/eager.err")"
fi
# the DV encoder alone on cuda:0 (bf16) against the CPU (f32): the same number of tokens, most equal
# (a latent value near a rounding boundary of its FSQ level may land on the neighbour)
for b in cpu cuda; do
  "$BIN" tokenize --backend $b --tokenizer "$WORK/v2w/tokenizer.h5" --input "$IMG" --frames 17 --height 64 --width 96 \
    --out "$WORK/tok-$b.txt" 2>"$WORK/tok-$b.err" || bad "tokenize --backend $b: $(tail -2 "$WORK/tok-$b.err")"
done
/usr/bin/python3 - "$WORK/tok-cpu.txt" "$WORK/tok-cuda.txt" <<'EOF' && ok || bad "tokenize on cuda vs cpu: $(tail -1 "$WORK/tok-cuda.err")"
import sys
a, b = (open(f).read().split() for f in sys.argv[1:3])
same = sum(x == y for x, y in zip(a, b))
print(f"tokenize cuda vs cpu: {same} of {len(a)} tokens equal", file=sys.stderr)
sys.exit(0 if len(a) == len(b) > 0 and same >= 0.8 * len(a) else 1)
EOF

# T5 alone on cuda:0 (f32 activations; test_cuda_t5 checks its numbers against HF and the CPU)
"$BIN" encode-text --backend cuda --t5 "$WORK/v2w/t5.h5" --prompt "$PROMPT" --out "$WORK/ctx-cuda.h5" \
  2>"$WORK/ctx.err" && [ -s "$WORK/ctx-cuda.h5" ] && grep -q "backend cuda:0" "$WORK/ctx.err" && ok \
  || bad "encode-text --backend cuda: $(tail -2 "$WORK/ctx.err")"

# the DV decoder on cuda:0: detokenize those tokens, and a generate without the diffusion decoder
# (the streamed DV decoder on the device)
"$BIN" detokenize --backend cuda --tokenizer "$WORK/v2w/tokenizer.h5" --tokens "$WORK/tok-cuda.txt" \
  --out "$WORK/detok.mp4" 2>"$WORK/detok.err" && [ "$(frames_of "$WORK/detok.mp4")" = "17 96x64" ] && ok \
  || bad "detokenize --backend cuda: $(tail -2 "$WORK/detok.err")"
# (and T5 kept on the CPU: --t5-on-cpu)
gen nodd --disable-diffusion-decoder --t5-on-cpu && [ "$(frames_of "$WORK/nodd.mp4")" = "17 96x64" ] \
  && grep -q "T5 encoder '.*' on cpu" "$WORK/nodd.err" && grep -q "DV tokenizer '.*' (encoder + decoder) on cuda:0" \
  "$WORK/nodd.err" && ok || bad "generate --disable-diffusion-decoder --t5-on-cpu on cuda: $(tail -2 "$WORK/nodd.err")"

gen again && cmp -s "$WORK/eager.tokens.txt" "$WORK/again.tokens.txt" && cmp -s "$WORK/eager.mp4" "$WORK/again.mp4" \
  && ok || bad "a rerun with the same seed differs"
if COSMOS_CUDA_GRAPHS=1 gen graphs; then
  grep -q "replay CUDA graphs" "$WORK/graphs.err" && ok || bad "COSMOS_CUDA_GRAPHS=1: graphs not used"
  cmp -s "$WORK/eager.tokens.txt" "$WORK/graphs.tokens.txt" && cmp -s "$WORK/eager.mp4" "$WORK/graphs.mp4" && ok \
    || bad "graph-replayed decode differs from eager"
else
  bad "generate with CUDA graphs: $(tail -3 "$WORK/graphs.err")"
fi

if COSMOS_EMU_DEVICES=2 run -np 2 -x COSMOS_EMU_DEVICES "$BIN" generate --backend cuda --model-dir "$WORK/v2w" \
  --input "$IMG" --prompt "$PROMPT" --seed 3 --output "$WORK/np2.mp4" --save-tokens "$WORK/np2.tokens.txt" \
  2>"$WORK/np2.err"; then
  cmp -s "$WORK/eager.tokens.txt" "$WORK/np2.tokens.txt" && ok || bad "2 ranks: tokens differ from 1 process"
  grep -q "cuda:1" "$WORK/np2.err" && ok || bad "2 ranks: rank 1 did not open cuda:1"
  for f in eager np2; do
    "$BIN" prep-video --input "$WORK/$f.mp4" --num-input-frames 9 --height 64 --width 96 --out "$WORK/$f.frames.h5" \
      2>/dev/null || bad "prep-video $f"
  done
  h5diff -q -d 0.1 "$WORK/eager.frames.h5" "$WORK/np2.frames.h5" >/dev/null && ok \
    || bad "2 ranks: the frames differ from 1 process"
else
  bad "generate on 2 ranks: $(tail -3 "$WORK/np2.err")"
fi

BENCH=$5
bench() { # bench NAME [extra args]: the tiny 4B model, 16-token prompt, 8 decode steps
  local name=$1
  shift
  "$BENCH" --backend cuda --model "$SRC/tests/data/tiny-ar-4b.h5" --prompt 16 --decode 8 --bw-mb 8 \
    --json "$WORK/$name.json" "$@" >"$WORK/$name.txt" 2>&1
}
json_has() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if all(str(d.get(k)) == v for k, v in
  (a.split('=', 1) for a in sys.argv[2:])) else 1)" "$@"; }
bench logits && json_has "$WORK/logits.json" "bandwidth_method=device bf16 copy, read + write" "cuda_graphs=False" \
  && ok || bad "bench --backend cuda: $(tail -2 "$WORK/logits.txt")"
bench sample --sample && json_has "$WORK/sample.json" "decode_step=sample_on_backend" "cuda_graphs=False" \
  && ok || bad "bench --sample: $(tail -2 "$WORK/sample.txt")"
bench graphs --sample --cuda-graphs && json_has "$WORK/graphs.json" "decode_step=sample_on_backend" "cuda_graphs=True" \
  && grep -q "replay CUDA graphs" "$WORK/graphs.txt" && ok || bad "bench --cuda-graphs: $(tail -2 "$WORK/graphs.txt")"
"$6" --backend cuda --config "$SRC/configs/models/dd-tiny.json" --reps 1 --json "$WORK/dd.json" >"$WORK/dd.txt" 2>&1 \
  && /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['provenance']['backend'] ==
  'cuda:0' and d['conditional']['best_s'] > 0 and d['unconditional']['best_s'] > 0 else 1)" "$WORK/dd.json" && ok \
  || bad "bench-dd --backend cuda: $(tail -2 "$WORK/dd.txt")"
"$7" --backend cuda --config "$SRC/configs/models/dv-tokenizer-tiny.json" --frames 9 --height 32 --width 48 \
  --json "$WORK/dv.json" >"$WORK/dv.txt" 2>&1 \
  && /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['floor_rate'] ==
  'backend matmul, bf16' and d['provenance']['backend'] == 'cuda:0' and all(d[k]['seconds_min'] > 0 for k in ('encode',
  'decode', 'stream')) else 1)" "$WORK/dv.json" && grep -q "^# gemm .*cuda:0 matmul" "$WORK/dv.txt" && ok \
  || bad "bench-dv --backend cuda: $(tail -2 "$WORK/dv.txt")"
"$8" --backend cuda --content-filter-config "$SRC/configs/models/siglip-tiny-safety.json" \
  --face-blur-config "$SRC/configs/models/retinaface-tiny.json" --height 48 --width 80 --frames 2 \
  --json "$WORK/guard.json" >"$WORK/guard.txt" 2>&1 \
  && /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['floor_rate'] ==
  'backend matmul, f32' and d['provenance']['backend'] == 'cuda:0' and all(d[k]['fraction_of_floor'] > 0 for k in
  ('content_filter', 'face_blur')) else 1)" "$WORK/guard.json" && grep -q "SigLIP tower '.*' on cuda:0" "$WORK/guard.txt" \
  && grep -q "RetinaFace '.*' on cuda:0" "$WORK/guard.txt" && ok \
  || bad "bench-guardrail --backend cuda: $(tail -2 "$WORK/guard.txt")"
"$9" --backend cuda --config "$SRC/configs/models/t5-tiny.json" --layers 1 --tokens 5,33 --reps 1 \
  --json "$WORK/t5.json" >"$WORK/t5.txt" 2>&1 \
  && /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d['floor_rate'] ==
  'backend matmul, f32' and d['provenance']['backend'] == 'cuda:0' and d['config_layers'] == 2 and
  [r['tokens'] for r in d['lengths']] == [5, 33] and all(r['seconds_p50'] > 0 for r in d['lengths']) else 1)" \
  "$WORK/t5.json" && ok || bad "bench-t5 --backend cuda: $(tail -2 "$WORK/t5.txt")"

for mb in 20 36; do # 20 MB: full at the cuBLASLt workspace; 36 MB: at the models' load (workspaces reserved there)
  mkdir -p "$WORK/oom$mb"
  COSMOS_EMU_MEMORY_MB=$mb "$BIN" generate --backend cuda --model-dir "$WORK/v2w" --input "$IMG" --prompt "$PROMPT" \
    --seed 3 --output "$WORK/oom$mb/clip.mp4" 2>"$WORK/oom$mb.err" && bad "generate on a ${mb} MB card ran" \
    || { grep -q "out of memory" "$WORK/oom$mb.err" && ! grep -q "rank 0: loaded" "$WORK/oom$mb.err" \
      && [ -z "$(ls -A "$WORK/oom$mb")" ] && ok || bad "${mb} MB card: $(tail -2 "$WORK/oom$mb.err"; ls "$WORK/oom$mb")"; }
done

gen baddev --backend cuda:3 && bad "cuda:3 with one emulated device ran" \
  || { grep -q "cuda:3" "$WORK/baddev.err" && [ ! -e "$WORK/baddev.mp4" ] && ok \
    || bad "cuda:3: $(tail -2 "$WORK/baddev.err")"; }
finish test_cuda_emu_cli
