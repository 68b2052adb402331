/* Private vtable behind cosmos_backend_t; only backend implementations include this.
 * Each implementation fills a cosmos_backend_ops table and a ctx pointer. Ops receive
 * tensors already checked by the dispatchers in backend.c. */
#ifndef COSMOS_BACKEND_IMPL_H
#define COSMOS_BACKEND_IMPL_H

#include "core/backend.h"

struct cosmos_backend_ops {
    void (*free_ctx)(void *ctx);
    cosmos_status (*alloc)(void *ctx, size_t bytes, void **ptr);
    void (*free_mem)(void *ctx, void *ptr);
    cosmos_status (*upload)(void *ctx, void *dst, const void *src, size_t bytes);
    cosmos_status (*download)(void *ctx, void *dst, const void *src, size_t bytes);
    cosmos_status (*sync)(void *ctx);
    cosmos_status (*matmul)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w);
    cosmos_status (*rmsnorm)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                             float eps);
    cosmos_status (*rope)(void *ctx, struct cosmos_tensor x, struct cosmos_tensor c, struct cosmos_tensor s,
                          int pos0);
    cosmos_status (*embedding)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor table,
                               struct cosmos_tensor ids);
    cosmos_status (*add)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b);
    cosmos_status (*silu_mul)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b);
    cosmos_status (*attention)(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q, struct cosmos_tensor k,
                               struct cosmos_tensor v, int pos0, int causal);
    cosmos_status (*copy)(void *ctx, struct cosmos_tensor dst, struct cosmos_tensor src);
    cosmos_status (*sample)(void *ctx, struct cosmos_tensor token, struct cosmos_tensor logits,
                            const struct cosmos_sampler_params *p, int64_t position);
    cosmos_status (*memory)(void *ctx, struct cosmos_backend_memory *out); /* NULL: all zero */
    /* cosmos_backend_reserve_* (NULL: nothing to reserve) */
    cosmos_status (*reserve_attention)(void *ctx, int64_t T_max, int64_t H, int64_t Hkv, int64_t Dh, int64_t S,
                                       int causal);
    cosmos_status (*reserve_sampler)(void *ctx, int64_t V);
    cosmos_status (*qk_norm_rope)(void *ctx, struct cosmos_tensor x, struct cosmos_tensor w, float eps,
                                  struct cosmos_tensor c, struct cosmos_tensor s, int pos0); /* NULL: composed */
    cosmos_status (*add_rows_rmsnorm)(void *ctx, struct cosmos_tensor x, struct cosmos_tensor table, int pos0,
                                      struct cosmos_tensor y, struct cosmos_tensor w, float eps); /* NULL: composed */
    cosmos_status (*qkv_rope_store)(void *ctx, struct cosmos_tensor q, struct cosmos_tensor k, struct cosmos_tensor v,
                                    struct cosmos_tensor qw, struct cosmos_tensor kw, float eps, struct cosmos_tensor c,
                                    struct cosmos_tensor s, struct cosmos_tensor kc, struct cosmos_tensor vc,
                                    int pos0); /* NULL: composed */
    /* cosmos_op_matmul_add / cosmos_op_matmul_swiglu, shapes checked, y a h x 2-D: UNSUPPORTED (nothing
     * done, nothing logged) for a call the backend does not fuse, which the dispatcher then composes
     * (as it does every call when NULL) */
    cosmos_status (*matmul_add)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor x,
                                struct cosmos_tensor w);
    cosmos_status (*matmul_swiglu)(void *ctx, struct cosmos_tensor h, struct cosmos_tensor x, struct cosmos_tensor w13);
    /* device position and graphs (NULL: UNSUPPORTED) */
    cosmos_status (*set_pos)(void *ctx, int64_t pos);
    cosmos_status (*store_rows)(void *ctx, struct cosmos_tensor dst, struct cosmos_tensor src, int pos0);
    cosmos_status (*add_rows)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor table,
                              int pos0);
    cosmos_status (*graph_begin)(void *ctx);
    cosmos_status (*graph_end)(void *ctx, void **graph);
    cosmos_status (*graph_launch)(void *ctx, void *graph);
    void (*graph_free)(void *ctx, void *graph);
    /* T5 encoder ops (NULL: the backend does not have them yet -> UNSUPPORTED). */
    cosmos_status (*matmul_f32w)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w);
    cosmos_status (*rmsnorm_f32w)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                                  float eps);
    cosmos_status (*relu)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x);
    cosmos_status (*attention_relbias)(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q,
                                       struct cosmos_tensor k, struct cosmos_tensor v, struct cosmos_tensor rel_bias,
                                       float scale);
    /* DV tokenizer ops (NULL: the backend does not have them yet -> UNSUPPORTED). */
    cosmos_status (*haar_patch)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int patch_size, float tap);
    cosmos_status (*haar_unpatch)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int patch_size,
                                  float tap);
    cosmos_status (*causal_conv3d)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                                   struct cosmos_tensor bias, const struct cosmos_conv3d_params *p);
    cosmos_status (*groupnorm_frames)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                      struct cosmos_tensor gamma, struct cosmos_tensor beta, float eps);
    cosmos_status (*swish)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x);
    cosmos_status (*copy_frames)(void *ctx, struct cosmos_tensor dst, int64_t dst_t0, struct cosmos_tensor src,
                                 int64_t src_t0, int64_t n);
    cosmos_status (*upsample_nearest2x)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x);
    cosmos_status (*pool_add)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int temporal);
    cosmos_status (*attention_1h)(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q, struct cosmos_tensor k,
                                  struct cosmos_tensor v, int temporal);
    cosmos_status (*fsq_quantize)(void *ctx, struct cosmos_tensor indices, struct cosmos_tensor codes,
                                  struct cosmos_tensor z, const int *levels, int n_levels);
    cosmos_status (*fsq_dequantize)(void *ctx, struct cosmos_tensor codes, struct cosmos_tensor indices,
                                    const int *levels, int n_levels);
    /* diffusion-decoder DiT ops (NULL: the backend does not have them yet -> UNSUPPORTED). */
    cosmos_status (*layernorm_modulate)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                        struct cosmos_tensor shift, struct cosmos_tensor scale, float eps);
    cosmos_status (*gelu)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x);
    cosmos_status (*add_gated)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b,
                               struct cosmos_tensor gate);
    /* the guardrail's vision models (NULL: UNSUPPORTED) */
    cosmos_status (*layernorm)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                               struct cosmos_tensor b, float eps);
    cosmos_status (*gelu_tanh)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x);
    cosmos_status (*add_bias)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor b);
    cosmos_status (*conv2d)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                            struct cosmos_tensor b, int k, int stride, int pad);
    cosmos_status (*leaky_relu)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, float slope);
    cosmos_status (*maxpool2d)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int k, int stride, int pad);
    cosmos_status (*add_upsampled_nearest)(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x);
};

struct cosmos_backend {
    char name[32];
    const struct cosmos_backend_ops *ops;
    void *ctx;
    enum cosmos_dtype act_dtype;
    int is_host;
    int device;   /* CUDA device index; -1 for backends without a device */
    void *stream; /* the cudaStream_t every op is ordered on; NULL without a device */
};

/* Constructors of the compiled-in backends. */
cosmos_status cosmos_backend_cpu_create(const struct cosmos_backend_params *params, cosmos_backend_t **out);
/* Provided by kernels/cuda/backend_cuda.c in CUDA builds and by core/backend_nocuda.c otherwise. */
cosmos_status cosmos_backend_cuda_create(int device, const struct cosmos_backend_params *params,
                                         cosmos_backend_t **out);

#endif
