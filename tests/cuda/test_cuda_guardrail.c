/* The guardrail's vision models on CUDA (spec components.md 5.4, 5.5): the ops the SigLIP tower adds
 * to the T5 ones (layernorm with affine, the tanh GELU, the per-row bias add) and RetinaFace's
 * (conv2d, max-pooling, the nearest upsample-and-add, the leaky ReLU) against the CPU ops on seeded
 * random inputs (odd sizes, one row, so400m's 1152 and 4304, strided and padded convs, in place,
 * f32 and bf16 where the op takes both); the tiny SigLIP safety model with its tower on cuda:0
 * against the reference fixture (the CPU test's bound: 2e-5 * (1 + |ref|)) and the host's classes;
 * the tiny RetinaFace with its network on cuda:0 against the reference heads (1e-4) and the host's
 * detections. f32 throughout (the official models run fp32). Without a CUDA device every test
 * reports SKIPPED. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/guardrail/retinaface.h"
#include "core/guardrail/siglip.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "core/rng.h"
#include "cosmos_build_config.h"
#include "cuda_test_util.h"

#define F32_ATOL 1e-6
#define F32_RTOL 1e-5
#define GOLDEN_TOL 2e-5 /* tests/unit/test_content_filter.c */

static cosmos_backend_t *cpu, *gpu;
static void open_backends(void) { cuda_test_open_backends(&cpu, &gpu); }
static void close_backends(void) { cuda_test_close_backends(&cpu, &gpu); }

static float *rand_f32(int64_t n, uint64_t stream, float scale, float mean) {
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    cr_assert(x);
    for (int64_t i = 0; i < n; i++) x[i] = mean + scale * cosmos_rng_normal(6262, stream, (uint64_t)i);
    return x;
}

/* ---- ops ---- */

static void check_layernorm(int64_t rows, int64_t D, float mean, int in_place) {
    char what[96];
    snprintf(what, sizeof what, "layernorm rows=%lld D=%lld mean=%g%s", (long long)rows, (long long)D, mean,
             in_place ? " in place" : "");
    const int64_t n = rows * D;
    /* an offset mean: the two-pass statistics must not cancel */
    float *x = rand_f32(n, 1, 2.0f, mean), *w = rand_f32(D, 2, 0.1f, 1.0f), *b = rand_f32(D, 3, 0.1f, 0.0f);
    float *y = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_op_layernorm(cpu, cosmos_tensor_2d(y, COSMOS_F32, rows, D), cosmos_tensor_2d(x, COSMOS_F32, rows, D),
                                     cosmos_tensor_1d(w, COSMOS_F32, D), cosmos_tensor_1d(b, COSMOS_F32, D), 1e-6f),
                 COSMOS_OK);
    float *dx = cuda_test_upload_f32(gpu, x, n), *dw = cuda_test_upload_f32(gpu, w, D), *db = cuda_test_upload_f32(gpu, b, D), *dy = dx;
    if (!in_place) cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float) * (size_t)n, (void **)&dy), COSMOS_OK);
    cr_assert_eq(cosmos_op_layernorm(gpu, cosmos_tensor_2d(dy, COSMOS_F32, rows, D),
                                     cosmos_tensor_2d(dx, COSMOS_F32, rows, D), cosmos_tensor_1d(dw, COSMOS_F32, D),
                                     cosmos_tensor_1d(db, COSMOS_F32, D), 1e-6f),
                 COSMOS_OK, "%s", what);
    float *g = cuda_test_download(gpu, dy, n, COSMOS_F32);
    cuda_test_compare(what, g, y, n, F32_ATOL, F32_RTOL);
    if (!in_place) cosmos_backend_free_mem(gpu, dy);
    cosmos_backend_free_mem(gpu, dx), cosmos_backend_free_mem(gpu, dw), cosmos_backend_free_mem(gpu, db);
    free(x), free(w), free(b), free(y), free(g);
}

Test(cuda_guardrail, layernorm, .init = open_backends, .fini = close_backends) {
    check_layernorm(1, 1, 0.0f, 0);
    check_layernorm(3, 33, 0.0f, 1);
    check_layernorm(7, 1152, 50.0f, 0); /* so400m's width, far from zero mean */
    check_layernorm(2, 4304, -3.0f, 1);
}

/* gelu_tanh in f32 (against the CPU op: a few ulp apart, the CPU's exp being vectorised) and on
 * bf16 activations (one rounding of the f32 value); add_bias in f32 (exact) and bf16 */
Test(cuda_guardrail, gelu_tanh_and_add_bias, .init = open_backends, .fini = close_backends) {
    const int64_t rows = 5, D = 301, n = rows * D;
    float *x = rand_f32(n, 4, 3.0f, 0.0f), *b = rand_f32(D, 5, 1.0f, 0.0f), *y = malloc(sizeof(float) * (size_t)n);
    x[0] = -9.0f, x[1] = -5.5f, x[2] = 9.0f, x[3] = 0.0f; /* the tails, zero */
    cr_assert_eq(cosmos_op_gelu_tanh(cpu, cosmos_tensor_1d(y, COSMOS_F32, n), cosmos_tensor_1d(x, COSMOS_F32, n)),
                 COSMOS_OK);
    float *dx = cuda_test_upload_f32(gpu, x, n);
    cr_assert_eq(cosmos_op_gelu_tanh(gpu, cosmos_tensor_1d(dx, COSMOS_F32, n), cosmos_tensor_1d(dx, COSMOS_F32, n)),
                 COSMOS_OK);
    float *g = cuda_test_download(gpu, dx, n, COSMOS_F32);
    cuda_test_compare("gelu_tanh f32 in place", g, y, n, 1e-7, 4e-6);
    free(g);
    /* bf16: inputs rounded to bf16, the f32 op's result rounded once */
    cosmos_bf16 *xb = malloc(sizeof(cosmos_bf16) * (size_t)n), *wb = malloc(sizeof(cosmos_bf16) * (size_t)n);
    float *xr = malloc(sizeof(float) * (size_t)n);
    cosmos_f32_to_bf16_n(xb, x, (size_t)n);
    cosmos_bf16_to_f32_n(xr, xb, (size_t)n);
    cr_assert_eq(cosmos_op_gelu_tanh(cpu, cosmos_tensor_1d(y, COSMOS_F32, n), cosmos_tensor_1d(xr, COSMOS_F32, n)),
                 COSMOS_OK);
    cosmos_f32_to_bf16_n(wb, y, (size_t)n);
    cosmos_bf16_to_f32_n(y, wb, (size_t)n);
    void *dxb = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)n, &dxb), COSMOS_OK);
    cr_assert_eq(cosmos_backend_upload(gpu, dxb, xb, sizeof(cosmos_bf16) * (size_t)n), COSMOS_OK);
    cr_assert_eq(cosmos_op_gelu_tanh(gpu, cosmos_tensor_1d(dxb, COSMOS_BF16, n), cosmos_tensor_1d(dxb, COSMOS_BF16, n)),
                 COSMOS_OK);
    g = cuda_test_download(gpu, dxb, n, COSMOS_BF16);
    cuda_test_compare("gelu_tanh bf16", g, y, n, 1e-6, 8e-3); /* a tie broken the other way: one bf16 ulp */
    free(g);
    /* add_bias f32: rows of x + b, exact */
    for (int64_t i = 0; i < n; i++) y[i] = x[i] + b[i % D];
    float *dx2 = cuda_test_upload_f32(gpu, x, n), *db = cuda_test_upload_f32(gpu, b, D);
    cr_assert_eq(cosmos_op_add_bias(gpu, cosmos_tensor_2d(dx2, COSMOS_F32, rows, D), cosmos_tensor_1d(db, COSMOS_F32, D)),
                 COSMOS_OK);
    g = cuda_test_download(gpu, dx2, n, COSMOS_F32);
    cuda_test_compare("add_bias f32", g, y, n, 0, 0);
    free(g);
    /* add_bias on bf16 activations: bf16(xr + b) */
    for (int64_t i = 0; i < n; i++) y[i] = cosmos_round_bf16(xr[i] + b[i % D]);
    cr_assert_eq(cosmos_backend_upload(gpu, dxb, xb, sizeof(cosmos_bf16) * (size_t)n), COSMOS_OK);
    cr_assert_eq(cosmos_op_add_bias(gpu, cosmos_tensor_2d(dxb, COSMOS_BF16, rows, D), cosmos_tensor_1d(db, COSMOS_F32, D)),
                 COSMOS_OK);
    g = cuda_test_download(gpu, dxb, n, COSMOS_BF16);
    cuda_test_compare("add_bias bf16", g, y, n, 0, 0);
    free(g);
    /* the contracts: layernorm takes f32 only, the bias is f32 [D] */
    cr_expect_eq(cosmos_op_layernorm(gpu, cosmos_tensor_2d(dxb, COSMOS_BF16, rows, D),
                                     cosmos_tensor_2d(dxb, COSMOS_BF16, rows, D), cosmos_tensor_1d(db, COSMOS_F32, D),
                                     cosmos_tensor_1d(db, COSMOS_F32, D), 1e-6f),
                 COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_op_add_bias(gpu, cosmos_tensor_2d(dx2, COSMOS_F32, rows, D),
                                    cosmos_tensor_1d(db, COSMOS_F32, D - 1)),
                 COSMOS_ERR_INVALID_ARG);
    cosmos_backend_free_mem(gpu, dx), cosmos_backend_free_mem(gpu, dxb), cosmos_backend_free_mem(gpu, dx2);
    cosmos_backend_free_mem(gpu, db);
    free(x), free(b), free(y), free(xb), free(wb), free(xr);
}

/* ---- the tiny SigLIP safety model ---- */

static const char *data_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/tests/data/%s", COSMOS_SOURCE_DIR, name);
    return buf;
}

static void expect_close(const char *what, int frame, const float *got, const float *want, int64_t n) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)got[i] - want[i]) / (1.0 + fabs(want[i])));
    cr_log_info("frame %d %s: max rel error %.3g", frame, what, worst);
    cr_expect(worst <= GOLDEN_TOL, "frame %d %s: rel error %.3g > %g", frame, what, worst, GOLDEN_TOL);
}

Test(cuda_guardrail, tiny_siglip_tower_on_the_device, .init = open_backends, .fini = close_backends) {
    char g[1024], w[1024], name[64];
    cosmos_siglip_t *m = NULL, *host = NULL;
    cr_assert_eq(cosmos_siglip_load(data_path("siglip-tiny-safety.h5", w, sizeof w), &m), COSMOS_OK);
    cr_assert_eq(cosmos_siglip_load(w, &host), COSMOS_OK);
    cr_assert_eq(cosmos_siglip_use_backend(m, gpu), COSMOS_OK);
    const struct cosmos_siglip_config *c = cosmos_siglip_get_config(m);
    const int D = c->hidden_size, C = c->num_classes;
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(data_path("siglip-tiny-safety.golden.h5", g, sizeof g), &h), COSMOS_OK);
    int64_t n_frames = 0;
    cr_assert_eq(cosmos_h5_attr_int(h, "n_frames", &n_frames), COSMOS_OK);
    int32_t shapes[64];
    cr_assert_leq(n_frames, 32);
    cr_assert_eq(cosmos_h5_read(h, "frame_shapes", COSMOS_I32, shapes), COSMOS_OK);
    float feat[256], emb[256], logits[COSMOS_SIGLIP_MAX_CLASSES], hl[COSMOS_SIGLIP_MAX_CLASSES], want[256];
    cr_assert_leq(D, 256);
    for (int i = 0; i < (int)n_frames; i++) {
        const int64_t H = shapes[2 * i], W = shapes[2 * i + 1];
        uint8_t *frame = NULL;
        size_t nb = 0;
        snprintf(name, sizeof name, "frame_%d", i);
        cr_assert_eq(cosmos_h5_read_bytes(g, name, &frame, &nb), COSMOS_OK);
        cr_assert_eq((int64_t)nb, H * W * 3);
        cr_assert_eq(cosmos_siglip_forward(m, frame, H, W, NULL, feat, emb, logits), COSMOS_OK, "frame %d", i);
        const char *what[3] = {"features", "embedding", "logits"};
        const float *got[3] = {feat, emb, logits};
        for (int q = 0; q < 3; q++) {
            snprintf(name, sizeof name, "%s_%d", what[q], i);
            cr_assert_eq(cosmos_h5_read(h, name, COSMOS_F32, want), COSMOS_OK);
            expect_close(what[q], i, got[q], want, q == 2 ? C : D);
        }
        cr_assert_eq(cosmos_siglip_forward(host, frame, H, W, NULL, NULL, NULL, hl), COSMOS_OK);
        int best = 0, hbest = 0;
        for (int j = 1; j < C; j++) best = logits[j] > logits[best] ? j : best, hbest = hl[j] > hl[hbest] ? j : hbest;
        cr_expect_eq(best, hbest, "frame %d: class %d on cuda:0, %d on the host", i, best, hbest);
        free(frame);
    }
    cosmos_h5_close(h);
    cosmos_siglip_free(m);
    cosmos_siglip_free(host);
}

/* ---- RetinaFace's ops and the tiny detector ---- */

static void check_conv2d(int cin, int H, int W, int cout, int k, int stride, int pad) {
    char what[128];
    snprintf(what, sizeof what, "conv2d %dx%dx%d -> %d, k %d, stride %d, pad %d", cin, H, W, cout, k, stride, pad);
    const int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    const int64_t nx = (int64_t)cin * H * W, ny = (int64_t)cout * Ho * Wo, K = (int64_t)cin * k * k;
    float *x = rand_f32(nx, 7, 1.0f, 0.0f), *w = rand_f32(cout * K, 8, 1.0f / sqrtf((float)K), 0.0f);
    float *b = rand_f32(cout, 9, 0.5f, 0.0f), *y = malloc(sizeof(float) * (size_t)ny);
    cr_assert_eq(cosmos_op_conv2d(cpu, cosmos_tensor_3d(y, COSMOS_F32, cout, Ho, Wo), cosmos_tensor_3d(x, COSMOS_F32, cin, H, W),
                                  cosmos_tensor_2d(w, COSMOS_F32, cout, K), cosmos_tensor_1d(b, COSMOS_F32, cout), k,
                                  stride, pad),
                 COSMOS_OK, "%s (cpu)", what);
    float *dx = cuda_test_upload_f32(gpu, x, nx), *dw = cuda_test_upload_f32(gpu, w, cout * K), *db = cuda_test_upload_f32(gpu, b, cout), *dy = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float) * (size_t)ny, (void **)&dy), COSMOS_OK);
    cr_assert_eq(cosmos_op_conv2d(gpu, cosmos_tensor_3d(dy, COSMOS_F32, cout, Ho, Wo),
                                  cosmos_tensor_3d(dx, COSMOS_F32, cin, H, W), cosmos_tensor_2d(dw, COSMOS_F32, cout, K),
                                  cosmos_tensor_1d(db, COSMOS_F32, cout), k, stride, pad),
                 COSMOS_OK, "%s", what);
    float *g = cuda_test_download(gpu, dy, ny, COSMOS_F32);
    cuda_test_compare(what, g, y, ny, 1e-5, 1e-4);
    cosmos_backend_free_mem(gpu, dx), cosmos_backend_free_mem(gpu, dw), cosmos_backend_free_mem(gpu, db);
    cosmos_backend_free_mem(gpu, dy);
    free(x), free(w), free(b), free(y), free(g);
}

Test(cuda_guardrail, conv2d, .init = open_backends, .fini = close_backends) {
    check_conv2d(1, 1, 1, 1, 1, 1, 0);
    check_conv2d(3, 21, 17, 8, 7, 2, 3); /* the ResNet stem's geometry, odd sizes */
    check_conv2d(16, 9, 12, 12, 3, 1, 1); /* FPN / SSH 3x3 */
    check_conv2d(16, 9, 12, 24, 1, 1, 0); /* 1x1: laterals, heads */
    check_conv2d(8, 10, 11, 16, 3, 2, 1); /* a strided bottleneck conv */
    check_conv2d(5, 5, 5, 3, 5, 1, 0);    /* the kernel as large as the input: one output */
}

/* maxpool 3x3 s2 p1 (the stem) and others; the nearest upsample-and-add at 2x and odd ratios; the
 * leaky ReLU in f32 and bf16: all exact (the same comparisons and sums) */
Test(cuda_guardrail, maxpool_upsample_leaky, .init = open_backends, .fini = close_backends) {
    const int geo[][6] = {{3, 13, 10, 3, 2, 1}, {2, 8, 8, 2, 2, 0}, {1, 5, 7, 3, 1, 1}}; /* C H W k s p */
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++) {
        const int C = geo[g][0], H = geo[g][1], W = geo[g][2], k = geo[g][3], s = geo[g][4], p = geo[g][5];
        const int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
        const int64_t nx = (int64_t)C * H * W, ny = (int64_t)C * Ho * Wo;
        float *x = rand_f32(nx, 10 + g, 1.0f, 0.0f), *y = malloc(sizeof(float) * (size_t)ny);
        cr_assert_eq(cosmos_op_maxpool2d(cpu, cosmos_tensor_3d(y, COSMOS_F32, C, Ho, Wo),
                                         cosmos_tensor_3d(x, COSMOS_F32, C, H, W), k, s, p),
                     COSMOS_OK);
        float *dx = cuda_test_upload_f32(gpu, x, nx), *dy = NULL;
        cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(float) * (size_t)ny, (void **)&dy), COSMOS_OK);
        cr_assert_eq(cosmos_op_maxpool2d(gpu, cosmos_tensor_3d(dy, COSMOS_F32, C, Ho, Wo),
                                         cosmos_tensor_3d(dx, COSMOS_F32, C, H, W), k, s, p),
                     COSMOS_OK);
        float *got = cuda_test_download(gpu, dy, ny, COSMOS_F32);
        cuda_test_compare("maxpool2d", got, y, ny, 0, 0);
        cosmos_backend_free_mem(gpu, dx), cosmos_backend_free_mem(gpu, dy);
        free(x), free(y), free(got);
    }
    const int up[][5] = {{4, 10, 16, 5, 8}, {3, 7, 9, 4, 5}, {2, 6, 6, 6, 6}, {1, 5, 3, 2, 2}}; /* C Hd Wd Hs Ws */
    for (size_t u = 0; u < sizeof up / sizeof up[0]; u++) {
        const int C = up[u][0], Hd = up[u][1], Wd = up[u][2], Hs = up[u][3], Ws = up[u][4];
        const int64_t nd = (int64_t)C * Hd * Wd, ns = (int64_t)C * Hs * Ws;
        float *d = rand_f32(nd, 20 + u, 1.0f, 0.0f), *src = rand_f32(ns, 30 + u, 1.0f, 0.0f);
        float *dd = cuda_test_upload_f32(gpu, d, nd), *ds = cuda_test_upload_f32(gpu, src, ns);
        cr_assert_eq(cosmos_op_add_upsampled_nearest(cpu, cosmos_tensor_3d(d, COSMOS_F32, C, Hd, Wd),
                                                     cosmos_tensor_3d(src, COSMOS_F32, C, Hs, Ws)),
                     COSMOS_OK);
        cr_assert_eq(cosmos_op_add_upsampled_nearest(gpu, cosmos_tensor_3d(dd, COSMOS_F32, C, Hd, Wd),
                                                     cosmos_tensor_3d(ds, COSMOS_F32, C, Hs, Ws)),
                     COSMOS_OK);
        float *got = cuda_test_download(gpu, dd, nd, COSMOS_F32);
        cuda_test_compare("add_upsampled_nearest", got, d, nd, 0, 0);
        cosmos_backend_free_mem(gpu, dd), cosmos_backend_free_mem(gpu, ds);
        free(d), free(src), free(got);
    }
    const int64_t n = 1003;
    float *x = rand_f32(n, 40, 1.0f, 0.0f), *y = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_op_leaky_relu(cpu, cosmos_tensor_1d(y, COSMOS_F32, n), cosmos_tensor_1d(x, COSMOS_F32, n), 0.1f),
                 COSMOS_OK);
    float *dx = cuda_test_upload_f32(gpu, x, n);
    cr_assert_eq(cosmos_op_leaky_relu(gpu, cosmos_tensor_1d(dx, COSMOS_F32, n), cosmos_tensor_1d(dx, COSMOS_F32, n), 0.1f),
                 COSMOS_OK);
    float *got = cuda_test_download(gpu, dx, n, COSMOS_F32);
    cuda_test_compare("leaky_relu f32", got, y, n, 0, 0);
    free(got);
    cosmos_bf16 *xb = malloc(sizeof(cosmos_bf16) * (size_t)n);
    cosmos_f32_to_bf16_n(xb, x, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        const float v = cosmos_bf16_to_f32(xb[i]);
        y[i] = cosmos_round_bf16(v < 0 ? v * 0.1f : v);
    }
    void *db = NULL;
    cr_assert_eq(cosmos_backend_alloc(gpu, sizeof(cosmos_bf16) * (size_t)n, &db), COSMOS_OK);
    cr_assert_eq(cosmos_backend_upload(gpu, db, xb, sizeof(cosmos_bf16) * (size_t)n), COSMOS_OK);
    cr_assert_eq(cosmos_op_leaky_relu(gpu, cosmos_tensor_1d(db, COSMOS_BF16, n), cosmos_tensor_1d(db, COSMOS_BF16, n), 0.1f),
                 COSMOS_OK);
    got = cuda_test_download(gpu, db, n, COSMOS_BF16);
    cuda_test_compare("leaky_relu bf16", got, y, n, 0, 0);
    cosmos_backend_free_mem(gpu, dx), cosmos_backend_free_mem(gpu, db);
    free(x), free(y), free(xb), free(got);
}

/* The tiny RetinaFace with its network on cuda:0: the reference heads (tests/data/retinaface-tiny.golden.h5)
 * within the CPU test's 1e-4 (tests/unit/test_face_blur.c), and the same detections as the host. */
Test(cuda_guardrail, tiny_retinaface_on_the_device, .init = open_backends, .fini = close_backends) {
    char g[1024], w[1024];
    cosmos_retinaface_t *m = NULL, *host = NULL;
    cr_assert_eq(cosmos_retinaface_load(data_path("retinaface-tiny.h5", w, sizeof w), &m), COSMOS_OK);
    cr_assert_eq(cosmos_retinaface_load(w, &host), COSMOS_OK);
    cr_assert_eq(cosmos_retinaface_use_backend(m, gpu), COSMOS_OK);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(data_path("retinaface-tiny.golden.h5", g, sizeof g), &h), COSMOS_OK);
    int32_t shape[4];
    cr_assert_eq(cosmos_h5_read(h, "frames_shape", COSMOS_I32, shape), COSMOS_OK);
    const int T = (int)shape[0], H = (int)shape[1], W = (int)shape[2];
    uint8_t *frames = NULL;
    size_t nb = 0;
    cr_assert_eq(cosmos_h5_read_bytes(g, "frames_in", &frames, &nb), COSMOS_OK);
    cr_assert_eq((int64_t)nb, (int64_t)T * H * W * 3);
    const int64_t P = cosmos_retinaface_num_priors(cosmos_retinaface_get_config(m), H, W);
    float *loc = malloc(sizeof(float) * (size_t)(T * 4 * P)), *conf = malloc(sizeof(float) * (size_t)(T * 2 * P));
    cr_assert_eq(cosmos_h5_read(h, "loc", COSMOS_F32, loc), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read(h, "conf", COSMOS_F32, conf), COSMOS_OK);
    float *l = malloc(sizeof(float) * 4 * (size_t)P), *c = malloc(sizeof(float) * 2 * (size_t)P);
    for (int t = 0; t < T; t++) {
        const uint8_t *f = frames + (int64_t)t * H * W * 3;
        cr_assert_eq(cosmos_retinaface_forward(m, f, H, W, l, c), COSMOS_OK, "frame %d on cuda:0", t);
        cuda_test_compare("retinaface loc vs reference", l, loc + t * 4 * P, 4 * P, 1e-4, 0);
        cuda_test_compare("retinaface conf vs reference", c, conf + t * 2 * P, 2 * P, 1e-4, 0);
        struct cosmos_retinaface_box *bd = NULL, *bh = NULL;
        int nd = 0, nh = 0;
        cr_assert_eq(cosmos_retinaface_detect(m, f, H, W, &bd, &nd), COSMOS_OK);
        cr_assert_eq(cosmos_retinaface_detect(host, f, H, W, &bh, &nh), COSMOS_OK);
        cr_expect_eq(nd, nh, "frame %d: %d faces on cuda:0, %d on the host", t, nd, nh);
        for (int i = 0; i < nd && i < nh; i++)
            cr_expect(fabsf(bd[i].x1 - bh[i].x1) < 1e-2f && fabsf(bd[i].y2 - bh[i].y2) < 1e-2f, "frame %d box %d", t, i);
        free(bd), free(bh);
    }
    free(frames), free(loc), free(conf), free(l), free(c);
    cosmos_h5_close(h);
    cosmos_retinaface_free(m);
    cosmos_retinaface_free(host);
}
