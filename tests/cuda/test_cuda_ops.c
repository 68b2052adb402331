/* CUDA backend parity (issue 4; ggml test-backend-ops style): every CUDA op against the CPU oracle
 * through the same dispatchers (cosmos_op_*), on seeded random inputs with model-like and awkward
 * shapes (odd lengths, T=1, positions at the end of the cache, unaligned views), and tiny-model
 * teacher-forced logits CUDA vs CPU. Inputs are rounded to bf16 first, so both backends see the
 * same numbers; the tolerances below are those of a bf16 output (8 mantissa bits) after an f32
 * computation. Without a CUDA device every test reports SKIPPED (cr_skip_test), never passed. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "core/backend.h"
#include "cuda_test_util.h"
#include "core/h5file.h"
#include "core/model/ar_model.h"
#include "core/model/ar_weights.h"
#include "core/model/sampler.h"
#include "core/rng.h"
#include "kernels/cuda/cuda_ops.h"
#include "tests/e2e/decode_pair.h"
#include "cosmos_build_config.h"

/* per-dtype tolerances: |got - want| <= atol + rtol * |want| */
#define BF16_RTOL 1.6e-2 /* two bf16 ulps: output rounding + accumulation order */
#define BF16_ATOL 1e-2
#define LOGITS_REL 3e-2  /* tiny model, bf16 through every layer: relative to max |logit| */

static cosmos_backend_t *cpu, *gpu;

static void open_backends(void) { cuda_test_open_backends(&cpu, &gpu); }
static void close_backends(void) { cuda_test_close_backends(&cpu, &gpu); }

/* bf16-representable normal(0, scale) values */
static float *rand_f32(int64_t n, uint64_t stream, float scale) {
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) x[i] = cosmos_round_bf16(scale * cosmos_rng_normal(4242, stream, (uint64_t)i));
    return x;
}
static cosmos_bf16 *to_bf16(const float *x, int64_t n) {
    cosmos_bf16 *b = malloc(sizeof(cosmos_bf16) * (size_t)(n ? n : 1));
    cosmos_f32_to_bf16_n(b, x, (size_t)n);
    return b;
}

/* Device copy of host f32 values stored as dtype (bf16, f32 or int32 reinterpreted). */
static void *dev_upload(const void *host_f32_or_i32, int64_t n, enum cosmos_dtype dt) {
    void *d = NULL;
    size_t bytes = (size_t)n * cosmos_dtype_size(dt);
    cr_assert_eq(cosmos_backend_alloc(gpu, bytes, &d), COSMOS_OK);
    if (dt == COSMOS_BF16) {
        cosmos_bf16 *b = to_bf16(host_f32_or_i32, n);
        cr_assert_eq(cosmos_backend_upload(gpu, d, b, bytes), COSMOS_OK);
        free(b);
    } else {
        cr_assert_eq(cosmos_backend_upload(gpu, d, host_f32_or_i32, bytes), COSMOS_OK);
    }
    return d;
}
static float *dev_download(const void *d, int64_t n, enum cosmos_dtype dt) {
    return cuda_test_download(gpu, d, n, dt);
}


/* ---- matmul ---- */

/* x_off: x starts x_off elements into its buffer (unaligned views: KV-cache rows, chunk offsets). */
/* With g_devpos set, the GPU op takes its position from the backend's cell (COSMOS_POS_DEVICE, as a
 * recorded CUDA-graph step does), set here to pos0 first. */
static int g_devpos;
static int gpu_pos(int64_t pos0) {
    if (!g_devpos) return (int)pos0;
    cr_assert_eq(cosmos_backend_set_pos(gpu, pos0), COSMOS_OK);
    return COSMOS_POS_DEVICE;
}

/* w_row: the weight is rows [w_row, w_row + N) of a larger matrix (wk inside the fused wq|wk|wv);
 * gemv: the product goes straight to the decode GEMV kernel (gemv.cu), which must serve the shape,
 * instead of through the backend's choice; x_scale: the size of x's values. */
static void check_matmul_with(int64_t M, int64_t N, int64_t K, int64_t x_off, int64_t w_row, int gemv, float x_scale) {
    char what[128];
    snprintf(what, sizeof what, "%s M=%lld N=%lld K=%lld off=%lld w_row=%lld", gemv ? "gemv" : "matmul", (long long)M,
             (long long)N, (long long)K, (long long)x_off, (long long)w_row);
    const int64_t nw = (w_row + N) * K;
    float *x = rand_f32(M * K + x_off, 1, x_scale), *w = rand_f32(nw, 2, 1.0f / sqrtf((float)K));
    cosmos_bf16 *wb = to_bf16(w, nw);
    float *y = malloc(sizeof(float) * (size_t)(M * N));
    cr_assert_eq(cosmos_op_matmul(cpu, cosmos_tensor_2d(y, COSMOS_F32, M, N),
                                  cosmos_tensor_2d(x + x_off, COSMOS_F32, M, K),
                                  cosmos_tensor_2d(wb + w_row * K, COSMOS_BF16, N, K)),
                 COSMOS_OK, "%s (cpu)", what);
    char *dx = dev_upload(x, M * K + x_off, COSMOS_BF16);
    char *dw = dev_upload(w, nw, COSMOS_BF16);
    void *dy = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)(M * N), &dy), COSMOS_OK);
    const cosmos_bf16 *xv = (const cosmos_bf16 *)(dx + x_off * 2), *wv = (const cosmos_bf16 *)(dw + w_row * K * 2);
    if (gemv) {
        cr_assert(cosmos_cuda_gemv_serves(M, K, xv, wv), "%s: not served", what);
        cr_assert_eq(cosmos_cuda_gemv(dy, xv, wv, M, N, K, (cudaStream_t)cosmos_backend_stream(gpu)), COSMOS_OK,
                     "%s", what);
    } else {
        cr_assert_eq(cosmos_op_matmul(gpu, cosmos_tensor_2d(dy, COSMOS_BF16, M, N),
                                      cosmos_tensor_2d((void *)xv, COSMOS_BF16, M, K),
                                      cosmos_tensor_2d((void *)wv, COSMOS_BF16, N, K)),
                     COSMOS_OK, "%s (cuda)", what);
    }
    float *g = dev_download(dy, M * N, COSMOS_BF16);
    cuda_test_compare(what, g, y, M * N, BF16_ATOL, BF16_RTOL);
    cosmos_backend_free_mem(gpu, dx);
    cosmos_backend_free_mem(gpu, dw);
    cosmos_backend_free_mem(gpu, dy);
    free(x), free(w), free(wb), free(y), free(g);
}
static void check_matmul(int64_t M, int64_t N, int64_t K, int64_t x_off) {
    check_matmul_with(M, N, K, x_off, 0, 0, 1.0f);
}

Test(cuda, matmul, .init = open_backends, .fini = close_backends) {
    check_matmul(1, 1, 1, 0);
    check_matmul(1, 257, 129, 0);    /* decode GEMV, odd sizes */
    check_matmul(3, 100, 513, 0);
    check_matmul(5, 33, 77, 1);      /* 2-byte aligned x */
    check_matmul(37, 1000, 300, 0);
    check_matmul(16, 4096, 1024, 8); /* model-like: 4B's dim 4096 output rows, 16-byte aligned x */
    check_matmul(1, 4096, 4096, 0);  /* 4B decode q projection */
    check_matmul(4, 300, 1024, 0);   /* four rows: the decode GEMV kernel's largest M */
    check_matmul(4, 300, 1020, 0);   /* K not a multiple of 8: cuBLASLt */
    check_matmul(1, 300, 1024, 1);   /* one row, x 2 bytes off: cuBLASLt */
}

/* ---- the decode GEMV kernel (gemv.cu) ---- */

/* a backend with COSMOS_CUDA_GEMV=cublaslt: every matmul on cuBLASLt */
static void open_backends_cublaslt_gemv(void) {
    setenv("COSMOS_CUDA_GEMV", "cublaslt", 1);
    open_backends();
    unsetenv("COSMOS_CUDA_GEMV");
}

Test(cuda, gemv_kernel, .init = open_backends, .fini = close_backends) {
    check_matmul_with(1, 1, 8, 0, 0, 1, 1.0f);          /* one vector: lanes 1..31 hold nothing */
    check_matmul_with(1, 37, 136, 0, 0, 1, 1.0f);       /* 17 vectors a row, rows not a multiple of 8 */
    check_matmul_with(2, 100, 1032, 8, 0, 1, 1.0f);     /* 129 vectors: one unrolled pass + a tail of one */
    check_matmul_with(3, 65, 2056, 0, 3, 1, 1.0f);      /* two passes + a tail, a view of rows 3.. */
    check_matmul_with(4, 33, 4096, 0, 0, 1, 1.0f);      /* four x rows, model width */
    check_matmul_with(1, 96, 14336, 0, 0, 1, 1.0f);     /* 4B/5B's w2 width, 1792 vectors a row */
    check_matmul_with(1, 200, 1024, 0, 0, 1, 1000.0f);  /* large outputs: rounding of big values */
    check_matmul_with(1, 4160, 512, 0, 4096, 1, 1.0f);  /* wk's rows inside wq|wk|wv */
}

Test(cuda, gemv_refuses_what_it_does_not_serve, .init = open_backends, .fini = close_backends) {
    void *d = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, 4096, &d), COSMOS_OK);
    char *p = d;
    cr_expect(cosmos_cuda_gemv_serves(1, 8, p, p));
    cr_expect(cosmos_cuda_gemv_serves(COSMOS_CUDA_GEMV_MAX_M, 4096, p, p));
    cr_expect_not(cosmos_cuda_gemv_serves(COSMOS_CUDA_GEMV_MAX_M + 1, 4096, p, p), "M above the maximum");
    cr_expect_not(cosmos_cuda_gemv_serves(0, 4096, p, p), "M 0");
    cr_expect_not(cosmos_cuda_gemv_serves(1, 4100, p, p), "K not a multiple of 8");
    cr_expect_not(cosmos_cuda_gemv_serves(1, 4096, p + 2, p), "x 2 bytes off");
    cr_expect_not(cosmos_cuda_gemv_serves(1, 4096, p, p + 8), "w 8 bytes off");
    cr_expect_eq(cosmos_cuda_gemv((cosmos_bf16 *)p, (const cosmos_bf16 *)(p + 2), (const cosmos_bf16 *)p, 1, 4, 8,
                                  (cudaStream_t)cosmos_backend_stream(gpu)),
                 COSMOS_ERR_UNSUPPORTED);
    cosmos_backend_free_mem(gpu, d);
}

/* The GEMV's fused epilogues (residual add, SwiGLU over w1|w3): bit for bit the launches they
 * replace (the plain GEMV, then add / silu_mul), in place too, and within bf16 rounding of the CPU's
 * composed ops. */
static void expect_same_bits(const char *what, const void *d_got, const void *d_want, int64_t n) {
    float *g = dev_download(d_got, n, COSMOS_BF16), *w = dev_download(d_want, n, COSMOS_BF16);
    const int64_t first = first_bit_difference(g, w, n);
    cr_expect(first < 0, "%s: fused %g, two launches %g at index %lld", what, first < 0 ? 0.0 : (double)g[first],
              first < 0 ? 0.0 : (double)w[first], (long long)first);
    free(g), free(w);
}
static void check_gemv_epilogues(int64_t M, int64_t N, int64_t K) {
    char what[96];
    snprintf(what, sizeof what, "gemv epilogues M=%lld N=%lld K=%lld", (long long)M, (long long)N, (long long)K);
    cudaStream_t s = (cudaStream_t)cosmos_backend_stream(gpu);
    float *x = rand_f32(M * K, 11, 1.0f), *w = rand_f32(2 * N * K, 12, 2.0f / sqrtf((float)K)),
          *a = rand_f32(M * N, 13, 1.0f);
    cosmos_bf16 *dx = dev_upload(x, M * K, COSMOS_BF16), *dw = dev_upload(w, 2 * N * K, COSMOS_BF16),
                *da = dev_upload(a, M * N, COSMOS_BF16), *dw3 = dw + N * K;
    const size_t bytes = sizeof(cosmos_bf16) * (size_t)(M * N);
    void *b[6] = {0};
    for (int i = 0; i < 6; i++) cr_assert_eq(cosmos_backend_alloc(gpu, bytes, &b[i]), COSMOS_OK);
    cosmos_bf16 *tmp = b[0], *want = b[1], *got = b[2], *h1 = b[3], *h3 = b[4], *inplace = b[5];
    /* y = a + x w^T */
    cr_assert_eq(cosmos_cuda_gemv(tmp, dx, dw, M, N, K, s), COSMOS_OK, "%s", what);
    cr_assert_eq(cosmos_cuda_add(want, da, tmp, COSMOS_BF16, M * N, s), COSMOS_OK);
    cr_assert_eq(cosmos_cuda_gemv_add(got, da, dx, dw, M, N, K, s), COSMOS_OK, "%s", what);
    expect_same_bits(what, got, want, M * N);
    cr_assert_eq(cudaMemcpyAsync(inplace, da, bytes, cudaMemcpyDeviceToDevice, s), cudaSuccess);
    cr_assert_eq(cosmos_cuda_gemv_add(inplace, inplace, dx, dw, M, N, K, s), COSMOS_OK, "%s in place", what);
    expect_same_bits(what, inplace, want, M * N);
    float *ycpu = malloc(sizeof(float) * (size_t)(M * N)), *tcpu = malloc(sizeof(float) * (size_t)(M * N));
    cosmos_bf16 *wb = to_bf16(w, 2 * N * K);
    cr_assert_eq(cosmos_op_matmul_add(cpu, cosmos_tensor_2d(ycpu, COSMOS_F32, M, N), cosmos_tensor_2d(a, COSMOS_F32, M, N),
                                      cosmos_tensor_2d(x, COSMOS_F32, M, K), cosmos_tensor_2d(wb, COSMOS_BF16, N, K),
                                      cosmos_tensor_2d(tcpu, COSMOS_F32, M, N)),
                 COSMOS_OK);
    float *g = dev_download(got, M * N, COSMOS_BF16);
    cuda_test_compare(what, g, ycpu, M * N, BF16_ATOL, BF16_RTOL);
    free(g);
    /* h = silu(x w1^T) * (x w3^T) */
    cr_assert_eq(cosmos_cuda_gemv(h1, dx, dw, M, N, K, s), COSMOS_OK);
    cr_assert_eq(cosmos_cuda_gemv(h3, dx, dw3, M, N, K, s), COSMOS_OK);
    cr_assert_eq(cosmos_cuda_silu_mul(want, h1, h3, M * N, s), COSMOS_OK);
    cr_assert_eq(cosmos_cuda_gemv_swiglu(got, dx, dw, M, N, K, s), COSMOS_OK, "%s", what);
    expect_same_bits(what, got, want, M * N);
    float *h13cpu = malloc(sizeof(float) * (size_t)(2 * M * N));
    cr_assert_eq(cosmos_op_matmul_swiglu(cpu, cosmos_tensor_2d(ycpu, COSMOS_F32, M, N), cosmos_tensor_2d(x, COSMOS_F32, M, K),
                                         cosmos_tensor_2d(wb, COSMOS_BF16, 2 * N, K),
                                         cosmos_tensor_2d(h13cpu, COSMOS_F32, 2 * M, N)),
                 COSMOS_OK);
    g = dev_download(got, M * N, COSMOS_BF16);
    cuda_test_compare(what, g, ycpu, M * N, BF16_ATOL, BF16_RTOL);
    for (int i = 0; i < 6; i++) cosmos_backend_free_mem(gpu, b[i]);
    cosmos_backend_free_mem(gpu, dx), cosmos_backend_free_mem(gpu, dw), cosmos_backend_free_mem(gpu, da);
    free(x), free(w), free(a), free(wb), free(ycpu), free(tcpu), free(h13cpu), free(g);
}

Test(cuda, gemv_epilogues, .init = open_backends, .fini = close_backends) {
    check_gemv_epilogues(1, 1, 8);
    check_gemv_epilogues(1, 300, 1032);
    check_gemv_epilogues(2, 77, 520);
    check_gemv_epilogues(3, 40, 2056);
    check_gemv_epilogues(4, 64, 4096);
}

/* cosmos_op_matmul_add / cosmos_op_matmul_swiglu through the backend: fused where the GEMV serves
 * the call, composed on cuBLASLt where it does not (5 rows; K not a multiple of 8), against the
 * CPU's composition */
static void check_fused_ops(int64_t M, int64_t N, int64_t K) {
    char what[96];
    snprintf(what, sizeof what, "matmul_add/swiglu M=%lld N=%lld K=%lld", (long long)M, (long long)N, (long long)K);
    float *x = rand_f32(M * K, 21, 1.0f), *w = rand_f32(2 * N * K, 22, 2.0f / sqrtf((float)K)),
          *a = rand_f32(M * N, 23, 1.0f), *y = malloc(sizeof(float) * (size_t)(M * N)),
          *t = malloc(sizeof(float) * (size_t)(2 * M * N));
    cosmos_bf16 *wb = to_bf16(w, 2 * N * K);
    void *dx = dev_upload(x, M * K, COSMOS_BF16), *dw = dev_upload(w, 2 * N * K, COSMOS_BF16),
         *dy = dev_upload(a, M * N, COSMOS_BF16), *dt = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)(2 * M * N), &dt), COSMOS_OK);
    cr_assert_eq(cosmos_op_matmul_add(cpu, cosmos_tensor_2d(y, COSMOS_F32, M, N), cosmos_tensor_2d(a, COSMOS_F32, M, N),
                                      cosmos_tensor_2d(x, COSMOS_F32, M, K), cosmos_tensor_2d(wb, COSMOS_BF16, N, K),
                                      cosmos_tensor_2d(t, COSMOS_F32, M, N)),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_matmul_add(gpu, cosmos_tensor_2d(dy, COSMOS_BF16, M, N), cosmos_tensor_2d(dy, COSMOS_BF16, M, N),
                                      cosmos_tensor_2d(dx, COSMOS_BF16, M, K), cosmos_tensor_2d(dw, COSMOS_BF16, N, K),
                                      cosmos_tensor_2d(dt, COSMOS_BF16, M, N)),
                 COSMOS_OK, "%s", what);
    float *g = dev_download(dy, M * N, COSMOS_BF16);
    cuda_test_compare(what, g, y, M * N, BF16_ATOL, BF16_RTOL);
    free(g);
    cr_assert_eq(cosmos_op_matmul_swiglu(cpu, cosmos_tensor_2d(y, COSMOS_F32, M, N), cosmos_tensor_2d(x, COSMOS_F32, M, K),
                                         cosmos_tensor_2d(wb, COSMOS_BF16, 2 * N, K),
                                         cosmos_tensor_2d(t, COSMOS_F32, 2 * M, N)),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_matmul_swiglu(gpu, cosmos_tensor_2d(dy, COSMOS_BF16, M, N),
                                         cosmos_tensor_2d(dx, COSMOS_BF16, M, K),
                                         cosmos_tensor_2d(dw, COSMOS_BF16, 2 * N, K),
                                         cosmos_tensor_2d(dt, COSMOS_BF16, 2 * M, N)),
                 COSMOS_OK, "%s", what);
    g = dev_download(dy, M * N, COSMOS_BF16);
    cuda_test_compare(what, g, y, M * N, BF16_ATOL, BF16_RTOL);
    cosmos_backend_free_mem(gpu, dx), cosmos_backend_free_mem(gpu, dw), cosmos_backend_free_mem(gpu, dy);
    cosmos_backend_free_mem(gpu, dt);
    free(x), free(w), free(a), free(y), free(t), free(wb), free(g);
}
Test(cuda, fused_matmul_ops, .init = open_backends, .fini = close_backends) {
    check_fused_ops(1, 96, 512); /* the GEMV's epilogues */
    check_fused_ops(4, 50, 264);
    check_fused_ops(5, 50, 264); /* composed: cuBLASLt, then add / silu_mul */
    check_fused_ops(2, 30, 100);
}
Test(cuda, fused_matmul_ops_on_cublaslt, .init = open_backends_cublaslt_gemv, .fini = close_backends) {
    check_fused_ops(1, 96, 512);
    check_fused_ops(3, 50, 264);
}

/* With COSMOS_CUDA_GEMV=cublaslt every matmul goes to cuBLASLt: its one-row products stay checked. */
Test(cuda, matmul_cublaslt_decode_rows, .init = open_backends_cublaslt_gemv, .fini = close_backends) {
    check_matmul(1, 4096, 4096, 0);
    check_matmul(4, 300, 1024, 0);
    check_matmul_with(1, 4160, 512, 0, 4096, 0, 1.0f);
}


/* ---- rmsnorm ---- */

static void check_rmsnorm(int64_t rows, int64_t D, int in_place) {
    char what[96];
    snprintf(what, sizeof what, "rmsnorm rows=%lld D=%lld%s", (long long)rows, (long long)D, in_place ? " in place" : "");
    const int64_t n = rows * D;
    float *x = rand_f32(n, 3, 2.0f), *w = rand_f32(D, 4, 1.0f), *y = malloc(sizeof(float) * (size_t)n);
    cosmos_bf16 *wb = to_bf16(w, D);
    cr_assert_eq(cosmos_op_rmsnorm(cpu, cosmos_tensor_2d(y, COSMOS_F32, rows, D), cosmos_tensor_2d(x, COSMOS_F32, rows, D),
                                   cosmos_tensor_1d(wb, COSMOS_BF16, D), 1e-5f),
                 COSMOS_OK);
    void *dx = dev_upload(x, n, COSMOS_BF16), *dw = dev_upload(w, D, COSMOS_BF16), *dy = dx;
    if (!in_place) cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)n, &dy), COSMOS_OK);
    cr_assert_eq(cosmos_op_rmsnorm(gpu, cosmos_tensor_2d(dy, COSMOS_BF16, rows, D),
                                   cosmos_tensor_2d(dx, COSMOS_BF16, rows, D), cosmos_tensor_1d(dw, COSMOS_BF16, D), 1e-5f),
                 COSMOS_OK);
    float *g = dev_download(dy, n, COSMOS_BF16);
    cuda_test_compare(what, g, y, n, BF16_ATOL, BF16_RTOL);
    if (!in_place) cosmos_backend_free_mem(gpu, dy);
    cosmos_backend_free_mem(gpu, dx);
    cosmos_backend_free_mem(gpu, dw);
    free(x), free(w), free(y), free(wb), free(g);
}

Test(cuda, rmsnorm, .init = open_backends, .fini = close_backends) {
    check_rmsnorm(1, 1, 0);
    check_rmsnorm(1, 16, 1);     /* QK-norm row of a tiny model */
    check_rmsnorm(7, 129, 0);    /* odd D */
    check_rmsnorm(40, 128, 1);   /* QK-norm over [T*H, Dh] */
    check_rmsnorm(9, 4096, 0);   /* model dim */
    check_rmsnorm(2, 5120, 1);   /* 12B dim, in place */
}

/* ---- rope ---- */

static void check_rope(int64_t T, int64_t H, int64_t Dh, int64_t S, int64_t pos0) {
    char what[96];
    snprintf(what, sizeof what, "rope T=%lld H=%lld Dh=%lld S=%lld pos0=%lld", (long long)T, (long long)H,
             (long long)Dh, (long long)S, (long long)pos0);
    const int64_t n = T * H * Dh, half = Dh / 2;
    float *x = rand_f32(n, 5, 1.0f), *cs = malloc(sizeof(float) * (size_t)(S * half)),
          *sn = malloc(sizeof(float) * (size_t)(S * half));
    for (int64_t i = 0; i < S * half; i++) {
        const double th = 6.283185307 * cosmos_rng_uniform(4242, 6, (uint64_t)i);
        cs[i] = (float)cos(th);
        sn[i] = (float)sin(th);
    }
    void *dx = dev_upload(x, n, COSMOS_BF16), *dc = dev_upload(cs, S * half, COSMOS_F32),
         *ds = dev_upload(sn, S * half, COSMOS_F32);
    cr_assert_eq(cosmos_op_rope(cpu, cosmos_tensor_3d(x, COSMOS_F32, T, H, Dh), cosmos_tensor_2d(cs, COSMOS_F32, S, half),
                                cosmos_tensor_2d(sn, COSMOS_F32, S, half), (int)pos0),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_rope(gpu, cosmos_tensor_3d(dx, COSMOS_BF16, T, H, Dh),
                                cosmos_tensor_2d(dc, COSMOS_F32, S, half), cosmos_tensor_2d(ds, COSMOS_F32, S, half),
                                gpu_pos(pos0)),
                 COSMOS_OK);
    float *g = dev_download(dx, n, COSMOS_BF16);
    cuda_test_compare(what, g, x, n, BF16_ATOL, BF16_RTOL);
    cosmos_backend_free_mem(gpu, dx);
    cosmos_backend_free_mem(gpu, dc);
    cosmos_backend_free_mem(gpu, ds);
    free(x), free(cs), free(sn), free(g);
}

Test(cuda, rope, .init = open_backends, .fini = close_backends) {
    check_rope(1, 8, 16, 64, 63);     /* decode at the last position of the table */
    check_rope(5, 3, 128, 100, 95);   /* ends exactly at S */
    check_rope(17, 4, 64, 17, 0);     /* odd T, whole table */
    check_rope(1, 1, 2, 1, 0);        /* smallest */
    check_rope(64, 32, 128, 256, 7);  /* model-like */
}

/* ---- embedding ---- */

Test(cuda, embedding, .init = open_backends, .fini = close_backends) {
    const int64_t V = 100, D = 65, T = 9;
    const int32_t ids[9] = {0, 99, -1, 100, 42, 42, 7, 2147483647, 1};
    float *table = rand_f32(V * D, 7, 1.0f), *y = malloc(sizeof(float) * (size_t)(T * D));
    cosmos_bf16 *tb = to_bf16(table, V * D);
    cr_assert_eq(cosmos_op_embedding(cpu, cosmos_tensor_2d(y, COSMOS_F32, T, D), cosmos_tensor_2d(tb, COSMOS_BF16, V, D),
                                     cosmos_tensor_1d((void *)ids, COSMOS_I32, T)),
                 COSMOS_OK);
    void *dt = dev_upload(table, V * D, COSMOS_BF16), *di = dev_upload(ids, T, COSMOS_I32), *dy = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)(T * D), &dy), COSMOS_OK);
    cr_assert_eq(cosmos_op_embedding(gpu, cosmos_tensor_2d(dy, COSMOS_BF16, T, D), cosmos_tensor_2d(dt, COSMOS_BF16, V, D),
                                     cosmos_tensor_1d(di, COSMOS_I32, T)),
                 COSMOS_OK);
    float *g = dev_download(dy, T * D, COSMOS_BF16);
    cuda_test_compare("embedding (ids outside [0,V) give zero rows)", g, y, T * D, 0.0, 0.0); /* a gather: exact */
    cosmos_backend_free_mem(gpu, dt);
    cosmos_backend_free_mem(gpu, di);
    cosmos_backend_free_mem(gpu, dy);
    free(table), free(y), free(tb), free(g);
}

/* ---- add, silu_mul ---- */

static void check_add(int64_t n, enum cosmos_dtype b_dt, int in_place) {
    char what[96];
    snprintf(what, sizeof what, "add n=%lld b %s%s", (long long)n, cosmos_dtype_name(b_dt), in_place ? " in place" : "");
    float *a = rand_f32(n, 8, 1.0f), *b = rand_f32(n, 9, 1.0f), *y = malloc(sizeof(float) * (size_t)n);
    if (b_dt == COSMOS_F32) /* an f32 operand is not bf16-valued: give it full f32 bits */
        for (int64_t i = 0; i < n; i++) b[i] = cosmos_rng_normal(4242, 10, (uint64_t)i);
    cosmos_bf16 *bb = to_bf16(b, n);
    cr_assert_eq(cosmos_op_add(cpu, cosmos_tensor_1d(y, COSMOS_F32, n), cosmos_tensor_1d(a, COSMOS_F32, n),
                               b_dt == COSMOS_BF16 ? cosmos_tensor_1d(bb, COSMOS_BF16, n) : cosmos_tensor_1d(b, COSMOS_F32, n)),
                 COSMOS_OK);
    void *da = dev_upload(a, n, COSMOS_BF16), *db = dev_upload(b, n, b_dt), *dy = da;
    if (!in_place) cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)n, &dy), COSMOS_OK);
    cr_assert_eq(cosmos_op_add(gpu, cosmos_tensor_1d(dy, COSMOS_BF16, n), cosmos_tensor_1d(da, COSMOS_BF16, n),
                               cosmos_tensor_1d(db, b_dt, n)),
                 COSMOS_OK);
    float *g = dev_download(dy, n, COSMOS_BF16);
    cuda_test_compare(what, g, y, n, 1e-6, 8e-3); /* one bf16 rounding of the sum */
    if (!in_place) cosmos_backend_free_mem(gpu, dy);
    cosmos_backend_free_mem(gpu, da);
    cosmos_backend_free_mem(gpu, db);
    free(a), free(b), free(y), free(bb), free(g);
}

Test(cuda, add, .init = open_backends, .fini = close_backends) {
    check_add(1, COSMOS_BF16, 0);
    check_add(1001, COSMOS_BF16, 1);
    check_add(1001, COSMOS_F32, 0);
    check_add(3 * 4096 + 5, COSMOS_F32, 1);
    check_add(1 << 20, COSMOS_BF16, 1); /* more elements than the grid-stride loop's first sweep */
}

static void check_silu_mul(int64_t n, int in_place) {
    char what[64];
    snprintf(what, sizeof what, "silu_mul n=%lld%s", (long long)n, in_place ? " in place" : "");
    float *a = rand_f32(n, 11, 3.0f), *b = rand_f32(n, 12, 1.0f), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_op_silu_mul(cpu, cosmos_tensor_1d(y, COSMOS_F32, n), cosmos_tensor_1d(a, COSMOS_F32, n),
                                    cosmos_tensor_1d(b, COSMOS_F32, n)),
                 COSMOS_OK);
    void *da = dev_upload(a, n, COSMOS_BF16), *db = dev_upload(b, n, COSMOS_BF16), *dy = da;
    if (!in_place) cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)n, &dy), COSMOS_OK);
    cr_assert_eq(cosmos_op_silu_mul(gpu, cosmos_tensor_1d(dy, COSMOS_BF16, n), cosmos_tensor_1d(da, COSMOS_BF16, n),
                                    cosmos_tensor_1d(db, COSMOS_BF16, n)),
                 COSMOS_OK);
    float *g = dev_download(dy, n, COSMOS_BF16);
    cuda_test_compare(what, g, y, n, 1e-6, 8e-3);
    if (!in_place) cosmos_backend_free_mem(gpu, dy);
    cosmos_backend_free_mem(gpu, da);
    cosmos_backend_free_mem(gpu, db);
    free(a), free(b), free(y), free(g);
}

Test(cuda, silu_mul, .init = open_backends, .fini = close_backends) {
    check_silu_mul(1, 0);
    check_silu_mul(4097, 1);
    check_silu_mul(7 * 14336, 0); /* 4B FFN width, 7 tokens */
}

/* ---- copy ---- */

Test(cuda, copy_conversions, .init = open_backends, .fini = close_backends) {
    const int64_t n = 1027;
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = 10.0f * cosmos_rng_normal(4242, 13, (uint64_t)i); /* full f32 bits */
    x[0] = 0.0f, x[1] = -0.0f, x[2] = INFINITY, x[3] = -INFINITY, x[4] = 1.00390625f; /* a tie: rounds to even */
    cosmos_bf16 *want = to_bf16(x, n);
    void *dx = dev_upload(x, n, COSMOS_F32), *db = NULL, *df = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)n, &db), COSMOS_OK);
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float) * (size_t)n, &df), COSMOS_OK);
    /* f32 -> bf16: bit-exact against cosmos_f32_to_bf16 (round to nearest even) */
    cr_assert_eq(cosmos_op_copy(gpu, cosmos_tensor_1d(db, COSMOS_BF16, n), cosmos_tensor_1d(dx, COSMOS_F32, n)), COSMOS_OK);
    cosmos_bf16 *got = malloc(sizeof(cosmos_bf16) * (size_t)n);
    cr_assert_eq(cosmos_backend_download(gpu, got, db, sizeof(cosmos_bf16) * (size_t)n), COSMOS_OK);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (got[i] != want[i] && bad++ < 5)
            cr_log_error("copy f32->bf16: index %lld: cuda 0x%04x cpu 0x%04x", (long long)i, got[i], want[i]);
    cr_expect_eq(bad, 0, "copy f32->bf16: %lld values differ", (long long)bad);
    /* bf16 -> f32: exact widening */
    cr_assert_eq(cosmos_op_copy(gpu, cosmos_tensor_1d(df, COSMOS_F32, n), cosmos_tensor_1d(db, COSMOS_BF16, n)), COSMOS_OK);
    float *wide = dev_download(df, n, COSMOS_F32), *want_wide = malloc(sizeof(float) * (size_t)n);
    cosmos_bf16_to_f32_n(want_wide, want, (size_t)n);
    cuda_test_compare("copy bf16->f32", wide, want_wide, n, 0.0, 0.0);
    /* same dtype: f32 (a view of odd length at an odd offset) and int32 */
    cr_assert_eq(cosmos_op_copy(gpu, cosmos_tensor_1d((float *)df + 1, COSMOS_F32, n - 2),
                                cosmos_tensor_1d((float *)dx + 1, COSMOS_F32, n - 2)),
                 COSMOS_OK);
    float *same = dev_download(df, n, COSMOS_F32);
    cuda_test_compare("copy f32->f32 (view)", same + 1, x + 1, n - 2, 0.0, 0.0);
    int32_t ids[5] = {1, -2, 3, 64000, 2147483647}, back[5] = {0};
    void *di = dev_upload(ids, 5, COSMOS_I32), *dj = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof ids, &dj), COSMOS_OK);
    cr_assert_eq(cosmos_op_copy(gpu, cosmos_tensor_1d(dj, COSMOS_I32, 5), cosmos_tensor_1d(di, COSMOS_I32, 5)), COSMOS_OK);
    cr_assert_eq(cosmos_backend_download(gpu, back, dj, sizeof back), COSMOS_OK);
    cr_expect_arr_eq(back, ids, sizeof ids, "copy int32");
    cosmos_backend_free_mem(gpu, dx);
    cosmos_backend_free_mem(gpu, db);
    cosmos_backend_free_mem(gpu, df);
    cosmos_backend_free_mem(gpu, di);
    cosmos_backend_free_mem(gpu, dj);
    free(x), free(want), free(got), free(wide), free(want_wide), free(same);
}

/* ---- attention ---- */

/* GPU attention against the CPU op on seeded random inputs (q scaled by q_scale: a larger one sharpens
 * the softmax, so the running max grows from tile to tile). direct: call the tensor-core kernel
 * itself (cosmos_cuda_attention_mma; bf16 K/V, any T, a host position) instead of the backend's op. */
static void check_attention_with(int64_t T, int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0, int causal,
                                 enum cosmos_dtype kv_dt, float q_scale, int direct) {
    char what[160];
    snprintf(what, sizeof what, "%s T=%lld H=%lld Hkv=%lld Dh=%lld S=%lld pos0=%lld %s kv %s q x%g",
             direct ? "attention_mma" : "attention", (long long)T, (long long)H, (long long)Hkv, (long long)Dh,
             (long long)S, (long long)pos0, causal ? "causal" : "full", cosmos_dtype_name(kv_dt), (double)q_scale);
    const int64_t nq = T * H * Dh, nk = S * Hkv * Dh;
    float *q = rand_f32(nq, 14, q_scale), *k = rand_f32(nk, 15, 1.0f), *v = rand_f32(nk, 16, 1.0f),
          *o = malloc(sizeof(float) * (size_t)nq);
    if (S > 0)
        cr_assert_eq(cosmos_op_attention(cpu, cosmos_tensor_3d(o, COSMOS_F32, T, H, Dh),
                                         cosmos_tensor_3d(q, COSMOS_F32, T, H, Dh),
                                         cosmos_tensor_3d(k, COSMOS_F32, S, Hkv, Dh),
                                         cosmos_tensor_3d(v, COSMOS_F32, S, Hkv, Dh), (int)pos0, causal),
                     COSMOS_OK);
    else
        memset(o, 0, sizeof(float) * (size_t)nq); /* a row with no key: zeros */
    void *dq = dev_upload(q, nq, COSMOS_BF16), *dk = NULL, *dv = NULL, *dout = NULL;
    if (nk) {
        dk = dev_upload(k, nk, kv_dt);
        dv = dev_upload(v, nk, kv_dt);
    } else { /* never read: aligned placeholders */
        cr_assert_eq(cosmos_backend_alloc(gpu, 16, &dk), COSMOS_OK);
        cr_assert_eq(cosmos_backend_alloc(gpu, 16, &dv), COSMOS_OK);
    }
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)nq, &dout), COSMOS_OK);
    if (direct) {
        cr_assert(cosmos_cuda_attention_mma_serves(kv_dt, Dh, dout, dq, dk, dv), "%s: not served", what);
        cr_assert_eq(cosmos_cuda_attention_mma(dout, dq, dk, dv, T, H, Hkv, Dh, S, pos0, causal, NULL,
                                               (cudaStream_t)cosmos_backend_stream(gpu)),
                     COSMOS_OK, "%s", what);
    } else {
        cr_assert_eq(cosmos_op_attention(gpu, cosmos_tensor_3d(dout, COSMOS_BF16, T, H, Dh),
                                         cosmos_tensor_3d(dq, COSMOS_BF16, T, H, Dh),
                                         cosmos_tensor_3d(dk, kv_dt, S, Hkv, Dh), cosmos_tensor_3d(dv, kv_dt, S, Hkv, Dh),
                                         causal ? gpu_pos(pos0) : (int)pos0, causal),
                     COSMOS_OK, "%s", what);
    }
    float *g = dev_download(dout, nq, COSMOS_BF16);
    cuda_test_compare(what, g, o, nq, BF16_ATOL, BF16_RTOL);
    cosmos_backend_free_mem(gpu, dq);
    cosmos_backend_free_mem(gpu, dk);
    cosmos_backend_free_mem(gpu, dv);
    cosmos_backend_free_mem(gpu, dout);
    free(q), free(k), free(v), free(o), free(g);
}
static void check_attention(int64_t T, int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0, int causal,
                            enum cosmos_dtype kv_dt) {
    check_attention_with(T, H, Hkv, Dh, S, pos0, causal, kv_dt, 1.0f, 0);
}

Test(cuda, attention, .init = open_backends, .fini = close_backends) {
    check_attention(7, 8, 2, 16, 7, 0, 1, COSMOS_BF16);       /* prefill from 0, GQA 4 */
    check_attention(1, 8, 4, 64, 300, 299, 1, COSMOS_BF16);   /* decode at the end of the cache */
    check_attention(1, 4, 4, 16, 50, 0, 1, COSMOS_BF16);      /* T=1 at position 0: one key */
    check_attention(5, 8, 2, 16, 65, 60, 1, COSMOS_BF16);     /* crosses a 64-key chunk, ends at S */
    check_attention(3, 6, 3, 128, 257, 200, 1, COSMOS_F32);   /* f32 K/V, Dh = 128 */
    check_attention(5, 8, 4, 16, 16, 0, 0, COSMOS_BF16);      /* cross-attention: all keys */
    check_attention(33, 32, 8, 128, 512, 0, 0, COSMOS_BF16);  /* model-like cross-attention */
    check_attention(64, 32, 8, 128, 1024, 900, 1, COSMOS_BF16); /* model-like prefill chunk */
    check_attention(3, 5, 1, 10, 11, 2, 1, COSMOS_BF16);      /* odd head count and Dh, MQA */
    /* split-KV decode kernel (T <= 4): key splits are whole multiples of 128 keys, about one wave of
     * blocks (the split boundaries named below are those of an A100 or H100) */
    check_attention(1, 32, 8, 128, 12864, 12863, 1, COSMOS_BF16); /* 4B-class decode at the end of the longest cache */
    check_attention(1, 32, 8, 128, 12864, 5000, 1, COSMOS_BF16);  /* mid-cache: the rows past 5000 must not count */
    check_attention(1, 32, 8, 128, 12864, 0, 1, COSMOS_BF16);     /* one key of a long cache */
    check_attention(1, 40, 8, 128, 12864, 12000, 1, COSMOS_BF16); /* 12B-class: rep 5 */
    check_attention(1, 32, 8, 128, 4200, 4096, 1, COSMOS_BF16);   /* 4097 keys: the last split holds one key */
    check_attention(2, 32, 8, 128, 4200, 4095, 1, COSMOS_BF16);   /* token 0 ends on a split boundary, 1 one past */
    check_attention(1, 8, 4, 16, 1024, 256, 1, COSMOS_BF16);      /* tiny model: splits [0,256) and [256,257) */
    check_attention(3, 8, 4, 16, 600, 597, 1, COSMOS_BF16);       /* T=3 at the end of the cache */
    check_attention(4, 40, 8, 128, 3000, 1999, 1, COSMOS_BF16);   /* T=4, rep 5 */
    check_attention(1, 8, 8, 64, 2000, 1999, 1, COSMOS_BF16);     /* rep 1 */
    check_attention(1, 16, 2, 64, 3000, 2999, 1, COSMOS_BF16);    /* rep 8: all 8 heads of a group in one block */
    check_attention(2, 16, 1, 128, 700, 500, 1, COSMOS_BF16);     /* rep 16: two 8-head blocks per group */
    check_attention(1, 6, 2, 72, 900, 899, 1, COSMOS_BF16);       /* Dh 72 (9 chunks of 8), rep 3 */
    check_attention(1, 8, 2, 10, 700, 650, 1, COSMOS_BF16);       /* Dh 10: element loads */
    check_attention(1, 4, 2, 256, 1000, 999, 1, COSMOS_BF16);     /* Dh 256: a whole warp per key row */
    check_attention(1, 32, 8, 128, 5000, 4999, 1, COSMOS_F32);    /* f32 K/V */
    check_attention(4, 8, 2, 10, 300, 296, 1, COSMOS_F32);        /* f32 K/V, odd Dh, T=4 */
    check_attention(1, 32, 8, 128, 512, 0, 0, COSMOS_BF16);       /* cross-attention decode: 512 context rows */
    check_attention(2, 40, 8, 128, 512, 0, 0, COSMOS_F32);        /* ... two queries, rep 5, f32 context */
    /* flash prefill kernel (T > 4): 64-query tiles, 32-key tiles, causal tiles past the diagonal skipped */
    check_attention(257, 32, 8, 128, 257, 0, 1, COSMOS_BF16);     /* from position 0; the last tile has one query */
    check_attention(257, 32, 8, 128, 600, 300, 1, COSMOS_BF16);   /* from 300: tiles cross the diagonal */
    check_attention(256, 32, 8, 128, 512, 0, 0, COSMOS_BF16);     /* cross-attention: 256 queries, 512 context rows */
    check_attention(70, 8, 2, 128, 400, 200, 1, COSMOS_F32);      /* f32 K/V */
    check_attention(65, 4, 2, 256, 100, 30, 1, COSMOS_BF16);      /* Dh 256 */
    check_attention(100, 6, 2, 72, 150, 40, 1, COSMOS_BF16);      /* Dh 72 (zero-padded to 128), rep 3 */
    check_attention(9, 5, 5, 10, 40, 31, 1, COSMOS_BF16);         /* Dh 10 (padded to 16), rep 1 */
    check_attention(5, 40, 8, 128, 4000, 3995, 1, COSMOS_BF16);   /* smallest prefill, at the end of a long cache */
    check_attention(37, 8, 4, 16, 33, 0, 0, COSMOS_BF16);         /* non-causal, keys not a multiple of the tile */
}

/* ---- the two prefill kernels: tensor cores (attention_mma.cu) and f32 (attention.cu) ---- */

/* With COSMOS_CUDA_ATTENTION=f32 the backend keeps every prefill on the f32 kernel: the shapes the
 * tensor-core kernel takes by default (bf16 K/V, Dh 16 or 128), so the f32 kernel stays checked on
 * them. */
static void open_backends_f32_attention(void) {
    setenv("COSMOS_CUDA_ATTENTION", "f32", 1);
    open_backends();
    unsetenv("COSMOS_CUDA_ATTENTION");
}
Test(cuda, attention_f32_prefill_kernel, .init = open_backends_f32_attention, .fini = close_backends) {
    check_attention(7, 8, 2, 16, 7, 0, 1, COSMOS_BF16);
    check_attention(64, 32, 8, 128, 1024, 900, 1, COSMOS_BF16);
    check_attention(257, 32, 8, 128, 600, 300, 1, COSMOS_BF16);
    check_attention(256, 32, 8, 128, 512, 0, 0, COSMOS_BF16);
    check_attention(37, 8, 4, 16, 33, 0, 0, COSMOS_BF16);
}

/* A kernel choice in the environment (var=value) that the backend does not know: refused when the
 * backend is created, with no backend made. */
static void check_choice_refused(const char *var, const char *value) {
    cuda_test_open_backends(&cpu, &gpu); /* skips without a device */
    cuda_test_close_backends(&cpu, &gpu);
    setenv(var, value, 1);
    cosmos_backend_t *be = NULL;
    const cosmos_status st = cosmos_backend_create("cuda:0", NULL, &be);
    unsetenv(var);
    cr_expect_eq(st, COSMOS_ERR_INVALID_ARG, "%s=%s: %s", var, value, cosmos_status_str(st));
    cr_expect_null(be);
    if (be) cosmos_backend_free(be);
}

Test(cuda, attention_mode_is_checked_at_backend_creation) { check_choice_refused("COSMOS_CUDA_ATTENTION", "fast"); }
Test(cuda, gemv_mode_is_checked_at_backend_creation) { check_choice_refused("COSMOS_CUDA_GEMV", "fast"); }

/* the tensor-core kernel called directly (any T, decode-sized too) against the CPU op */
static void check_attention_mma(int64_t T, int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0, int causal,
                                float q_scale) {
    check_attention_with(T, H, Hkv, Dh, S, pos0, causal, COSMOS_BF16, q_scale, 1);
}

Test(cuda, attention_mma_kernel, .init = open_backends, .fini = close_backends) {
    check_attention_mma(1, 4, 2, 16, 9, 8, 1, 1.0f);       /* one query, one tile of 16 rows, 15 padding */
    check_attention_mma(5, 8, 1, 32, 70, 65, 1, 1.0f);     /* MQA, keys cross a 64-key tile */
    check_attention_mma(65, 8, 2, 64, 65, 0, 1, 1.0f);     /* from 0: a second query tile of one row */
    check_attention_mma(130, 10, 2, 128, 300, 170, 1, 1.0f); /* rep 5, tiles cross the diagonal */
    check_attention_mma(17, 4, 4, 64, 200, 0, 0, 6.0f);    /* full, peaked softmax: the max moves between tiles */
    check_attention_mma(40, 4, 2, 128, 129, 89, 1, 6.0f);  /* causal, peaked, one key past two tiles */
    check_attention_mma(33, 4, 2, 32, 1, 0, 0, 1.0f);      /* one context row */
    check_attention_mma(9, 4, 2, 16, 0, 0, 0, 1.0f);       /* no key at all: zeros */
}

Test(cuda, attention_mma_refuses_what_it_does_not_serve, .init = open_backends, .fini = close_backends) {
    void *d = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, 4096, &d), COSMOS_OK);
    char *p = d;
    cr_expect(cosmos_cuda_attention_mma_serves(COSMOS_BF16, 128, p, p, p, p));
    cr_expect(cosmos_cuda_attention_mma_serves(COSMOS_BF16, 16, p, p, p, p));
    cr_expect_not(cosmos_cuda_attention_mma_serves(COSMOS_F32, 128, p, p, p, p), "f32 K/V");
    cr_expect_not(cosmos_cuda_attention_mma_serves(COSMOS_BF16, 72, p, p, p, p), "Dh 72");
    cr_expect_not(cosmos_cuda_attention_mma_serves(COSMOS_BF16, 256, p, p, p, p), "Dh 256");
    cr_expect_not(cosmos_cuda_attention_mma_serves(COSMOS_BF16, 128, p, p + 2, p, p), "q 2 bytes off");
    cr_expect_eq(cosmos_cuda_attention_mma((cosmos_bf16 *)p, (const cosmos_bf16 *)p, (const cosmos_bf16 *)p,
                                           (const cosmos_bf16 *)p, 2, 1, 1, 72, 2, 0, 1, NULL,
                                           (cudaStream_t)cosmos_backend_stream(gpu)),
                 COSMOS_ERR_UNSUPPORTED);
    cosmos_backend_free_mem(gpu, d);
}

/* ---- tiny models: teacher-forced logits CUDA vs CPU ---- */

/* The fixtures: under COSMOS_SOURCE_DIR from the environment when set (a bundle run elsewhere,
 * docs/gpu-checks.md), else the source tree this was built from. */
static const char *source_dir(void) {
    const char *e = getenv("COSMOS_SOURCE_DIR");
    return e && *e ? e : COSMOS_SOURCE_DIR;
}

/* The tokens (and the V2W context, else NULL) of a tiny model's golden fixture. */
static void load_fixture(const char *name, int32_t **tokens, int *n, float **ctx, int *rows, int *cols) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s.golden.h5", source_dir(), name);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK, "%s", path);
    struct cosmos_h5_info ti;
    cr_assert_eq(cosmos_h5_info(h, "tokens", &ti), COSMOS_OK);
    *n = (int)ti.shape[0];
    *tokens = malloc(sizeof(int32_t) * (size_t)*n);
    cr_assert_eq(cosmos_h5_read(h, "tokens", COSMOS_I32, *tokens), COSMOS_OK);
    *ctx = NULL;
    *rows = *cols = 0;
    if (cosmos_h5_has_dataset(h, "context")) {
        struct cosmos_h5_info ci;
        cr_assert_eq(cosmos_h5_info(h, "context", &ci), COSMOS_OK);
        *rows = (int)ci.shape[0], *cols = (int)ci.shape[1];
        *ctx = malloc(sizeof(float) * (size_t)*rows * (size_t)*cols);
        cr_assert_eq(cosmos_h5_read(h, "context", COSMOS_F32, *ctx), COSMOS_OK);
    }
    cosmos_h5_close(h);
}

static void check_tiny_model(const char *name) {
    char path[1024], what[160];
    int32_t *tokens = NULL;
    float *ctx = NULL;
    int n = 0, ctx_rows = 0, ctx_cols = 0;
    load_fixture(name, &tokens, &n, &ctx, &ctx_rows, &ctx_cols);

    snprintf(path, sizeof path, "%s/tests/data/%s.h5", source_dir(), name);
    cosmos_ar_model_t *mc = NULL, *mg = NULL;
    cr_assert_eq(cosmos_ar_model_load(path, cpu, NULL, &mc), COSMOS_OK, "%s on cpu", path);
    cr_assert_eq(cosmos_ar_model_load(path, gpu, NULL, &mg), COSMOS_OK, "%s on cuda", path);
    { /* the memory plan of bf16 activations (info DIR --ranks N --backend cuda) is what the load allocated */
        const struct cosmos_ar_config *c = cosmos_ar_model_config(mg);
        const struct cosmos_ar_part whole = cosmos_ar_part_whole(c);
        struct cosmos_ar_memory pl, got = cosmos_ar_model_memory(mg);
        cr_assert_eq(cosmos_ar_memory_plan(c, &whole, 1, 0, cosmos_backend_act_dtype(gpu), &pl), COSMOS_OK);
        cr_expect(pl.weight_bytes == got.weight_bytes && pl.kv_bytes == got.kv_bytes &&
                      pl.context_bytes == got.context_bytes && pl.table_bytes == got.table_bytes &&
                      pl.scratch_bytes == got.scratch_bytes,
                  "%s on cuda: planned %zu %zu %zu %zu %zu, loaded %zu %zu %zu %zu %zu (weights kv context tables "
                  "scratch)",
                  name, pl.weight_bytes, pl.kv_bytes, pl.context_bytes, pl.table_bytes, pl.scratch_bytes,
                  got.weight_bytes, got.kv_bytes, got.context_bytes, got.table_bytes, got.scratch_bytes);
    }
    if (ctx) {
        cr_assert_eq(cosmos_ar_set_context(mc, ctx, ctx_rows, ctx_cols), COSMOS_OK);
        cr_assert_eq(cosmos_ar_set_context(mg, ctx, ctx_rows, ctx_cols), COSMOS_OK);
    }
    const int V = cosmos_ar_model_config(mc)->vocab_size;
    float *lc = malloc(sizeof(float) * (size_t)n * (size_t)V), *lg = malloc(sizeof(float) * (size_t)n * (size_t)V);
    /* teacher forcing one token at a time (decode through the KV cache; LOGITS_LAST keeps the
     * model's f32 logits staging within its scratch, see docs/cuda.md) */
    for (int t = 0; t < n; t++) {
        cr_assert_eq(cosmos_ar_forward(mc, tokens + t, 1, t, COSMOS_LOGITS_LAST, lc + (size_t)t * V), COSMOS_OK);
        cr_assert_eq(cosmos_ar_forward(mg, tokens + t, 1, t, COSMOS_LOGITS_LAST, lg + (size_t)t * V), COSMOS_OK,
                     "%s: cuda decode at position %d", name, t);
    }
    double ref_max = 1.0;
    for (size_t i = 0; i < (size_t)n * (size_t)V; i++)
        if (fabs(lc[i]) > ref_max) ref_max = fabs(lc[i]);
    int agree = 0;
    for (int t = 0; t < n; t++) {
        int ac = 0, ag = 0;
        for (int v = 1; v < V; v++) {
            if (lc[(size_t)t * V + v] > lc[(size_t)t * V + ac]) ac = v;
            if (lg[(size_t)t * V + v] > lg[(size_t)t * V + ag]) ag = v;
        }
        agree += ac == ag;
    }
    cr_log_info("%s: argmax agrees at %d of %d positions", name, agree, n);
    snprintf(what, sizeof what, "%s teacher-forced decode logits cuda vs cpu", name);
    cuda_test_compare(what, lg, lc, (int64_t)n * V, LOGITS_REL * ref_max, 0.0);
    /* prefill of the whole sequence (one chunk) gives the same last logits as the decode */
    float *last = malloc(sizeof(float) * (size_t)V);
    cr_assert_eq(cosmos_ar_forward(mg, tokens, n, 0, COSMOS_LOGITS_LAST, last), COSMOS_OK, "%s: cuda prefill", name);
    snprintf(what, sizeof what, "%s cuda prefill vs cpu decode, last position", name);
    cuda_test_compare(what, last, lc + (size_t)(n - 1) * V, V, LOGITS_REL * ref_max, 0.0);
    /* the decode step with the sampler on the GPU draws what the host sampler draws from the same
     * GPU logits (the step is rerun at the same position: it rewrites the same K/V) */
    const struct cosmos_sampler_params sps[] = {{0.0f, 1.0f, 0, 3}, {1.0f, 0.8f, 0, 4}, {1.0f, 1.0f, 5, 5}};
    for (size_t c = 0; c < sizeof sps / sizeof sps[0]; c++) {
        cosmos_sampler_t *hs = NULL;
        cr_assert_eq(cosmos_sampler_init(&sps[c], V, &hs), COSMOS_OK);
        for (int t = 0; t < n; t += 3) {
            int32_t dev_tok = -1;
            cr_assert_eq(cosmos_ar_forward(mg, tokens + t, 1, t, COSMOS_LOGITS_LAST, last), COSMOS_OK);
            cr_assert_eq(cosmos_ar_forward_sample(mg, tokens + t, 1, t, &sps[c], &dev_tok), COSMOS_OK,
                         "%s: forward_sample at %d", name, t);
            cr_expect_eq(dev_tok, cosmos_sampler_sample(hs, last, t + 1), "%s: params %zu position %d", name, c, t);
        }
        cosmos_sampler_free(hs);
    }
    cosmos_ar_model_free(mg);
    cosmos_ar_model_free(mc);
    free(tokens), free(ctx), free(lc), free(lg), free(last);
}

Test(cuda, tiny_ar_4b_logits, .init = open_backends, .fini = close_backends) { check_tiny_model("tiny-ar-4b"); }
Test(cuda, tiny_ar_12b_logits, .init = open_backends, .fini = close_backends) { check_tiny_model("tiny-ar-12b"); }
Test(cuda, tiny_ar_5b_video2world_logits, .init = open_backends, .fini = close_backends) {
    check_tiny_model("tiny-ar-5b-video2world");
}
Test(cuda, tiny_ar_13b_video2world_logits, .init = open_backends, .fini = close_backends) {
    check_tiny_model("tiny-ar-13b-video2world");
}

/* The position-taking ops with the position in device memory: attention (decode plans for the
 * last position, so most splits are empty at small positions), rope, store_rows, add_rows. */
Test(cuda, device_position_ops, .init = open_backends, .fini = close_backends) {
    g_devpos = 1;
    check_attention(1, 32, 8, 128, 12864, 0, 1, COSMOS_BF16);
    check_attention(1, 32, 8, 128, 12864, 5000, 1, COSMOS_BF16);
    check_attention(1, 32, 8, 128, 12864, 12863, 1, COSMOS_BF16);
    check_attention(1, 8, 4, 16, 300, 17, 1, COSMOS_BF16);
    check_attention(7, 8, 2, 16, 400, 250, 1, COSMOS_BF16); /* prefill kernel */
    check_rope(1, 8, 16, 50, 33);
    check_rope(3, 32, 128, 12864, 12800);
    g_devpos = 0;
    enum { S = 40, R = 24, T = 3 };
    float *cache = rand_f32(S * R, 30, 1.0f), *src = rand_f32(T * R, 31, 1.0f), *tab = rand_f32(S * R, 32, 1.0f);
    float *a = rand_f32(T * R, 33, 1.0f), *y = malloc(sizeof(float) * T * R);
    void *dcache = dev_upload(cache, S * R, COSMOS_BF16), *dsrc = dev_upload(src, T * R, COSMOS_BF16);
    void *dtab = dev_upload(tab, S * R, COSMOS_BF16), *da = dev_upload(a, T * R, COSMOS_BF16), *dy = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * T * R, &dy), COSMOS_OK);
    cr_assert_eq(cosmos_backend_set_pos(gpu, 29), COSMOS_OK);
    cr_assert_eq(cosmos_op_store_rows(gpu, cosmos_tensor_2d(dcache, COSMOS_BF16, S, R),
                                      cosmos_tensor_2d(dsrc, COSMOS_BF16, T, R), COSMOS_POS_DEVICE),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_add_rows(gpu, cosmos_tensor_2d(dy, COSMOS_BF16, T, R), cosmos_tensor_2d(da, COSMOS_BF16, T, R),
                                    cosmos_tensor_2d(dtab, COSMOS_BF16, S, R), COSMOS_POS_DEVICE),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_store_rows(cpu, cosmos_tensor_2d(cache, COSMOS_F32, S, R),
                                      cosmos_tensor_2d(src, COSMOS_F32, T, R), 29),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_add_rows(cpu, cosmos_tensor_2d(y, COSMOS_F32, T, R), cosmos_tensor_2d(a, COSMOS_F32, T, R),
                                    cosmos_tensor_2d(tab, COSMOS_F32, S, R), 29),
                 COSMOS_OK);
    float *gc = dev_download(dcache, S * R, COSMOS_BF16), *gy = dev_download(dy, T * R, COSMOS_BF16);
    cuda_test_compare("store_rows at a device position", gc, cache, S * R, 0.0, 0.0);
    cuda_test_compare("add_rows at a device position", gy, y, T * R, BF16_ATOL, BF16_RTOL);
    cosmos_backend_free_mem(gpu, dcache);
    cosmos_backend_free_mem(gpu, dsrc);
    cosmos_backend_free_mem(gpu, dtab);
    cosmos_backend_free_mem(gpu, da);
    cosmos_backend_free_mem(gpu, dy);
    free(cache), free(src), free(tab), free(a), free(y), free(gc), free(gy);
}

/* The fused QK-norm + RoPE against the CPU's rmsnorm then rope, at a host and a device position. */
static void check_qk_norm_rope(int64_t T, int64_t H, int64_t Dh, int64_t S, int64_t pos0, int devpos) {
    char what[128];
    snprintf(what, sizeof what, "qk_norm_rope T=%lld H=%lld Dh=%lld pos0=%lld%s", (long long)T, (long long)H,
             (long long)Dh, (long long)pos0, devpos ? " (device position)" : "");
    const int64_t n = T * H * Dh, half = Dh / 2;
    float *x = rand_f32(n, 40, 3.0f), *w = rand_f32(Dh, 41, 1.0f), *cs = malloc(sizeof(float) * (size_t)(S * half)),
          *sn = malloc(sizeof(float) * (size_t)(S * half));
    for (int64_t i = 0; i < S * half; i++) {
        const double th = 6.283185307 * cosmos_rng_uniform(4242, 42, (uint64_t)i);
        cs[i] = (float)cos(th);
        sn[i] = (float)sin(th);
    }
    cosmos_bf16 *wb = to_bf16(w, Dh);
    void *dx = dev_upload(x, n, COSMOS_BF16), *dw = dev_upload(w, Dh, COSMOS_BF16), *dc = dev_upload(cs, S * half, COSMOS_F32),
         *ds = dev_upload(sn, S * half, COSMOS_F32);
    struct cosmos_tensor xc = cosmos_tensor_3d(x, COSMOS_F32, T, H, Dh);
    cr_assert_eq(cosmos_op_rmsnorm(cpu, xc, xc, cosmos_tensor_1d(wb, COSMOS_BF16, Dh), 1e-5f), COSMOS_OK);
    cr_assert_eq(cosmos_op_rope(cpu, xc, cosmos_tensor_2d(cs, COSMOS_F32, S, half), cosmos_tensor_2d(sn, COSMOS_F32, S, half),
                                (int)pos0),
                 COSMOS_OK);
    g_devpos = devpos;
    const int pa = gpu_pos(pos0);
    g_devpos = 0;
    cr_assert_eq(cosmos_op_qk_norm_rope(gpu, cosmos_tensor_3d(dx, COSMOS_BF16, T, H, Dh), cosmos_tensor_1d(dw, COSMOS_BF16, Dh),
                                        1e-5f, cosmos_tensor_2d(dc, COSMOS_F32, S, half),
                                        cosmos_tensor_2d(ds, COSMOS_F32, S, half), pa),
                 COSMOS_OK);
    float *g = dev_download(dx, n, COSMOS_BF16);
    cuda_test_compare(what, g, x, n, BF16_ATOL, BF16_RTOL);
    cosmos_backend_free_mem(gpu, dx);
    cosmos_backend_free_mem(gpu, dw);
    cosmos_backend_free_mem(gpu, dc);
    cosmos_backend_free_mem(gpu, ds);
    free(x), free(w), free(wb), free(cs), free(sn), free(g);
}
Test(cuda, qk_norm_rope, .init = open_backends, .fini = close_backends) {
    check_qk_norm_rope(1, 32, 128, 12864, 12863, 0); /* decode q at the end */
    check_qk_norm_rope(1, 8, 128, 12864, 4000, 1);   /* decode k, device position */
    check_qk_norm_rope(37, 8, 16, 100, 3, 0);        /* tiny heads, a prefill chunk */
    check_qk_norm_rope(5, 3, 256, 64, 59, 1);        /* Dh 256: four pairs per lane */
    check_qk_norm_rope(2, 5, 10, 20, 7, 0);          /* Dh 10: lanes without a pair */
}

/* The fused attention prologue (qkv_rope_store): q, k and both caches bit for bit what the four
 * separate ops leave on the same GPU, at a host or a device position; cache rows outside the step's
 * are untouched. */
static void check_qkv_rope_store(int64_t T, int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0, int devpos) {
    char what[128];
    snprintf(what, sizeof what, "qkv_rope_store T=%lld H=%lld Hkv=%lld Dh=%lld pos0=%lld%s", (long long)T,
             (long long)H, (long long)Hkv, (long long)Dh, (long long)pos0, devpos ? " (device position)" : "");
    const int64_t nq = T * H * Dh, nk = T * Hkv * Dh, nc = S * Hkv * Dh, half = Dh / 2;
    float *q = rand_f32(nq, 50, 3.0f), *k = rand_f32(nk, 51, 3.0f), *v = rand_f32(nk, 52, 1.0f),
          *qw = rand_f32(Dh, 53, 1.0f), *kw = rand_f32(Dh, 54, 1.0f), *cache = rand_f32(nc, 55, 1.0f),
          *cs = malloc(sizeof(float) * (size_t)(S * half)), *sn = malloc(sizeof(float) * (size_t)(S * half));
    for (int64_t i = 0; i < S * half; i++) {
        const double th = 6.283185307 * cosmos_rng_uniform(4242, 56, (uint64_t)i);
        cs[i] = (float)cos(th), sn[i] = (float)sin(th);
    }
    void *d[2][5]; /* [separate, fused][q, k, v, kc, vc] */
    for (int f = 0; f < 2; f++) {
        d[f][0] = dev_upload(q, nq, COSMOS_BF16), d[f][1] = dev_upload(k, nk, COSMOS_BF16);
        d[f][2] = dev_upload(v, nk, COSMOS_BF16), d[f][3] = dev_upload(cache, nc, COSMOS_BF16);
        d[f][4] = dev_upload(cache, nc, COSMOS_BF16);
    }
    void *dqw = dev_upload(qw, Dh, COSMOS_BF16), *dkw = dev_upload(kw, Dh, COSMOS_BF16),
         *dc = dev_upload(cs, S * half, COSMOS_F32), *ds = dev_upload(sn, S * half, COSMOS_F32);
    const struct cosmos_tensor tqw = cosmos_tensor_1d(dqw, COSMOS_BF16, Dh), tkw = cosmos_tensor_1d(dkw, COSMOS_BF16, Dh),
                               tc = cosmos_tensor_2d(dc, COSMOS_F32, S, half), ts = cosmos_tensor_2d(ds, COSMOS_F32, S, half);
    g_devpos = devpos;
    const int pa = gpu_pos(pos0);
    g_devpos = 0;
    struct cosmos_tensor t[2][5];
    for (int f = 0; f < 2; f++) {
        t[f][0] = cosmos_tensor_3d(d[f][0], COSMOS_BF16, T, H, Dh);
        for (int i = 1; i < 3; i++) t[f][i] = cosmos_tensor_3d(d[f][i], COSMOS_BF16, T, Hkv, Dh);
        for (int i = 3; i < 5; i++) t[f][i] = cosmos_tensor_3d(d[f][i], COSMOS_BF16, S, Hkv, Dh);
    }
    cr_assert_eq(cosmos_op_qk_norm_rope(gpu, t[0][0], tqw, 1e-5f, tc, ts, pa), COSMOS_OK);
    cr_assert_eq(cosmos_op_qk_norm_rope(gpu, t[0][1], tkw, 1e-5f, tc, ts, pa), COSMOS_OK);
    cr_assert_eq(cosmos_op_store_rows(gpu, t[0][3], t[0][1], pa), COSMOS_OK);
    cr_assert_eq(cosmos_op_store_rows(gpu, t[0][4], t[0][2], pa), COSMOS_OK);
    cr_assert_eq(cosmos_op_qkv_rope_store(gpu, t[1][0], t[1][1], t[1][2], tqw, tkw, 1e-5f, tc, ts, t[1][3], t[1][4], pa),
                 COSMOS_OK, "%s", what);
    static const char *const names[5] = {"q", "k", "v", "k cache", "v cache"};
    const int64_t n[5] = {nq, nk, nk, nc, nc};
    for (int i = 0; i < 5; i++) {
        char w2[160];
        snprintf(w2, sizeof w2, "%s: %s", what, names[i]);
        expect_same_bits(w2, d[1][i], d[0][i], n[i]);
    }
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < 5; i++) cosmos_backend_free_mem(gpu, d[f][i]);
    cosmos_backend_free_mem(gpu, dqw), cosmos_backend_free_mem(gpu, dkw);
    cosmos_backend_free_mem(gpu, dc), cosmos_backend_free_mem(gpu, ds);
    free(q), free(k), free(v), free(qw), free(kw), free(cache), free(cs), free(sn);
}
/* The APE add fused with the attention norm (add_rows_rmsnorm): x and y bit for bit add_rows then
 * rmsnorm on the same GPU, table bf16 or f32, host or device position. */
static void check_add_rows_rmsnorm(int64_t T, int64_t D, int64_t S, int64_t pos0, enum cosmos_dtype tdt, int devpos) {
    char what[128];
    snprintf(what, sizeof what, "add_rows_rmsnorm T=%lld D=%lld pos0=%lld table %s%s", (long long)T, (long long)D,
             (long long)pos0, cosmos_dtype_name(tdt), devpos ? " (device position)" : "");
    float *x = rand_f32(T * D, 60, 2.0f), *tab = rand_f32(S * D, 61, 1.0f), *w = rand_f32(D, 62, 1.0f);
    if (tdt == COSMOS_F32)
        for (int64_t i = 0; i < S * D; i++) tab[i] *= 1.0f + 1e-3f * (float)(i % 7); /* not bf16-representable */
    void *dx[2] = {dev_upload(x, T * D, COSMOS_BF16), dev_upload(x, T * D, COSMOS_BF16)}, *dy[2] = {NULL, NULL};
    void *dt = dev_upload(tab, S * D, tdt), *dw = dev_upload(w, D, COSMOS_BF16);
    for (int f = 0; f < 2; f++)
        cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)(T * D), &dy[f]), COSMOS_OK);
    g_devpos = devpos;
    const int pa = gpu_pos(pos0);
    g_devpos = 0;
    const struct cosmos_tensor tt = cosmos_tensor_2d(dt, tdt, S, D), tw = cosmos_tensor_1d(dw, COSMOS_BF16, D);
    const struct cosmos_tensor x0 = cosmos_tensor_2d(dx[0], COSMOS_BF16, T, D), x1 = cosmos_tensor_2d(dx[1], COSMOS_BF16, T, D);
    cr_assert_eq(cosmos_op_add_rows(gpu, x0, x0, tt, pa), COSMOS_OK);
    cr_assert_eq(cosmos_op_rmsnorm(gpu, cosmos_tensor_2d(dy[0], COSMOS_BF16, T, D), x0, tw, 1e-5f), COSMOS_OK);
    cr_assert_eq(cosmos_op_add_rows_rmsnorm(gpu, x1, tt, pa, cosmos_tensor_2d(dy[1], COSMOS_BF16, T, D), tw, 1e-5f),
                 COSMOS_OK, "%s", what);
    expect_same_bits(what, dx[1], dx[0], T * D);
    expect_same_bits(what, dy[1], dy[0], T * D);
    for (int f = 0; f < 2; f++) cosmos_backend_free_mem(gpu, dx[f]), cosmos_backend_free_mem(gpu, dy[f]);
    cosmos_backend_free_mem(gpu, dt), cosmos_backend_free_mem(gpu, dw);
    free(x), free(tab), free(w);
}
Test(cuda, add_rows_rmsnorm, .init = open_backends, .fini = close_backends) {
    check_add_rows_rmsnorm(1, 4096, 40, 39, COSMOS_BF16, 0); /* decode, model width */
    check_add_rows_rmsnorm(1, 4096, 40, 17, COSMOS_F32, 1);  /* f32 table, device position */
    check_add_rows_rmsnorm(9, 300, 20, 3, COSMOS_BF16, 0);   /* a prefill chunk, D not a multiple of 256 */
}

Test(cuda, qkv_rope_store, .init = open_backends, .fini = close_backends) {
    check_qkv_rope_store(1, 32, 8, 128, 300, 299, 0); /* decode at the end of the cache */
    check_qkv_rope_store(1, 32, 8, 128, 300, 150, 1); /* device position */
    check_qkv_rope_store(7, 4, 2, 64, 40, 5, 0);      /* a prefill chunk */
    check_qkv_rope_store(3, 5, 5, 10, 12, 9, 1);      /* Dh 10: lanes without a pair */
}

/* CUDA-graph decode: the recorded step replayed at every position draws exactly the tokens of the
 * eager step and of the device-position step without graphs (same GPU, same kernels). And the
 * load reserved all the backend's own memory the run uses: its workspace does not grow after it
 * (cosmos_backend_reserve_attention / _sampler; the first mode starts on a fresh backend). */
static void check_graph_decode(const char *name) {
    char path[1024];
    int32_t prompt[9], *all = NULL;
    float *ctx = NULL;
    int n_all = 0, rows = 0, cols = 0;
    load_fixture(name, &all, &n_all, &ctx, &rows, &cols);
    cr_assert(n_all >= 9);
    memcpy(prompt, all, sizeof prompt);
    free(all);
    snprintf(path, sizeof path, "%s/tests/data/%s.h5", source_dir(), name);
    enum { N = 40 };
    int32_t tok[3][N + 1];
    const struct cosmos_sampler_params sp = {1.0f, 0.9f, 0, 5};
    for (int mode = 0; mode < 3; mode++) { /* eager, device position, graphs */
        struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
        lp.devpos_decode = mode == 1;
        lp.decode_graphs = mode == 2;
        lp.n_seq = 2;
        cosmos_ar_model_t *m = NULL;
        cr_assert_eq(cosmos_ar_model_load(path, gpu, &lp, &m), COSMOS_OK, "%s", path);
        struct cosmos_backend_memory at_load, at_end;
        cr_assert_eq(cosmos_backend_memory(gpu, &at_load), COSMOS_OK);
        for (int seq = 1; seq >= 0; seq--) { /* two slots: two graphs; slot 0's tokens are compared */
            cr_assert_eq(cosmos_ar_use_seq(m, seq), COSMOS_OK);
            if (ctx) cr_assert_eq(cosmos_ar_set_context(m, ctx, rows, cols), COSMOS_OK);
            cr_assert_eq(cosmos_ar_forward(m, prompt, 9, 0, COSMOS_LOGITS_NONE, NULL), COSMOS_OK);
            tok[mode][0] = prompt[8];
            for (int k = 0; k < N; k++)
                cr_assert_eq(cosmos_ar_forward_sample(m, &tok[mode][k], 1, 9 + k, &sp, &tok[mode][k + 1]), COSMOS_OK,
                             "%s: mode %d step %d", name, mode, k);
        }
        cr_assert_eq(cosmos_backend_memory(gpu, &at_end), COSMOS_OK);
        cr_expect_eq(at_end.workspace_bytes, at_load.workspace_bytes,
                     "%s mode %d: the backend's workspace grew after the load, %zu -> %zu bytes", name, mode,
                     at_load.workspace_bytes, at_end.workspace_bytes);
        cosmos_ar_model_free(m);
    }
    for (int k = 1; k <= N; k++) {
        cr_expect_eq(tok[1][k], tok[0][k], "%s: device-position token %d", name, k);
        cr_expect_eq(tok[2][k], tok[0][k], "%s: graph-replayed token %d", name, k);
    }
    free(ctx);
}
Test(cuda, graph_decode_tiny_ar_4b, .init = open_backends, .fini = close_backends) { check_graph_decode("tiny-ar-4b"); }
Test(cuda, graph_decode_tiny_ar_13b_video2world, .init = open_backends, .fini = close_backends) {
    check_graph_decode("tiny-ar-13b-video2world");
}

/* Decode with the fused products (wq|wk|wv; w1|w3 with SwiGLU in the GEMV) and the residual adds in
 * the output projections' GEMV gives the logits of the separate ops (unfused_decode) bit for bit on
 * the GPU: the same sums in the same order, rounded where the separate ops store them. */
static void check_fused_decode(const char *name) {
    char path[1024];
    int32_t *tokens = NULL;
    float *ctx = NULL, *out[2] = {NULL, NULL};
    int n = 0, rows = 0, cols = 0;
    load_fixture(name, &tokens, &n, &ctx, &rows, &cols);
    snprintf(path, sizeof path, "%s/tests/data/%s.h5", source_dir(), name);
    const int V = decode_fused_and_unfused(path, gpu, tokens, n, ctx, rows, cols, out);
    const int64_t first = first_bit_difference(out[0], out[1], (int64_t)n * V);
    cr_expect(first < 0, "%s: fused decode %g, separate ops %g at step %lld, logit %lld", name,
              first < 0 ? 0.0 : (double)out[0][first], first < 0 ? 0.0 : (double)out[1][first],
              (long long)(first < 0 ? 0 : first / V), (long long)(first < 0 ? 0 : first % V));
    free(tokens), free(ctx), free(out[0]), free(out[1]);
}
Test(cuda, fused_decode_tiny_ar_4b, .init = open_backends, .fini = close_backends) { check_fused_decode("tiny-ar-4b"); }
Test(cuda, fused_decode_tiny_ar_13b_video2world, .init = open_backends, .fini = close_backends) {
    check_fused_decode("tiny-ar-13b-video2world");
}

/* Large uploads (weights) go through the pinned double buffer: a 100 MB + 3 byte round trip (3 full
 * chunks and a ragged one) arrives intact; the memory report sees the device. */
Test(cuda, large_upload_and_memory_report, .init = open_backends, .fini = close_backends) {
    const size_t n = ((size_t)100 << 20) + 3;
    unsigned char *h = malloc(n), *back = malloc(n);
    for (size_t i = 0; i < n; i++) h[i] = (unsigned char)(i * 2654435761u >> 13);
    void *d = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, n, &d), COSMOS_OK);
    cr_assert_eq(cosmos_backend_upload(gpu, d, h, n), COSMOS_OK);
    cr_assert_eq(cosmos_backend_upload(gpu, d, h, n), COSMOS_OK); /* buffers reused */
    cr_assert_eq(cosmos_backend_download(gpu, back, d, n), COSMOS_OK);
    cr_expect(memcmp(h, back, n) == 0, "upload through pinned staging changed the bytes");
    struct cosmos_backend_memory bm;
    cr_assert_eq(cosmos_backend_memory(gpu, &bm), COSMOS_OK);
    cr_expect(bm.device_total > 0 && bm.device_free < bm.device_total && bm.workspace_bytes >= ((size_t)32 << 20),
              "memory report: free %zu of %zu, workspaces %zu", bm.device_free, bm.device_total, bm.workspace_bytes);
    cosmos_backend_free_mem(gpu, d);
    free(h), free(back);
}

/* cosmos_backend_reserve_attention covers every call it was told of: after reserving decode-sized
 * queries (T <= 4) over a causal cache and a cross-attention context, attention at every such T,
 * at positions from 0 to the end of the cache, through the host and the device position, and over
 * the context, allocates nothing more (the workspace is what the reservation made, and the
 * reservation did make one: 2048 keys are split). A smaller later reservation changes nothing.
 * The workspace comes in whole MiB, more than these shapes need, so the sizing itself is checked
 * on a shape whose partials pass 1 MiB (8192 keys), against what the kernels ask for at each
 * query length and position, without running it (seconds per call on the emulator). */
Test(cuda, reserve_attention_covers_every_call, .init = open_backends, .fini = close_backends) {
    {
        const int64_t H = 32, Hkv = 8, Dh = 64, S = 8192;
        struct cosmos_backend_memory m0, m1;
        cr_assert_eq(cosmos_backend_memory(gpu, &m0), COSMOS_OK);
        cr_assert_eq(cosmos_backend_reserve_attention(gpu, 4, H, Hkv, Dh, S, 1), COSMOS_OK);
        cr_assert_eq(cosmos_backend_memory(gpu, &m1), COSMOS_OK);
        const size_t reserved = m1.workspace_bytes - m0.workspace_bytes;
        cr_expect_gt(reserved, (size_t)1 << 20, "reserved %zu bytes", reserved);
        for (int64_t T = 1; T <= 4; T++) {
            const int64_t pos[] = {0, 127, 128, 1000, S / 2, S - T - 1, S - T};
            for (int i = 0; i < 7; i++) {
                const size_t need = cosmos_cuda_attention_ws_bytes(T, H, Hkv, Dh, S, pos[i], 1);
                cr_expect_leq(need, reserved, "T %lld at %lld needs %zu bytes, %zu reserved", (long long)T,
                              (long long)pos[i], need, reserved);
            }
        }
        close_backends();
        open_backends();
    }
    const int64_t H = 8, Hkv = 2, Dh = 64, S = 2048, L = 600;
    struct cosmos_backend_memory m0, m1, m2;
    cr_assert_eq(cosmos_backend_memory(gpu, &m0), COSMOS_OK);
    cr_assert_eq(cosmos_backend_reserve_attention(gpu, 4, H, Hkv, Dh, S, 1), COSMOS_OK);
    cr_assert_eq(cosmos_backend_reserve_attention(gpu, 4, H, Hkv, Dh, L, 0), COSMOS_OK);
    cr_assert_eq(cosmos_backend_memory(gpu, &m1), COSMOS_OK);
    cr_expect_gt(m1.workspace_bytes, m0.workspace_bytes, "the reservation made no workspace (%zu bytes before and after)",
                 m0.workspace_bytes);
    void *q = NULL, *o = NULL, *k = NULL, *v = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)(4 * H * Dh), &q), COSMOS_OK);
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)(4 * H * Dh), &o), COSMOS_OK);
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)(S * Hkv * Dh), &k), COSMOS_OK);
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)(S * Hkv * Dh), &v), COSMOS_OK);
    for (int64_t T = 1; T <= 4; T++) {
        const struct cosmos_tensor tq = cosmos_tensor_3d(q, COSMOS_BF16, T, H, Dh),
                                   to = cosmos_tensor_3d(o, COSMOS_BF16, T, H, Dh);
        const int64_t pos[] = {0, 127, 1000, S - T};
        for (int i = 0; i < 4; i++)
            for (int devpos = 0; devpos < 2; devpos++) {
                g_devpos = devpos;
                cr_assert_eq(cosmos_op_attention(gpu, to, tq, cosmos_tensor_3d(k, COSMOS_BF16, S, Hkv, Dh),
                                                 cosmos_tensor_3d(v, COSMOS_BF16, S, Hkv, Dh), gpu_pos(pos[i]), 1),
                             COSMOS_OK, "T %lld pos %lld devpos %d", (long long)T, (long long)pos[i], devpos);
            }
        g_devpos = 0;
        cr_assert_eq(cosmos_op_attention(gpu, to, tq, cosmos_tensor_3d(k, COSMOS_BF16, L, Hkv, Dh),
                                         cosmos_tensor_3d(v, COSMOS_BF16, L, Hkv, Dh), 0, 0),
                     COSMOS_OK);
    }
    cr_assert_eq(cosmos_backend_reserve_attention(gpu, 1, H, Hkv, Dh, 100, 1), COSMOS_OK);
    cr_assert_eq(cosmos_backend_sync(gpu), COSMOS_OK);
    cr_assert_eq(cosmos_backend_memory(gpu, &m2), COSMOS_OK);
    cr_expect_eq(m2.workspace_bytes, m1.workspace_bytes, "the workspace changed after the reservation: %zu -> %zu bytes",
                 m1.workspace_bytes, m2.workspace_bytes);
    cr_expect_eq(cosmos_backend_reserve_attention(gpu, 4, 6, 4, Dh, S, 1), COSMOS_ERR_INVALID_ARG, "H %% Hkv != 0");
    cosmos_backend_free_mem(gpu, q);
    cosmos_backend_free_mem(gpu, o);
    cosmos_backend_free_mem(gpu, k);
    cosmos_backend_free_mem(gpu, v);
}
