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

/* Create a backend by name: "cpu", "cuda", "cuda:N". A name this build cannot serve returns
 * COSMOS_ERR_UNSUPPORTED with a message saying why. The caller owns *out (cosmos_backend_free). */
cosmos_status cosmos_backend_create(const char *name, const struct cosmos_backend_params *params,
                                    cosmos_backend_t **out);
void cosmos_backend_free(cosmos_backend_t *be); /* NULL is a no-op */
const char *cosmos_backend_name(const cosmos_backend_t *be);
/* Activation dtype the backend computes in (F32 on the CPU oracle). */
enum cosmos_dtype cosmos_backend_act_dtype(const cosmos_backend_t *be);
/* True when the backend computes on host memory (weights may alias an mmap). */
int cosmos_backend_is_host(const cosmos_backend_t *be);

/* Memory. alloc returns zeroed memory owned by the caller (free_mem). */
cosmos_status cosmos_backend_alloc(cosmos_backend_t *be, size_t bytes, void **ptr);
void cosmos_backend_free_mem(cosmos_backend_t *be, void *ptr);
cosmos_status cosmos_backend_upload(cosmos_backend_t *be, void *dst, const void *host_src, size_t bytes);
cosmos_status cosmos_backend_download(cosmos_backend_t *be, void *host_dst, const void *src, size_t bytes);
cosmos_status cosmos_backend_sync(cosmos_backend_t *be);

/* y[M,N] = x[M,K] . w[N,K]^T. w is bf16 (weights); x and y are activations. */
cosmos_status cosmos_op_matmul(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                               struct cosmos_tensor w);
/* Row-wise RMSNorm over the last dim: y = x * rsqrt(mean(x^2) + eps) * w; w [D] bf16; y may be x. */
cosmos_status cosmos_op_rmsnorm(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                struct cosmos_tensor w, float eps);
/* In-place rotate-half RoPE on x[T,H,Dh] at positions pos0..pos0+T-1, with tables cos/sin
 * [S, Dh/2] (entry i serves the pair (i, i+Dh/2)). */
cosmos_status cosmos_op_rope(cosmos_backend_t *be, struct cosmos_tensor x, struct cosmos_tensor cos_tab,
                             struct cosmos_tensor sin_tab, int pos0);
/* y[T,D] = table[ids[t], :]; ids int32 [T] in backend memory; table bf16 [V,D]. An id outside
 * [0, V) gives a zero row: a vocab-parallel rank holds rows of its shard only (callers check ids). */
cosmos_status cosmos_op_embedding(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor table,
                                  struct cosmos_tensor ids);
/* y = a + b elementwise (same numel); y may alias a. */
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
/* dst = src (same numel; converts between f32 and bf16 where dtypes differ). */
cosmos_status cosmos_op_copy(cosmos_backend_t *be, struct cosmos_tensor dst, struct cosmos_tensor src);

/* Ops of the T5 encoder (spec components.md 3.4). */
/* y[M,N] = x[M,K] . w[N,K]^T with f32 weights (fp32 weight storage; cosmos_op_matmul takes bf16). */
cosmos_status cosmos_op_matmul_f32w(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                    struct cosmos_tensor w);
/* Row-wise RMSNorm like cosmos_op_rmsnorm with an f32 weight [D]; y may be x. */
cosmos_status cosmos_op_rmsnorm_f32w(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                                     struct cosmos_tensor w, float eps);
/* y = max(x, 0) elementwise; y may alias x. */
cosmos_status cosmos_op_relu(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x);
/* Non-causal attention with an additive relative-position bias, all S keys attended:
 * out, q [T,H,Dh]; k, v [S,H,Dh] f32; rel_bias f32 [H, T+S-1]:
 * score(h,t,s) = scale * q[t,h].k[s,h] + rel_bias[h, s - t + T - 1]. (T5: scale 1, no 1/sqrt(Dh).) */
cosmos_status cosmos_op_attention_relbias(cosmos_backend_t *be, struct cosmos_tensor out, struct cosmos_tensor q,
                                          struct cosmos_tensor k, struct cosmos_tensor v,
                                          struct cosmos_tensor rel_bias, float scale);

#endif
