/* The CPU backend: host memory, synchronous ops, f32 activations, bf16 weights used in place
 * (they may point into a read-only mmap of the weight file). Wires cosmos_backend_ops to the
 * reference kernels of cpu_ops.h. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "core/backend_impl.h"
#include "core/log.h"
#include "core/model/sampler.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_ops_t5.h"
#include "kernels/cpu/cpu_ops_vision.h"
#include "kernels/cpu/cpu_ops_dit.h"
#include "kernels/cpu/cpu_sgemm.h"

struct cpu_ctx {
    int n_threads;
    int64_t pos; /* the position cell (COSMOS_POS_DEVICE arguments read it) */
    cosmos_sampler_t *sampler; /* kept between decode steps (its buffers), remade for another vocab size */
};

/* A position argument (the cell for COSMOS_POS_DEVICE) for n rows of an [S, ...] table or cache;
 * -1 when [pos, pos + n) does not fit (a device position is only checked here, when it is used). */
static int64_t cpu_pos(void *ctx, int64_t pos0, int64_t n, int64_t S) {
    const int64_t pos = pos0 == COSMOS_POS_DEVICE ? ((struct cpu_ctx *)ctx)->pos : pos0;
    return pos >= 0 && pos + n <= S ? pos : -1;
}
static cosmos_status cpu_set_pos(void *ctx, int64_t pos) {
    ((struct cpu_ctx *)ctx)->pos = pos;
    return COSMOS_OK;
}

static void cpu_free_ctx(void *ctx) {
    struct cpu_ctx *c = ctx;
    if (c) cosmos_sampler_free(c->sampler);
    free(c);
}

static cosmos_status cpu_alloc(void *ctx, size_t bytes, void **ptr) {
    (void)ctx;
    size_t sz = (bytes + 63) & ~(size_t)63;
    if (sz == 0) sz = 64;
    void *p = aligned_alloc(64, sz);
    if (!p) {
        LOG_ERROR("cpu backend: cannot allocate %zu bytes", bytes);
        return COSMOS_ERR_NOMEM;
    }
    memset(p, 0, sz);
    *ptr = p;
    return COSMOS_OK;
}
static void cpu_free_mem(void *ctx, void *ptr) {
    (void)ctx;
    free(ptr);
}
static cosmos_status cpu_memcpy(void *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    if (bytes) memmove(dst, src, bytes);
    return COSMOS_OK;
}
static cosmos_status cpu_sync(void *ctx) {
    (void)ctx;
    return COSMOS_OK;
}

static cosmos_status cpu_matmul(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w) {
    (void)ctx;
    return cosmos_cpu_matmul(y.data, x.data, w.data, x.shape[0], w.shape[0], w.shape[1]);
}
static cosmos_status cpu_rmsnorm(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                                 float eps) {
    (void)ctx;
    cosmos_cpu_rmsnorm(y.data, x.data, w.data, x.shape[0], x.shape[1], eps);
    return COSMOS_OK;
}
static cosmos_status cpu_rope(void *ctx, struct cosmos_tensor x, struct cosmos_tensor c, struct cosmos_tensor s,
                              int pos0) {
    if (c.dtype != COSMOS_F32) return COSMOS_ERR_UNSUPPORTED;
    const int64_t pos = cpu_pos(ctx, pos0, x.shape[0], c.shape[0]);
    if (pos < 0) return COSMOS_ERR_INVALID_ARG;
    cosmos_cpu_rope(x.data, c.data, s.data, x.shape[0], x.shape[1], x.shape[2], (int)pos);
    return COSMOS_OK;
}
static cosmos_status cpu_embedding(void *ctx, struct cosmos_tensor y, struct cosmos_tensor table,
                                   struct cosmos_tensor ids) {
    (void)ctx;
    cosmos_cpu_embedding(y.data, table.data, table.shape[0], ids.data, ids.shape[0], table.shape[1]);
    return COSMOS_OK;
}
static cosmos_status cpu_add(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b) {
    (void)ctx;
    if (b.dtype == COSMOS_I32) return COSMOS_ERR_UNSUPPORTED;
    cosmos_cpu_add(y.data, a.data, b.data, b.dtype, cosmos_tensor_numel(&y));
    return COSMOS_OK;
}
static cosmos_status cpu_silu_mul(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b) {
    (void)ctx;
    cosmos_cpu_silu_mul(y.data, a.data, b.data, cosmos_tensor_numel(&y));
    return COSMOS_OK;
}
static cosmos_status cpu_attention(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q,
                                   struct cosmos_tensor k, struct cosmos_tensor v, int pos0, int causal) {
    if (k.dtype == COSMOS_I32) return COSMOS_ERR_UNSUPPORTED;
    const int64_t pos = causal ? cpu_pos(ctx, pos0, q.shape[0], k.shape[0]) : 0;
    if (pos < 0) return COSMOS_ERR_INVALID_ARG;
    return cosmos_cpu_attention(out.data, q.data, k.data, v.data, k.dtype, q.shape[0], q.shape[1], k.shape[1],
                                q.shape[2], k.shape[0], pos, causal);
}
/* The host sampler itself, kept in the context so a decode step allocates nothing. */
static cosmos_status cpu_sample(void *ctx, struct cosmos_tensor token, struct cosmos_tensor logits,
                                const struct cosmos_sampler_params *p, int64_t position) {
    struct cpu_ctx *c = ctx;
    const int V = (int)cosmos_tensor_numel(&logits);
    cosmos_status st = COSMOS_OK;
    if (position == COSMOS_POS_DEVICE) position = c->pos + 1;
    if (c->sampler && cosmos_sampler_n_vocab(c->sampler) == V) {
        st = cosmos_sampler_set_params(c->sampler, p);
    } else {
        cosmos_sampler_free(c->sampler);
        c->sampler = NULL;
        st = cosmos_sampler_init(p, V, &c->sampler);
    }
    if (st != COSMOS_OK) return st;
    *(int32_t *)token.data = cosmos_sampler_sample(c->sampler, logits.data, position);
    if (cosmos_tensor_numel(&token) == 2) { /* the non-finite flag (backend.h) */
        const float *x = logits.data;
        int bad = 0;
        for (int i = 0; i < V && !bad; i++) bad = !isfinite(x[i]);
        ((int32_t *)token.data)[1] = bad;
    }
    return COSMOS_OK;
}
static cosmos_status cpu_store_rows(void *ctx, struct cosmos_tensor dst, struct cosmos_tensor src, int pos0) {
    const int64_t pos = cpu_pos(ctx, pos0, src.shape[0], dst.shape[0]);
    if (pos < 0) return COSMOS_ERR_INVALID_ARG;
    memcpy(cosmos_tensor_rows(dst, pos, src.shape[0]).data, src.data, cosmos_tensor_bytes(&src));
    return COSMOS_OK;
}
static cosmos_status cpu_add_rows(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a,
                                  struct cosmos_tensor table, int pos0) {
    const int64_t pos = cpu_pos(ctx, pos0, y.shape[0], table.shape[0]);
    if (pos < 0) return COSMOS_ERR_INVALID_ARG;
    cosmos_cpu_add(y.data, a.data, cosmos_tensor_rows(table, pos, y.shape[0]).data, table.dtype,
                   cosmos_tensor_numel(&y));
    return COSMOS_OK;
}
static cosmos_status cpu_copy(void *ctx, struct cosmos_tensor dst, struct cosmos_tensor src) {
    (void)ctx;
    size_t n = (size_t)cosmos_tensor_numel(&dst);
    if (dst.dtype == src.dtype)
        memmove(dst.data, src.data, n * cosmos_dtype_size(dst.dtype));
    else if (dst.dtype == COSMOS_BF16)
        cosmos_f32_to_bf16_n(dst.data, src.data, n);
    else
        cosmos_bf16_to_f32_n(dst.data, src.data, n);
    return COSMOS_OK;
}

static cosmos_status cpu_matmul_f32w(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w) {
    (void)ctx;
    cosmos_cpu_matmul_f32w(y.data, x.data, w.data, x.shape[0], w.shape[0], w.shape[1]);
    return COSMOS_OK;
}
static cosmos_status cpu_rmsnorm_f32w(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                      struct cosmos_tensor w, float eps) {
    (void)ctx;
    cosmos_cpu_rmsnorm_f32w(y.data, x.data, w.data, x.shape[0], x.shape[1], eps);
    return COSMOS_OK;
}
static cosmos_status cpu_relu(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    (void)ctx;
    cosmos_cpu_relu(y.data, x.data, cosmos_tensor_numel(&y));
    return COSMOS_OK;
}
static cosmos_status cpu_attention_relbias(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q,
                                           struct cosmos_tensor k, struct cosmos_tensor v,
                                           struct cosmos_tensor rel_bias, float scale) {
    (void)ctx;
    return cosmos_cpu_attention_relbias(out.data, q.data, k.data, v.data, rel_bias.data, q.shape[0], k.shape[0],
                                        q.shape[1], q.shape[2], scale);
}

/* DV tokenizer ops (spec components.md 2.4-2.7): [C,T,H,W] f32 videos. */
static cosmos_status cpu_haar_patch(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int patch_size,
                                    float tap) {
    (void)ctx;
    return cosmos_cpu_haar_patch(y.data, x.data, x.shape[0], x.shape[1], x.shape[2], x.shape[3], patch_size, tap);
}
static cosmos_status cpu_haar_unpatch(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int patch_size,
                                      float tap) {
    (void)ctx;
    return cosmos_cpu_haar_unpatch(y.data, x.data, x.shape[0], x.shape[1], x.shape[2], x.shape[3], patch_size, tap);
}
static cosmos_status cpu_causal_conv3d(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                       struct cosmos_tensor w, struct cosmos_tensor bias,
                                       const struct cosmos_conv3d_params *p) {
    (void)ctx;
    struct cosmos_cpu_conv3d_shape s = {x.shape[0], w.shape[0], x.shape[1], x.shape[2], x.shape[3],
                                        p->kt, p->kh, p->kw, p->time_pad, p->stride_t, p->stride_s,
                                        p->pad_lo, p->pad_hi};
    return cosmos_cpu_causal_conv3d(y.data, x.data, w.data, bias.data, w.dtype, &s);
}
static cosmos_status cpu_groupnorm_frames(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                          struct cosmos_tensor gamma, struct cosmos_tensor beta, float eps) {
    (void)ctx;
    cosmos_cpu_groupnorm_frames(y.data, x.data, gamma.data, beta.data, gamma.dtype, x.shape[0], x.shape[1],
                                x.shape[2] * x.shape[3], eps);
    return COSMOS_OK;
}
static cosmos_status cpu_copy_frames(void *ctx, struct cosmos_tensor dst, int64_t dst_t0, struct cosmos_tensor src,
                                     int64_t src_t0, int64_t n) {
    (void)ctx;
    cosmos_cpu_copy_frames(dst.data, dst.shape[1], dst_t0, src.data, src.shape[1], src_t0, n, src.shape[0],
                           src.shape[2] * src.shape[3]);
    return COSMOS_OK;
}
static cosmos_status cpu_upsample_nearest2x(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    (void)ctx;
    cosmos_cpu_upsample_nearest2x(y.data, x.data, x.shape[0] * x.shape[1], x.shape[2], x.shape[3]);
    return COSMOS_OK;
}
static cosmos_status cpu_pool_add(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int temporal) {
    (void)ctx;
    cosmos_cpu_pool_add(y.data, x.data, x.shape[0], x.shape[1], x.shape[2], x.shape[3], y.shape[1], y.shape[2],
                        y.shape[3], temporal);
    return COSMOS_OK;
}
static cosmos_status cpu_attention_1h(void *ctx, struct cosmos_tensor out, struct cosmos_tensor q,
                                      struct cosmos_tensor k, struct cosmos_tensor v, int temporal) {
    (void)ctx;
    return cosmos_cpu_attention_1h(out.data, q.data, k.data, v.data, q.shape[0], q.shape[1], k.shape[1],
                                   q.shape[2] * q.shape[3], temporal);
}
static cosmos_status cpu_swish(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    (void)ctx;
    cosmos_cpu_swish(y.data, x.data, cosmos_tensor_numel(&x));
    return COSMOS_OK;
}
static cosmos_status cpu_fsq_quantize(void *ctx, struct cosmos_tensor indices, struct cosmos_tensor codes,
                                      struct cosmos_tensor z, const int *levels, int n_levels) {
    (void)ctx;
    cosmos_cpu_fsq_quantize(indices.data, codes.data, z.data, levels, n_levels, cosmos_tensor_numel(&indices));
    return COSMOS_OK;
}
static cosmos_status cpu_fsq_dequantize(void *ctx, struct cosmos_tensor codes, struct cosmos_tensor indices,
                                        const int *levels, int n_levels) {
    (void)ctx;
    return cosmos_cpu_fsq_dequantize(codes.data, indices.data, levels, n_levels, cosmos_tensor_numel(&indices));
}

/* Diffusion-decoder DiT ops (spec components.md 4.4): rows [R, D] f32, per-channel vectors [D]. */
static cosmos_status cpu_layernorm_modulate(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x,
                                            struct cosmos_tensor shift, struct cosmos_tensor scale, float eps) {
    (void)ctx;
    cosmos_cpu_layernorm_modulate(y.data, x.data, shift.data, scale.data, x.shape[0], x.shape[1], eps);
    return COSMOS_OK;
}
static cosmos_status cpu_layernorm(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                                   struct cosmos_tensor b, float eps) {
    (void)ctx;
    cosmos_cpu_layernorm(y.data, x.data, w.data, b.data, x.shape[0], x.shape[1], (double)eps);
    return COSMOS_OK;
}
static cosmos_status cpu_gelu_tanh(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    (void)ctx;
    cosmos_cpu_gelu_tanh(y.data, x.data, cosmos_tensor_numel(&x));
    return COSMOS_OK;
}
static cosmos_status cpu_add_bias(void *ctx, struct cosmos_tensor y, struct cosmos_tensor b) {
    (void)ctx;
    cosmos_cpu_add_bias(y.data, b.data, y.shape[0], y.shape[1]);
    return COSMOS_OK;
}
static cosmos_status cpu_conv2d(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, struct cosmos_tensor w,
                                struct cosmos_tensor b, int k, int stride, int pad) {
    (void)ctx;
    float *col = NULL;
    size_t col_n = 0;
    const cosmos_status st = cosmos_cpu_conv2d(y.data, x.data, w.data, b.data, (int)x.shape[0], (int)x.shape[1],
                                               (int)x.shape[2], (int)y.shape[0], k, stride, pad, 0, 0.0f, &col, &col_n);
    free(col);
    return st;
}
static cosmos_status cpu_leaky_relu(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, float slope) {
    (void)ctx;
    cosmos_cpu_leaky_relu(y.data, x.data, cosmos_tensor_numel(&x), slope);
    return COSMOS_OK;
}
static cosmos_status cpu_maxpool2d(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x, int k, int stride,
                                   int pad) {
    (void)ctx;
    cosmos_cpu_maxpool2d(y.data, x.data, (int)x.shape[0], (int)x.shape[1], (int)x.shape[2], k, stride, pad);
    return COSMOS_OK;
}
static cosmos_status cpu_add_upsampled_nearest(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    (void)ctx;
    cosmos_cpu_add_upsampled_nearest(y.data, (int)y.shape[0], (int)y.shape[1], (int)y.shape[2], x.data,
                                     (int)x.shape[1], (int)x.shape[2]);
    return COSMOS_OK;
}
static cosmos_status cpu_gelu(void *ctx, struct cosmos_tensor y, struct cosmos_tensor x) {
    (void)ctx;
    cosmos_cpu_gelu(y.data, x.data, cosmos_tensor_numel(&x));
    return COSMOS_OK;
}
static cosmos_status cpu_add_gated(void *ctx, struct cosmos_tensor y, struct cosmos_tensor a, struct cosmos_tensor b,
                                   struct cosmos_tensor gate) {
    (void)ctx;
    cosmos_cpu_add_gated(y.data, a.data, b.data, gate.data, a.shape[0], a.shape[1]);
    return COSMOS_OK;
}

static const struct cosmos_backend_ops cpu_ops = {
    .free_ctx = cpu_free_ctx,
    .alloc = cpu_alloc,
    .free_mem = cpu_free_mem,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .sync = cpu_sync,
    .matmul = cpu_matmul,
    .rmsnorm = cpu_rmsnorm,
    .rope = cpu_rope,
    .embedding = cpu_embedding,
    .add = cpu_add,
    .silu_mul = cpu_silu_mul,
    .attention = cpu_attention,
    .copy = cpu_copy,
    .sample = cpu_sample,
    .set_pos = cpu_set_pos,
    .store_rows = cpu_store_rows,
    .add_rows = cpu_add_rows,
    .matmul_f32w = cpu_matmul_f32w,
    .rmsnorm_f32w = cpu_rmsnorm_f32w,
    .relu = cpu_relu,
    .attention_relbias = cpu_attention_relbias,
    .haar_patch = cpu_haar_patch,
    .haar_unpatch = cpu_haar_unpatch,
    .causal_conv3d = cpu_causal_conv3d,
    .groupnorm_frames = cpu_groupnorm_frames,
    .swish = cpu_swish,
    .attention_1h = cpu_attention_1h,
    .pool_add = cpu_pool_add,
    .copy_frames = cpu_copy_frames,
    .upsample_nearest2x = cpu_upsample_nearest2x,
    .fsq_quantize = cpu_fsq_quantize,
    .fsq_dequantize = cpu_fsq_dequantize,
    .layernorm = cpu_layernorm,
    .gelu_tanh = cpu_gelu_tanh,
    .add_bias = cpu_add_bias,
    .conv2d = cpu_conv2d,
    .leaky_relu = cpu_leaky_relu,
    .maxpool2d = cpu_maxpool2d,
    .add_upsampled_nearest = cpu_add_upsampled_nearest,
    .layernorm_modulate = cpu_layernorm_modulate,
    .gelu = cpu_gelu,
    .add_gated = cpu_add_gated,
};

cosmos_status cosmos_backend_cpu_create(const struct cosmos_backend_params *params, cosmos_backend_t **out) {
    struct cosmos_backend *be = calloc(1, sizeof *be);
    struct cpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (!be || !ctx) {
        free(be);
        free(ctx);
        return COSMOS_ERR_NOMEM;
    }
    ctx->n_threads = params->n_threads > 0 ? params->n_threads : omp_get_max_threads();
    omp_set_num_threads(ctx->n_threads);
    cosmos_cpu_blas_single_threaded(); /* the GEMMs split over the OpenMP threads: kernels/cpu/sgemm.c */
    snprintf(be->name, sizeof be->name, "cpu");
    be->ops = &cpu_ops;
    be->ctx = ctx;
    be->act_dtype = COSMOS_F32;
    be->is_host = 1;
    *out = be;
    return COSMOS_OK;
}
