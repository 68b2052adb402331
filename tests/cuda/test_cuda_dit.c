/* CUDA parity of the diffusion-decoder DiT (spec components.md 4.4; ggml test-backend-ops style):
 *  - the DiT ops swish, gelu, layernorm_modulate, add_gated (kernels/cuda/{swish,gelu,
 *    layernorm_modulate,add_gated}.cu) against the CPU ops (kernels/cpu), bf16 activations through
 *    the cosmos_op_* dispatchers on "cuda:0" and f32 activations through the cosmos_cuda_* launchers
 *    on the backend's stream, on seeded random inputs: model shapes (20480 tokens x 4096 channels),
 *    awkward ones (1 row, D = 1, odd D, D not a multiple of the 8-element vector, views at a 2- or
 *    4-byte offset that force the scalar paths, rows longer than the shared-memory staging of the
 *    LayerNorm, more rows than a grid dimension holds), the aliasing the contracts allow (y == x,
 *    y == a) and a row far from 0 (the LayerNorm's shifted mean);
 *  - the ops the DiT forward takes from the AR path at the DiT's shapes: non-causal attention over
 *    20480 queries x 20480 keys (H = Hkv = 32, Dh = 128) and the cross-attention over 512 context
 *    rows, QK-norm + RoPE with per-token tables, the per-head RMSNorm over rows of 128, the matmuls
 *    (the CPU reference on row subsets where a whole product would take minutes on a CPU);
 *  - the tiny DiT forward (tests/data/dd-tiny.h5) on "cuda:0" against the PyTorch reference
 *    (tests/data/dd-tiny.golden.h5), conditional and unconditional, within a bf16 tolerance.
 * Inputs of bf16 checks are bf16-representable, so both backends see the same numbers; the CPU op
 * keeps its f32 result, the CUDA op rounds it to bf16 once. Without a CUDA device every test
 * reports SKIPPED (cr_skip_test); tests/cuda/run_skippable.sh turns that into CTest's Skipped. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "core/backend.h"
#include "cuda_test_util.h"
#include "core/h5file.h"
#include "core/model/dit_config.h"
#include "core/model/dit_model.h"
#include "core/model/dit_weights.h"
#include "core/rng.h"
#include "cosmos_build_config.h"
#include "kernels/cuda/cuda_ops.h"

/* Tolerances, |cuda - cpu| <= atol + rtol * |cpu|:
 * bf16 elementwise / row ops: the f32 results agree to ~1e-6; the CUDA op rounds to bf16 once
 *   (half an ulp, up to 2^-8 relative) and a value near a rounding boundary may round either way:
 *   one bf16 ulp, 2^-7 relative at worst, plus an absolute floor for outputs near 0. */
#define BF16_RTOL 8e-3
#define BF16_ATOL 1e-5
/* f32 activations: erff / expf of the GPU (<= 2 ulp) vs glibc, FMA contraction, summation order. */
#define F32_RTOL 1e-5
#define F32_ATOL 1e-6
/* f32 LayerNorm: mean and variance in f32 tree sums (the CPU op sums in double), values up to ~10. */
#define F32_LN_RTOL 2e-5
#define F32_LN_ATOL 2e-5
/* bf16 matmul / attention / norms with a reduction inside (as tests/cuda/test_cuda_ops.c). */
#define RED_RTOL 1.6e-2
#define RED_ATOL 1e-2
/* Attention made peaky (q scaled so a handful of keys dominate): outputs of magnitude ~0.5, where an
 * absolute 1e-2 would hide errors. */
#define ATT_ATOL 2e-3
/* Tiny DiT: bf16 activations through every layer vs the f32 PyTorch reference, max |diff| over
 * max |ref|. A CPU emulation of bf16 activations (the CPU backend with every op output and the
 * inputs x, context rounded to bf16) gave 7.8e-3 (out_cond) and 7.0e-3 (out_uncond). */
#define DIT_REL 2e-2

#define LN_EPS 1e-6f /* the DiT's LayerNorm eps */

static cosmos_backend_t *cpu, *gpu;

static void open_backends(void) { cuda_test_open_backends(&cpu, &gpu); }
static void close_backends(void) { cuda_test_close_backends(&cpu, &gpu); }

/* offset + scale * normal(0, 1), seeded by stream; rounded to bf16 when dt is BF16 (then the CPU op
 * sees exactly what the GPU reads), full f32 bits otherwise. */
static float *rand_vals(int64_t n, uint64_t stream, float scale, float offset, enum cosmos_dtype dt) {
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    cr_assert(x);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float v = offset + scale * cosmos_rng_normal(4242, stream, (uint64_t)i);
        x[i] = dt == COSMOS_BF16 ? cosmos_round_bf16(v) : v;
    }
    return x;
}

/* A device buffer of n + off elements of dt holding host[0..n+off); the view starts off elements
 * in (an offset of 1 misaligns it for 16-byte vectors). Free the base, use the view. */
struct dbuf {
    void *base, *view;
};
static struct dbuf dev_put(const float *host, int64_t n, int64_t off, enum cosmos_dtype dt) {
    struct dbuf b = {NULL, NULL};
    const size_t es = cosmos_dtype_size(dt), bytes = es * (size_t)(n + off);
    cr_assert_eq(cosmos_backend_alloc(gpu, bytes, &b.base), COSMOS_OK);
    if (host) {
        if (dt == COSMOS_BF16) {
            cosmos_bf16 *h = malloc(bytes ? bytes : 1);
            cosmos_f32_to_bf16_n(h, host, (size_t)(n + off));
            cr_assert_eq(cosmos_backend_upload(gpu, b.base, h, bytes), COSMOS_OK);
            free(h);
        } else {
            cr_assert_eq(cosmos_backend_upload(gpu, b.base, host, bytes), COSMOS_OK);
        }
    }
    b.view = (char *)b.base + es * (size_t)off;
    return b;
}
static float *dev_get(const void *d, int64_t n, enum cosmos_dtype dt) {
    return cuda_test_download(gpu, d, n, dt);
}


static cudaStream_t gpu_stream(void) { return (cudaStream_t)cosmos_backend_stream(gpu); }

/* ------------------------------------------------------------------------ swish and gelu */

enum unary { SWISH, GELU };

/* y = f(x) over n elements; off: element offset of every device view; in_place: y is x. */
static void check_unary(enum unary op, int64_t n, enum cosmos_dtype dt, int64_t off, int in_place) {
    char what[128];
    const char *name = op == SWISH ? "swish" : "gelu";
    snprintf(what, sizeof what, "%s n=%lld %s off=%lld%s", name, (long long)n, cosmos_dtype_name(dt), (long long)off,
             in_place ? " in place" : "");
    float *x = rand_vals(n + off, op == SWISH ? 20 : 21, op == SWISH ? 4.0f : 3.0f, 0.0f, dt);
    if (n >= 8) { /* the tails of the curves: exp overflow (swish -> -0), erf saturation */
        const float special[] = {-100.0f, 100.0f, -20.0f, 20.0f, 0.0f, -0.0f, -9.0f, 9.0f};
        for (int i = 0; i < 8; i++) x[off + i * (n / 8)] = special[i];
    }
    float *y = malloc(sizeof(float) * (size_t)n);
    struct cosmos_tensor yc = cosmos_tensor_1d(y, COSMOS_F32, n), xc = cosmos_tensor_1d(x + off, COSMOS_F32, n);
    cr_assert_eq(op == SWISH ? cosmos_op_swish(cpu, yc, xc) : cosmos_op_gelu(cpu, yc, xc), COSMOS_OK, "%s (cpu)", what);
    struct dbuf dx = dev_put(x, n, off, dt), dy = in_place ? dx : dev_put(NULL, n, off, dt);
    if (dt == COSMOS_BF16) { /* the backend's activations: through the dispatcher */
        struct cosmos_tensor yg = cosmos_tensor_1d(dy.view, dt, n), xg = cosmos_tensor_1d(dx.view, dt, n);
        cr_assert_eq(op == SWISH ? cosmos_op_swish(gpu, yg, xg) : cosmos_op_gelu(gpu, yg, xg), COSMOS_OK, "%s", what);
    } else {
        cr_assert_eq(op == SWISH ? cosmos_cuda_swish(dy.view, dx.view, dt, n, gpu_stream())
                                 : cosmos_cuda_gelu(dy.view, dx.view, dt, n, gpu_stream()),
                     COSMOS_OK, "%s", what);
    }
    float *g = dev_get(dy.view, n, dt);
    cuda_test_compare(what, g, y, n, dt == COSMOS_BF16 ? BF16_ATOL : F32_ATOL,
                      dt == COSMOS_BF16 ? BF16_RTOL : F32_RTOL);
    if (!in_place) cosmos_backend_free_mem(gpu, dy.base);
    cosmos_backend_free_mem(gpu, dx.base);
    free(x), free(y), free(g);
}

static void unary_suite(enum unary op) {
    const enum cosmos_dtype dts[2] = {COSMOS_BF16, COSMOS_F32};
    for (int i = 0; i < 2; i++) {
        const enum cosmos_dtype dt = dts[i];
        check_unary(op, 1, dt, 0, 0);
        check_unary(op, 7, dt, 0, 1);               /* shorter than one vector */
        check_unary(op, 3 * 4096 + 5, dt, 0, 0);    /* vectors and a scalar tail */
        check_unary(op, 4099, dt, 1, 1);            /* misaligned view: scalar path, in place */
        check_unary(op, (1 << 20) + 3, dt, 0, 1);   /* in place, large */
        check_unary(op, 64 * 18, dt, 0, 1);         /* tiny DiT: [1, 64] timestep rows / [18, 256] MLP */
    }
    /* model shapes: the MLP hidden of 2048 tokens (bf16, vectors) and a misaligned view longer than the
     * grid-stride loop's first sweep (65536 blocks x 256 threads) */
    check_unary(op, 2048LL * 16384, COSMOS_BF16, 0, 1);
    check_unary(op, (1LL << 24) + (1LL << 20) + 1, COSMOS_BF16, 1, 0);
    check_unary(op, 4096, COSMOS_BF16, 0, 1); /* the timestep embedding [1, 4096] */
}

Test(cuda_dit, swish, .init = open_backends, .fini = close_backends, .timeout = 600) { unary_suite(SWISH); }
Test(cuda_dit, gelu, .init = open_backends, .fini = close_backends, .timeout = 600) { unary_suite(GELU); }

/* ------------------------------------------------------------------------ layernorm_modulate */

/* x [rows, D] with values offset + 2 N(0,1); shift N(0,1), scale 0.5 N(0,1) [D]. */
static void check_layernorm(int64_t rows, int64_t D, enum cosmos_dtype dt, int64_t off, int in_place, float offset) {
    char what[160];
    snprintf(what, sizeof what, "layernorm_modulate rows=%lld D=%lld %s off=%lld row offset %g%s", (long long)rows,
             (long long)D, cosmos_dtype_name(dt), (long long)off, (double)offset, in_place ? " in place" : "");
    const int64_t n = rows * D;
    float *x = rand_vals(n + off, 22, 2.0f, offset, dt), *sh = rand_vals(D + off, 23, 1.0f, 0.0f, dt),
          *sc = rand_vals(D + off, 24, 0.5f, 0.0f, dt), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_op_layernorm_modulate(cpu, cosmos_tensor_2d(y, COSMOS_F32, rows, D),
                                              cosmos_tensor_2d(x + off, COSMOS_F32, rows, D),
                                              cosmos_tensor_1d(sh + off, COSMOS_F32, D),
                                              cosmos_tensor_1d(sc + off, COSMOS_F32, D), LN_EPS),
                 COSMOS_OK, "%s (cpu)", what);
    struct dbuf dx = dev_put(x, n, off, dt), dsh = dev_put(sh, D, off, dt), dsc = dev_put(sc, D, off, dt);
    struct dbuf dy = in_place ? dx : dev_put(NULL, n, off, dt);
    if (dt == COSMOS_BF16)
        cr_assert_eq(cosmos_op_layernorm_modulate(gpu, cosmos_tensor_2d(dy.view, dt, rows, D),
                                                  cosmos_tensor_2d(dx.view, dt, rows, D),
                                                  cosmos_tensor_1d(dsh.view, dt, D), cosmos_tensor_1d(dsc.view, dt, D),
                                                  LN_EPS),
                     COSMOS_OK, "%s", what);
    else
        cr_assert_eq(cosmos_cuda_layernorm_modulate(dy.view, dx.view, dsh.view, dsc.view, dt, rows, D, LN_EPS,
                                                    gpu_stream()),
                     COSMOS_OK, "%s", what);
    float *g = dev_get(dy.view, n, dt);
    cuda_test_compare(what, g, y, n, dt == COSMOS_BF16 ? BF16_ATOL : F32_LN_ATOL,
                      dt == COSMOS_BF16 ? BF16_RTOL : F32_LN_RTOL);
    if (!in_place) cosmos_backend_free_mem(gpu, dy.base);
    cosmos_backend_free_mem(gpu, dx.base);
    cosmos_backend_free_mem(gpu, dsh.base);
    cosmos_backend_free_mem(gpu, dsc.base);
    free(x), free(sh), free(sc), free(y), free(g);
}

Test(cuda_dit, layernorm_modulate, .init = open_backends, .fini = close_backends, .timeout = 600) {
    const enum cosmos_dtype dts[2] = {COSMOS_BF16, COSMOS_F32};
    for (int i = 0; i < 2; i++) {
        const enum cosmos_dtype dt = dts[i];
        check_layernorm(1, 1, dt, 0, 0, 0.0f);       /* D = 1: LN is 0, y = shift */
        check_layernorm(18, 64, dt, 0, 1, 0.0f);     /* tiny DiT, in place as the model calls it */
        check_layernorm(7, 129, dt, 0, 0, 0.0f);     /* odd D */
        check_layernorm(3, 4095, dt, 0, 1, 0.0f);    /* not a multiple of the vector width */
        check_layernorm(5, 4096, dt, 1, 0, 0.0f);    /* misaligned views: scalar path */
        check_layernorm(1, 4096, dt, 0, 0, 0.0f);    /* one row of the model width */
        check_layernorm(2, 11264, dt, 0, 0, 0.0f);   /* the longest row staged in shared memory */
        check_layernorm(2, 11265, dt, 0, 0, 0.0f);   /* one longer: read from global memory, odd */
        check_layernorm(4, 20000, dt, 0, 1, 0.0f);   /* longer than the staging, vectors, in place */
        check_layernorm(3, 4096, dt, 0, 0, 30.0f);   /* rows far from 0: the shifted mean */
        check_layernorm(70, 4096, dt, 0, 1, -3.0f);
    }
    check_layernorm(4, 4096, COSMOS_F32, 0, 0, 1000.0f); /* f32 far from 0: a plain f32 sum would lose it */
    check_layernorm(20480, 4096, COSMOS_BF16, 0, 1, 0.0f); /* the 7B decoder's chunk: N x D, in place */
}

/* The dispatcher's views: x [2, 5, 64] (3-D) and shift, scale given as [1, 64]. */
Test(cuda_dit, layernorm_modulate_views, .init = open_backends, .fini = close_backends) {
    const int64_t A = 2, B = 5, D = 64, n = A * B * D;
    float *x = rand_vals(n, 25, 1.0f, 0.5f, COSMOS_BF16), *sh = rand_vals(D, 26, 1.0f, 0.0f, COSMOS_BF16),
          *sc = rand_vals(D, 27, 1.0f, 0.0f, COSMOS_BF16), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_op_layernorm_modulate(cpu, cosmos_tensor_3d(y, COSMOS_F32, A, B, D),
                                              cosmos_tensor_3d(x, COSMOS_F32, A, B, D),
                                              cosmos_tensor_2d(sh, COSMOS_F32, 1, D), cosmos_tensor_2d(sc, COSMOS_F32, 1, D),
                                              LN_EPS),
                 COSMOS_OK);
    struct dbuf dx = dev_put(x, n, 0, COSMOS_BF16), dsh = dev_put(sh, D, 0, COSMOS_BF16),
                dsc = dev_put(sc, D, 0, COSMOS_BF16), dy = dev_put(NULL, n, 0, COSMOS_BF16);
    cr_assert_eq(cosmos_op_layernorm_modulate(gpu, cosmos_tensor_3d(dy.view, COSMOS_BF16, A, B, D),
                                              cosmos_tensor_3d(dx.view, COSMOS_BF16, A, B, D),
                                              cosmos_tensor_2d(dsh.view, COSMOS_BF16, 1, D),
                                              cosmos_tensor_2d(dsc.view, COSMOS_BF16, 1, D), LN_EPS),
                 COSMOS_OK);
    float *g = dev_get(dy.view, n, COSMOS_BF16);
    cuda_test_compare("layernorm_modulate [2,5,64], vectors [1,64]", g, y, n, BF16_ATOL, BF16_RTOL);
    /* a dtype the kernels do not take is refused, not computed */
    cr_expect_eq(cosmos_cuda_layernorm_modulate(dy.view, dx.view, dsh.view, dsc.view, COSMOS_I32, A * B, D, LN_EPS,
                                                gpu_stream()),
                 COSMOS_ERR_UNSUPPORTED);
    cosmos_backend_free_mem(gpu, dx.base);
    cosmos_backend_free_mem(gpu, dsh.base);
    cosmos_backend_free_mem(gpu, dsc.base);
    cosmos_backend_free_mem(gpu, dy.base);
    free(x), free(sh), free(sc), free(y), free(g);
}

/* ------------------------------------------------------------------------ add_gated */

static void check_add_gated(int64_t rows, int64_t D, enum cosmos_dtype dt, int64_t off, int in_place) {
    char what[128];
    snprintf(what, sizeof what, "add_gated rows=%lld D=%lld %s off=%lld%s", (long long)rows, (long long)D,
             cosmos_dtype_name(dt), (long long)off, in_place ? " in place" : "");
    const int64_t n = rows * D;
    float *a = rand_vals(n + off, 28, 1.0f, 0.0f, dt), *b = rand_vals(n + off, 29, 2.0f, 0.0f, dt),
          *gt = rand_vals(D + off, 30, 0.7f, 0.0f, dt), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_op_add_gated(cpu, cosmos_tensor_2d(y, COSMOS_F32, rows, D),
                                     cosmos_tensor_2d(a + off, COSMOS_F32, rows, D),
                                     cosmos_tensor_2d(b + off, COSMOS_F32, rows, D),
                                     cosmos_tensor_1d(gt + off, COSMOS_F32, D)),
                 COSMOS_OK, "%s (cpu)", what);
    struct dbuf da = dev_put(a, n, off, dt), db = dev_put(b, n, off, dt), dg = dev_put(gt, D, off, dt);
    struct dbuf dy = in_place ? da : dev_put(NULL, n, off, dt);
    if (dt == COSMOS_BF16)
        cr_assert_eq(cosmos_op_add_gated(gpu, cosmos_tensor_2d(dy.view, dt, rows, D), cosmos_tensor_2d(da.view, dt, rows, D),
                                         cosmos_tensor_2d(db.view, dt, rows, D), cosmos_tensor_1d(dg.view, dt, D)),
                     COSMOS_OK, "%s", what);
    else
        cr_assert_eq(cosmos_cuda_add_gated(dy.view, da.view, db.view, dg.view, dt, rows, D, gpu_stream()), COSMOS_OK,
                     "%s", what);
    float *g = dev_get(dy.view, n, dt);
    /* f32: a + g*b may cancel; the absolute floor is an ulp of |g*b| ~ 8 */
    cuda_test_compare(what, g, y, n, dt == COSMOS_BF16 ? BF16_ATOL : 2e-6, dt == COSMOS_BF16 ? BF16_RTOL : F32_RTOL);
    if (!in_place) cosmos_backend_free_mem(gpu, dy.base);
    cosmos_backend_free_mem(gpu, da.base);
    cosmos_backend_free_mem(gpu, db.base);
    cosmos_backend_free_mem(gpu, dg.base);
    free(a), free(b), free(gt), free(y), free(g);
}

Test(cuda_dit, add_gated, .init = open_backends, .fini = close_backends, .timeout = 600) {
    const enum cosmos_dtype dts[2] = {COSMOS_BF16, COSMOS_F32};
    for (int i = 0; i < 2; i++) {
        const enum cosmos_dtype dt = dts[i];
        check_add_gated(1, 1, dt, 0, 0);
        check_add_gated(18, 64, dt, 0, 1);      /* tiny DiT, in place as the model calls it */
        check_add_gated(7, 129, dt, 0, 0);      /* odd D */
        check_add_gated(5, 4095, dt, 0, 1);     /* not a multiple of the vector width */
        check_add_gated(3, 4096, dt, 1, 0);     /* misaligned views: scalar path */
        check_add_gated(70000, 8, dt, 0, 1);    /* more rows than grid.y: the row loop */
        check_add_gated(1, 12289, dt, 0, 0);    /* several channel blocks */
    }
    check_add_gated(20480, 4096, COSMOS_BF16, 0, 1); /* the 7B decoder's chunk, in place */
}

/* ------------------------------------------------------- AR-path ops at the DiT's shapes */

/* Non-causal attention out [T,H,Dh] over k, v [S,H,Dh] (H = Hkv, the DiT's), on the GPU for all T
 * queries; the CPU reference for the query rows [t0, t0 + nt) of each slice (non-causal: a query's
 * output does not depend on the other queries). q scaled by q_scale: peaky softmax. */
static void check_attention_rows(int64_t T, int64_t S, int64_t H, int64_t Dh, float q_scale, const int64_t *t0s,
                                 int n_slices, int64_t nt) {
    char what[160];
    const int64_t nq = T * H * Dh, nk = S * H * Dh, row = H * Dh;
    float *q = rand_vals(nq, 31, q_scale, 0.0f, COSMOS_BF16), *k = rand_vals(nk, 32, 1.0f, 0.0f, COSMOS_BF16),
          *v = rand_vals(nk, 33, 1.0f, 0.0f, COSMOS_BF16), *o = malloc(sizeof(float) * (size_t)(nt * row));
    struct dbuf dq = dev_put(q, nq, 0, COSMOS_BF16), dk = dev_put(k, nk, 0, COSMOS_BF16),
                dv = dev_put(v, nk, 0, COSMOS_BF16), dout = dev_put(NULL, nq, 0, COSMOS_BF16);
    cr_assert_eq(cosmos_op_attention(gpu, cosmos_tensor_3d(dout.view, COSMOS_BF16, T, H, Dh),
                                     cosmos_tensor_3d(dq.view, COSMOS_BF16, T, H, Dh),
                                     cosmos_tensor_3d(dk.view, COSMOS_BF16, S, H, Dh),
                                     cosmos_tensor_3d(dv.view, COSMOS_BF16, S, H, Dh), 0, 0),
                 COSMOS_OK, "attention T=%lld S=%lld (cuda)", (long long)T, (long long)S);
    float *g = dev_get(dout.view, nq, COSMOS_BF16);
    for (int s = 0; s < n_slices; s++) {
        const int64_t t0 = t0s[s];
        cr_assert(t0 >= 0 && t0 + nt <= T);
        snprintf(what, sizeof what, "attention non-causal T=%lld S=%lld H=Hkv=%lld Dh=%lld q x%g, rows [%lld, %lld)",
                 (long long)T, (long long)S, (long long)H, (long long)Dh, (double)q_scale, (long long)t0,
                 (long long)(t0 + nt));
        cr_assert_eq(cosmos_op_attention(cpu, cosmos_tensor_3d(o, COSMOS_F32, nt, H, Dh),
                                         cosmos_tensor_3d(q + t0 * row, COSMOS_F32, nt, H, Dh),
                                         cosmos_tensor_3d(k, COSMOS_F32, S, H, Dh),
                                         cosmos_tensor_3d(v, COSMOS_F32, S, H, Dh), 0, 0),
                     COSMOS_OK);
        cuda_test_compare(what, g + t0 * row, o, nt * row, ATT_ATOL, RED_RTOL);
    }
    cosmos_backend_free_mem(gpu, dq.base);
    cosmos_backend_free_mem(gpu, dk.base);
    cosmos_backend_free_mem(gpu, dv.base);
    cosmos_backend_free_mem(gpu, dout.base);
    free(q), free(k), free(v), free(o), free(g);
}

Test(cuda_dit, attention_dit_shapes, .init = open_backends, .fini = close_backends, .timeout = 900) {
    /* the tiny DiT: 18 tokens, 4 heads of 16; cross-attention over 16 context rows */
    const int64_t all[1] = {0};
    check_attention_rows(18, 18, 4, 16, 2.0f, all, 1, 18);
    check_attention_rows(18, 16, 4, 16, 2.0f, all, 1, 18);
    /* mid-size self-attention, every row checked */
    check_attention_rows(1000, 1000, 32, 128, 2.5f, all, 1, 1000);
    /* the 7B decoder's chunk: 20480 tokens (8 x 40 x 64), self-attention over all 20480 keys and the
     * cross-attention over 512 context rows; the CPU checks the first, a middle and the last rows */
    const int64_t t0s[3] = {0, 10000, 20480 - 16};
    if (cuda_test_emulated()) {
        cr_log_info("emulator: the 7B chunk's attention (20480 tokens) left out");
        return;
    }
    check_attention_rows(20480, 20480, 32, 128, 3.0f, t0s, 3, 16);
    check_attention_rows(20480, 512, 32, 128, 2.5f, t0s, 3, 16);
}

/* QK-norm + RoPE of the DiT's self-attention: x [N, H, Dh], per-token tables [N, Dh/2] (the 3-D RoPE
 * angles, built on the host), pos0 0; against the CPU's rmsnorm then rope. */
static void check_qk_norm_rope_tokens(int64_t N, int64_t H, int64_t Dh) {
    char what[96];
    snprintf(what, sizeof what, "qk_norm_rope N=%lld H=%lld Dh=%lld per-token tables", (long long)N, (long long)H,
             (long long)Dh);
    const int64_t n = N * H * Dh, half = Dh / 2;
    float *x = rand_vals(n, 34, 3.0f, 0.0f, COSMOS_BF16), *w = rand_vals(Dh, 35, 1.0f, 0.0f, COSMOS_BF16);
    float *cs = malloc(sizeof(float) * (size_t)(N * half)), *sn = malloc(sizeof(float) * (size_t)(N * half));
    for (int64_t i = 0; i < N * half; i++) {
        const double th = 6.283185307 * cosmos_rng_uniform(4242, 36, (uint64_t)i);
        cs[i] = (float)cos(th);
        sn[i] = (float)sin(th);
    }
    cosmos_bf16 *wb = malloc(sizeof(cosmos_bf16) * (size_t)Dh);
    cosmos_f32_to_bf16_n(wb, w, (size_t)Dh);
    struct dbuf dx = dev_put(x, n, 0, COSMOS_BF16), dw = dev_put(w, Dh, 0, COSMOS_BF16),
                dc = dev_put(cs, N * half, 0, COSMOS_F32), ds = dev_put(sn, N * half, 0, COSMOS_F32);
    struct cosmos_tensor xc = cosmos_tensor_3d(x, COSMOS_F32, N, H, Dh);
    cr_assert_eq(cosmos_op_rmsnorm(cpu, xc, xc, cosmos_tensor_1d(wb, COSMOS_BF16, Dh), 1e-6f), COSMOS_OK);
    cr_assert_eq(cosmos_op_rope(cpu, xc, cosmos_tensor_2d(cs, COSMOS_F32, N, half),
                                cosmos_tensor_2d(sn, COSMOS_F32, N, half), 0),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_qk_norm_rope(gpu, cosmos_tensor_3d(dx.view, COSMOS_BF16, N, H, Dh),
                                        cosmos_tensor_1d(dw.view, COSMOS_BF16, Dh), 1e-6f,
                                        cosmos_tensor_2d(dc.view, COSMOS_F32, N, half),
                                        cosmos_tensor_2d(ds.view, COSMOS_F32, N, half), 0),
                 COSMOS_OK, "%s", what);
    float *g = dev_get(dx.view, n, COSMOS_BF16);
    cuda_test_compare(what, g, x, n, RED_ATOL, RED_RTOL);
    cosmos_backend_free_mem(gpu, dx.base);
    cosmos_backend_free_mem(gpu, dw.base);
    cosmos_backend_free_mem(gpu, dc.base);
    cosmos_backend_free_mem(gpu, ds.base);
    free(x), free(w), free(wb), free(cs), free(sn), free(g);
}

/* The cross-attention's per-head q/k RMSNorm: rows of Dh, in place. */
static void check_rmsnorm_rows(int64_t rows, int64_t Dh) {
    char what[96];
    snprintf(what, sizeof what, "rmsnorm rows=%lld D=%lld in place", (long long)rows, (long long)Dh);
    const int64_t n = rows * Dh;
    float *x = rand_vals(n, 37, 2.0f, 0.0f, COSMOS_BF16), *w = rand_vals(Dh, 38, 1.0f, 0.0f, COSMOS_BF16);
    cosmos_bf16 *wb = malloc(sizeof(cosmos_bf16) * (size_t)Dh);
    cosmos_f32_to_bf16_n(wb, w, (size_t)Dh);
    struct dbuf dx = dev_put(x, n, 0, COSMOS_BF16), dw = dev_put(w, Dh, 0, COSMOS_BF16);
    struct cosmos_tensor xc = cosmos_tensor_2d(x, COSMOS_F32, rows, Dh);
    cr_assert_eq(cosmos_op_rmsnorm(cpu, xc, xc, cosmos_tensor_1d(wb, COSMOS_BF16, Dh), 1e-6f), COSMOS_OK);
    struct cosmos_tensor xg = cosmos_tensor_2d(dx.view, COSMOS_BF16, rows, Dh);
    cr_assert_eq(cosmos_op_rmsnorm(gpu, xg, xg, cosmos_tensor_1d(dw.view, COSMOS_BF16, Dh), 1e-6f), COSMOS_OK);
    float *g = dev_get(dx.view, n, COSMOS_BF16);
    cuda_test_compare(what, g, x, n, RED_ATOL, RED_RTOL);
    cosmos_backend_free_mem(gpu, dx.base);
    cosmos_backend_free_mem(gpu, dw.base);
    free(x), free(w), free(wb), free(g);
}

Test(cuda_dit, norms_dit_shapes, .init = open_backends, .fini = close_backends, .timeout = 600) {
    const int emu = cuda_test_emulated();
    if (emu) cr_log_info("emulator: the 7B chunk's QK-norm + RoPE and CA q-norm (20480 tokens) left out");
    check_qk_norm_rope_tokens(18, 4, 16);                /* tiny DiT */
    if (!emu) check_qk_norm_rope_tokens(20480, 32, 128); /* 7B chunk */
    check_rmsnorm_rows(18 * 4, 16);
    if (!emu) check_rmsnorm_rows(20480LL * 32, 128);     /* CA q-norm of a 7B chunk: 655360 rows */
    check_rmsnorm_rows(512 * 32, 128);         /* CA k-norm over the context */
    check_rmsnorm_rows(1, 4096);               /* affline_norm of the timestep embedding */
}

/* y [M, N] = x [M, K] . w [N, K]^T on the GPU; the CPU reference on the first and last `sub` rows. */
static void check_matmul_rows(int64_t M, int64_t N, int64_t K, int64_t sub) {
    char what[128];
    if (sub > M) sub = M;
    float *x = rand_vals(M * K, 39, 1.0f, 0.0f, COSMOS_BF16),
          *w = rand_vals(N * K, 40, 1.0f / sqrtf((float)K), 0.0f, COSMOS_BF16);
    cosmos_bf16 *wb = malloc(sizeof(cosmos_bf16) * (size_t)(N * K));
    cosmos_f32_to_bf16_n(wb, w, (size_t)(N * K));
    struct dbuf dx = dev_put(x, M * K, 0, COSMOS_BF16), dw = dev_put(w, N * K, 0, COSMOS_BF16),
                dy = dev_put(NULL, M * N, 0, COSMOS_BF16);
    cr_assert_eq(cosmos_op_matmul(gpu, cosmos_tensor_2d(dy.view, COSMOS_BF16, M, N),
                                  cosmos_tensor_2d(dx.view, COSMOS_BF16, M, K), cosmos_tensor_2d(dw.view, COSMOS_BF16, N, K)),
                 COSMOS_OK, "matmul M=%lld N=%lld K=%lld (cuda)", (long long)M, (long long)N, (long long)K);
    float *g = dev_get(dy.view, M * N, COSMOS_BF16), *y = malloc(sizeof(float) * (size_t)(sub * N));
    const int64_t r0s[2] = {0, M - sub};
    for (int s = 0; s < (M > sub ? 2 : 1); s++) {
        const int64_t r0 = r0s[s];
        snprintf(what, sizeof what, "matmul M=%lld N=%lld K=%lld rows [%lld, %lld)", (long long)M, (long long)N,
                 (long long)K, (long long)r0, (long long)(r0 + sub));
        cr_assert_eq(cosmos_op_matmul(cpu, cosmos_tensor_2d(y, COSMOS_F32, sub, N),
                                      cosmos_tensor_2d(x + r0 * K, COSMOS_F32, sub, K),
                                      cosmos_tensor_2d(wb, COSMOS_BF16, N, K)),
                     COSMOS_OK);
        cuda_test_compare(what, g + r0 * N, y, sub * N, RED_ATOL, RED_RTOL);
    }
    cosmos_backend_free_mem(gpu, dx.base);
    cosmos_backend_free_mem(gpu, dw.base);
    cosmos_backend_free_mem(gpu, dy.base);
    free(x), free(w), free(wb), free(g), free(y);
}

Test(cuda_dit, matmul_dit_shapes, .init = open_backends, .fini = close_backends, .timeout = 600) {
    /* tiny DiT: x_embedder K = (4 + 8 + 1) * 4 = 52 (rows of 104 bytes), final layer, adaLN, MLP */
    check_matmul_rows(18, 64, 52, 18);
    check_matmul_rows(18, 16, 64, 18);
    check_matmul_rows(1, 16, 64, 1);
    check_matmul_rows(1, 192, 16, 1);
    check_matmul_rows(18, 256, 64, 18);
    /* 7B: x_embedder K = (16 + 32 + 1) * 4 = 196 over a whole chunk, q/k/v/out, MLP up and down, the
     * final layer (64 outputs), the CA K/V over the context, adaLN-LoRA (r = 256) and the timestep MLP */
    if (cuda_test_emulated()) {
        cr_log_info("emulator: the 7B chunk's matmuls (M >= 2048) left out");
    } else {
        check_matmul_rows(20480, 4096, 196, 32);
        check_matmul_rows(20480, 4096, 4096, 32);
        check_matmul_rows(2048, 16384, 4096, 32);
        check_matmul_rows(2048, 4096, 16384, 32);
        check_matmul_rows(20480, 64, 4096, 32);
    }
    check_matmul_rows(512, 4096, 1024, 32);
    check_matmul_rows(1, 256, 4096, 1);
    check_matmul_rows(1, 12288, 256, 1);
    check_matmul_rows(1, 4096, 4096, 1);
}

/* ------------------------------------------------------------------------ the tiny DiT */

/* The fixtures: under COSMOS_SOURCE_DIR from the environment when set (a bundle run elsewhere,
 * docs/gpu-checks.md), else the source tree this was built from. */
static const char *source_dir(void) {
    const char *e = getenv("COSMOS_SOURCE_DIR");
    return e && *e ? e : COSMOS_SOURCE_DIR;
}

static float *read_f32(cosmos_h5_t *h, const char *name, struct cosmos_h5_info *info) {
    cr_assert(cosmos_h5_has_dataset(h, name), "golden file lacks /%s", name);
    cr_assert_eq(cosmos_h5_info(h, name, info), COSMOS_OK, "%s", name);
    int64_t n = 1;
    for (int d = 0; d < info->ndim; d++) n *= info->shape[d];
    float *p = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_h5_read(h, name, COSMOS_F32, p), COSMOS_OK, "%s", name);
    return p;
}

/* max |got - ref| / max |ref| within tol; prints the first mismatches */
static void compare_rel_max(const char *what, const float *got, const float *ref, int64_t n, double tol) {
    double md = 0, mr = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - ref[i]);
        md = d > md || isnan(d) ? d : md;
        mr = fmax(mr, fabs((double)ref[i]));
    }
    int shown = 0;
    for (int64_t i = 0; i < n && shown < 5; i++)
        if (!(fabs((double)got[i] - ref[i]) <= tol * mr)) {
            cr_log_error("%s[%lld]: cuda %g, reference %g", what, (long long)i, got[i], ref[i]);
            shown++;
        }
    cr_log_info("%s: max|diff| %.3g, max|ref| %.3g, relative %.3g", what, md, mr, md / mr);
    cr_expect(md <= tol * mr, "%s: max|diff| %.3g is beyond %g x max|ref| %.3g", what, md, tol, mr);
}

Test(cuda_dit, tiny_dit_forward_golden, .init = open_backends, .fini = close_backends) {
    char path[1024];
    cosmos_h5_t *g = NULL, *h5 = NULL;
    struct cosmos_h5_info i;
    snprintf(path, sizeof path, "%s/tests/data/dd-tiny.golden.h5", source_dir());
    cr_assert_eq(cosmos_h5_open(path, &g), COSMOS_OK, "%s", path);
    float *x = read_f32(g, "x", &i);
    cr_assert_eq(i.ndim, 4);
    const int64_t T = i.shape[1], H = i.shape[2], W = i.shape[3];
    float *ctx = read_f32(g, "context", &i);
    const int64_t L = i.shape[0];
    float *out_cond = read_f32(g, "out_cond", &i), *out_uncond = read_f32(g, "out_uncond", &i);
    float *c_noise = read_f32(g, "c_noise", &i), *fps = read_f32(g, "fps", &i);
    cr_assert_eq(cosmos_h5_info(g, "tokens", &i), COSMOS_OK);
    const int64_t Ht = i.shape[1], Wt = i.shape[2];
    int32_t *tokens = malloc(sizeof(int32_t) * (size_t)(T * Ht * Wt));
    cr_assert_eq(cosmos_h5_read(g, "tokens", COSMOS_I32, tokens), COSMOS_OK);
    cosmos_h5_close(g);

    snprintf(path, sizeof path, "%s/tests/data/dd-tiny.h5", source_dir());
    cr_assert_eq(cosmos_h5_open(path, &h5), COSMOS_OK, "%s", path);
    struct cosmos_dit_config c;
    cosmos_dit_t *m = NULL;
    cr_assert_eq(cosmos_dit_read_header(h5, &c), COSMOS_OK);
    cr_assert_eq(cosmos_dit_load(gpu, h5, &c, &m), COSMOS_OK, "dd-tiny on cuda:0");
    const int64_t n = (int64_t)c.out_channels * T * H * W;
    float *out = malloc(sizeof(float) * (size_t)n);
    /* conditional, unconditional (the CA sub-blocks skipped), conditional again (the cached
     * cross-attention K/V rebuilt after the context changed) */
    for (int pass = 0; pass < 3; pass++) {
        const int cond = pass != 1;
        memset(out, 0xff, sizeof(float) * (size_t)n); /* NaN: a forward that writes nothing fails */
        cr_assert_eq(cosmos_dit_forward(m, x, T, H, W, c_noise[0], cond ? ctx : NULL, cond ? L : 0,
                                        cond ? tokens : NULL, Ht, Wt, fps[0], out),
                     COSMOS_OK, "tiny DiT forward on cuda:0, pass %d", pass);
        char what[64];
        snprintf(what, sizeof what, "dd-tiny %s (cuda:0, pass %d)", cond ? "out_cond" : "out_uncond", pass);
        compare_rel_max(what, out, cond ? out_cond : out_uncond, n, DIT_REL);
    }
    cosmos_dit_free(m);
    cosmos_h5_close(h5);
    free(x), free(ctx), free(out_cond), free(out_uncond), free(c_noise), free(fps), free(tokens), free(out);
}
