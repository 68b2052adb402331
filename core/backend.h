/* Compute backend interface (STYLE.md "Backends and communication"; ggml backend split, cut down).
 * A backend is one device + its stream + library handles. Model code calls only these functions,
 * so a CUDA backend plugs in without touching it. Every op is stream-ordered on its backend
 * (the CPU backend runs synchronously); cosmos_backend_sync() waits for all queued work.
 * Tensors passed to ops live in this backend's memory (cosmos_backend_alloc or imported weights).
 * Dispatchers check shapes and dtypes once, then call the backend's implementation. */
#ifndef COSMOS_BACKEND_H
#define COSMOS_BACKEND_H

#include <stddef.h>

#include "core/status.h"
#include "core/tensor.h"

typedef struct cosmos_backend cosmos_backend_t;

struct cosmos_backend_params {
    int n_threads; /* CPU worker threads; 0 = OpenMP default */
};
struct cosmos_backend_params cosmos_backend_params_default(void);

/* Create a backend by name: "cpu", "cuda", "cuda:N", or "cpu-staged": the cpu backend presented as
 * a device backend (is_host 0: weights copied in, activations handed to MPI through host staging
 * buffers), which runs the GPU code paths of the model's TP/PP exchange on machines without a GPU
 * (tests). A name this build cannot serve returns COSMOS_ERR_UNSUPPORTED with a message saying why.
 * The caller owns *out (cosmos_backend_free). */
cosmos_status cosmos_backend_create(const char *name, const struct cosmos_backend_params *params,
                                    cosmos_backend_t **out);
void cosmos_backend_free(cosmos_backend_t *be); /* NULL is a no-op */
/* The backend name a rank opens in a job of several ranks: plain "cuda" becomes
 * "cuda:<local_rank>" (one process per GPU, local_rank from cosmos_comm_local_rank); every other
 * name is kept. */
void cosmos_backend_name_for_rank(const char *name, int local_rank, char *out, size_t n);
const char *cosmos_backend_name(const cosmos_backend_t *be);
/* Activation dtype the backend computes in (F32 on the CPU oracle). */
enum cosmos_dtype cosmos_backend_act_dtype(const cosmos_backend_t *be);
/* The CUDA devices this process can see, for reports (`cosmos-ar env`): up to max of them in out,
 * their count in *n, and the CUDA runtime and driver versions (1000 * major + 10 * minor; 0 when
 * unknown). UNSUPPORTED, with the reason in why, where none can be listed: a build without CUDA,
 * or no driver or device. Logs nothing. */
struct cosmos_gpu_info {
    char name[128]; /* cudaDeviceProp.name, cut to 127 characters */
    size_t memory_bytes;
    int cc_major, cc_minor; /* compute capability */
};
cosmos_status cosmos_backend_cuda_devices(struct cosmos_gpu_info *out, int max, int *n, int *runtime_version,
                                          int *driver_version, char *why, size_t n_why);
/* The cuBLASLt the CUDA backend uses, for reports: opens it as a backend would (kernels/cuda/
 * matmul_cublaslt.c: dlopen on first use, COSMOS_CUBLASLT overrides the path) and writes
 * "MAJOR.MINOR.PATCH (FILE)" to out; UNSUPPORTED with the reason in out when it cannot be opened or
 * the build has no CUDA. Logs nothing. */
cosmos_status cosmos_backend_cuda_blas(char *out, size_t n);
/* The activation dtype a backend of this name computes in, without creating it (sizing a layout
 * for GPUs on a machine without one): F32 for cpu and cpu-staged, BF16 for cuda and cuda:N.
 * INVALID_ARG for an unknown name. */
cosmos_status cosmos_backend_name_act_dtype(const char *name, enum cosmos_dtype *out);
/* True when the backend computes on host memory (weights may alias an mmap). */
int cosmos_backend_is_host(const cosmos_backend_t *be);
/* CUDA device index of the backend, -1 for backends without a device (cpu, cpu-staged). */
int cosmos_backend_device(const cosmos_backend_t *be);
/* The CUDA stream (a cudaStream_t) that orders every op of the backend, NULL without a device: a
 * NCCL communicator created on it is ordered with the backend's kernels. */
void *cosmos_backend_stream(const cosmos_backend_t *be);

/* Device position (CUDA-graph decode, docs/cuda.md): the ops that take a position (rope,
 * attention, store_rows, add_rows; sample's position) accept COSMOS_POS_DEVICE instead, and then
 * read it when they run from the backend's position cell, written in stream order by
 * cosmos_backend_set_pos: a captured decode step replays at whatever position was set last.
 * Ranges cannot be checked at dispatch then: the caller checks pos before set_pos. */
#define COSMOS_POS_DEVICE (-1)
cosmos_status cosmos_backend_set_pos(cosmos_backend_t *be, int64_t pos);

/* CUDA graphs: the ops issued between graph_begin and graph_end are recorded, not run, and
 * graph_launch replays them (same pointers and shapes; positions through COSMOS_POS_DEVICE).
 * Nothing in between may allocate, upload, download or sync. UNSUPPORTED on backends without
 * graphs (cosmos_backend_has_graphs). */
typedef struct cosmos_graph cosmos_graph_t;
int cosmos_backend_has_graphs(const cosmos_backend_t *be);
cosmos_status cosmos_backend_graph_begin(cosmos_backend_t *be);
cosmos_status cosmos_backend_graph_end(cosmos_backend_t *be, cosmos_graph_t **out); /* also ends a failed capture */
cosmos_status cosmos_backend_graph_launch(cosmos_backend_t *be, cosmos_graph_t *g);
void cosmos_backend_graph_free(cosmos_backend_t *be, cosmos_graph_t *g); /* NULL is a no-op */

/* Memory the backend itself holds (library workspaces, the attention scratch, the GPU sampler) and,
 * for a device, the device's free and total memory (cudaMemGetInfo); zeros on host backends. */
struct cosmos_backend_memory {
    size_t workspace_bytes;
    size_t device_free, device_total;
};
cosmos_status cosmos_backend_memory(cosmos_backend_t *be, struct cosmos_backend_memory *out);
/* Reserve, now, the working memory the backend keeps for itself (CUDA: the split-KV scratch of the
 * attention kernels, the GPU sampler's buffers) for the calls a model is going to make, so that
 * those calls allocate nothing later: a device that is too small fails at load rather than
 * mid-clip, and cosmos_backend_memory's workspace_bytes is the run's figure from the load on.
 * attention: every query length 1..T_max over S keys of H query / Hkv KV heads of Dh (causal: at
 * any position); sampler: logits of V entries. Memory only grows (a larger earlier reservation
 * stays). No-ops on backends that keep no such memory (the CPU). Not inside a graph capture. */
cosmos_status cosmos_backend_reserve_attention(cosmos_backend_t *be, int64_t T_max, int64_t H, int64_t Hkv,
                                               int64_t Dh, int64_t S, int causal);
cosmos_status cosmos_backend_reserve_sampler(cosmos_backend_t *be, int64_t V);

/* Memory. alloc returns zeroed memory owned by the caller (free_mem). */
cosmos_status cosmos_backend_alloc(cosmos_backend_t *be, size_t bytes, void **ptr);
void cosmos_backend_free_mem(cosmos_backend_t *be, void *ptr);
cosmos_status cosmos_backend_upload(cosmos_backend_t *be, void *dst, const void *host_src, size_t bytes);
cosmos_status cosmos_backend_download(cosmos_backend_t *be, void *host_dst, const void *src, size_t bytes);
cosmos_status cosmos_backend_sync(cosmos_backend_t *be);

/* y[M,N] = x[M,K] . w[N,K]^T. w is bf16 (weights); x and y are activations. */
cosmos_status cosmos_op_matmul(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                               struct cosmos_tensor w);
/* y[M,N] = a + x[M,K] . w[N,K]^T: cosmos_op_matmul into tmp [M,N] then cosmos_op_add(y, a, tmp),
 * with those two ops' roundings, in one launch where the backend has the fusion and serves the
 * shape (CUDA: the decode GEMV's epilogue, M <= 4), composed otherwise (then tmp is written; its
 * contents are unspecified after the call). y may alias a; neither may overlap x or tmp. */
cosmos_status cosmos_op_matmul_add(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                                   struct cosmos_tensor x, struct cosmos_tensor w, struct cosmos_tensor tmp);
/* SwiGLU over a fused gate|up weight: h[M,F] = silu(x . w1^T) * (x . w3^T) where w13 [2F, K] holds
 * w1's F rows then w3's: cosmos_op_matmul of x by each half into h13 [2, M, F] (h1 then h3; one
 * product by all of w13 when M = 1, the same values), then cosmos_op_silu_mul(h, h1, h3), with
 * those ops' roundings; fused as cosmos_op_matmul_add (h13 is written only when composed). h must
 * not overlap x or h13. */
cosmos_status cosmos_op_matmul_swiglu(cosmos_backend_t *be, struct cosmos_tensor h, struct cosmos_tensor x,
                                      struct cosmos_tensor w13, struct cosmos_tensor h13);
/* Row-wise RMSNorm over the last dim: y = x * rsqrt(mean(x^2) + eps) * w; w [D] bf16; y may be x. */
cosmos_status cosmos_op_rmsnorm(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                struct cosmos_tensor w, float eps);
/* In-place rotate-half RoPE on x[T,H,Dh] at positions pos0..pos0+T-1, with tables cos/sin
 * [S, Dh/2] (entry i serves the pair (i, i+Dh/2)). */
cosmos_status cosmos_op_rope(cosmos_backend_t *be, struct cosmos_tensor x, struct cosmos_tensor cos_tab,
                             struct cosmos_tensor sin_tab, int pos0);
/* QK-norm then RoPE of x [T,H,Dh] in place: each (token, head) row RMSNormed with w [Dh] (bf16),
 * then rotated at positions pos0.. (may be COSMOS_POS_DEVICE): cosmos_op_rmsnorm followed by
 * cosmos_op_rope, fused where the backend has the fusion (CUDA), composed otherwise. */
cosmos_status cosmos_op_qk_norm_rope(cosmos_backend_t *be, struct cosmos_tensor x, struct cosmos_tensor w, float eps,
                                     struct cosmos_tensor cos_tab, struct cosmos_tensor sin_tab, int pos0);
/* The absolute position embedding added before a layer, then that layer's attention norm:
 * cosmos_op_add_rows(x, x, table, pos0) then cosmos_op_rmsnorm(y, x, w, eps); x, y [T, D]
 * activations (y not x), table [S, D] bf16 or f32, w [D] bf16. One launch where the backend has the
 * fusion (CUDA), composed otherwise; checked before anything is written. */
cosmos_status cosmos_op_add_rows_rmsnorm(cosmos_backend_t *be, struct cosmos_tensor x, struct cosmos_tensor table,
                                         int pos0, struct cosmos_tensor y, struct cosmos_tensor w, float eps);
/* The attention prologue of a step: cosmos_op_qk_norm_rope(q, qw) and (k, kw), then
 * cosmos_op_store_rows(kc, k) and (vc, v), all at positions pos0.. (may be COSMOS_POS_DEVICE); q
 * [T,H,Dh], k, v [T,Hkv,Dh] activations, kc, vc [S,Hkv,Dh] of their dtype. One launch where the
 * backend has the fusion (CUDA), composed otherwise; the operands are checked before anything is
 * written. */
cosmos_status cosmos_op_qkv_rope_store(cosmos_backend_t *be, struct cosmos_tensor q, struct cosmos_tensor k,
                                       struct cosmos_tensor v, struct cosmos_tensor qw, struct cosmos_tensor kw,
                                       float eps, struct cosmos_tensor cos_tab, struct cosmos_tensor sin_tab,
                                       struct cosmos_tensor kc, struct cosmos_tensor vc, int pos0);
/* y[T,D] = table[ids[t], :]; ids int32 [T] in backend memory; table bf16 [V,D]. An id outside
 * [0, V) gives a zero row: a vocab-parallel rank holds rows of its shard only (callers check ids). */
cosmos_status cosmos_op_embedding(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor table,
                                  struct cosmos_tensor ids);
/* y = a + b elementwise (same numel); y, a activations, b bf16 or f32; or y, a, b all f32 on any
 * backend (the T5 encoder's residuals). y may alias a. */
cosmos_status cosmos_op_add(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                            struct cosmos_tensor b);
/* y = silu(a) * b elementwise; y may alias a. */
cosmos_status cosmos_op_silu_mul(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                                 struct cosmos_tensor b);
/* Scaled dot-product attention with GQA (query head h uses KV head h / (H/Hkv)), scale 1/sqrt(Dh).
 * out, q: [T,H,Dh]; k, v: [S,Hkv,Dh] (a KV cache or a cross-attention context).
 * causal != 0: query t sits at position pos0+t and attends keys [0, pos0+t] only (never the rest
 * of the cache); causal == 0: every query attends all S keys (pos0 ignored). */
cosmos_status cosmos_op_attention(cosmos_backend_t *be, struct cosmos_tensor out, struct cosmos_tensor q,
                                  struct cosmos_tensor k, struct cosmos_tensor v, int pos0, int causal);
/* dst rows [pos0, pos0+T) = src [T, ...]: same dtype and row size (the KV-cache write of a step;
 * pos0 may be COSMOS_POS_DEVICE). */
cosmos_status cosmos_op_store_rows(cosmos_backend_t *be, struct cosmos_tensor dst, struct cosmos_tensor src,
                                   int pos0);
/* y = a + table rows [pos0, pos0+T) for activations y, a [T, D] and a table [S, D] (bf16 or f32;
 * the APE add; pos0 may be COSMOS_POS_DEVICE). y may alias a. */
cosmos_status cosmos_op_add_rows(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                                 struct cosmos_tensor table, int pos0);
/* dst = src (same numel; converts between f32 and bf16 where dtypes differ). */
cosmos_status cosmos_op_copy(cosmos_backend_t *be, struct cosmos_tensor dst, struct cosmos_tensor src);
/* token int32 [1] = the next token drawn from logits f32 [V] by the rules of core/model/sampler.h
 * (temperature, top-k, top-p, counter-based RNG at (p->seed, position)): the same token as
 * cosmos_sampler_sample, without the logits leaving the backend. Stream-ordered. position
 * COSMOS_POS_DEVICE: the position cell + 1 (the token after a one-token step at the cell's position).
 * token int32 [2]: also token[1] = 1 when any logit is NaN or infinite, else 0 (the token is then
 * noise): how a device backend, whose op cannot fail on the data (it does not wait for it), reports
 * broken logits to the caller that downloads the token. */
struct cosmos_sampler_params;
cosmos_status cosmos_op_sample(cosmos_backend_t *be, struct cosmos_tensor token, struct cosmos_tensor logits,
                               const struct cosmos_sampler_params *p, int64_t position);

/* Ops of the T5 encoder (spec components.md 3.4). Its activations are f32 on every backend, a bf16
 * one included: the official encoder runs in fp32 (3.1). */
/* y[M,N] = x[M,K] . w[N,K]^T, all f32 (fp32 weights; cosmos_op_matmul takes bf16 ones). */
cosmos_status cosmos_op_matmul_f32w(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                    struct cosmos_tensor w);
/* Row-wise RMSNorm like cosmos_op_rmsnorm with an f32 weight [D]; y may be x. */
cosmos_status cosmos_op_rmsnorm_f32w(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                     struct cosmos_tensor w, float eps);
/* y = max(x, 0) elementwise, x and y f32 or activations of one dtype; y may alias x. */
cosmos_status cosmos_op_relu(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x);
/* Non-causal attention with an additive relative-position bias, all S keys attended:
 * out, q [T,H,Dh]; k, v [S,H,Dh] f32; rel_bias f32 [H, T+S-1]:
 * score(h,t,s) = scale * q[t,h].k[s,h] + rel_bias[h, s - t + T - 1]. (T5: scale 1, no 1/sqrt(Dh).) */
cosmos_status cosmos_op_attention_relbias(cosmos_backend_t *be, struct cosmos_tensor out, struct cosmos_tensor q,
                                          struct cosmos_tensor k, struct cosmos_tensor v,
                                          struct cosmos_tensor rel_bias, float scale);

/* Ops of the DV8x16x16 video tokenizer (spec components.md 2.4-2.7). Videos are [C,T,H,W]
 * activations (batch 1, PyTorch's NCDHW without N). Weights f32 or bf16. */
/* Haar wavelet patcher (2.4): x [C,T,H,W] -> y [C*p^3, T', H', W'], frame 0 repeated p times in
 * front, then log2(p) levels, each halving T, H, W (rounding up; odd axes reflect-padded).
 * p = patch_size in {1,2,4,8,...}; H and W must be multiples of p. tap: the wavelet filter tap,
 * 1/sqrt(2) exactly (COSMOS_HAAR_TAP) or the checkpoint's stored value (bf16 0.70703125). */
#define COSMOS_HAAR_TAP 0.70710678118654752f
cosmos_status cosmos_op_haar_patch(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                   int patch_size, float tap);
/* Inverse (UnPatcher3D): x [g*p^3, T, H, W] -> y [g, T*p-(p-1), H*p, W*p]. */
cosmos_status cosmos_op_haar_unpatch(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                     int patch_size, float tap);
/* Causal 3D convolution (2.5 CausalConv3d): time_pad copies of frame 0 read in front of x, H and W
 * zero-padded by pad_lo before and pad_hi after, strides (stride_t, stride_s, stride_s). */
struct cosmos_conv3d_params {
    int kt, kh, kw;
    int time_pad;
    int stride_t, stride_s;
    int pad_lo, pad_hi;
};
/* The official CausalConv3d(kernel (kt,kh,kw), stride s, time_stride ts, padding p):
 * time_pad = (kt-1) + (1-ts), pad_lo = pad_hi = p. */
struct cosmos_conv3d_params cosmos_conv3d_params_causal(int kt, int kh, int kw, int stride_t, int stride_s, int pad);
/* y [Cout,To,Ho,Wo] = conv(x [Cin,T,H,W]); w [Cout, Cin*kt*kh*kw] (the PyTorch 5-D weight
 * flattened), bias [Cout], same dtype (f32 or bf16). To = (T+time_pad-kt)/stride_t + 1,
 * Ho = (H+pad_lo+pad_hi-kh)/stride_s + 1 (same for W). y must not alias x. */
cosmos_status cosmos_op_causal_conv3d(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                      struct cosmos_tensor w, struct cosmos_tensor bias,
                                      const struct cosmos_conv3d_params *p);
/* GroupNorm with one group per frame (2.5 CausalNormalize, num_groups=1): for each t, statistics
 * over all C*H*W values of x[:, t]; gamma, beta [C] (f32 or bf16, one dtype). y may alias x. */
cosmos_status cosmos_op_groupnorm_frames(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                         struct cosmos_tensor gamma, struct cosmos_tensor beta, float eps);
/* Frame moves of the tokenizers' decoders (2.5, 2.8), bit-exact copies of activations:
 * copy_frames: dst[:, dst_t0 .. dst_t0+n) = src[:, src_t0 .. src_t0+n) for dst [C,Td,H,W] and src
 * [C,Ts,H,W] of one C, H, W and dtype, the ranges inside both; dst must not be src.
 * upsample_nearest2x: y [C,T,2H,2W] = x [C,T,H,W] repeated 2x2 (nearest). */
cosmos_status cosmos_op_copy_frames(cosmos_backend_t *be, struct cosmos_tensor dst, int64_t dst_t0,
                                    struct cosmos_tensor src, int64_t src_t0, int64_t n);
cosmos_status cosmos_op_upsample_nearest2x(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x);
/* The average-pool branch of the DV encoder's CausalHybridDownsample3d (2.5), added into the conv
 * branch's output y (the shapes that conv gives). temporal == 0: x [C,T,H,W], y [C,T,H/2,W/2]
 * (H, W >= 2) += the mean of each 2x2 block. temporal != 0: x [C,T,H,W], y [C,(T+1)/2,H,W]:
 * y[t] += (x[max(2t-1,0)] + x[min(2t,T-1)]) / 2 (frame pairs with frame 0 repeated once in front).
 * y must not alias x. */
cosmos_status cosmos_op_pool_add(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x, int temporal);
/* Single-head attention of the tokenizers' AttnBlocks (2.5: one head of width C, scale 1/sqrt(C))
 * on their own layout: q, out [C, Tq, H, W]; k, v [C, S, H, W]. temporal == 0: spatial, per frame
 * (S == Tq), the H*W tokens of a frame attend each other. temporal != 0: per position, causal over
 * frames: the Tq queries are the last Tq of the S frames (query t attends keys [0, S-Tq+t]).
 * out must not alias q, k or v. */
cosmos_status cosmos_op_attention_1h(cosmos_backend_t *be, struct cosmos_tensor out, struct cosmos_tensor q,
                                     struct cosmos_tensor k, struct cosmos_tensor v, int temporal);
/* y = x * sigmoid(x) elementwise; y may alias x. */
cosmos_status cosmos_op_swish(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x);
/* FSQ (2.7): z [D, T, H, W] (or any [D, ...]) activations, D = n_levels -> indices int32 [N] (or
 * [T,H,W]) with N = numel(z)/D, and codes [D, ...] in the activation dtype. levels is a host array.
 * Half-to-even rounding; index = sum_d (q_d + L_d/2) * prod_{e<d} L_e. */
cosmos_status cosmos_op_fsq_quantize(cosmos_backend_t *be, struct cosmos_tensor indices, struct cosmos_tensor codes,
                                     struct cosmos_tensor z, const int *levels, int n_levels);
/* indices int32 [N] -> codes [D, N...]: digit_d = (index / basis_d) mod L_d, code = (digit - L_d/2)/(L_d/2).
 * An index outside [0, prod(levels)) is INVALID_ARG. */
cosmos_status cosmos_op_fsq_dequantize(cosmos_backend_t *be, struct cosmos_tensor codes, struct cosmos_tensor indices,
                                       const int *levels, int n_levels);

/* Ops of the diffusion-decoder DiT (spec components.md 4.4). x, y, a, b are activations viewed as
 * rows [R, D] (last dim D); the per-channel vectors shift, scale, gate are activations [D] (they
 * come from the timestep embedding), shared by every row. */
/* y[r] = LN(x[r]) * (1 + scale) + shift, LN without affine: (x - mean) / sqrt(var + eps), biased
 * variance (nn.LayerNorm(elementwise_affine=False) then the AdaLN modulation). y may alias x. */
cosmos_status cosmos_op_layernorm_modulate(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                           struct cosmos_tensor shift, struct cosmos_tensor scale, float eps);
/* y = 0.5 x (1 + erf(x / sqrt(2))) elementwise (exact GELU, nn.GELU()); y may alias x. */
cosmos_status cosmos_op_gelu(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x);
/* y[r] = a[r] + gate * b[r] (gated residual, gate [D] per channel); y may alias a. */
cosmos_status cosmos_op_add_gated(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor a,
                                  struct cosmos_tensor b, struct cosmos_tensor gate);

/* Ops of the guardrail's vision models (spec components.md 5.4, 5.5): they run in f32 on every
 * backend, a bf16 one included (the official filters run fp32), like the T5 ops. */
/* Row-wise LayerNorm with affine (nn.LayerNorm): over the last dim D, y = (x - mean) /
 * sqrt(var + eps) * w + b, biased variance; x, y f32 of one size, w, b f32 [D]; y may be x. */
cosmos_status cosmos_op_layernorm(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                  struct cosmos_tensor w, struct cosmos_tensor b, float eps);
/* y = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3): 0.5 x (1 + tanh(u)), the tanh GELU
 * (gelu_pytorch_tanh); x, y f32 or activations, one size and dtype; y may alias x. */
cosmos_status cosmos_op_gelu_tanh(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x);
/* y[r] += b for every row r of y (rows of the last dim D; f32 or activations), b f32 [D]: the bias
 * of a Linear after cosmos_op_matmul_f32w. */
cosmos_status cosmos_op_add_bias(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor b);
/* 2-D convolution (RetinaFace, 5.5): y [Cout, Ho, Wo] = conv(x [Cin, H, W], w [Cout, Cin*k*k]) +
 * b [Cout], all f32, zero padding `pad` on every side, stride `stride`, Ho = (H + 2 pad - k) /
 * stride + 1 (W alike). y must not alias x. */
cosmos_status cosmos_op_conv2d(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                               struct cosmos_tensor w, struct cosmos_tensor b, int k, int stride, int pad);
/* y = x < 0 ? x * slope : x (slope 0: ReLU, negatives give -0); f32 or activations of one size and
 * dtype; y may alias x. */
cosmos_status cosmos_op_leaky_relu(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x, float slope);
/* y [C, Ho, Wo] = the max over each k x k window of x [C, H, W] (f32), stride `stride`, padding
 * `pad` < k that never wins; Ho as conv2d's. */
cosmos_status cosmos_op_maxpool2d(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x, int k,
                                  int stride, int pad);
/* y [C, Hd, Wd] += x [C, Hs, Ws] resized to Hd x Wd by nearest neighbour (PyTorch's index rule,
 * F.interpolate(size=..., mode="nearest")); f32; y must not alias x. */
cosmos_status cosmos_op_add_upsampled_nearest(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x);

#endif
