/* Diffusion-decoder DiT tests (spec components.md 4.4; docs/weights.md "Diffusion decoder files"):
 * config loading and every validation error (bad files written to $COSMOS_TEST_TMP), parameter
 * counts (255 853 056 per 7B block, 7 237 257 216 in all), `init` files through the strict header
 * and dataset check (missing, misshaped, extra dataset, disagreeing attribute), the new CPU ops
 * (layernorm_modulate, gelu, add_gated) against naive loops on odd shapes, the host helpers
 * (bilinear resize, RoPE tables, timestep sinusoid), and the golden test: the forward pass on
 * tests/data/dd-tiny.h5 against the PyTorch reference (tests/data/dd-tiny.golden.h5 from
 * tools/reference/make_dit_fixtures.py: /out_cond with the prompt context and tokens, /out_uncond
 * with context and tokens NULL), on the cpu and cpu-staged backends, plus the cross-attention K/V
 * cache (reuse and invalidation). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/dtype.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/dit_config.h"
#include "core/model/dit_init.h"
#include "core/model/dit_model.h"
#include "core/model/dit_weights.h"
#include "core/rng.h"
#include "cosmos_build_config.h"
#include "log_capture.h"
#include "test_files.h"

#define GOLDEN_TOL 1e-5 /* max |diff| / max |ref|; measured 6.5e-7, the tanh GELU approximation gives 1.5e-4 */

static void data_path(char *path, size_t n, const char *name) {
    snprintf(path, n, "%s/tests/data/%s", COSMOS_SOURCE_DIR, name);
}
static struct cosmos_dit_config load_cfg(const char *name) {
    char path[1024];
    config_path(path, sizeof path, name);
    struct cosmos_dit_config c;
    cr_assert_eq(cosmos_dit_config_load(path, &c), COSMOS_OK, "loading %s", path);
    return c;
}

/* ------------------------------------------------------------------------------- config */

Test(dit_config, official_7b_numbers) {
    char path[1024];
    config_path(path, sizeof path, "cosmos-1.0-diffusion-7b-decoder");
    cr_expect(cosmos_config_file_is_dit(path));
    struct cosmos_dit_config c = load_cfg("cosmos-1.0-diffusion-7b-decoder");
    cr_expect_eq(c.model_channels, 4096);
    cr_expect_eq(c.num_blocks, 28);
    cr_expect_eq(c.head_dim, 128);
    cr_expect_eq(c.mlp_hidden, 16384);
    cr_expect_eq(c.rope_dim_h, 42);
    cr_expect_eq(c.rope_dim_w, 42);
    cr_expect_eq(c.rope_dim_t, 44);
    cr_expect_eq(c.patch_in_features, 196, "x_embedder [4096, 196] (spec 4.4 step 3)");
    cr_expect_eq(c.patch_out_features, 64, "final linear 4096 -> 64 (spec 4.4 step 7)");
    cr_expect_eq(c.token_vocab_size, 64000);
    cr_expect_eq(c.token_dim, 32);
    cr_expect_eq(c.fps, 24);
    cr_expect_eq(c.num_steps, 15);
    cr_expect(fabs(c.guidance - 1.8) < 1e-12 && fabs(c.sigma_min - 0.02) < 1e-12 && c.sigma_max == 80.0);
    /* spec 4.4: 255 853 056 per block; total derived: 28 blocks + x_embedder 4096*196 + t_embedder
     * 4096*4096 + 12288*4096 + affline_norm 4096 + final layer 4096*256 + 256*8192 + 64*4096 + token
     * table 64000*32 */
    cr_expect_eq(cosmos_dit_config_block_params(&c), 255853056LL);
    const int64_t want = 28LL * 255853056 + 4096LL * 196 + 4096LL * 4096 + 12288LL * 4096 + 4096 + 4096LL * 256 +
                         256LL * 8192 + 64LL * 4096 + 64000LL * 32;
    cr_expect_eq(want, 7237257216LL);
    cr_expect_eq(cosmos_dit_config_num_params(&c), want, "%lld", (long long)cosmos_dit_config_num_params(&c));
    /* the key list holds exactly these parameters: 20 datasets per block + 8 */
    struct cosmos_dit_tensor_spec *specs = NULL;
    int n = 0;
    cr_assert_eq(cosmos_dit_weight_specs(&c, &specs, &n), COSMOS_OK);
    cr_expect_eq(n, 20 * 28 + 8);
    int64_t sum = 0;
    for (int i = 0; i < n; i++) sum += specs[i].shape[0] * specs[i].shape[1];
    cr_expect_eq(sum, want);
    free(specs);
}

Test(dit_config, tiny_numbers_and_json_round_trip) {
    struct cosmos_dit_config c = load_cfg("dd-tiny");
    cr_expect_str_eq(c.name, "dd-tiny");
    cr_expect_eq(c.head_dim, 16);
    cr_expect_eq(c.rope_dim_h, 4);
    cr_expect_eq(c.rope_dim_t, 8);
    cr_expect_eq(c.patch_in_features, (4 + 8 + 1) * 4);
    cr_expect_eq(cosmos_dit_config_num_params(&c), 183744, "docs/weights.md: 183 744 for dd-tiny");
    char *json = cosmos_dit_config_to_json(&c);
    cr_assert(json);
    struct cosmos_dit_config b;
    cr_assert_eq(cosmos_dit_config_parse(json, "round trip", &b), COSMOS_OK, "%s", json);
    cr_expect_eq(memcmp(&b, &c, sizeof b), 0, "parse(to_json(c)) != c: %s", json);
    free(json);
    char ar[1024];
    config_path(ar, sizeof ar, "tiny-ar-4b");
    cr_expect(!cosmos_config_file_is_dit(ar));
    cr_expect(!cosmos_config_file_is_dit("/nonexistent.json"));
}

struct bad_case {
    const char *key;
    const char *value; /* JSON; NULL deletes the key */
    cosmos_status want;
    const char *needle;
};

static const struct bad_case bad_cases[] = {
    {"colour", "1", COSMOS_ERR_INVALID_ARG, "unknown key 'colour'"},
    {"model_type", "\"ar\"", COSMOS_ERR_INVALID_ARG, "model_type must be \"diffusion_decoder\""},
    {"block_config", "\"FA-MLP\"", COSMOS_ERR_UNSUPPORTED, "'block_config' \"FA-MLP\" is not supported"},
    {"block_config", "3", COSMOS_ERR_INVALID_ARG, "'block_config' must be a string"},
    {"pos_emb_cls", "\"sincos\"", COSMOS_ERR_UNSUPPORTED, "'pos_emb_cls' \"sincos\" is not supported"},
    {"use_adaln_lora", "false", COSMOS_ERR_UNSUPPORTED, "'use_adaln_lora' false is not supported"},
    {"affline_emb_norm", "false", COSMOS_ERR_UNSUPPORTED, "'affline_emb_norm' false"},
    {"concat_padding_mask", "false", COSMOS_ERR_UNSUPPORTED, "'concat_padding_mask' false"},
    {"use_cross_attn_mask", "true", COSMOS_ERR_UNSUPPORTED, "'use_cross_attn_mask' true"},
    {"extra_per_block_abs_pos_emb", "true", COSMOS_ERR_UNSUPPORTED, "'extra_per_block_abs_pos_emb' true"},
    {"diffusion_decoder_condition_on_sigma", "true", COSMOS_ERR_UNSUPPORTED, "'diffusion_decoder_condition_on_sigma'"},
    {"diffusion_decoder_condition_on_token", "false", COSMOS_ERR_UNSUPPORTED, "'diffusion_decoder_condition_on_token'"},
    {"use_adaln_lora", "1", COSMOS_ERR_INVALID_ARG, "'use_adaln_lora' must be true or false"},
    {"patch_temporal", "2", COSMOS_ERR_UNSUPPORTED, "'patch_temporal' must be 1"},
    {"model_channels", NULL, COSMOS_ERR_INVALID_ARG, "required key 'model_channels' is missing"},
    {"rope_t_extrapolation_ratio", NULL, COSMOS_ERR_INVALID_ARG, "required key 'rope_t_extrapolation_ratio'"},
    {"model_channels", "-64", COSMOS_ERR_INVALID_ARG, "'model_channels' must be an integer"},
    {"num_heads", "3", COSMOS_ERR_INVALID_ARG, "'model_channels' 64 must be a multiple of 'num_heads' 3"},
    {"num_heads", "8", COSMOS_ERR_INVALID_ARG, "RoPE dims"},
    {"mlp_ratio", "0", COSMOS_ERR_INVALID_ARG, "'mlp_ratio' must be a number"},
    {"mlp_ratio", "1.01", COSMOS_ERR_INVALID_ARG, "'mlp_ratio' 1.01"},
    {"rope_h_extrapolation_ratio", "\"x\"", COSMOS_ERR_INVALID_ARG, "'rope_h_extrapolation_ratio'"},
    {"sigma_min", "100", COSMOS_ERR_INVALID_ARG, "'sigma_min' 100 must be smaller than 'sigma_max'"},
    {"num_steps", "0", COSMOS_ERR_INVALID_ARG, "'num_steps'"},
    {"fps", "0", COSMOS_ERR_INVALID_ARG, "'fps'"},
    {"height", "72", COSMOS_ERR_INVALID_ARG, "'height' 72"},
    {"name", "\"\"", COSMOS_ERR_INVALID_ARG, "'name'"},
};

static void write_variant(const struct bad_case *b, char *path, size_t n, int idx) {
    char name[64];
    snprintf(name, sizeof name, "dit-bad-%02d.json", idx);
    write_config_variant("dd-tiny", b->key, b->value, name, path, n);
}

Test(dit_config, every_validation_error_names_the_problem) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *b = &bad_cases[i];
        char path[1024];
        write_variant(b, path, sizeof path, (int)i);
        struct cosmos_dit_config c;
        log_capture_start();
        cosmos_status st = cosmos_dit_config_load(path, &c);
        log_capture_stop();
        expect_config_error(b->key, b->value, st, b->want, b->needle, path);
    }
}

Test(dit_config, malformed_json) {
    struct cosmos_dit_config c;
    log_capture_start();
    cr_expect_eq(cosmos_dit_config_parse("{\n \"num_blocks\": 2,\n", "inline", &c), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_dit_config_parse("[1]", "array", &c), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_dit_config_load("/nonexistent/dd.json", &c), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "inline:") && strstr(log_captured(), "must be a JSON object"), "%s",
              log_captured());
}

/* ------------------------------------------------------------------------- weight files */

static void init_tiny(const char *name, uint64_t seed, char *path, size_t n) {
    tmp_path(path, n, name);
    struct cosmos_dit_config c = load_cfg("dd-tiny");
    cr_assert_eq(cosmos_dit_init_random(&c, seed, path), COSMOS_OK);
}

/* Copy of src with one change: `drop` left out, `reshape` written as [2, 3], `extra` added, or the
 * attribute `attr` set to 1. */
static void copy_variant(const char *src, const char *dst, const char *drop, const char *reshape, const char *extra,
                         const char *attr) {
    cosmos_h5_t *in = NULL, *out = NULL;
    cr_assert_eq(cosmos_h5_open(src, &in), COSMOS_OK);
    struct cosmos_dit_config c;
    cr_assert_eq(cosmos_dit_read_header(in, &c), COSMOS_OK);
    cr_assert_eq(cosmos_h5_create(dst, &out), COSMOS_OK);
    cr_assert_eq(cosmos_dit_write_header(out, &c), COSMOS_OK);
    if (attr) cr_assert_eq(cosmos_h5_write_attr_int(out, attr, 1), COSMOS_OK);
    char **names = NULL;
    int nn = 0;
    cr_assert_eq(cosmos_h5_list(in, &names, &nn), COSMOS_OK);
    for (int i = 0; i < nn; i++) {
        if (drop && !strcmp(names[i], drop)) continue;
        struct cosmos_h5_info info;
        cr_assert_eq(cosmos_h5_info(in, names[i], &info), COSMOS_OK);
        int64_t numel = 1;
        for (int d = 0; d < info.ndim; d++) numel *= info.shape[d];
        cosmos_bf16 *b = malloc(sizeof(cosmos_bf16) * (size_t)numel);
        cr_assert_eq(cosmos_h5_read(in, names[i], COSMOS_BF16, b), COSMOS_OK);
        if (reshape && !strcmp(names[i], reshape)) {
            const int64_t s[2] = {2, 3};
            cr_assert_eq(cosmos_h5_write(out, names[i], COSMOS_BF16, 2, s, b), COSMOS_OK);
        } else {
            cr_assert_eq(cosmos_h5_write(out, names[i], COSMOS_BF16, info.ndim, info.shape, b), COSMOS_OK);
        }
        free(b);
    }
    if (extra) {
        const cosmos_bf16 z[2] = {0, 0};
        const int64_t s[1] = {2};
        cr_assert_eq(cosmos_h5_write(out, extra, COSMOS_BF16, 1, s, z), COSMOS_OK);
    }
    cosmos_h5_free_names(names, nn);
    cosmos_h5_close(in);
    cosmos_h5_close(out);
}

/* Loads a file through header + strict load on the cpu backend; returns the status (logs captured). */
static cosmos_status try_load(const char *path) {
    cosmos_backend_t *be = NULL;
    cosmos_h5_t *h5 = NULL;
    cosmos_dit_t *m = NULL;
    struct cosmos_dit_config c;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    cosmos_status st = cosmos_h5_open(path, &h5);
    if (st == COSMOS_OK) st = cosmos_dit_read_header(h5, &c);
    if (st == COSMOS_OK) st = cosmos_dit_load(be, h5, &c, &m);
    cosmos_dit_free(m);
    cosmos_h5_close(h5);
    cosmos_backend_free(be);
    return st;
}

Test(dit_weights, init_file_loads_and_is_deterministic) {
    char a[1024], b[1024];
    init_tiny("dit-init-a.h5", 5, a, sizeof a);
    init_tiny("dit-init-b.h5", 5, b, sizeof b);
    cr_expect_eq(try_load(a), COSMOS_OK);
    /* same seed: same tensors */
    cosmos_h5_t *ha = NULL, *hb = NULL;
    cr_assert_eq(cosmos_h5_open(a, &ha), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(b, &hb), COSMOS_OK);
    struct cosmos_dit_config c;
    cr_assert_eq(cosmos_dit_read_header(ha, &c), COSMOS_OK);
    cr_assert_eq(cosmos_dit_check_weights(ha, &c), COSMOS_OK);
    struct cosmos_dit_tensor_spec *specs = NULL;
    int n = 0;
    cr_assert_eq(cosmos_dit_weight_specs(&c, &specs, &n), COSMOS_OK);
    for (int i = 0; i < n; i++) {
        const size_t numel = (size_t)(specs[i].shape[0] * specs[i].shape[1]);
        cosmos_bf16 *x = malloc(2 * numel), *y = malloc(2 * numel);
        cr_assert_eq(cosmos_h5_read(ha, specs[i].name, COSMOS_BF16, x), COSMOS_OK);
        cr_assert_eq(cosmos_h5_read(hb, specs[i].name, COSMOS_BF16, y), COSMOS_OK);
        cr_expect_eq(memcmp(x, y, 2 * numel), 0, "%s differs between two inits with one seed", specs[i].name);
        if (specs[i].kind == COSMOS_DIT_NORM) /* 1 + 0.1 N(0,1) */
            cr_expect(fabsf(cosmos_bf16_to_f32(x[0]) - 1.0f) < 0.6f, "%s", specs[i].name);
        free(x);
        free(y);
    }
    free(specs);
    cosmos_h5_close(ha);
    cosmos_h5_close(hb);
}

Test(dit_weights, strict_loader_names_the_dataset) {
    char src[1024], dst[1024];
    init_tiny("dit-strict-src.h5", 1, src, sizeof src);
    const struct {
        const char *drop, *reshape, *extra, *attr, *needle;
    } cases[] = {
        {"blocks.block1.blocks.1.block.attn.to_k.0.weight", NULL, NULL, NULL,
         "missing dataset 'blocks.block1.blocks.1.block.attn.to_k.0.weight' (expected shape [64, 64])"},
        {"token_embedder.weight", NULL, NULL, NULL, "missing dataset 'token_embedder.weight'"},
        {NULL, "final_layer.linear.weight", NULL, NULL,
         "dataset 'final_layer.linear.weight' has shape [2, 3], expected [16, 64]"},
        {NULL, "affline_norm.weight", NULL, NULL, "dataset 'affline_norm.weight' has shape [2, 3], expected [64]"},
        {NULL, NULL, "logvar.1.weight", NULL, "unexpected dataset 'logvar.1.weight'"},
        {NULL, NULL, NULL, "num_blocks", "root attribute 'num_blocks' = 1 disagrees with the config (2)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "dit-strict-%zu.h5", i);
        tmp_path(dst, sizeof dst, name);
        copy_variant(src, dst, cases[i].drop, cases[i].reshape, cases[i].extra, cases[i].attr);
        log_capture_start();
        cosmos_status st = try_load(dst);
        log_capture_stop();
        cr_expect_eq(st, COSMOS_ERR_FORMAT, "case %zu: %s", i, cosmos_status_str(st));
        cr_expect(strstr(log_captured(), cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, log_captured(),
                  cases[i].needle);
    }
    /* an unmodified copy loads: the copies above fail for their change only */
    tmp_path(dst, sizeof dst, "dit-strict-ok.h5");
    copy_variant(src, dst, NULL, NULL, NULL, NULL);
    cr_expect_eq(try_load(dst), COSMOS_OK);
}

Test(dit_weights, load_rejects_another_config_and_other_files) {
    char path[1024], t5[1024];
    init_tiny("dit-cfg.h5", 2, path, sizeof path);
    cosmos_backend_t *be = NULL;
    cosmos_h5_t *h5 = NULL;
    cosmos_dit_t *m = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(path, &h5), COSMOS_OK);
    struct cosmos_dit_config c = load_cfg("dd-tiny");
    c.rope_h_extrapolation_ratio = 2.0; /* shapes agree; the network would not */
    log_capture_start();
    cr_expect_eq(cosmos_dit_load(be, h5, &c, &m), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "'rope_h_extrapolation_ratio'"), "%s", log_captured());
    c = load_cfg("dd-tiny");
    c.guidance = 3.0; /* sampling keys may differ */
    cr_expect_eq(cosmos_dit_load(be, h5, &c, &m), COSMOS_OK);
    cosmos_dit_free(m);
    cosmos_h5_close(h5);
    cosmos_backend_free(be);
    data_path(t5, sizeof t5, "t5-tiny.h5");
    log_capture_start();
    cr_expect_eq(try_load(t5), COSMOS_ERR_FORMAT);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "diffusion_decoder"), "%s", log_captured());
}

/* ------------------------------------------------------------------------------ CPU ops */

static void fill(float *x, int64_t n, uint64_t stream, float scale, float offset) {
    for (int64_t i = 0; i < n; i++) x[i] = offset + scale * cosmos_rng_normal(7, stream, (uint64_t)i);
}

static double max_rel(const float *got, const double *want, int64_t n) {
    double md = 0, mr = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        md = fmax(md, fabs(got[i] - want[i]));
        mr = fmax(mr, fabs(want[i]));
    }
    return md / mr;
}

Test(dit_ops, layernorm_modulate_matches_naive_loop) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    const int64_t shapes[][2] = {{7, 37}, {1, 1}, {3, 4096}, {130, 65}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t R = shapes[s][0], D = shapes[s][1];
        float *x = malloc(sizeof(float) * (size_t)(R * D)), *y = malloc(sizeof(float) * (size_t)(R * D));
        float *sh = malloc(sizeof(float) * (size_t)D), *sc = malloc(sizeof(float) * (size_t)D);
        double *want = malloc(sizeof(double) * (size_t)(R * D));
        fill(x, R * D, 1, 3.0f, 5.0f); /* off-centre rows: the mean matters */
        fill(sh, D, 2, 0.5f, 0.0f);
        fill(sc, D, 3, 0.5f, 0.0f);
        for (int64_t r = 0; r < R; r++) {
            double mean = 0, var = 0;
            for (int64_t i = 0; i < D; i++) mean += x[r * D + i];
            mean /= D;
            for (int64_t i = 0; i < D; i++) var += (x[r * D + i] - mean) * (x[r * D + i] - mean);
            var /= D;
            for (int64_t i = 0; i < D; i++)
                want[r * D + i] = (x[r * D + i] - mean) / sqrt(var + 1e-6) * (1.0 + sc[i]) + sh[i];
        }
        struct cosmos_tensor tx = cosmos_tensor_2d(x, COSMOS_F32, R, D), ty = cosmos_tensor_2d(y, COSMOS_F32, R, D);
        cr_assert_eq(cosmos_op_layernorm_modulate(be, ty, tx, cosmos_tensor_1d(sh, COSMOS_F32, D),
                                                  cosmos_tensor_1d(sc, COSMOS_F32, D), 1e-6f),
                     COSMOS_OK);
        cr_expect(max_rel(y, want, R * D) < 1e-5, "[%lld, %lld]: rel %g", (long long)R, (long long)D,
                  max_rel(y, want, R * D));
        /* in place */
        cr_assert_eq(cosmos_op_layernorm_modulate(be, tx, tx, cosmos_tensor_1d(sh, COSMOS_F32, D),
                                                  cosmos_tensor_1d(sc, COSMOS_F32, D), 1e-6f),
                     COSMOS_OK);
        cr_expect_eq(memcmp(x, y, sizeof(float) * (size_t)(R * D)), 0, "in place differs");
        free(x), free(y), free(sh), free(sc), free(want);
    }
    /* shape errors */
    float buf[64] = {0};
    log_capture_start();
    cr_expect_eq(cosmos_op_layernorm_modulate(be, cosmos_tensor_2d(buf, COSMOS_F32, 4, 8),
                                              cosmos_tensor_2d(buf, COSMOS_F32, 4, 8),
                                              cosmos_tensor_1d(buf, COSMOS_F32, 4), cosmos_tensor_1d(buf, COSMOS_F32, 8),
                                              1e-6f),
                 COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_op_layernorm_modulate(be, cosmos_tensor_2d(buf, COSMOS_F32, 4, 8),
                                              cosmos_tensor_2d(buf, COSMOS_BF16, 4, 8),
                                              cosmos_tensor_1d(buf, COSMOS_F32, 8), cosmos_tensor_1d(buf, COSMOS_F32, 8),
                                              1e-6f),
                 COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "layernorm_modulate: shift and scale must be"), "%s", log_captured());
    cosmos_backend_free(be);
}

Test(dit_ops, gelu_matches_erf_formula) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    const int64_t n = 70001; /* odd, above the OpenMP threshold */
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    double *want = malloc(sizeof(double) * n);
    fill(x, n, 4, 3.0f, 0.0f);
    x[0] = 0.0f, x[1] = -10.0f, x[2] = 10.0f, x[3] = -1.0f;
    for (int64_t i = 0; i < n; i++) want[i] = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
    cr_assert_eq(cosmos_op_gelu(be, cosmos_tensor_1d(y, COSMOS_F32, n), cosmos_tensor_1d(x, COSMOS_F32, n)),
                 COSMOS_OK);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(y[i] - want[i]) / fmax(1.0, fabs(want[i])));
    cr_expect(worst < 1e-6, "gelu error %g", worst);
    cr_expect(fabs(y[3] - (-0.15865525393145707)) < 1e-6, "gelu(-1) = %g (tanh approximation: -0.1588)", y[3]);
    log_capture_start();
    cr_expect_eq(cosmos_op_gelu(be, cosmos_tensor_1d(y, COSMOS_F32, n - 1), cosmos_tensor_1d(x, COSMOS_F32, n)),
                 COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    free(x), free(y), free(want);
    cosmos_backend_free(be);
}

Test(dit_ops, add_gated_matches_naive_loop) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    const int64_t R = 301, D = 19;
    float *a = malloc(sizeof(float) * R * D), *b = malloc(sizeof(float) * R * D), *y = malloc(sizeof(float) * R * D);
    float g[19];
    double *want = malloc(sizeof(double) * R * D);
    fill(a, R * D, 5, 1.0f, 0.0f);
    fill(b, R * D, 6, 1.0f, 0.0f);
    fill(g, D, 7, 1.0f, 0.0f);
    for (int64_t r = 0; r < R; r++)
        for (int64_t i = 0; i < D; i++) want[r * D + i] = a[r * D + i] + (double)g[i] * b[r * D + i];
    struct cosmos_tensor ta = cosmos_tensor_2d(a, COSMOS_F32, R, D), tb = cosmos_tensor_2d(b, COSMOS_F32, R, D);
    struct cosmos_tensor tg = cosmos_tensor_1d(g, COSMOS_F32, D);
    cr_assert_eq(cosmos_op_add_gated(be, cosmos_tensor_2d(y, COSMOS_F32, R, D), ta, tb, tg), COSMOS_OK);
    cr_expect(max_rel(y, want, R * D) < 1e-6, "rel %g", max_rel(y, want, R * D));
    cr_assert_eq(cosmos_op_add_gated(be, ta, ta, tb, tg), COSMOS_OK); /* y aliases a */
    cr_expect_eq(memcmp(a, y, sizeof(float) * R * D), 0);
    log_capture_start();
    cr_expect_eq(cosmos_op_add_gated(be, ta, ta, tb, cosmos_tensor_1d(g, COSMOS_F32, D - 1)), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "add_gated: gate must be"), "%s", log_captured());
    free(a), free(b), free(y), free(want);
    cosmos_backend_free(be);
}

/* ------------------------------------------------------------------------- host helpers */

Test(dit_host, bilinear_resize) {
    /* equal sizes: identity */
    float src[2 * 2 * 3] = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6}, dst[2 * 4 * 6];
    cosmos_dit_resize_bilinear(dst, src, 2, 2, 3, 2, 3);
    cr_expect_arr_eq(dst, src, sizeof src);
    /* 2x: half-pixel centres give taps 0.75/0.25, edges clamped (F.interpolate align_corners=False) */
    cosmos_dit_resize_bilinear(dst, src, 2, 2, 3, 4, 6);
    const float row0[6] = {1.0f, 1.25f, 1.75f, 2.25f, 2.75f, 3.0f};
    for (int i = 0; i < 6; i++) cr_expect(fabsf(dst[i] - row0[i]) < 1e-6f, "row 0 col %d: %g", i, dst[i]);
    /* row 1 (source y 0.25): 0.75 * row0 + 0.25 * row1 of the source at column 0: 0.75*1 + 0.25*4 = 1.75 */
    cr_expect(fabsf(dst[6] - 1.75f) < 1e-6f, "%g", dst[6]);
    cr_expect(fabsf(dst[3 * 6 + 5] - 6.0f) < 1e-6f, "bottom-right corner %g", dst[3 * 6 + 5]);
    cr_expect(fabsf(dst[24 + 3 * 6 + 5] + 6.0f) < 1e-6f, "second channel %g", dst[24 + 3 * 6 + 5]);
    /* 1 x 1 source: constant */
    float one = 2.5f, big[15];
    cosmos_dit_resize_bilinear(big, &one, 1, 1, 1, 3, 5);
    for (int i = 0; i < 15; i++) cr_expect_eq(big[i], 2.5f);
}

Test(dit_host, rope_tables_and_timestep_features) {
    struct cosmos_dit_config c = load_cfg("cosmos-1.0-diffusion-7b-decoder");
    const int64_t T = 2, Hp = 3, Wp = 4, N = T * Hp * Wp, half = 64;
    float *cs = malloc(sizeof(float) * N * half), *sn = malloc(sizeof(float) * N * half);
    cr_assert_eq(cosmos_dit_rope_tables(&c, T, Hp, Wp, 12.0f, cs, sn), COSMOS_OK);
    /* token (t=1, h=2, w=3): t' = 1 / 12 * 24 = 2; f_t[1] = 10000^(-2/44); f_h[1] = theta_h^(-2/42),
     * theta_h = 10000 * 1.5^(42/40) = 15307.2 (spec Appendix B); w entries follow h entries */
    const int64_t n = (1 * Hp + 2) * Wp + 3;
    const double th = 10000.0 * pow(1.5, 42.0 / 40.0);
    cr_expect(fabs(th - 15307.2) < 0.1, "theta_h %f", th);
    const double at = 2.0 * pow(10000.0, -2.0 / 44.0), ah = 2.0 * pow(th, -2.0 / 42.0), aw = 3.0 * pow(th, -2.0 / 42.0);
    cr_expect(fabs(cs[n * half + 1] - cos(at)) < 1e-6, "t entry %g vs %g", cs[n * half + 1], cos(at));
    cr_expect(fabs(sn[n * half + 22 + 1] - sin(ah)) < 1e-6, "h entry");
    cr_expect(fabs(sn[n * half + 22 + 21 + 1] - sin(aw)) < 1e-6, "w entry");
    cr_expect_eq(cs[0], 1.0f, "token 0 is at the origin");
    free(cs), free(sn);
    float emb[8];
    cosmos_dit_timestep_embedding(8, 0.5f, emb);
    for (int i = 0; i < 4; i++) {
        const double a = 0.5 * exp(-log(10000.0) * i / 4.0);
        cr_expect(fabs(emb[i] - cos(a)) < 1e-6 && fabs(emb[4 + i] - sin(a)) < 1e-6, "feature %d (cos first)", i);
    }
}

/* --------------------------------------------------------------------------------- golden */

struct golden {
    float *x, *context, *out_cond, *out_uncond;
    int32_t *tokens;
    float c_noise, fps;
    int64_t C, T, H, W, L, Dc, Ht, Wt, Co;
};

static float *read_f32(cosmos_h5_t *h, const char *name, struct cosmos_h5_info *info) {
    cr_assert(cosmos_h5_has_dataset(h, name), "golden file lacks /%s", name);
    cr_assert_eq(cosmos_h5_info(h, name, info), COSMOS_OK, "%s", name);
    int64_t n = 1;
    for (int d = 0; d < info->ndim; d++) n *= info->shape[d];
    float *p = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_h5_read(h, name, COSMOS_F32, p), COSMOS_OK, "%s", name);
    return p;
}

static void golden_load(struct golden *g) {
    char path[1024];
    data_path(path, sizeof path, "dd-tiny.golden.h5");
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK, "%s (written by tools/reference/make_dit_fixtures.py)", path);
    struct cosmos_h5_info i;
    g->x = read_f32(h, "x", &i);
    cr_assert_eq(i.ndim, 4);
    g->C = i.shape[0], g->T = i.shape[1], g->H = i.shape[2], g->W = i.shape[3];
    g->context = read_f32(h, "context", &i);
    g->L = i.shape[0], g->Dc = i.shape[1];
    g->out_cond = read_f32(h, "out_cond", &i);
    g->Co = i.shape[0];
    g->out_uncond = read_f32(h, "out_uncond", &i);
    float *v = read_f32(h, "c_noise", &i);
    g->c_noise = v[0];
    free(v);
    v = read_f32(h, "fps", &i);
    g->fps = v[0];
    free(v);
    cr_assert_eq(cosmos_h5_info(h, "tokens", &i), COSMOS_OK);
    cr_assert_eq(i.ndim, 3);
    cr_assert_eq(i.shape[0], g->T);
    g->Ht = i.shape[1], g->Wt = i.shape[2];
    g->tokens = malloc(sizeof(int32_t) * (size_t)(g->T * g->Ht * g->Wt));
    cr_assert_eq(cosmos_h5_read(h, "tokens", COSMOS_I32, g->tokens), COSMOS_OK);
    cosmos_h5_close(h);
}

static void golden_free(struct golden *g) {
    free(g->x), free(g->context), free(g->out_cond), free(g->out_uncond), free(g->tokens);
}

struct tiny_model {
    cosmos_backend_t *be;
    cosmos_h5_t *h5;
    cosmos_dit_t *m;
};

static struct tiny_model tiny_load(const char *backend) {
    struct tiny_model t = {0};
    char path[1024];
    data_path(path, sizeof path, "dd-tiny.h5");
    struct cosmos_dit_config c;
    cr_assert_eq(cosmos_backend_create(backend, NULL, &t.be), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(path, &t.h5), COSMOS_OK, "%s", path);
    cr_assert_eq(cosmos_dit_read_header(t.h5, &c), COSMOS_OK);
    cr_assert_eq(cosmos_dit_load(t.be, t.h5, &c, &t.m), COSMOS_OK);
    return t;
}

static void tiny_free(struct tiny_model *t) {
    cosmos_dit_free(t->m);
    cosmos_h5_close(t->h5);
    cosmos_backend_free(t->be);
}

/* max |got - ref| / max |ref|, printing the first mismatches above tol */
static double compare(const char *what, const float *got, const float *ref, int64_t n, double tol) {
    double md = 0, mr = 0;
    for (int64_t i = 0; i < n; i++) {
        md = fmax(md, fabs((double)got[i] - ref[i]));
        mr = fmax(mr, fabs((double)ref[i]));
    }
    const double rel = md / mr;
    int shown = 0;
    for (int64_t i = 0; i < n && shown < 5 && rel > tol; i++)
        if (fabs((double)got[i] - ref[i]) > tol * mr) {
            cr_log_error("%s[%lld]: %g, reference %g", what, (long long)i, got[i], ref[i]);
            shown++;
        }
    fprintf(stderr, "dit golden %s: max|diff| %.3g, max|ref| %.3g, relative %.3g\n", what, md, mr, rel);
    return rel;
}

static void golden_on(const char *backend) {
    struct golden g;
    golden_load(&g);
    struct tiny_model t = tiny_load(backend);
    const struct cosmos_dit_config *c = cosmos_dit_get_config(t.m);
    cr_assert_eq(g.C, c->in_channels);
    cr_assert_eq(g.Dc, c->crossattn_emb_channels);
    const int64_t n = g.Co * g.T * g.H * g.W;
    float *out = malloc(sizeof(float) * (size_t)n), *again = malloc(sizeof(float) * (size_t)n);
    cr_assert_eq(cosmos_dit_forward(t.m, g.x, g.T, g.H, g.W, g.c_noise, g.context, g.L, g.tokens, g.Ht, g.Wt, g.fps,
                                    out),
                 COSMOS_OK);
    char what[64];
    snprintf(what, sizeof what, "out_cond (%s)", backend);
    cr_expect(compare(what, out, g.out_cond, n, GOLDEN_TOL) <= GOLDEN_TOL, "%s beyond %g", what, GOLDEN_TOL);
    cr_assert_eq(cosmos_dit_forward(t.m, g.x, g.T, g.H, g.W, g.c_noise, NULL, 0, NULL, 0, 0, g.fps, again),
                 COSMOS_OK);
    snprintf(what, sizeof what, "out_uncond (%s)", backend);
    cr_expect(compare(what, again, g.out_uncond, n, GOLDEN_TOL) <= GOLDEN_TOL, "%s beyond %g", what, GOLDEN_TOL);
    /* the conditional and unconditional references must differ (else the test could not tell them apart) */
    double md = 0;
    for (int64_t i = 0; i < n; i++) md = fmax(md, fabs((double)g.out_cond[i] - g.out_uncond[i]));
    cr_expect(md > 0.1, "out_cond and out_uncond differ by %g only", md);
    free(out), free(again);
    tiny_free(&t);
    golden_free(&g);
}

Test(dit_golden, forward_matches_reference_cpu) { golden_on("cpu"); }
Test(dit_golden, forward_matches_reference_cpu_staged) { golden_on("cpu-staged"); }

/* NULL context / tokens == an explicit all-zero context and all-zero tokens (spec 4.3); the
 * cross-attention K/V cache is reused for an identical context and rebuilt for another. */
Test(dit_golden, unconditional_inputs_and_kv_cache) {
    struct golden g;
    golden_load(&g);
    struct tiny_model t = tiny_load("cpu");
    const int64_t n = g.Co * g.T * g.H * g.W;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *z = calloc((size_t)(g.L * g.Dc), 4);
    int32_t *zt = calloc((size_t)(g.T * g.Ht * g.Wt), sizeof(int32_t));
    cr_assert_eq(cosmos_dit_forward(t.m, g.x, g.T, g.H, g.W, g.c_noise, z, g.L, zt, g.Ht, g.Wt, g.fps, a), COSMOS_OK);
    cr_expect(compare("zeros vs NULL", a, g.out_uncond, n, GOLDEN_TOL) <= GOLDEN_TOL);
    /* cond, uncond, cond: the cached K/V give the same bits */
    cr_assert_eq(cosmos_dit_forward(t.m, g.x, g.T, g.H, g.W, g.c_noise, g.context, g.L, g.tokens, g.Ht, g.Wt, g.fps, a),
                 COSMOS_OK);
    cr_assert_eq(cosmos_dit_forward(t.m, g.x, g.T, g.H, g.W, g.c_noise, NULL, 0, NULL, 0, 0, g.fps, b), COSMOS_OK);
    cr_assert_eq(cosmos_dit_forward(t.m, g.x, g.T, g.H, g.W, g.c_noise, g.context, g.L, g.tokens, g.Ht, g.Wt, g.fps, b),
                 COSMOS_OK);
    cr_expect_eq(memcmp(a, b, sizeof(float) * n), 0, "cached K/V changed the result");
    /* a changed context (same buffer, new values) must not reuse the old K/V */
    g.context[5] += 1.0f;
    cr_assert_eq(cosmos_dit_forward(t.m, g.x, g.T, g.H, g.W, g.c_noise, g.context, g.L, g.tokens, g.Ht, g.Wt, g.fps, b),
                 COSMOS_OK);
    cr_expect_neq(memcmp(a, b, sizeof(float) * n), 0, "stale K/V reused for another context");
    /* a shorter context (first rows) also recomputes */
    g.context[5] -= 1.0f;
    cr_assert_eq(cosmos_dit_forward(t.m, g.x, g.T, g.H, g.W, g.c_noise, g.context, g.L - 3, g.tokens, g.Ht, g.Wt,
                                    g.fps, b),
                 COSMOS_OK);
    cr_expect_neq(memcmp(a, b, sizeof(float) * n), 0, "context length ignored");
    cr_assert_eq(cosmos_dit_forward(t.m, g.x, g.T, g.H, g.W, g.c_noise, g.context, g.L, g.tokens, g.Ht, g.Wt, g.fps, b),
                 COSMOS_OK);
    cr_expect_eq(memcmp(a, b, sizeof(float) * n), 0);
    free(a), free(b), free(z), free(zt);
    tiny_free(&t);
    golden_free(&g);
}

Test(dit_golden, bad_inputs_are_errors) {
    struct golden g;
    golden_load(&g);
    struct tiny_model t = tiny_load("cpu");
    float *out = malloc(sizeof(float) * (size_t)(g.Co * 64 * 64 * 64));
    const struct {
        int64_t T, H, W, Ht, Wt;
        float fps;
        int bad_token;
        const char *needle;
    } cases[] = {
        {3, 5, 6, 2, 3, 24.0f, 0, "multiples of patch_spatial"},
        {3, 4, 6, 2, 3, 0.0f, 0, "fps 0 must be positive"},
        {3, 4, 6, 5, 3, 24.0f, 0, "need 1 <= Ht <= H"},
        {3, 4, 6, 2, 3, 24.0f, 1, "outside [0, 512)"},
        {200, 4, 6, 2, 3, 24.0f, 0, "exceeds the RoPE range"},
        {3, 4, 242, 2, 3, 24.0f, 0, "exceeds the RoPE range"},
    };
    int32_t *tok = calloc(200 * 6, sizeof(int32_t));
    float *x = calloc((size_t)(g.C * 200 * 4 * 242), sizeof(float));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tok[1] = cases[i].bad_token ? 512 : 0;
        log_capture_start();
        cosmos_status st = cosmos_dit_forward(t.m, x, cases[i].T, cases[i].H, cases[i].W, 0.1f, NULL, 0, tok,
                                              cases[i].Ht, cases[i].Wt, cases[i].fps, out);
        log_capture_stop();
        cr_expect_eq(st, COSMOS_ERR_INVALID_ARG, "case %zu", i);
        cr_expect(strstr(log_captured(), cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, log_captured(),
                  cases[i].needle);
    }
    free(tok), free(x), free(out);
    tiny_free(&t);
    golden_free(&g);
}

/* A random-weight init file runs end to end and gives finite outputs of moderate size. */
Test(dit_golden, init_weights_forward_is_finite) {
    char path[1024];
    init_tiny("dit-forward.h5", 3, path, sizeof path);
    cosmos_backend_t *be = NULL;
    cosmos_h5_t *h5 = NULL;
    cosmos_dit_t *m = NULL;
    struct cosmos_dit_config c;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(path, &h5), COSMOS_OK);
    cr_assert_eq(cosmos_dit_read_header(h5, &c), COSMOS_OK);
    cr_assert_eq(cosmos_dit_load(be, h5, &c, &m), COSMOS_OK);
    const int64_t T = 3, H = 8, W = 12, n = 4 * T * H * W;
    float *x = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * n), ctx[5 * 64];
    fill(x, n, 11, 1.0f, 0.0f);
    fill(ctx, 5 * 64, 12, 1.0f, 0.0f);
    int32_t tok[3 * 4 * 6];
    for (int i = 0; i < 72; i++) tok[i] = (i * 37) % 512;
    cr_assert_eq(cosmos_dit_forward(m, x, T, H, W, -0.5f, ctx, 5, tok, 4, 6, 24.0f, out), COSMOS_OK);
    double ms = 0;
    for (int64_t i = 0; i < n; i++) {
        cr_assert(isfinite(out[i]), "out[%lld] = %g", (long long)i, out[i]);
        ms += (double)out[i] * out[i];
    }
    ms = sqrt(ms / n);
    cr_expect(ms > 0.05 && ms < 20.0, "output rms %g is not O(1)", ms);
    free(x), free(out);
    cosmos_dit_free(m);
    cosmos_h5_close(h5);
    cosmos_backend_free(be);
}
