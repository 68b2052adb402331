/* The T5 encoder on CUDA (spec components.md 3.4; issue 4's parity style): its four ops
 * (matmul_f32w through cuBLASLt f32, rmsnorm_f32w, relu, attention_relbias) and the all-f32 add
 * against the CPU ops on seeded random inputs, model-like and awkward shapes (T != S, one key, odd
 * head widths, several key tiles and a partial one, Dh 256 past 48 KiB of shared memory); the
 * f32-only contract on a bf16 backend; and the tiny T5 encoder on cuda:0 against the Hugging Face
 * golden hidden states (tests/data/t5-tiny.golden.h5) and the CPU forward, with bf16 weights (widened
 * to f32 at load) and f32 ones. Everything is f32 on both sides, so the tolerances are those of f32
 * sums taken in another order. Without a CUDA device every test reports SKIPPED. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "core/model/t5_model.h"
#include "core/rng.h"
#include "cosmos_build_config.h"
#include "cuda_test_util.h"
#include "tests/unit/t5_test_util.h"

#define F32_ATOL 1e-5
#define F32_RTOL 1e-4
#define GOLDEN_REL 1e-5 /* the CPU forward's bound against HF (tests/unit/test_t5.c) */
#define CPU_REL 1e-5    /* cuda:0 against the CPU forward, relative to max |cpu| */

static cosmos_backend_t *cpu, *gpu;
static void open_backends(void) { cuda_test_open_backends(&cpu, &gpu); }
static void close_backends(void) { cuda_test_close_backends(&cpu, &gpu); }

static float *rand_f32(int64_t n, uint64_t stream, float scale) {
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    cr_assert(x);
    for (int64_t i = 0; i < n; i++) x[i] = scale * cosmos_rng_normal(5151, stream, (uint64_t)i);
    return x;
}

/* ---- ops ---- */

/* x_off: x starts x_off floats into its buffer (4-byte aligned views; cuBLASLt plans per alignment) */
static void check_matmul_f32w(int64_t M, int64_t N, int64_t K, int64_t x_off) {
    char what[96];
    snprintf(what, sizeof what, "matmul_f32w M=%lld N=%lld K=%lld off=%lld", (long long)M, (long long)N, (long long)K,
             (long long)x_off);
    float *x = rand_f32(M * K + x_off, 1, 1.0f), *w = rand_f32(N * K, 2, 1.0f / sqrtf((float)K));
    float *y = malloc(sizeof(float) * (size_t)(M * N));
    cr_assert_eq(cosmos_op_matmul_f32w(cpu, cosmos_tensor_2d(y, COSMOS_F32, M, N),
                                       cosmos_tensor_2d(x + x_off, COSMOS_F32, M, K), cosmos_tensor_2d(w, COSMOS_F32, N, K)),
                 COSMOS_OK, "%s (cpu)", what);
    float *dx = cuda_test_upload_f32(gpu, x, M * K + x_off), *dw = cuda_test_upload_f32(gpu, w, N * K), *dy = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float) * (size_t)(M * N), (void **)&dy), COSMOS_OK);
    cr_assert_eq(cosmos_op_matmul_f32w(gpu, cosmos_tensor_2d(dy, COSMOS_F32, M, N),
                                       cosmos_tensor_2d(dx + x_off, COSMOS_F32, M, K),
                                       cosmos_tensor_2d(dw, COSMOS_F32, N, K)),
                 COSMOS_OK, "%s (cuda)", what);
    float *g = cuda_test_download(gpu, dy, M * N, COSMOS_F32);
    cuda_test_compare(what, g, y, M * N, F32_ATOL, F32_RTOL);
    cosmos_backend_free_mem(gpu, dx);
    cosmos_backend_free_mem(gpu, dw);
    cosmos_backend_free_mem(gpu, dy);
    free(x), free(w), free(y), free(g);
}

Test(cuda_t5, matmul_f32w, .init = open_backends, .fini = close_backends) {
    check_matmul_f32w(1, 1, 1, 0);
    check_matmul_f32w(3, 100, 513, 0);
    check_matmul_f32w(37, 257, 129, 1); /* 4-byte aligned x */
    check_matmul_f32w(64, 256, 64, 0);  /* the tiny T5's wi */
    if (!cuda_test_emulated())
        check_matmul_f32w(512, 1024, 1024, 0); /* T5-11B's q at 512 tokens, K cut to 1024 */
    else
        cr_log_info("emulated device: the 512x1024x1024 shape is left out");
}

/* f32 -> TF32, round to nearest, ties away (cvt.rna.tf32.f32) */
static float to_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* COSMOS_CUDA_TF32=1: the f32 GEMMs take TF32 inputs (NVIDIA's PyTorch containers' fp32 matmul).
 * Against the exact CPU product within TF32's error; on the emulator within f32 rounding of the CPU
 * product of TF32-rounded inputs; never equal to the full-f32 GPU product (the mode is applied); a
 * value other than 0 / 1 refuses the backend. */
Test(cuda_t5, matmul_f32w_tf32, .init = open_backends, .fini = close_backends) {
    const int64_t M = 37, N = 129, K = 300;
    float *x = rand_f32(M * K, 11, 1.0f), *w = rand_f32(N * K, 12, 1.0f / sqrtf((float)K));
    float *y = malloc(sizeof(float) * (size_t)(M * N)), *yt = malloc(sizeof(float) * (size_t)(M * N));
    float *xt = malloc(sizeof(float) * (size_t)(M * K)), *wt = malloc(sizeof(float) * (size_t)(N * K));
    for (int64_t i = 0; i < M * K; i++) xt[i] = to_tf32(x[i]);
    for (int64_t i = 0; i < N * K; i++) wt[i] = to_tf32(w[i]);
    cr_assert_eq(cosmos_op_matmul_f32w(cpu, cosmos_tensor_2d(y, COSMOS_F32, M, N), cosmos_tensor_2d(x, COSMOS_F32, M, K),
                                       cosmos_tensor_2d(w, COSMOS_F32, N, K)),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_matmul_f32w(cpu, cosmos_tensor_2d(yt, COSMOS_F32, M, N),
                                       cosmos_tensor_2d(xt, COSMOS_F32, M, K), cosmos_tensor_2d(wt, COSMOS_F32, N, K)),
                 COSMOS_OK);
    float *g[2] = {NULL, NULL};
    for (int tf = 0; tf < 2; tf++) {
        cosmos_backend_t *be = gpu;
        if (tf) {
            setenv("COSMOS_CUDA_TF32", "1", 1);
            cr_assert_eq(cosmos_backend_create("cuda:0", NULL, &be), COSMOS_OK);
        }
        float *dx = NULL, *dw = NULL, *dy = NULL;
        cr_assert_eq(cosmos_backend_alloc(be, sizeof(float) * (size_t)(M * K), (void **)&dx), COSMOS_OK);
        cr_assert_eq(cosmos_backend_alloc(be, sizeof(float) * (size_t)(N * K), (void **)&dw), COSMOS_OK);
        cr_assert_eq(cosmos_backend_alloc(be, sizeof(float) * (size_t)(M * N), (void **)&dy), COSMOS_OK);
        cr_assert_eq(cosmos_backend_upload(be, dx, x, sizeof(float) * (size_t)(M * K)), COSMOS_OK);
        cr_assert_eq(cosmos_backend_upload(be, dw, w, sizeof(float) * (size_t)(N * K)), COSMOS_OK);
        cr_assert_eq(cosmos_op_matmul_f32w(be, cosmos_tensor_2d(dy, COSMOS_F32, M, N),
                                           cosmos_tensor_2d(dx, COSMOS_F32, M, K), cosmos_tensor_2d(dw, COSMOS_F32, N, K)),
                     COSMOS_OK);
        g[tf] = cuda_test_download(be, dy, M * N, COSMOS_F32);
        cosmos_backend_free_mem(be, dx), cosmos_backend_free_mem(be, dw), cosmos_backend_free_mem(be, dy);
        if (tf) cosmos_backend_free(be);
    }
    cuda_test_compare("matmul_f32w TF32 vs exact cpu", g[1], y, M * N, 5e-3, 5e-3);
    if (cuda_test_emulated())
        cuda_test_compare("matmul_f32w TF32 vs cpu of TF32 inputs", g[1], yt, M * N, F32_ATOL, F32_RTOL);
    double diff = 0;
    for (int64_t i = 0; i < M * N; i++) diff = fmax(diff, fabs((double)g[1][i] - g[0][i]));
    cr_log_info("TF32 vs full f32 on cuda:0: max |diff| %.3g", diff);
    cr_expect_gt(diff, 0.0, "COSMOS_CUDA_TF32=1 changed nothing");
    setenv("COSMOS_CUDA_TF32", "yes", 1);
    cosmos_backend_t *bad = NULL;
    cr_expect_eq(cosmos_backend_create("cuda:0", NULL, &bad), COSMOS_ERR_INVALID_ARG);
    cr_expect_null(bad);
    unsetenv("COSMOS_CUDA_TF32");
    free(x), free(w), free(y), free(yt), free(xt), free(wt), free(g[0]), free(g[1]);
}

static void check_rmsnorm_f32w(int64_t rows, int64_t D, int in_place) {
    char what[96];
    snprintf(what, sizeof what, "rmsnorm_f32w rows=%lld D=%lld%s", (long long)rows, (long long)D,
             in_place ? " in place" : "");
    const int64_t n = rows * D;
    float *x = rand_f32(n, 3, 3.0f), *w = rand_f32(D, 4, 1.0f), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_op_rmsnorm_f32w(cpu, cosmos_tensor_2d(y, COSMOS_F32, rows, D),
                                        cosmos_tensor_2d(x, COSMOS_F32, rows, D), cosmos_tensor_1d(w, COSMOS_F32, D),
                                        1e-6f),
                 COSMOS_OK);
    float *dx = cuda_test_upload_f32(gpu, x, n), *dw = cuda_test_upload_f32(gpu, w, D), *dy = dx;
    if (!in_place) cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float) * (size_t)n, (void **)&dy), COSMOS_OK);
    cr_assert_eq(cosmos_op_rmsnorm_f32w(gpu, cosmos_tensor_2d(dy, COSMOS_F32, rows, D),
                                        cosmos_tensor_2d(dx, COSMOS_F32, rows, D), cosmos_tensor_1d(dw, COSMOS_F32, D),
                                        1e-6f),
                 COSMOS_OK);
    float *g = cuda_test_download(gpu, dy, n, COSMOS_F32);
    cuda_test_compare(what, g, y, n, F32_ATOL, F32_RTOL);
    if (!in_place) cosmos_backend_free_mem(gpu, dy);
    cosmos_backend_free_mem(gpu, dx);
    cosmos_backend_free_mem(gpu, dw);
    free(x), free(w), free(y), free(g);
}

Test(cuda_t5, rmsnorm_f32w, .init = open_backends, .fini = close_backends) {
    check_rmsnorm_f32w(1, 1, 0);
    check_rmsnorm_f32w(7, 129, 1);
    check_rmsnorm_f32w(5, 1024, 0); /* T5-11B's d_model */
}

/* relu in f32 (T5) and on bf16 activations, in place and not; elementwise, so exact; and the f32 add */
Test(cuda_t5, relu_and_f32_add, .init = open_backends, .fini = close_backends) {
    const int64_t ns[] = {1, 7, 1001, 65536 + 3};
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
        const int64_t n = ns[c];
        float *x = rand_f32(n + 1, 5, 1.0f), *b = rand_f32(n, 6, 1.0f), *y = malloc(sizeof(float) * (size_t)n);
        x[0] = NAN; /* ReLU(NaN) is 0 on both */
        cr_assert_eq(cosmos_op_relu(cpu, cosmos_tensor_1d(y, COSMOS_F32, n), cosmos_tensor_1d(x, COSMOS_F32, n)),
                     COSMOS_OK);
        float *dx = cuda_test_upload_f32(gpu, x, n + 1), *dy = NULL;
        cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float) * (size_t)(n + 1), (void **)&dy), COSMOS_OK);
        /* out of place at an offset of one float (the scalar path), then in place (vectors) */
        cr_assert_eq(cosmos_op_relu(gpu, cosmos_tensor_1d(dy + 1, COSMOS_F32, n), cosmos_tensor_1d(dx, COSMOS_F32, n)),
                     COSMOS_OK);
        float *g = cuda_test_download(gpu, dy + 1, n, COSMOS_F32);
        cuda_test_compare("relu f32", g, y, n, 0, 0);
        free(g);
        cr_assert_eq(cosmos_op_relu(gpu, cosmos_tensor_1d(dx, COSMOS_F32, n), cosmos_tensor_1d(dx, COSMOS_F32, n)),
                     COSMOS_OK);
        g = cuda_test_download(gpu, dx, n, COSMOS_F32);
        cuda_test_compare("relu f32 in place", g, y, n, 0, 0);
        free(g);
        /* bf16 activations: the values of x rounded to bf16, then relu */
        cosmos_bf16 *xb = malloc(sizeof(cosmos_bf16) * (size_t)n);
        cosmos_f32_to_bf16_n(xb, x, (size_t)n);
        float *want = malloc(sizeof(float) * (size_t)n);
        cosmos_bf16_to_f32_n(want, xb, (size_t)n);
        for (int64_t i = 0; i < n; i++) want[i] = want[i] > 0.0f ? want[i] : 0.0f;
        void *db = NULL;
        cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)n, &db), COSMOS_OK);
        cr_assert_eq(cosmos_backend_upload(gpu, db, xb, sizeof(cosmos_bf16) * (size_t)n), COSMOS_OK);
        cr_assert_eq(cosmos_op_relu(gpu, cosmos_tensor_1d(db, COSMOS_BF16, n), cosmos_tensor_1d(db, COSMOS_BF16, n)),
                     COSMOS_OK);
        g = cuda_test_download(gpu, db, n, COSMOS_BF16);
        cuda_test_compare("relu bf16 in place", g, want, n, 0, 0);
        free(g);
        /* y = x + b, all f32, in place: exact (one f32 rounding on both) */
        for (int64_t i = 0; i < n; i++) y[i] = x[i + 1] + b[i];
        float *db32 = cuda_test_upload_f32(gpu, b, n), *dx2 = cuda_test_upload_f32(gpu, x + 1, n);
        cr_assert_eq(cosmos_op_add(gpu, cosmos_tensor_1d(dx2, COSMOS_F32, n), cosmos_tensor_1d(dx2, COSMOS_F32, n),
                                   cosmos_tensor_1d(db32, COSMOS_F32, n)),
                     COSMOS_OK);
        g = cuda_test_download(gpu, dx2, n, COSMOS_F32);
        cuda_test_compare("add f32", g, y, n, 0, 0);
        free(g);
        cosmos_backend_free_mem(gpu, dx), cosmos_backend_free_mem(gpu, dy), cosmos_backend_free_mem(gpu, db);
        cosmos_backend_free_mem(gpu, db32), cosmos_backend_free_mem(gpu, dx2);
        free(x), free(b), free(y), free(xb), free(want);
    }
}

static void check_attention_relbias(int64_t T, int64_t S, int64_t H, int64_t Dh, float scale) {
    char what[128];
    snprintf(what, sizeof what, "attention_relbias T=%lld S=%lld H=%lld Dh=%lld scale=%g", (long long)T, (long long)S,
             (long long)H, (long long)Dh, scale);
    const int64_t nq = T * H * Dh, nk = S * H * Dh, nb = H * (T + S - 1);
    /* T5-like magnitudes: unscaled scores of a few units, a bias of a few units */
    float *q = rand_f32(nq, 7, 0.5f), *k = rand_f32(nk, 8, 0.5f), *v = rand_f32(nk, 9, 1.0f);
    float *b = rand_f32(nb, 10, 2.0f), *o = malloc(sizeof(float) * (size_t)nq);
    cr_assert_eq(cosmos_op_attention_relbias(cpu, cosmos_tensor_3d(o, COSMOS_F32, T, H, Dh),
                                             cosmos_tensor_3d(q, COSMOS_F32, T, H, Dh),
                                             cosmos_tensor_3d(k, COSMOS_F32, S, H, Dh),
                                             cosmos_tensor_3d(v, COSMOS_F32, S, H, Dh),
                                             cosmos_tensor_2d(b, COSMOS_F32, H, T + S - 1), scale),
                 COSMOS_OK, "%s (cpu)", what);
    float *dq = cuda_test_upload_f32(gpu, q, nq), *dk = cuda_test_upload_f32(gpu, k, nk), *dv = cuda_test_upload_f32(gpu, v, nk), *db = cuda_test_upload_f32(gpu, b, nb), *dout = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float) * (size_t)nq, (void **)&dout), COSMOS_OK);
    cr_assert_eq(cosmos_op_attention_relbias(gpu, cosmos_tensor_3d(dout, COSMOS_F32, T, H, Dh),
                                             cosmos_tensor_3d(dq, COSMOS_F32, T, H, Dh),
                                             cosmos_tensor_3d(dk, COSMOS_F32, S, H, Dh),
                                             cosmos_tensor_3d(dv, COSMOS_F32, S, H, Dh),
                                             cosmos_tensor_2d(db, COSMOS_F32, H, T + S - 1), scale),
                 COSMOS_OK, "%s (cuda)", what);
    float *g = cuda_test_download(gpu, dout, nq, COSMOS_F32);
    cuda_test_compare(what, g, o, nq, F32_ATOL, F32_RTOL);
    cosmos_backend_free_mem(gpu, dq), cosmos_backend_free_mem(gpu, dk), cosmos_backend_free_mem(gpu, dv);
    cosmos_backend_free_mem(gpu, db), cosmos_backend_free_mem(gpu, dout);
    free(q), free(k), free(v), free(b), free(o), free(g);
}

Test(cuda_t5, attention_relbias, .init = open_backends, .fini = close_backends) {
    check_attention_relbias(1, 1, 1, 1, 1.0f);
    check_attention_relbias(5, 5, 3, 7, 1.0f);     /* odd head width, one partial tile */
    check_attention_relbias(9, 40, 2, 33, 0.25f);  /* T != S, a full and a partial key tile, a scale */
    check_attention_relbias(40, 3, 2, 16, 1.0f);   /* more queries than keys: several query blocks */
    check_attention_relbias(70, 70, 4, 16, 1.0f);  /* the tiny T5's heads, 3 tiles */
    check_attention_relbias(17, 65, 2, 128, 1.0f); /* T5-11B's head width */
    check_attention_relbias(9, 33, 1, 256, 1.0f);  /* 75 KiB of shared memory: the opt-in path */
}

/* Beyond the kernel's head width: UNSUPPORTED with a message, not a wrong answer. */
Test(cuda_t5, attention_relbias_wide_heads_unsupported, .init = open_backends, .fini = close_backends) {
    const int64_t Dh = 257;
    void *d = NULL, *b = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float) * (size_t)Dh, &d), COSMOS_OK);
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float), &b), COSMOS_OK);
    struct cosmos_tensor t = cosmos_tensor_3d(d, COSMOS_F32, 1, 1, Dh);
    cr_expect_eq(cosmos_op_attention_relbias(gpu, t, t, t, t, cosmos_tensor_2d(b, COSMOS_F32, 1, 1), 1.0f),
                 COSMOS_ERR_UNSUPPORTED);
    cosmos_backend_free_mem(gpu, d), cosmos_backend_free_mem(gpu, b);
}

/* The T5 ops take f32 on every backend: the bf16 activations of cuda:0 are refused by the
 * dispatchers (INVALID_ARG, before any kernel). */
Test(cuda_t5, ops_refuse_bf16_activations, .init = open_backends, .fini = close_backends) {
    void *d = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, 4096, &d), COSMOS_OK);
    struct cosmos_tensor a = cosmos_tensor_3d(d, COSMOS_BF16, 2, 2, 4), w = cosmos_tensor_2d(d, COSMOS_F32, 4, 4);
    struct cosmos_tensor b = cosmos_tensor_2d(d, COSMOS_F32, 2, 3), x2 = cosmos_tensor_2d(d, COSMOS_BF16, 4, 4);
    cr_expect_eq(cosmos_op_attention_relbias(gpu, a, a, a, a, b, 1.0f), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_op_matmul_f32w(gpu, x2, x2, w), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_op_rmsnorm_f32w(gpu, x2, x2, cosmos_tensor_1d(d, COSMOS_F32, 4), 1e-6f),
                 COSMOS_ERR_INVALID_ARG);
    /* a mixed add (f32 y, bf16 b) is not the all-f32 add */
    cr_expect_eq(cosmos_op_add(gpu, cosmos_tensor_1d(d, COSMOS_F32, 8), cosmos_tensor_1d(d, COSMOS_F32, 8),
                               cosmos_tensor_1d(d, COSMOS_BF16, 8)),
                 COSMOS_ERR_INVALID_ARG);
    cosmos_backend_free_mem(gpu, d);
}

/* ---- the tiny encoder ---- */

static const char *data_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/tests/data/%s", COSMOS_SOURCE_DIR, name);
    return buf;
}

/* The golden prompts (NUL-separated in golden_prompts) through the encoder on cuda:0 and on the CPU:
 * cuda:0 within GOLDEN_REL of HF's hidden states, within CPU_REL of the CPU forward, pad rows +0. */
static void check_tiny_encoder(const char *weights) {
    char g[1024];
    cosmos_t5_t *mg = NULL, *mc = NULL;
    cr_assert_eq(cosmos_t5_load(gpu, weights, &mg), COSMOS_OK, "%s on cuda:0", weights);
    cr_assert_eq(cosmos_t5_load(cpu, weights, &mc), COSMOS_OK, "%s on cpu", weights);
    const int D = cosmos_t5_get_config(mg)->d_model, L = cosmos_t5_get_config(mg)->max_length;
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(data_path("t5-tiny.golden.h5", g, sizeof g), &h), COSMOS_OK);
    uint8_t *blob = NULL;
    size_t bn = 0;
    cr_assert_eq(cosmos_h5_read_bytes(g, "golden_prompts", &blob, &bn), COSMOS_OK);
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, "golden_hidden", &info), COSMOS_OK);
    float *ref = malloc(sizeof(float) * (size_t)(info.shape[0] * info.shape[1]));
    cr_assert_eq(cosmos_h5_read(h, "golden_hidden", COSMOS_F32, ref), COSMOS_OK);
    float *og = malloc(sizeof(float) * (size_t)L * (size_t)D), *oc = malloc(sizeof(float) * (size_t)L * (size_t)D);
    int64_t row0 = 0;
    int np = 0;
    for (size_t off = 0; off < bn; off += strlen((const char *)blob + off) + 1, np++) {
        const char *prompt = (const char *)blob + off;
        int lg = 0, lc = 0;
        memset(og, 0x7f, sizeof(float) * (size_t)L * (size_t)D); /* garbage: pad rows must be written */
        cr_assert_eq(cosmos_t5_encode_prompt(mg, prompt, og, NULL, &lg), COSMOS_OK, "prompt %d on cuda:0", np);
        cr_assert_eq(cosmos_t5_encode_prompt(mc, prompt, oc, NULL, &lc), COSMOS_OK);
        cr_assert_eq(lg, lc);
        double dh = 0, mh = 0, dc = 0, mc_ = 0;
        for (int64_t i = 0; i < (int64_t)lg * D; i++) {
            dh = fmax(dh, fabs((double)og[i] - ref[row0 * D + i]));
            mh = fmax(mh, fabs((double)ref[row0 * D + i]));
            dc = fmax(dc, fabs((double)og[i] - oc[i]));
            mc_ = fmax(mc_, fabs((double)oc[i]));
        }
        cr_log_info("%s prompt %d (%d tokens): cuda vs HF rel %.3g, cuda vs cpu rel %.3g", weights, np, lg, dh / mh,
                    dc / mc_);
        cr_expect(dh / mh <= GOLDEN_REL, "prompt %d: cuda vs HF relative error %.3g > %g", np, dh / mh, GOLDEN_REL);
        cr_expect(dc / mc_ <= CPU_REL, "prompt %d: cuda vs cpu relative error %.3g > %g", np, dc / mc_, CPU_REL);
        for (int64_t i = (int64_t)lg * D; i < (int64_t)L * D; i++)
            cr_assert(og[i] == 0.0f && !signbit(og[i]), "pad element %lld is %g, not +0", (long long)i, og[i]);
        row0 += lg;
    }
    cr_assert_eq(row0, info.shape[0], "the golden file's rows are the prompts' tokens");
    cr_assert_gt(np, 1);
    free(og), free(oc), free(ref), free(blob);
    cosmos_h5_close(h);
    cosmos_t5_free(mg);
    cosmos_t5_free(mc);
}

Test(cuda_t5, tiny_encoder_bf16_weights, .init = open_backends, .fini = close_backends) {
    char w[1024];
    check_tiny_encoder(data_path("t5-tiny.h5", w, sizeof w));
}

Test(cuda_t5, tiny_encoder_f32_weights, .init = open_backends, .fini = close_backends) {
    char w[1024], out[1024];
    const char *tmpdir = getenv("COSMOS_TEST_TMP");
    snprintf(out, sizeof out, "%s/t5-tiny-f32-cuda.h5", tmpdir ? tmpdir : "/tmp");
    t5_test_write_f32_copy(data_path("t5-tiny.h5", w, sizeof w), out);
    check_tiny_encoder(out);
    remove(out);
}
