#!/usr/bin/env bash
# The GPU checks of issues 3 and 4, run on the device machine from the repository root with
# .gpu-bundle carried (tools/gpu/bundle.sh made it; docs/gpu-checks.md). Logs and JSON go to $OUT.
#   tests: card facts; the CUDA parity suites (ops, sampler, tiny-model logits, the DiT ops and the
#          tiny DiT forward); compute-sanitizer memcheck over the CUDA suite (the tiny models
#          included) and over the DiT suite's small tests
#   bench: cosmos-bench on the CUDA backend at the full 5B-Video2World shape (random weights made
#          on the spot): logits step, GPU-sampling step, CUDA-graph step; then the graph step over
#          1024 positions fused and --unfused
#   peer:  tools/bench/torch_decode.py (eager, then torch.compile) on the same weights and card
#   dd:    cosmos-bench-dd: the diffusion decoder's DiT at the 7B width on one chunk (8 x 80 x 128
#          latent = 20480 tokens, 512-row context), the first BLOCKS (default 4) of 28 blocks (random
#          weights made on the spot), cond / uncond forward vs the matmul floor, per-chunk projection
#   attention: cosmos-bench-attention: the attention op at the DiT's self- and cross-attention shapes
#          and a 5B prefill, the tensor-core kernel against the f32 prefill kernel (its peer in the
#          same run) and the cuBLASLt bf16 GEMM rate (the floor); then the dd benchmark again with
#          COSMOS_CUDA_ATTENTION=f32, for the same forward on the f32 kernel
#   gemv:  cosmos-bench-gemv: the matmul op at the 4B/5B decode step's five one-token shapes (wq|wk|wv,
#          wo, w1|w3, w2, the logits head), the decode GEMV kernel against cuBLASLt (a second backend
#          made with COSMOS_CUDA_GEMV=cublaslt, the peer of the same run) and the copy-bandwidth floor
#          (COSMOS_CUDA_GEMV=cublaslt before `bench` gives the whole decode step on cuBLASLt); then
#          the fused add (wo, w2) and SwiGLU (w1|w3) epilogues the same way
#   dv:    cosmos-bench-dv: the DV8x16x16 tokenizer on one 33 x 640 x 1024 clip (random weights made
#          on the spot) on cuda:0 (encode, whole-clip decode, streamed decode vs the cuBLASLt floor),
#          then the same on the CPU backend with the machine's cores (the peer of the same run)
#   guardrail: cosmos-bench-guardrail: the video guardrail's SigLIP so400m tower and RetinaFace R50
#          network on cuda:0 (random f32 weights made on the spot; 1024 x 640 frames) against the
#          device's f32 GEMM floor, then the host code with the machine's cores
#   t5:    cosmos-bench-t5: T5-11B's width (4 of its 24 layers, random weights made on the spot,
#          widened to f32 on the card) on cuda:0 for 16, 128 and 512 tokens against the device's f32
#          GEMM floor, projected to 24 layers; then one layer on the CPU backend as the peer
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
what=${1:-tests}
W=/tmp/cosmos-gpu
mkdir -p "$W"
tar -C "$W" -xJf .gpu-bundle/lib.tar.xz
tar -C "$W" -xJf .gpu-bundle/bin.tar.xz
libdirs="$W/lib"
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do [ -d "$d" ] && libdirs="$libdirs:$d"; done
for so in libnccl.so.2 libcublasLt.so.13 libcudart.so.13; do
  if ! ldconfig -p | grep -q "$so" && ! ls /usr/local/cuda/lib64/$so /usr/local/cuda/lib/$so >/dev/null 2>&1; then
    f=$(find / -xdev -name "$so" -not -path "/proc/*" 2>/dev/null | head -1)
    [ -n "$f" ] && libdirs="$libdirs:$(dirname "$f")"
  fi
done
export COSMOS_SOURCE_DIR="$PWD"
export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
BIN=$W/bin
{
  echo "date $(date -u +%FT%TZ)"
  echo "bundle commit $(cat .gpu-bundle/commit) ($(wc -l <.gpu-bundle/dirty) files modified)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  for b in "$BIN"/*; do ldd "$b" | grep -E "not found" && echo "MISSING libraries for $b"; done
} 2>&1 | tee "$OUT/card.txt"

case "$what" in
tests)
  # cuBLASLt is opened at run time (dlopen), so ldd above cannot vouch for it: this does
  "$BIN/test_cublaslt_loader" --verbose=1 >"$OUT/test_cublaslt_loader.log" 2>&1
  echo "test_cublaslt_loader exit $?" | tee -a "$OUT/card.txt"
  for t in test_cuda_ops test_cuda_sample test_cuda_dit test_cuda_llama test_cuda_dv test_cuda_t5 test_cuda_guardrail; do
    bash tests/cuda/run_skippable.sh "$BIN/$t" 2>&1 | tee "$OUT/$t.log" | tail -5
    echo "$t exit ${PIPESTATUS[0]}" | tee -a "$OUT/card.txt"
  done
  if command -v compute-sanitizer >/dev/null; then
    compute-sanitizer --tool memcheck --leak-check full --error-exitcode 3 "$BIN/test_cuda_ops" -j1 \
      >"$OUT/memcheck.log" 2>&1
    echo "memcheck test_cuda_ops exit $?" | tee -a "$OUT/card.txt"
    compute-sanitizer --tool memcheck --error-exitcode 3 "$BIN/test_cuda_sample" -j1 >"$OUT/memcheck_sample.log" 2>&1
    echo "memcheck test_cuda_sample exit $?" | tee -a "$OUT/card.txt"
    # shared-memory hazards of the tensor-core attention (its K/V tiles are restaged every 64 keys)
    compute-sanitizer --tool racecheck --error-exitcode 3 "$BIN/test_cuda_ops" -j1 --filter="cuda/attention_mma_kernel" \
      >"$OUT/racecheck_attention.log" 2>&1
    echo "racecheck attention_mma_kernel exit $?" | tee -a "$OUT/card.txt"
    # the DiT suite without its model-size shapes (20480 x 20480 attention, 7B matmuls): those
    # take minutes under memcheck; the small tests cover every new kernel path
    for f in swish gelu layernorm_modulate layernorm_modulate_views add_gated tiny_dit_forward_golden; do
      compute-sanitizer --tool memcheck --error-exitcode 3 "$BIN/test_cuda_dit" -j1 --filter="cuda_dit/$f" \
        >>"$OUT/memcheck_dit.log" 2>&1
      echo "memcheck test_cuda_dit $f exit $?" | tee -a "$OUT/card.txt"
    done
    for f in haar causal_conv3d conv_chunks groupnorm_frames fsq; do # (not model_shapes: a 24 GFLOP conv)
      compute-sanitizer --tool memcheck --error-exitcode 3 "$BIN/test_cuda_dv" -j1 --filter="cuda_dv/$f" \
        >>"$OUT/memcheck_dv.log" 2>&1
      echo "memcheck test_cuda_dv $f exit $?" | tee -a "$OUT/card.txt"
    done
    for t in t5 guardrail; do
      compute-sanitizer --tool memcheck --error-exitcode 3 "$BIN/test_cuda_$t" -j1 >"$OUT/memcheck_$t.log" 2>&1
      echo "memcheck test_cuda_$t exit $?" | tee -a "$OUT/card.txt"
    done
    tail -3 "$OUT/memcheck.log" "$OUT/memcheck_sample.log" "$OUT/memcheck_dit.log" "$OUT/memcheck_dv.log" \
      "$OUT/memcheck_t5.log" "$OUT/memcheck_guardrail.log"
  else
    echo "compute-sanitizer not found" | tee -a "$OUT/card.txt"
  fi
  ;;
bench | peer)
  # 5B-Video2World random weights, made on the spot (a fresh machine has none), then
  #   bench: cosmos-bench decoding GEN tokens after a 5121-token prompt (BOV + 2 latent frames, the
  #          torch peer's default): the step with logits to the host (short), the step with the token
  #          drawn on the GPU, and that step replayed as a CUDA graph
  #   peer:  tools/bench/torch_decode.py on the same weights, eager and torch.compile
  CFG=configs/models/cosmos-1.0-ar-5b-video2world.json
  GEN=${GEN:-7680}
  B=("$BIN/cosmos-bench" --config "$CFG" --weights-dir "$W/weights" --backend cuda --prompt 5121)
  if [ "$what" = bench ]; then
    "${B[@]}" --decode 256 --json "$OUT/bench_logits.json" 2>&1 | tee "$OUT/bench_logits.log" | tail -12
    "${B[@]}" --decode "$GEN" --sample --json "$OUT/bench_sample.json" 2>&1 | tee "$OUT/bench_sample.log" | tail -6
    "${B[@]}" --decode "$GEN" --sample --cuda-graphs --json "$OUT/bench_graphs.json" 2>&1 |
      tee "$OUT/bench_graphs.log" | tail -6
    # the fused decode step against every op on its own (docs/cuda.md "Decode-step fusions"), same window
    for f in fused unfused; do
      "${B[@]}" --decode 1024 --sample --cuda-graphs $([ $f = unfused ] && echo --unfused) \
        --json "$OUT/bench_graphs_$f.json" 2>&1 | tee "$OUT/bench_graphs_$f.log" | grep -E "^decode"
    done
  else
    "${B[@]}" --decode 1 >/dev/null 2>&1 # only the weights
    M=$(ls "$W"/weights/*.h5 | head -1)
    for mode in eager compile; do
      timeout 280 python3 tools/bench/torch_decode.py --model "$M" --mode $mode --gen "$GEN" \
        --json "$OUT/torch_$mode.json" 2>&1 | tee "$OUT/torch_$mode.log" | tail -8
    done
  fi
  ;;
dd)
  "$BIN/cosmos-bench-dd" --backend cuda --blocks "${BLOCKS:-4}" --reps 2 --json "$OUT/bench_dd.json" 2>&1 |
    tee "$OUT/bench_dd.log" | tail -8
  ;;
attention)
  "$BIN/cosmos-bench-attention" --backend cuda --json "$OUT/bench_attention.json" 2>&1 |
    tee "$OUT/bench_attention.log" | tail -6
  COSMOS_CUDA_ATTENTION=f32 "$BIN/cosmos-bench-dd" --backend cuda --blocks "${BLOCKS:-4}" --reps 2 \
    --json "$OUT/bench_dd_f32_attention.json" 2>&1 | tee "$OUT/bench_dd_f32_attention.log" | tail -5
  ;;
gemv)
  "$BIN/cosmos-bench-gemv" --backend cuda --json "$OUT/bench_gemv.json" 2>&1 | tee "$OUT/bench_gemv.log" | tail -8
  # the fused epilogues against cuBLASLt + the separate add / silu_mul kernels
  "$BIN/cosmos-bench-gemv" --backend cuda --shapes wo,w2 --epilogue add --json "$OUT/bench_gemv_add.json" 2>&1 |
    tee "$OUT/bench_gemv_add.log" | tail -3
  "$BIN/cosmos-bench-gemv" --backend cuda --shapes w13 --epilogue swiglu --json "$OUT/bench_gemv_swiglu.json" 2>&1 |
    tee "$OUT/bench_gemv_swiglu.log" | tail -2
  ;;
dv)
  "$BIN/cosmos-bench-dv" --backend cuda --json "$OUT/bench_dv_cuda.json" 2>&1 | tee "$OUT/bench_dv_cuda.log" | tail -12
  timeout 300 "$BIN/cosmos-bench-dv" --backend cpu --threads "$(nproc)" --skip-stream --json "$OUT/bench_dv_cpu.json" \
    2>&1 | tee "$OUT/bench_dv_cpu.log" | tail -8
  ;;
guardrail)
  "$BIN/cosmos-bench-guardrail" --backend cuda --frames 4 --json "$OUT/bench_guardrail_cuda.json" 2>&1 |
    tee "$OUT/bench_guardrail_cuda.log" | tail -8
  timeout 300 "$BIN/cosmos-bench-guardrail" --threads "$(nproc)" --frames 2 --json "$OUT/bench_guardrail_cpu.json" \
    2>&1 | tee "$OUT/bench_guardrail_cpu.log" | tail -8
  ;;
t5)
  "$BIN/cosmos-bench-t5" --backend cuda --layers 4 --json "$OUT/bench_t5_cuda.json" 2>&1 |
    tee "$OUT/bench_t5_cuda.log" | tail -8
  timeout 300 "$BIN/cosmos-bench-t5" --threads "$(nproc)" --layers 1 --tokens 16,128 --reps 1 \
    --json "$OUT/bench_t5_cpu.json" 2>&1 | tee "$OUT/bench_t5_cpu.log" | tail -6
  ;;
*)
  echo "usage: device_checks.sh tests|bench|peer|dd|attention|gemv|dv|guardrail|t5" >&2
  exit 2
  ;;
esac
