#define _POSIX_C_SOURCE 200809L /* mkstemp */
/* Golden tests: the C engine against teacher-forced logits of the PyTorch reference
 * (tools/reference/cosmos_ar_ref.py, itself cross-checked against the official modules, see
 * docs/reference-crosscheck.md) for the tiny config of each of the four architectures; prefill vs
 * decode vs chunked prefill; greedy sampling equals the argmax of the logits; non-finite logits fail a
 * step sampled on the backend. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/model/ar_model.h"
#include "core/model/sampler.h"
#include "tests/e2e/decode_pair.h"
#include "cosmos_build_config.h"

#define TOL_ABS 1e-4

struct golden {
    int32_t *tokens;
    int n;
    float *context; /* NULL for base models */
    int ctx_rows, ctx_cols;
    float *logits; /* [n, V] */
    int V;
};

static void load_golden(const char *name, struct golden *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s.golden.h5", COSMOS_SOURCE_DIR, name);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK, "%s", path);
    struct cosmos_h5_info ti, li;
    cr_assert_eq(cosmos_h5_info(h, "tokens", &ti), COSMOS_OK);
    cr_assert_eq(cosmos_h5_info(h, "logits", &li), COSMOS_OK);
    g->n = (int)ti.shape[0];
    g->V = (int)li.shape[1];
    g->tokens = malloc(sizeof(int32_t) * (size_t)g->n);
    g->logits = malloc(sizeof(float) * (size_t)g->n * (size_t)g->V);
    cr_assert_eq(cosmos_h5_read(h, "tokens", COSMOS_I32, g->tokens), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read(h, "logits", COSMOS_F32, g->logits), COSMOS_OK);
    g->context = NULL;
    if (cosmos_h5_has_dataset(h, "context")) {
        struct cosmos_h5_info ci;
        cr_assert_eq(cosmos_h5_info(h, "context", &ci), COSMOS_OK);
        g->ctx_rows = (int)ci.shape[0];
        g->ctx_cols = (int)ci.shape[1];
        g->context = malloc(sizeof(float) * (size_t)g->ctx_rows * (size_t)g->ctx_cols);
        cr_assert_eq(cosmos_h5_read(h, "context", COSMOS_F32, g->context), COSMOS_OK);
    }
    cosmos_h5_close(h);
}

static void free_golden(struct golden *g) {
    free(g->tokens);
    free(g->context);
    free(g->logits);
}

static cosmos_ar_model_t *load_model(const char *name, cosmos_backend_t *be, int chunk, const struct golden *g) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s.h5", COSMOS_SOURCE_DIR, name);
    struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
    lp.max_chunk = chunk;
    cosmos_ar_model_t *m = NULL;
    cr_assert_eq(cosmos_ar_model_load(path, be, &lp, &m), COSMOS_OK, "%s", path);
    if (g->context) cr_assert_eq(cosmos_ar_set_context(m, g->context, g->ctx_rows, g->ctx_cols), COSMOS_OK);
    return m;
}

/* Max-abs comparison; prints the first mismatches with indices. */
static void compare(const char *what, const float *got, const float *want, int n, int V, double tol) {
    double max_abs = 0;
    int bad = 0;
    for (int t = 0; t < n; t++) {
        for (int v = 0; v < V; v++) {
            double d = fabs((double)got[(size_t)t * V + v] - want[(size_t)t * V + v]);
            if (d > max_abs) max_abs = d;
            if (d > tol && bad++ < 5)
                cr_log_error("%s: position %d vocab %d: got %.7g want %.7g", what, t, v, got[(size_t)t * V + v],
                             want[(size_t)t * V + v]);
        }
    }
    cr_log_info("%s: max |diff| %.3g over %d x %d logits", what, max_abs, n, V);
    cr_expect_eq(bad, 0, "%s: %d logits differ by more than %g (max %.3g)", what, bad, tol, max_abs);
}

static void check_model(const char *name) {
    struct golden g;
    load_golden(name, &g);
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    float *out = malloc(sizeof(float) * (size_t)g.n * (size_t)g.V);
    char what[128];

    /* prefill in one chunk */
    cosmos_ar_model_t *m = load_model(name, be, 256, &g);
    cr_assert_eq(cosmos_ar_model_config(m)->vocab_size, g.V);
    cr_assert_eq(cosmos_ar_forward(m, g.tokens, g.n, 0, COSMOS_LOGITS_ALL, out), COSMOS_OK);
    snprintf(what, sizeof what, "%s prefill vs reference", name);
    compare(what, out, g.logits, g.n, g.V, TOL_ABS);

    /* decode: one token at a time through the KV cache */
    for (int t = 0; t < g.n; t++)
        cr_assert_eq(cosmos_ar_forward(m, g.tokens + t, 1, t, COSMOS_LOGITS_LAST, out + (size_t)t * g.V), COSMOS_OK);
    snprintf(what, sizeof what, "%s decode vs reference", name);
    compare(what, out, g.logits, g.n, g.V, TOL_ABS);
    cosmos_ar_model_free(m);

    /* chunked prefill (chunks of 7 tokens, crossing every latent-frame boundary) */
    m = load_model(name, be, 7, &g);
    cr_assert_eq(cosmos_ar_forward(m, g.tokens, g.n, 0, COSMOS_LOGITS_ALL, out), COSMOS_OK);
    snprintf(what, sizeof what, "%s chunked prefill vs reference", name);
    compare(what, out, g.logits, g.n, g.V, TOL_ABS);

    /* prompt + continuation: prefill half, then the rest in one call at pos0 = half */
    const int half = g.n / 2;
    cr_assert_eq(cosmos_ar_forward(m, g.tokens, half, 0, COSMOS_LOGITS_NONE, NULL), COSMOS_OK);
    cr_assert_eq(cosmos_ar_forward(m, g.tokens + half, g.n - half, half, COSMOS_LOGITS_ALL, out), COSMOS_OK);
    snprintf(what, sizeof what, "%s continuation vs reference", name);
    compare(what, out, g.logits + (size_t)half * g.V, g.n - half, g.V, TOL_ABS);

    /* greedy sampling = argmax of the last logits */
    struct cosmos_sampler_params sp = {0.0f, 0.8f, 0, 0};
    cosmos_sampler_t *s = NULL;
    cr_assert_eq(cosmos_sampler_init(&sp, g.V, &s), COSMOS_OK);
    const float *last = g.logits + (size_t)(g.n - 1) * g.V;
    int arg = 0;
    for (int v = 1; v < g.V; v++)
        if (last[v] > last[arg]) arg = v;
    float lastv[4096];
    cr_assert_eq(cosmos_ar_forward(m, g.tokens, g.n, 0, COSMOS_LOGITS_LAST, lastv), COSMOS_OK);
    cr_expect_eq(cosmos_sampler_sample(s, lastv, g.n), arg, "greedy = argmax");
    cosmos_sampler_free(s);
    cosmos_ar_model_free(m);
    cosmos_backend_free(be);
    free(out);
    free_golden(&g);
}

/* The device-position decode step (what a CUDA graph records: positions from the backend's cell,
 * K/V stored through store_rows, the token sampled on the backend) draws the same tokens and leaves
 * the same KV cache as the plain step, on the CPU oracle bit for bit. */
static void check_devpos(const char *name) {
    struct golden g;
    load_golden(name, &g);
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/%s.h5", COSMOS_SOURCE_DIR, name);
    cosmos_ar_model_t *m[2];
    for (int i = 0; i < 2; i++) {
        struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
        lp.devpos_decode = i;
        cr_assert_eq(cosmos_ar_model_load(path, be, &lp, &m[i]), COSMOS_OK, "%s", path);
        if (g.context) cr_assert_eq(cosmos_ar_set_context(m[i], g.context, g.ctx_rows, g.ctx_cols), COSMOS_OK);
    }
    const int P = 9, N = 24;
    cr_assert(P + N + 1 <= g.n + 64);
    const struct cosmos_sampler_params sp = {1.0f, 0.9f, 0, 77};
    float *l[2] = {malloc(sizeof(float) * (size_t)g.V), malloc(sizeof(float) * (size_t)g.V)};
    int32_t tok[2][40];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(cosmos_ar_forward(m[i], g.tokens, P, 0, COSMOS_LOGITS_LAST, l[i]), COSMOS_OK);
        tok[i][0] = g.tokens[P];
        for (int k = 0; k < N; k++)
            cr_assert_eq(cosmos_ar_forward_sample(m[i], &tok[i][k], 1, P + k, &sp, &tok[i][k + 1]), COSMOS_OK,
                         "%s: step %d (devpos %d)", name, k, i);
        cr_assert_eq(cosmos_ar_forward(m[i], &tok[i][N], 1, P + N, COSMOS_LOGITS_LAST, l[i]), COSMOS_OK);
    }
    for (int k = 0; k <= N; k++) cr_expect_eq(tok[1][k], tok[0][k], "%s: token %d", name, k);
    cr_expect(memcmp(l[0], l[1], sizeof(float) * (size_t)g.V) == 0, "%s: logits after the steps differ", name);
    for (int i = 0; i < 2; i++) {
        cosmos_ar_model_free(m[i]);
        free(l[i]);
    }
    cosmos_backend_free(be);
    free_golden(&g);
}
/* Decode with q|k|v and w1|w3 by one product each (a device backend's weight arena puts them back to
 * back: cpu-staged, the device path on the CPU) gives the separate products' logits bit for bit,
 * and the reference's. */
static void check_fused_decode(const char *name) {
    struct golden g;
    load_golden(name, &g);
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu-staged", NULL, &be), COSMOS_OK);
    char path[1024], what[128];
    snprintf(path, sizeof path, "%s/tests/data/%s.h5", COSMOS_SOURCE_DIR, name);
    float *out[2];
    cr_assert_eq(decode_fused_and_unfused(path, be, g.tokens, g.n, g.context, g.ctx_rows, g.ctx_cols, out), g.V);
    cr_expect(memcmp(out[0], out[1], sizeof(float) * (size_t)g.n * (size_t)g.V) == 0,
              "%s: fused and separate decode products differ", name);
    snprintf(what, sizeof what, "%s fused decode vs reference", name);
    compare(what, out[0], g.logits, g.n, g.V, TOL_ABS);
    free(out[0]);
    free(out[1]);
    cosmos_backend_free(be);
    free_golden(&g);
}
Test(golden, fused_decode_tiny_ar_4b) { check_fused_decode("tiny-ar-4b"); }
Test(golden, fused_decode_tiny_ar_13b_video2world) { check_fused_decode("tiny-ar-13b-video2world"); }

Test(golden, devpos_decode_tiny_ar_4b) { check_devpos("tiny-ar-4b"); }
Test(golden, devpos_decode_tiny_ar_13b_video2world) { check_devpos("tiny-ar-13b-video2world"); }

Test(golden, tiny_ar_4b) { check_model("tiny-ar-4b"); }
Test(golden, tiny_ar_5b_video2world) { check_model("tiny-ar-5b-video2world"); }
Test(golden, tiny_ar_12b) { check_model("tiny-ar-12b"); }
Test(golden, tiny_ar_13b_video2world) { check_model("tiny-ar-13b-video2world"); }

Test(golden, context_is_required_and_checked) {
    struct golden g;
    load_golden("tiny-ar-5b-video2world", &g);
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/tiny-ar-5b-video2world.h5", COSMOS_SOURCE_DIR);
    cosmos_ar_model_t *m = NULL;
    cr_assert_eq(cosmos_ar_model_load(path, be, NULL, &m), COSMOS_OK);
    float lg[4096];
    cr_expect_eq(cosmos_ar_forward(m, g.tokens, 4, 0, COSMOS_LOGITS_LAST, lg), COSMOS_ERR_INVALID_ARG,
                 "a V2W forward without context fails");
    cr_expect_eq(cosmos_ar_set_context(m, g.context, g.ctx_rows - 1, g.ctx_cols), COSMOS_ERR_INVALID_ARG);
    cr_assert_eq(cosmos_ar_set_context(m, g.context, g.ctx_rows, g.ctx_cols), COSMOS_OK);
    int32_t bad[2] = {g.tokens[0], 513}; /* 513: past BOV (512), inside the padded embedding rows */
    cr_expect_eq(cosmos_ar_forward(m, bad, 2, 0, COSMOS_LOGITS_LAST, lg), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_ar_forward(m, g.tokens, 4, 126, COSMOS_LOGITS_LAST, lg), COSMOS_ERR_INVALID_ARG,
                 "positions beyond max_seq_len");
    cosmos_ar_model_free(m);
    cosmos_backend_free(be);
    free_golden(&g);
}

/* A copy of tests/data/NAME.h5 at `out` with one element of dataset `name` (bf16, stored as uint16)
 * set to NaN, as tests/e2e/poison_weight.py does: a broken checkpoint. */
static void poisoned_copy(const char *model, const char *name, const char *out) {
    char src[1024];
    snprintf(src, sizeof src, "%s/tests/data/%s.h5", COSMOS_SOURCE_DIR, model);
    FILE *a = fopen(src, "rb"), *b = fopen(out, "wb");
    cr_assert(a && b, "copy %s to %s", src, out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) cr_assert_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
    hid_t f = H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert(f >= 0 && d >= 0, "%s in %s", name, out);
    hid_t space = H5Dget_space(d);
    const hssize_t numel = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    cr_assert(numel > 3, "%s has %lld elements", name, (long long)numel);
    uint16_t *v = malloc(sizeof(uint16_t) * (size_t)numel);
    cr_assert_not_null(v);
    cr_assert(H5Dread(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    v[3] = 0x7FC0; /* bf16 quiet NaN */
    cr_assert(H5Dwrite(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    free(v);
    H5Dclose(d);
    H5Fclose(f);
}

/* Non-finite logits fail a step sampled on the backend (cosmos_ar_forward_sample): on a host
 * backend by the check of the logits before the draw, on a device backend by the sample op's flag
 * read with the token (cpu-staged runs the device path on the CPU); a sound model samples the same
 * token on both. */
Test(golden, nonfinite_logits_fail_a_backend_sampled_step) {
    struct golden g;
    load_golden("tiny-ar-4b", &g);
    char path[1024], bad_path[] = "/tmp/cosmos-test-nan-XXXXXX";
    const int fd = mkstemp(bad_path);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(path, sizeof path, "%s/tests/data/tiny-ar-4b.h5", COSMOS_SOURCE_DIR);
    poisoned_copy("tiny-ar-4b", "layers.1.ffn_norm.weight", bad_path);
    const struct cosmos_sampler_params sp = {1.0f, 0.9f, 0, 5};
    int32_t tok[2][2] = {{-1, -1}, {-1, -1}};
    const char *backends[2] = {"cpu", "cpu-staged"};
    for (int i = 0; i < 2; i++) {
        cosmos_backend_t *be = NULL;
        cosmos_ar_model_t *good = NULL, *bad = NULL;
        cr_assert_eq(cosmos_backend_create(backends[i], NULL, &be), COSMOS_OK);
        cr_assert_eq(cosmos_ar_model_load(path, be, NULL, &good), COSMOS_OK);
        cr_assert_eq(cosmos_ar_model_load(bad_path, be, NULL, &bad), COSMOS_OK);
        cr_expect_eq(cosmos_ar_forward_sample(good, g.tokens, 9, 0, &sp, &tok[i][0]), COSMOS_OK, "%s", backends[i]);
        cr_expect_eq(cosmos_ar_forward_sample(bad, g.tokens, 9, 0, &sp, &tok[i][1]), COSMOS_ERR_FORMAT,
                     "%s: NaN logits must fail the step", backends[i]);
        cosmos_ar_model_free(good);
        cosmos_ar_model_free(bad);
        cosmos_backend_free(be);
    }
    cr_expect_eq(tok[0][0], tok[1][0], "the sound model's token differs between cpu and cpu-staged");
    cr_expect(tok[0][0] >= 0 && tok[0][0] < g.V);
    unlink(bad_path);
    free_golden(&g);
}
