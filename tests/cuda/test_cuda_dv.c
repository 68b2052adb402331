/* CUDA parity of the DV tokenizer ops (spec components.md 2.4-2.7; ggml test-backend-ops style):
 * kernels/cuda/{haar,causal_conv3d,groupnorm_frames,attention_1h,fsq}.cu against the CPU ops (kernels/cpu), bf16
 * activations through the cosmos_op_* dispatchers on "cuda:0" (the backend's activations) and,
 * where the launcher takes them, f32 activations through the cosmos_cuda_* launchers on the
 * backend's stream, on seeded random inputs:
 *  - Haar patch / unpatch at patch sizes 1, 2, 4, frame counts that make a level's time axis odd
 *    (the reflect padding), one frame, the stored-checkpoint tap;
 *  - the causal conv's kinds in the tokenizer: (1,3,3) pad 1, (3,1,1) with the causal time pad,
 *    (3,3,3), 1x1x1, the downsamples (spatial stride 2 with pad 0/1, time stride 2), K not a
 *    multiple of 8 (the zero-padded columns), odd Cout, f32 weights, and output positions cut into
 *    many chunks (a small im2col budget through the launcher);
 *  - GroupNorm per frame: frames spread over many blocks, values far from 0 (the two-pass
 *    variance), y == x, bf16 and f32 parameters;
 *  - the AttnBlocks' single-head attention, spatial (up to 300 tokens a frame, C up to 512) and
 *    temporal (whole clip, and new frames over a longer key cache), plain and peaky;
 *  - FSQ quantize (indices equal to the CPU's, codes exact) and dequantize (all 64000 indices of
 *    DV8x16x16's levels), and an out-of-range index refused with INVALID_ARG;
 *  - on a GPU only, a conv and a GroupNorm at the tokenizer's full-resolution sizes.
 * Inputs are bf16-representable, so both backends see the same numbers. Without a CUDA device
 * every test reports SKIPPED (tests/cuda/run_skippable.sh). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/model/dv_config.h"
#include "core/model/dv_decoder.h"
#include "core/model/dv_encoder.h"
#include "core/model/dv_weights.h"
#include "core/rng.h"
#include "cosmos_build_config.h"
#include "cuda_test_util.h"
#include "kernels/cuda/cuda_ops.h"

/* |cuda - cpu| <= atol + rtol |cpu|.
 * Haar, FSQ codes: the same f32 arithmetic in the same order, rounded to bf16 once: one bf16 ulp
 *   at most where a value sits on a rounding boundary.
 * GroupNorm: double statistics on both sides (the order of the sums differs), then one rounding.
 * Conv: the same bf16 products, f32 sums in another order, then two roundings (the GEMM's output,
 *   then after the bias): about two bf16 ulps of the larger of the product and the result. */
#define BF16_RTOL 8e-3
#define BF16_ATOL 1e-5
#define F32_RTOL 1e-5
#define F32_ATOL 1e-6
#define CONV_RTOL 1.6e-2
#define CONV_ATOL 4e-3

static cosmos_backend_t *cpu, *gpu;
static void open_backends(void) { cuda_test_open_backends(&cpu, &gpu); }
static void close_backends(void) { cuda_test_close_backends(&cpu, &gpu); }
static cudaStream_t gpu_stream(void) { return (cudaStream_t)cosmos_backend_stream(gpu); }

/* offset + scale * normal(0,1), seeded by stream, rounded to bf16 (both backends read the same). */
static float *rand_vals(int64_t n, uint64_t stream, float scale, float offset) {
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    cr_assert(x);
    for (int64_t i = 0; i < n; i++) x[i] = cosmos_round_bf16(offset + scale * cosmos_rng_normal(77, stream, (uint64_t)i));
    return x;
}
static void *dev_put(const float *host, int64_t n, enum cosmos_dtype dt) {
    const size_t bytes = cosmos_dtype_size(dt) * (size_t)(n ? n : 1);
    void *d = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, bytes, &d), COSMOS_OK);
    if (host && n) {
        if (dt == COSMOS_BF16) {
            cosmos_bf16 *h = malloc(bytes);
            cosmos_f32_to_bf16_n(h, host, (size_t)n);
            cr_assert_eq(cosmos_backend_upload(gpu, d, h, bytes), COSMOS_OK);
            free(h);
        } else {
            cr_assert_eq(cosmos_backend_upload(gpu, d, host, bytes), COSMOS_OK);
        }
    }
    return d;
}
static float *dev_get(const void *d, int64_t n, enum cosmos_dtype dt) { return cuda_test_download(gpu, d, n, dt); }
static void dev_free4(void *a, void *b, void *c, void *d) {
    void *p[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) cosmos_backend_free_mem(gpu, p[i]); /* NULL: nothing */
}

/* ------------------------------------------------------------------------ Haar */

static void haar_out_shape(int64_t C, int64_t T, int64_t H, int64_t W, int p, int64_t out[4]) {
    int64_t c = C, t = T + p - 1;
    for (int q = p; q > 1; q /= 2) c *= 8, t = (t + 1) / 2;
    out[0] = c, out[1] = t, out[2] = H / p, out[3] = W / p;
}

static void check_haar(int64_t C, int64_t T, int64_t H, int64_t W, int p, float tap, enum cosmos_dtype dt) {
    char what[160];
    snprintf(what, sizeof what, "haar p=%d [%lld,%lld,%lld,%lld] tap %.8f %s", p, (long long)C, (long long)T,
             (long long)H, (long long)W, tap, cosmos_dtype_name(dt));
    int64_t o[4];
    haar_out_shape(C, T, H, W, p, o);
    const int64_t nx = C * T * H * W, ny = o[0] * o[1] * o[2] * o[3];
    float *x = rand_vals(nx, 1, 1.0f, 0.2f), *y = malloc(sizeof(float) * (size_t)ny);
    cr_assert_eq(cosmos_op_haar_patch(cpu, cosmos_tensor_4d(y, COSMOS_F32, o[0], o[1], o[2], o[3]),
                                      cosmos_tensor_4d(x, COSMOS_F32, C, T, H, W), p, tap),
                 COSMOS_OK);
    void *dx = dev_put(x, nx, dt), *dy = dev_put(NULL, ny, dt);
    if (dt == COSMOS_BF16)
        cr_assert_eq(cosmos_op_haar_patch(gpu, cosmos_tensor_4d(dy, dt, o[0], o[1], o[2], o[3]),
                                          cosmos_tensor_4d(dx, dt, C, T, H, W), p, tap),
                     COSMOS_OK, "%s", what);
    else
        cr_assert_eq(cosmos_cuda_haar_patch(dy, dx, dt, C, T, H, W, p, tap, gpu_stream()), COSMOS_OK, "%s", what);
    float *g = dev_get(dy, ny, dt);
    cuda_test_compare(what, g, y, ny, dt == COSMOS_BF16 ? BF16_ATOL : F32_ATOL, dt == COSMOS_BF16 ? BF16_RTOL : F32_RTOL);
    free(g);

    /* unpatch of bands (the patch output, as the decoder's last layer gives): [C',T',h,w] -> video */
    const int64_t nv = C * (o[1] * p - (p - 1)) * H * W; /* T' * p - (p - 1) >= T frames */
    float *b = rand_vals(ny, 2, 1.0f, 0.0f), *v = malloc(sizeof(float) * (size_t)nv);
    cr_assert_eq(cosmos_op_haar_unpatch(cpu, cosmos_tensor_4d(v, COSMOS_F32, C, o[1] * p - (p - 1), H, W),
                                        cosmos_tensor_4d(b, COSMOS_F32, o[0], o[1], o[2], o[3]), p, tap),
                 COSMOS_OK);
    void *db = dev_put(b, ny, dt), *dv = dev_put(NULL, nv, dt);
    if (dt == COSMOS_BF16)
        cr_assert_eq(cosmos_op_haar_unpatch(gpu, cosmos_tensor_4d(dv, dt, C, o[1] * p - (p - 1), H, W),
                                            cosmos_tensor_4d(db, dt, o[0], o[1], o[2], o[3]), p, tap),
                     COSMOS_OK, "un%s", what);
    else
        cr_assert_eq(cosmos_cuda_haar_unpatch(dv, db, dt, o[0], o[1], o[2], o[3], p, tap, gpu_stream()), COSMOS_OK,
                     "un%s", what);
    g = dev_get(dv, nv, dt);
    char uwhat[170];
    snprintf(uwhat, sizeof uwhat, "un%s", what);
    cuda_test_compare(uwhat, g, v, nv, dt == COSMOS_BF16 ? BF16_ATOL : F32_ATOL, dt == COSMOS_BF16 ? BF16_RTOL : F32_RTOL);
    free(g);
    dev_free4(dx, dy, db, dv);
    free(x), free(y), free(b), free(v);
}

Test(cuda_dv, haar, .init = open_backends, .fini = close_backends) {
    const float stored_tap = 0.70703125f; /* the checkpoint's bf16 value */
    for (int i = 0; i < 2; i++) {
        const enum cosmos_dtype dt = i ? COSMOS_F32 : COSMOS_BF16;
        check_haar(3, 9, 16, 24, 4, COSMOS_HAAR_TAP, dt); /* DV8x16x16's patcher on 9 frames: 12 -> 6 -> 3 */
        check_haar(3, 6, 8, 12, 4, COSMOS_HAAR_TAP, dt);  /* 9 virtual frames: odd at both levels */
        check_haar(3, 1, 8, 8, 4, stored_tap, dt);        /* one frame */
        check_haar(2, 4, 6, 10, 2, COSMOS_HAAR_TAP, dt);  /* one level, odd H/2 and W/2 */
        check_haar(5, 3, 4, 4, 1, COSMOS_HAAR_TAP, dt);   /* patch 1: a copy */
        check_haar(1, 17, 32, 16, 8, COSMOS_HAAR_TAP, dt); /* three levels */
    }
}

static void check_groupnorm(int64_t C, int64_t T, int64_t H, int64_t W, float offset, enum cosmos_dtype dt,
                            enum cosmos_dtype p_dt, int in_place);
static void check_attention_1h(int64_t C, int64_t Tq, int64_t S, int64_t H, int64_t W, int temporal, float qscale,
                               enum cosmos_dtype dt);

/* ------------------------------------------------------------------------ causal conv3d */

static void check_conv(int64_t Cin, int64_t Cout, int64_t T, int64_t H, int64_t W, struct cosmos_conv3d_params p,
                       enum cosmos_dtype w_dt) {
    char what[200];
    snprintf(what, sizeof what,
             "conv %lldx%lld k %dx%dx%d tpad %d stride %d/%d pad %d/%d on [%lld,%lld,%lld] w %s",
             (long long)Cin, (long long)Cout, p.kt, p.kh, p.kw, p.time_pad, p.stride_t, p.stride_s, p.pad_lo, p.pad_hi,
             (long long)T, (long long)H, (long long)W, cosmos_dtype_name(w_dt));
    const int64_t K = Cin * p.kt * p.kh * p.kw;
    const int64_t To = (T + p.time_pad - p.kt) / p.stride_t + 1, Ho = (H + p.pad_lo + p.pad_hi - p.kh) / p.stride_s + 1,
                  Wo = (W + p.pad_lo + p.pad_hi - p.kw) / p.stride_s + 1;
    const int64_t nx = Cin * T * H * W, ny = Cout * To * Ho * Wo;
    float *x = rand_vals(nx, 3, 1.0f, 0.0f), *w = rand_vals(Cout * K, 4, 1.0f / sqrtf((float)K), 0.0f),
          *bias = rand_vals(Cout, 5, 0.1f, 0.0f), *y = malloc(sizeof(float) * (size_t)ny);
    cr_assert_eq(cosmos_op_causal_conv3d(cpu, cosmos_tensor_4d(y, COSMOS_F32, Cout, To, Ho, Wo),
                                         cosmos_tensor_4d(x, COSMOS_F32, Cin, T, H, W),
                                         cosmos_tensor_2d(w, COSMOS_F32, Cout, K), cosmos_tensor_1d(bias, COSMOS_F32, Cout),
                                         &p),
                 COSMOS_OK, "%s (cpu)", what);
    void *dx = dev_put(x, nx, COSMOS_BF16), *dy = dev_put(NULL, ny, COSMOS_BF16), *dw = dev_put(w, Cout * K, w_dt),
         *db = dev_put(bias, Cout, w_dt);
    cr_assert_eq(cosmos_op_causal_conv3d(gpu, cosmos_tensor_4d(dy, COSMOS_BF16, Cout, To, Ho, Wo),
                                         cosmos_tensor_4d(dx, COSMOS_BF16, Cin, T, H, W),
                                         cosmos_tensor_2d(dw, w_dt, Cout, K), cosmos_tensor_1d(db, w_dt, Cout), &p),
                 COSMOS_OK, "%s", what);
    float *g = dev_get(dy, ny, COSMOS_BF16);
    cuda_test_compare(what, g, y, ny, CONV_ATOL, CONV_RTOL);
    free(g);
    dev_free4(dx, dy, dw, db);
    free(x), free(w), free(bias), free(y);
}

Test(cuda_dv, causal_conv3d, .init = open_backends, .fini = close_backends) {
    const struct cosmos_conv3d_params k133 = cosmos_conv3d_params_causal(1, 3, 3, 1, 1, 1),
                                      k311 = cosmos_conv3d_params_causal(3, 1, 1, 1, 1, 0),
                                      k333 = cosmos_conv3d_params_causal(3, 3, 3, 1, 1, 1),
                                      k111 = cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0);
    struct cosmos_conv3d_params down_s = cosmos_conv3d_params_causal(1, 3, 3, 1, 2, 0);
    down_s.pad_hi = 1; /* the spatial downsample: pad (0, 1) then stride 2 */
    const struct cosmos_conv3d_params down_t = cosmos_conv3d_params_causal(3, 1, 1, 2, 1, 0);
    check_conv(16, 24, 3, 10, 12, k133, COSMOS_BF16);
    check_conv(16, 16, 5, 6, 8, k311, COSMOS_BF16);
    check_conv(8, 12, 4, 7, 9, k333, COSMOS_BF16);
    check_conv(32, 8, 2, 5, 6, k111, COSMOS_BF16);
    check_conv(16, 16, 3, 9, 12, down_s, COSMOS_BF16);
    check_conv(16, 16, 5, 4, 6, down_t, COSMOS_BF16);
    check_conv(3, 5, 2, 8, 8, k133, COSMOS_BF16); /* K = 27: zero-padded to 32; odd Cout */
    check_conv(16, 24, 3, 10, 12, k133, COSMOS_F32); /* f32 weights (bf16 values) */
    check_conv(7, 9, 1, 3, 3, k333, COSMOS_F32);     /* one frame, 3 time taps of it, K = 189 */
}

/* The tokenizer's sizes at 33 x 640 x 1024 (a few frames of them): the level-1 (1,3,3) conv, whose
 * im2col matrix (2 frames x 80 x 128 positions x K 2304) passes the 64 MiB budget, so it runs in
 * two chunks; the level-0 GroupNorm over [128, 3, 160, 256]; the mid block's spatial attention
 * (512 channels, 2560 tokens a frame). Left out on the emulator (minutes there). */
Test(cuda_dv, model_shapes, .init = open_backends, .fini = close_backends) {
    if (cuda_test_emulated()) {
        cr_log_info("cuda_dv::model_shapes left out on the emulator (a 24 GFLOP conv)");
        return;
    }
    check_conv(256, 256, 2, 80, 128, cosmos_conv3d_params_causal(1, 3, 3, 1, 1, 1), COSMOS_BF16);
    check_groupnorm(128, 3, 160, 256, 0.5f, COSMOS_BF16, COSMOS_BF16, 1);
    check_attention_1h(512, 2, 2, 40, 64, 0, 1.0f, COSMOS_BF16); /* the mid block at 33 x 640 x 1024 */
}

/* Output positions in many chunks (an im2col budget of a few rows), through the launcher on a
 * backend whose cuBLASLt handle the launcher needs: made here the way the backend makes it. */
Test(cuda_dv, conv_chunks, .init = open_backends, .fini = close_backends) {
    cosmos_cublaslt_t *lt = NULL;
    cr_assert_eq(cosmos_cublaslt_create((size_t)4 << 20, &lt), COSMOS_OK);
    const int64_t Cin = 8, Cout = 16, T = 3, H = 9, W = 11;
    const struct cosmos_conv3d_params p = cosmos_conv3d_params_causal(3, 3, 3, 1, 1, 1);
    const int64_t K = Cin * 27, To = T, Ho = H, Wo = W, nx = Cin * T * H * W, ny = Cout * To * Ho * Wo;
    float *x = rand_vals(nx, 6, 1.0f, 0.0f), *w = rand_vals(Cout * K, 7, 1.0f / sqrtf((float)K), 0.0f),
          *bias = rand_vals(Cout, 8, 0.1f, 0.0f), *y = malloc(sizeof(float) * (size_t)ny);
    cr_assert_eq(cosmos_op_causal_conv3d(cpu, cosmos_tensor_4d(y, COSMOS_F32, Cout, To, Ho, Wo),
                                         cosmos_tensor_4d(x, COSMOS_F32, Cin, T, H, W),
                                         cosmos_tensor_2d(w, COSMOS_F32, Cout, K), cosmos_tensor_1d(bias, COSMOS_F32, Cout),
                                         &p),
                 COSMOS_OK);
    void *dx = dev_put(x, nx, COSMOS_BF16), *dy = dev_put(NULL, ny, COSMOS_BF16), *dw = dev_put(w, Cout * K, COSMOS_BF16),
         *db = dev_put(bias, Cout, COSMOS_BF16);
    const struct cosmos_cuda_conv3d_shape s = {Cin, Cout, T, H, W, p.kt, p.kh, p.kw, p.time_pad, p.stride_t, p.stride_s,
                                               p.pad_lo, p.pad_hi};
    const size_t budgets[] = {sizeof(cosmos_bf16) * 216 * 37, sizeof(cosmos_bf16) * 216, 1}; /* 37 rows, 1, 1 */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cudaMemsetAsync(dy, 0, sizeof(cosmos_bf16) * (size_t)ny, gpu_stream()), cudaSuccess);
        cr_assert_eq(cosmos_cuda_causal_conv3d(lt, dy, dx, dw, db, COSMOS_BF16, &s, budgets[i], gpu_stream()), COSMOS_OK);
        float *g = dev_get(dy, ny, COSMOS_BF16);
        char what[64];
        snprintf(what, sizeof what, "conv in chunks, budget %zu bytes", budgets[i]);
        cuda_test_compare(what, g, y, ny, CONV_ATOL, CONV_RTOL);
        free(g);
    }
    cosmos_cublaslt_free(lt);
    dev_free4(dx, dy, dw, db);
    free(x), free(w), free(bias), free(y);
}

/* ------------------------------------------------------------------------ GroupNorm per frame */

static void check_groupnorm(int64_t C, int64_t T, int64_t H, int64_t W, float offset, enum cosmos_dtype dt,
                            enum cosmos_dtype p_dt, int in_place) {
    char what[160];
    snprintf(what, sizeof what, "groupnorm [%lld,%lld,%lld,%lld] offset %g %s params %s%s", (long long)C, (long long)T,
             (long long)H, (long long)W, offset, cosmos_dtype_name(dt), cosmos_dtype_name(p_dt),
             in_place ? " in place" : "");
    const int64_t n = C * T * H * W;
    float *x = rand_vals(n, 9, 2.0f, offset), *ga = rand_vals(C, 10, 0.5f, 1.0f), *be = rand_vals(C, 11, 0.3f, 0.0f),
          *y = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_op_groupnorm_frames(cpu, cosmos_tensor_4d(y, COSMOS_F32, C, T, H, W),
                                            cosmos_tensor_4d(x, COSMOS_F32, C, T, H, W), cosmos_tensor_1d(ga, COSMOS_F32, C),
                                            cosmos_tensor_1d(be, COSMOS_F32, C), 1e-6f),
                 COSMOS_OK);
    void *dx = dev_put(x, n, dt), *dy = in_place ? dx : dev_put(NULL, n, dt), *dg = dev_put(ga, C, p_dt),
         *dbeta = dev_put(be, C, p_dt);
    if (dt == COSMOS_BF16)
        cr_assert_eq(cosmos_op_groupnorm_frames(gpu, cosmos_tensor_4d(dy, dt, C, T, H, W), cosmos_tensor_4d(dx, dt, C, T, H, W),
                                                cosmos_tensor_1d(dg, p_dt, C), cosmos_tensor_1d(dbeta, p_dt, C), 1e-6f),
                     COSMOS_OK, "%s", what);
    else
        cr_assert_eq(cosmos_cuda_groupnorm_frames(dy, dx, dt, dg, dbeta, p_dt, C, T, H * W, 1e-6f, gpu_stream()),
                     COSMOS_OK, "%s", what);
    float *g = dev_get(dy, n, dt);
    cuda_test_compare(what, g, y, n, dt == COSMOS_BF16 ? BF16_ATOL : 1e-5, dt == COSMOS_BF16 ? BF16_RTOL : 1e-5);
    free(g);
    cosmos_backend_free_mem(gpu, dx);
    if (!in_place) cosmos_backend_free_mem(gpu, dy);
    cosmos_backend_free_mem(gpu, dg);
    cosmos_backend_free_mem(gpu, dbeta);
    free(x), free(ga), free(be), free(y);
}

Test(cuda_dv, groupnorm_frames, .init = open_backends, .fini = close_backends) {
    check_groupnorm(16, 5, 12, 20, 0.0f, COSMOS_BF16, COSMOS_BF16, 0);
    check_groupnorm(16, 5, 12, 20, 0.0f, COSMOS_BF16, COSMOS_F32, 1);
    check_groupnorm(64, 2, 64, 64, 30.0f, COSMOS_BF16, COSMOS_BF16, 0); /* 128 blocks a frame, far from 0 */
    check_groupnorm(3, 1, 1, 1, 0.0f, COSMOS_BF16, COSMOS_BF16, 0);     /* 3 values a frame */
    check_groupnorm(16, 5, 12, 20, 5.0f, COSMOS_F32, COSMOS_F32, 1);
    check_groupnorm(64, 2, 64, 64, 30.0f, COSMOS_F32, COSMOS_BF16, 0);
}

/* ------------------------------------------------------------------------ single-head attention */

/* Attention tolerance: the same bf16 inputs, f32 dot products over C in another order, the softmax
 * weights applied before (CPU) or after (CUDA) the V sum, one bf16 rounding. */
#define A1H_RTOL 1.6e-2
#define A1H_ATOL 4e-3

static void check_attention_1h(int64_t C, int64_t Tq, int64_t S, int64_t H, int64_t W, int temporal, float qscale,
                               enum cosmos_dtype dt) {
    char what[160];
    snprintf(what, sizeof what, "attention_1h %s C=%lld Tq=%lld S=%lld HW=%lldx%lld q x%g %s",
             temporal ? "temporal" : "spatial", (long long)C, (long long)Tq, (long long)S, (long long)H, (long long)W,
             qscale, cosmos_dtype_name(dt));
    const int64_t nq = C * Tq * H * W, nk = C * S * H * W;
    float *q = rand_vals(nq, 13, qscale, 0.0f), *k = rand_vals(nk, 14, 1.0f, 0.0f), *v = rand_vals(nk, 15, 1.0f, 0.0f),
          *o = malloc(sizeof(float) * (size_t)nq);
    cr_assert_eq(cosmos_op_attention_1h(cpu, cosmos_tensor_4d(o, COSMOS_F32, C, Tq, H, W),
                                        cosmos_tensor_4d(q, COSMOS_F32, C, Tq, H, W),
                                        cosmos_tensor_4d(k, COSMOS_F32, C, S, H, W),
                                        cosmos_tensor_4d(v, COSMOS_F32, C, S, H, W), temporal),
                 COSMOS_OK, "%s (cpu)", what);
    void *dq = dev_put(q, nq, dt), *dk = dev_put(k, nk, dt), *dv = dev_put(v, nk, dt), *dout = dev_put(NULL, nq, dt);
    if (dt == COSMOS_BF16)
        cr_assert_eq(cosmos_op_attention_1h(gpu, cosmos_tensor_4d(dout, dt, C, Tq, H, W),
                                            cosmos_tensor_4d(dq, dt, C, Tq, H, W), cosmos_tensor_4d(dk, dt, C, S, H, W),
                                            cosmos_tensor_4d(dv, dt, C, S, H, W), temporal),
                     COSMOS_OK, "%s", what);
    else
        cr_assert_eq(cosmos_cuda_attention_1h(dout, dq, dk, dv, dt, C, Tq, S, H * W, temporal, gpu_stream()), COSMOS_OK,
                     "%s", what);
    float *g = dev_get(dout, nq, dt);
    cuda_test_compare(what, g, o, nq, dt == COSMOS_BF16 ? A1H_ATOL : 1e-5, dt == COSMOS_BF16 ? A1H_RTOL : 1e-4);
    free(g);
    dev_free4(dq, dk, dv, dout);
    free(q), free(k), free(v), free(o);
}

Test(cuda_dv, attention_1h, .init = open_backends, .fini = close_backends) {
    for (int i = 0; i < 2; i++) {
        const enum cosmos_dtype dt = i ? COSMOS_F32 : COSMOS_BF16;
        check_attention_1h(16, 3, 3, 6, 8, 0, 1.0f, dt);    /* spatial, 48 tokens a frame */
        check_attention_1h(32, 2, 2, 15, 20, 0, 1.0f, dt);  /* 300 tokens: more keys than threads */
        check_attention_1h(16, 3, 3, 6, 8, 0, 6.0f, dt);    /* peaky: a few keys dominate */
        check_attention_1h(16, 5, 5, 3, 4, 1, 1.0f, dt);    /* temporal, the whole clip */
        check_attention_1h(16, 1, 5, 3, 4, 1, 1.0f, dt);    /* temporal, one new frame over a 5-frame cache */
        check_attention_1h(16, 2, 6, 3, 4, 1, 6.0f, dt);    /* two new frames, peaky */
        check_attention_1h(512, 1, 1, 4, 5, 0, 1.0f, dt);   /* the mid blocks' width */
        check_attention_1h(4, 2, 13000, 1, 1, 1, 1.0f, dt); /* 52 KB of scores: over 48 KiB (the attribute) */
    }
    /* refused by the dispatcher: spatial with S != Tq, out aliasing q */
    void *d = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, 4096, &d), COSMOS_OK);
    cr_expect_eq(cosmos_op_attention_1h(gpu, cosmos_tensor_4d(d, COSMOS_BF16, 4, 2, 2, 2),
                                        cosmos_tensor_4d((char *)d + 256, COSMOS_BF16, 4, 2, 2, 2),
                                        cosmos_tensor_4d((char *)d + 512, COSMOS_BF16, 4, 3, 2, 2),
                                        cosmos_tensor_4d((char *)d + 1024, COSMOS_BF16, 4, 3, 2, 2), 0),
                 COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_op_attention_1h(gpu, cosmos_tensor_4d(d, COSMOS_BF16, 4, 2, 2, 2),
                                        cosmos_tensor_4d(d, COSMOS_BF16, 4, 2, 2, 2),
                                        cosmos_tensor_4d((char *)d + 512, COSMOS_BF16, 4, 2, 2, 2),
                                        cosmos_tensor_4d((char *)d + 1024, COSMOS_BF16, 4, 2, 2, 2), 0),
                 COSMOS_ERR_INVALID_ARG);
    cosmos_backend_free_mem(gpu, d);
}

/* ------------------------------------------------------------------------ downsample pools */

static void check_pool_add(int64_t C, int64_t T, int64_t H, int64_t W, int temporal, enum cosmos_dtype dt) {
    char what[128];
    snprintf(what, sizeof what, "pool_add %s [%lld,%lld,%lld,%lld] %s", temporal ? "temporal" : "spatial", (long long)C,
             (long long)T, (long long)H, (long long)W, cosmos_dtype_name(dt));
    const int64_t To = temporal ? (T + 1) / 2 : T, Ho = temporal ? H : H / 2, Wo = temporal ? W : W / 2;
    const int64_t nx = C * T * H * W, ny = C * To * Ho * Wo;
    float *x = rand_vals(nx, 16, 1.0f, 0.0f), *y = rand_vals(ny, 17, 1.0f, 0.0f);
    void *dx = dev_put(x, nx, dt), *dy = dev_put(y, ny, dt);
    cr_assert_eq(cosmos_op_pool_add(cpu, cosmos_tensor_4d(y, COSMOS_F32, C, To, Ho, Wo),
                                    cosmos_tensor_4d(x, COSMOS_F32, C, T, H, W), temporal),
                 COSMOS_OK);
    if (dt == COSMOS_BF16)
        cr_assert_eq(cosmos_op_pool_add(gpu, cosmos_tensor_4d(dy, dt, C, To, Ho, Wo), cosmos_tensor_4d(dx, dt, C, T, H, W),
                                        temporal),
                     COSMOS_OK, "%s", what);
    else
        cr_assert_eq(cosmos_cuda_pool_add(dy, dx, dt, C, T, H, W, To, Ho, Wo, temporal, gpu_stream()), COSMOS_OK, "%s",
                     what);
    float *g = dev_get(dy, ny, dt);
    cuda_test_compare(what, g, y, ny, dt == COSMOS_BF16 ? BF16_ATOL : F32_ATOL, dt == COSMOS_BF16 ? BF16_RTOL : F32_RTOL);
    free(g);
    dev_free4(dx, dy, NULL, NULL);
    free(x), free(y);
}

Test(cuda_dv, pool_add, .init = open_backends, .fini = close_backends) {
    for (int i = 0; i < 2; i++) {
        const enum cosmos_dtype dt = i ? COSMOS_F32 : COSMOS_BF16;
        check_pool_add(8, 3, 10, 12, 0, dt);
        check_pool_add(8, 3, 11, 13, 0, dt); /* odd H, W: the last row and column are not pooled */
        check_pool_add(8, 9, 4, 6, 1, dt);   /* 9 frames -> 5 */
        check_pool_add(8, 1, 4, 6, 1, dt);   /* one frame */
        check_pool_add(8, 4, 4, 6, 1, dt);   /* even T */
    }
}

/* ------------------------------------------------------------------------ FSQ */

Test(cuda_dv, fsq, .init = open_backends, .fini = close_backends) {
    const int levels[6] = {8, 8, 8, 5, 5, 5};
    const int64_t D = 6, N = 3 * 5 * 8 * 12;
    for (int i = 0; i < 2; i++) {
        const enum cosmos_dtype dt = i ? COSMOS_F32 : COSMOS_BF16;
        float *z = rand_vals(D * N, 12, 1.5f, 0.0f), *codes = malloc(sizeof(float) * (size_t)(D * N));
        int32_t *idx = malloc(sizeof(int32_t) * (size_t)N), *gidx = malloc(sizeof(int32_t) * (size_t)N);
        cr_assert_eq(cosmos_op_fsq_quantize(cpu, cosmos_tensor_1d(idx, COSMOS_I32, N),
                                            cosmos_tensor_2d(codes, COSMOS_F32, D, N), cosmos_tensor_2d(z, COSMOS_F32, D, N),
                                            levels, 6),
                     COSMOS_OK);
        void *dz = dev_put(z, D * N, dt), *dc = dev_put(NULL, D * N, dt), *di = NULL;
        cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(int32_t) * (size_t)N, &di), COSMOS_OK);
        if (dt == COSMOS_BF16)
            cr_assert_eq(cosmos_op_fsq_quantize(gpu, cosmos_tensor_1d(di, COSMOS_I32, N), cosmos_tensor_2d(dc, dt, D, N),
                                                cosmos_tensor_2d(dz, dt, D, N), levels, 6),
                         COSMOS_OK);
        else
            cr_assert_eq(cosmos_cuda_fsq_quantize(di, dc, dz, dt, levels, 6, N, gpu_stream()), COSMOS_OK);
        cr_assert_eq(cosmos_backend_sync(gpu), COSMOS_OK);
        cr_assert_eq(cosmos_backend_download(gpu, gidx, di, sizeof(int32_t) * (size_t)N), COSMOS_OK);
        int64_t diff = 0;
        for (int64_t n = 0; n < N; n++) diff += gidx[n] != idx[n];
        cr_expect_eq(diff, 0, "fsq %s: %lld of %lld indices differ from the CPU's", cosmos_dtype_name(dt),
                     (long long)diff, (long long)N);
        float *g = dev_get(dc, D * N, dt);
        cuda_test_compare("fsq codes", g, codes, D * N, 0.0, 0.0);
        free(g);
        cosmos_backend_free_mem(gpu, dz);
        cosmos_backend_free_mem(gpu, dc);
        cosmos_backend_free_mem(gpu, di);
        free(z), free(codes), free(idx), free(gidx);
    }
    /* dequantize every index of the vocabulary */
    const int64_t V = 64000;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)V);
    for (int64_t v = 0; v < V; v++) all[v] = (int32_t)((v * 7919) % V); /* a permutation */
    float *codes = malloc(sizeof(float) * (size_t)(D * V));
    cr_assert_eq(cosmos_op_fsq_dequantize(cpu, cosmos_tensor_2d(codes, COSMOS_F32, D, V), cosmos_tensor_1d(all, COSMOS_I32, V),
                                          levels, 6),
                 COSMOS_OK);
    void *di = NULL, *dc = dev_put(NULL, D * V, COSMOS_BF16);
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(int32_t) * (size_t)V, &di), COSMOS_OK);
    cr_assert_eq(cosmos_backend_upload(gpu, di, all, sizeof(int32_t) * (size_t)V), COSMOS_OK);
    cr_assert_eq(cosmos_op_fsq_dequantize(gpu, cosmos_tensor_2d(dc, COSMOS_BF16, D, V), cosmos_tensor_1d(di, COSMOS_I32, V),
                                          levels, 6),
                 COSMOS_OK);
    float *g = dev_get(dc, D * V, COSMOS_BF16);
    cuda_test_compare("fsq dequantize", g, codes, D * V, 0.0, 0.0);
    free(g);
    /* an index outside [0, 64000): refused */
    const int32_t bad = 64000;
    cr_assert_eq(cosmos_backend_upload(gpu, (int32_t *)di + 777, &bad, sizeof bad), COSMOS_OK);
    cr_expect_eq(cosmos_op_fsq_dequantize(gpu, cosmos_tensor_2d(dc, COSMOS_BF16, D, V),
                                          cosmos_tensor_1d(di, COSMOS_I32, V), levels, 6),
                 COSMOS_ERR_INVALID_ARG, "index 64000 at position 777");
    cosmos_backend_free_mem(gpu, di);
    cosmos_backend_free_mem(gpu, dc);
    free(all), free(codes);
}

/* ------------------------------------------------------------------------ the encoder on cuda:0 */

/* The tiny DV encoder (tests/data/dv-tiny-encoder.h5: the reference's weights) on cuda:0 against
 * the same encoder on the CPU, on the fixture's clip (9 x 32 x 48: 12 tokens) and a seeded random
 * one (17 x 64 x 96: 72 tokens): bf16 activations through every layer (weights rounded to bf16)
 * against f32. Latent within ENC_REL x max|cpu| (measured on the emulator: 2.4e-2 on both clips).
 * FSQ: a latent value near a rounding boundary of its level may land on the neighbouring level, so
 * a code (one digit of an index) may differ from the CPU's by one level step (1/hw) and by no more,
 * at most ENC_MAX_FLIP of them (measured: 0 of 72 and 9 of 432 codes, i.e. 63 of 72 indices equal
 * on the random clip, every difference one step). */
#define ENC_REL 5e-2
#define ENC_MAX_FLIP 0.05

static void check_encoder(cosmos_h5_t *h, const struct cosmos_dv_config *cfg, const float *video, int64_t T, int64_t H,
                          int64_t W, const char *what) {
    int64_t Tl, Hl, Wl;
    cosmos_dv_latent_shape(cfg, T, H, W, &Tl, &Hl, &Wl);
    const int64_t N = Tl * Hl * Wl, nz = cfg->embedding_dim * N;
    float *zc = malloc(sizeof(float) * (size_t)nz), *zg = malloc(sizeof(float) * (size_t)nz);
    float *cc = malloc(sizeof(float) * (size_t)nz), *cg = malloc(sizeof(float) * (size_t)nz);
    int32_t *ic = malloc(sizeof(int32_t) * (size_t)N), *ig = malloc(sizeof(int32_t) * (size_t)N);
    cr_assert_eq(cosmos_dv_encode(cpu, h, cfg, video, T, H, W, zc, ic, cc), COSMOS_OK, "%s (cpu)", what);
    cr_assert_eq(cosmos_dv_encode(gpu, h, cfg, video, T, H, W, zg, ig, cg), COSMOS_OK, "%s", what);
    double mx = 0.0, md = 0.0;
    for (int64_t i = 0; i < nz; i++) {
        mx = fmax(mx, fabs(zc[i]));
        md = fmax(md, fabs((double)zg[i] - zc[i]));
    }
    int64_t same = 0, flips = 0, far = 0;
    for (int64_t n = 0; n < N; n++) same += ig[n] == ic[n];
    for (int d = 0; d < cfg->embedding_dim; d++) {
        const double step = 1.0 / (cfg->fsq_levels[d] / 2);
        for (int64_t n = 0; n < N; n++) {
            const double diff = fabs((double)cg[d * N + n] - cc[d * N + n]);
            flips += diff != 0.0;
            far += diff > step * 1.0001;
        }
    }
    cr_log_info("%s on cuda:0: latent max |diff| %.3g (max |cpu| %.3g, rel %.3g); codes one level off: %lld of %lld; "
                "indices equal: %lld of %lld", what, md, mx, md / mx, (long long)flips, (long long)nz, (long long)same,
                (long long)N);
    cr_expect_leq(md, ENC_REL * mx, "%s latent: max |diff| %g over max |cpu| %g", what, md, mx);
    cr_expect_eq(far, 0, "%s: %lld codes differ from the CPU's by more than one level", what, (long long)far);
    cr_expect_leq((double)flips, ENC_MAX_FLIP * (double)nz, "%s: %lld of %lld codes differ", what, (long long)flips,
                  (long long)nz);
    free(zc), free(zg), free(cc), free(cg), free(ic), free(ig);
}

static float *h5_f32(cosmos_h5_t *h, const char *name, int64_t shape[4]) {
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, name, &info), COSMOS_OK, "%s", name);
    int64_t n = 1;
    for (int i = 0; i < info.ndim; i++) n *= info.shape[i], shape[i] = info.shape[i];
    float *x = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_h5_read(h, name, COSMOS_F32, x), COSMOS_OK, "%s", name);
    return x;
}

Test(cuda_dv, tiny_encoder, .init = open_backends, .fini = close_backends) {
    char path[1024];
    cosmos_h5_t *h = NULL;
    snprintf(path, sizeof path, "%s/tests/data/dv-tiny-encoder.h5", COSMOS_SOURCE_DIR);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK, "%s", path);
    const struct cosmos_dv_config cfg = {
        .in_channels = 3, .channels = 8, .n_levels = 3, .channels_mult = {1, 2, 2}, .num_res_blocks = 1,
        .n_attn_resolutions = 1, .attn_resolutions = {4}, .resolution = 16, .patch_size = 4, .z_channels = 4,
        .embedding_dim = 6, .fsq_levels = {8, 8, 8, 5, 5, 5}, .spatial_compression = 16, .temporal_compression = 8,
    }; /* tests/unit/test_dv_ops.c tiny_config(), the fixture's */
    int64_t vs[4] = {0};
    float *video = h5_f32(h, "video", vs);
    check_encoder(h, &cfg, video, vs[1], vs[2], vs[3], "tiny encoder, fixture clip");
    float *big = rand_vals(3 * 17 * 64 * 96, 18, 0.5f, 0.0f);
    for (int64_t i = 0; i < 3 * 17 * 64 * 96; i++) big[i] = fminf(1.0f, fmaxf(-1.0f, big[i])); /* a clip's range */
    check_encoder(h, &cfg, big, 17, 64, 96, "tiny encoder, 17 x 64 x 96 random clip");
    /* bad input is refused before anything runs, as on the CPU */
    int32_t idx[12];
    float z[72];
    cr_expect_eq(cosmos_dv_encode(gpu, h, &cfg, video, 8, vs[2], vs[3], z, idx, NULL), COSMOS_ERR_INVALID_ARG);
    free(video), free(big);
    cosmos_h5_close(h);
}

/* ------------------------------------------------------------------------ the decoders on cuda:0 */

/* The tiny DV decoder (tests/data/dv-tiny-decoder.h5: bf16 weights, indices [3,2,3]) and the tiny
 * CV8x8x8 decoder (tests/data/cv-tiny-decoder.h5: its latent) on cuda:0 against the CPU: the whole
 * clip, and for the DV decoder the stream (one latent frame per push: the frame-copy caches of the
 * temporal convs and attention on the device) against the CPU's whole clip. Pixels within DEC_REL x
 * max|cpu| (bf16 activations through every layer; measured on the emulator below). */
#define DEC_REL 5e-2

static void expect_close_rel(const char *what, const float *got, const float *want, int64_t n, double rel) {
    double mx = 0.0, md = 0.0;
    for (int64_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(want[i]));
        md = fmax(md, fabs((double)got[i] - want[i]));
    }
    cr_log_info("%s: max |diff| %.3g, max |cpu| %.3g, rel %.3g", what, md, mx, md / mx);
    cr_expect(md <= rel * mx && mx > 0.1, "%s: max |diff| %g over max |cpu| %g", what, md, mx);
}

Test(cuda_dv, tiny_decoders, .init = open_backends, .fini = close_backends) {
    char path[1024];
    cosmos_h5_t *h = NULL;
    struct cosmos_dv_config cfg;
    snprintf(path, sizeof path, "%s/configs/models/dv-tokenizer-tiny.json", COSMOS_SOURCE_DIR);
    cr_assert_eq(cosmos_dv_config_load(path, &cfg), COSMOS_OK);
    snprintf(path, sizeof path, "%s/tests/data/dv-tiny-decoder.h5", COSMOS_SOURCE_DIR);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK, "%s", path);
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, "indices", &info), COSMOS_OK);
    const int64_t Tl = info.shape[0], Hl = info.shape[1], Wl = info.shape[2];
    int64_t T, H, W;
    cosmos_dv_video_shape(&cfg, Tl, Hl, Wl, &T, &H, &W);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(Tl * Hl * Wl));
    cr_assert_eq(cosmos_h5_read(h, "indices", COSMOS_I32, idx), COSMOS_OK);
    const int64_t n = 3 * T * H * W;
    float *vc = malloc(sizeof(float) * (size_t)n), *vg = malloc(sizeof(float) * (size_t)n),
          *vs = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_dv_decode(cpu, h, &cfg, idx, Tl, Hl, Wl, vc), COSMOS_OK);
    cr_assert_eq(cosmos_dv_decode(gpu, h, &cfg, idx, Tl, Hl, Wl, vg), COSMOS_OK);
    expect_close_rel("tiny DV decoder, whole clip on cuda:0", vg, vc, n, DEC_REL);
    /* streamed on the device: one latent frame per push, frames appended per channel */
    cosmos_dv_stream_t *s = NULL;
    cr_assert_eq(cosmos_dv_stream_open(gpu, h, &cfg, Hl, Wl, Tl, &s), COSMOS_OK);
    float *frames = malloc(sizeof(float) * (size_t)(3 * T * H * W));
    int64_t t0 = 0;
    for (int64_t t = 0; t < Tl; t++) {
        int nf = 0;
        cr_assert_eq(cosmos_dv_stream_push(s, idx + t * Hl * Wl, frames, &nf), COSMOS_OK, "push %lld", (long long)t);
        for (int ch = 0; ch < 3; ch++)
            memcpy(vs + (ch * T + t0) * H * W, frames + (int64_t)ch * nf * H * W, sizeof(float) * (size_t)(nf * H * W));
        t0 += nf;
    }
    cr_expect_eq(t0, T, "the stream gave %lld frames, not %lld", (long long)t0, (long long)T);
    expect_close_rel("tiny DV decoder, streamed on cuda:0", vs, vc, n, DEC_REL);
    cosmos_dv_stream_free(s);
    free(idx), free(vc), free(vg), free(vs), free(frames);
    cosmos_h5_close(h);

    /* the CV8x8x8 decoder (the diffusion decoder's last stage) */
    snprintf(path, sizeof path, "%s/tests/data/cv-tiny-decoder.h5", COSMOS_SOURCE_DIR);
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK, "%s", path);
    enum cosmos_dv_part parts;
    cr_assert_eq(cosmos_cv_read_header(h, &cfg, &parts), COSMOS_OK);
    cr_assert_eq(cosmos_h5_info(h, "latent", &info), COSMOS_OK);
    const int64_t C = info.shape[0], cTl = info.shape[1], cHl = info.shape[2], cWl = info.shape[3];
    cosmos_dv_video_shape(&cfg, cTl, cHl, cWl, &T, &H, &W);
    float *lat = malloc(sizeof(float) * (size_t)(C * cTl * cHl * cWl));
    cr_assert_eq(cosmos_h5_read(h, "latent", COSMOS_F32, lat), COSMOS_OK);
    const int64_t m = 3 * T * H * W;
    vc = malloc(sizeof(float) * (size_t)m), vg = malloc(sizeof(float) * (size_t)m);
    cr_assert_eq(cosmos_cv_decode(cpu, h, &cfg, lat, cTl, cHl, cWl, vc), COSMOS_OK);
    cr_assert_eq(cosmos_cv_decode(gpu, h, &cfg, lat, cTl, cHl, cWl, vg), COSMOS_OK);
    expect_close_rel("tiny CV decoder, whole clip on cuda:0", vg, vc, m, DEC_REL);
    free(lat), free(vc), free(vg);
    cosmos_h5_close(h);
}
