/* Llama language model tests (core/guardrail/llama.h; spec components.md 5.3) on the CPU backend:
 * teacher-forced logits against tools/reference/llama_ref.py (tests/data/llama-tiny*.h5 from
 * tools/reference/make_llama_fixtures.py; |C - reference| <= TOL_LOGITS absolute, logits are O(1)
 * with max |logit| ~4), greedy continuations token for token (with and without EOS), decode through
 * the KV cache against prefill (TOL_CACHE), config and weight-file errors naming the problem,
 * random init round trip / determinism with the embedded tokenizer, and the max_seq checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/guardrail/llama.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "cosmos_build_config.h"
#include "log_capture.h"
#include "test_files.h"

#define TOL_LOGITS 1e-4 /* C (OpenBLAS f32) vs torch f32 */
#define TOL_CACHE 1e-5  /* one-token decode steps vs one prefill, same engine */

static const char *data_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/tests/data/%s", COSMOS_SOURCE_DIR, name);
    return buf;
}

static cosmos_backend_t *cpu(void) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    return be;
}

static cosmos_llama_t *load_tiny(cosmos_backend_t *be, int max_seq) {
    char w[1024];
    cosmos_llama_t *m = NULL;
    cr_assert_eq(cosmos_llama_load(be, data_path("llama-tiny.h5", w, sizeof w), max_seq, &m), COSMOS_OK);
    return m;
}

/* A golden dataset (int32 or f32) into a malloc'd buffer; *n its element count. */
static void *golden(const char *name, enum cosmos_dtype dt, int64_t *n) {
    char g[1024];
    cosmos_h5_t *h = NULL;
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_open(data_path("llama-tiny.golden.h5", g, sizeof g), &h), COSMOS_OK);
    cr_assert_eq(cosmos_h5_info(h, name, &info), COSMOS_OK, "%s", name);
    *n = 1;
    for (int i = 0; i < info.ndim; i++) *n *= info.shape[i];
    void *p = malloc(4 * (size_t)*n);
    cr_assert(p);
    cr_assert_eq(cosmos_h5_read(h, name, dt, p), COSMOS_OK, "%s", name);
    cosmos_h5_close(h);
    return p;
}

/* max |a - b| over n values; prints the first few beyond tol with their (row, col). */
static double compare(const float *a, const float *b, int64_t n, int64_t cols, double tol, const char *what) {
    double mx = 0;
    int shown = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - (double)b[i]);
        if (d > mx) mx = d;
        if (d > tol && shown++ < 5)
            fprintf(stderr, "%s: [%lld, %lld] got %.7g want %.7g\n", what, (long long)(i / cols),
                    (long long)(i % cols), a[i], b[i]);
    }
    fprintf(stderr, "%s: max |diff| %.3g (tolerance %.1g)\n", what, mx, tol);
    return mx;
}

Test(llama, prefill_logits_match_reference) {
    cosmos_backend_t *be = cpu();
    cosmos_llama_t *m = load_tiny(be, 64);
    const int V = cosmos_llama_get_config(m)->vocab_size;
    int64_t n, nl;
    int32_t *ids = golden("tf_ids", COSMOS_I32, &n);
    float *want = golden("tf_logits", COSMOS_F32, &nl);
    cr_assert_eq(nl, n * V);
    float *got = malloc(sizeof(float) * (size_t)nl);
    cr_assert_eq(cosmos_llama_logits(m, ids, (int)n, got), COSMOS_OK);
    cr_expect_leq(compare(got, want, nl, V, TOL_LOGITS, "prefill logits"), TOL_LOGITS);
    free(got);
    free(want);
    free(ids);
    cosmos_llama_free(m);
    cosmos_backend_free(be);
}

Test(llama, decode_with_cache_matches_prefill) {
    cosmos_backend_t *be = cpu();
    cosmos_llama_t *m = load_tiny(be, 32);
    const int V = cosmos_llama_get_config(m)->vocab_size;
    int64_t n;
    int32_t *ids = golden("tf_ids", COSMOS_I32, &n);
    float *full = malloc(sizeof(float) * (size_t)(n * V)), *step = malloc(sizeof(float) * (size_t)(n * V));
    cr_assert_eq(cosmos_llama_logits(m, ids, (int)n, full), COSMOS_OK);
    /* one token at a time through the cache */
    for (int t = 0; t < n; t++) cr_assert_eq(cosmos_llama_forward(m, ids + t, 1, t, step + (size_t)t * V), COSMOS_OK);
    cr_expect_leq(compare(step, full, n * V, V, TOL_CACHE, "decode steps vs prefill"), TOL_CACHE);
    /* a prefill of 10 tokens, then the rest in one call */
    cr_assert_eq(cosmos_llama_forward(m, ids, 10, 0, step), COSMOS_OK);
    cr_assert_eq(cosmos_llama_forward(m, ids + 10, (int)n - 10, 10, step + (size_t)10 * V), COSMOS_OK);
    cr_expect_leq(compare(step, full, n * V, V, TOL_CACHE, "split prefill vs prefill"), TOL_CACHE);
    /* a new sequence from position 0 overwrites the old cache: the same logits again */
    cr_assert_eq(cosmos_llama_logits(m, ids, (int)n, step), COSMOS_OK);
    cr_expect_leq(compare(step, full, n * V, V, 0.0, "second prefill"), 0.0);
    free(full);
    free(step);
    free(ids);
    cosmos_llama_free(m);
    cosmos_backend_free(be);
}

/* 200 tokens: one call runs chunks [0, 128) and [128, 200); two calls of 100 chunk differently. */
Test(llama, chunked_prefill) {
    cosmos_backend_t *be = cpu();
    cosmos_llama_t *m = load_tiny(be, 200);
    const int V = cosmos_llama_get_config(m)->vocab_size, n = 200;
    int32_t ids[200];
    for (int t = 0; t < n; t++) ids[t] = (t * 37 + 11) % V;
    float *a = malloc(sizeof(float) * (size_t)(n * V)), *b = malloc(sizeof(float) * (size_t)(n * V));
    cr_assert_eq(cosmos_llama_logits(m, ids, n, a), COSMOS_OK);
    cr_assert_eq(cosmos_llama_forward(m, ids, 100, 0, b), COSMOS_OK);
    cr_assert_eq(cosmos_llama_forward(m, ids + 100, 100, 100, b + (size_t)100 * V), COSMOS_OK);
    cr_expect_leq(compare(a, b, (int64_t)n * V, V, TOL_CACHE, "chunked prefill"), TOL_CACHE);
    free(a);
    free(b);
    cosmos_llama_free(m);
    cosmos_backend_free(be);
}

static void check_greedy(const char *prompt_name, const char *max_name, const char *tokens_name, int want_eos) {
    cosmos_backend_t *be = cpu();
    cosmos_llama_t *m = load_tiny(be, 64);
    int64_t np, nm, nt;
    int32_t *prompt = golden(prompt_name, COSMOS_I32, &np);
    int32_t *max_new = golden(max_name, COSMOS_I32, &nm);
    int32_t *want = golden(tokens_name, COSMOS_I32, &nt);
    int32_t *out = calloc((size_t)max_new[0], sizeof(int32_t));
    int n_out = -1;
    cr_assert_eq(cosmos_llama_generate_greedy(m, prompt, (int)np, max_new[0], out, &n_out), COSMOS_OK);
    cr_expect_eq(n_out, (int)nt, "%s: %d tokens, want %lld", tokens_name, n_out, (long long)nt);
    cr_expect_eq(n_out < max_new[0], want_eos, "%s: EOS stop", tokens_name);
    for (int i = 0; i < n_out && i < nt; i++)
        cr_expect_eq(out[i], want[i], "%s[%d]: %d, want %d", tokens_name, i, out[i], want[i]);
    /* max_new 0 produces nothing; a shorter max_new a prefix */
    cr_assert_eq(cosmos_llama_generate_greedy(m, prompt, (int)np, 0, out, &n_out), COSMOS_OK);
    cr_expect_eq(n_out, 0);
    cr_assert_eq(cosmos_llama_generate_greedy(m, prompt, (int)np, 2, out, &n_out), COSMOS_OK);
    cr_expect_eq(n_out, 2);
    cr_expect(out[0] == want[0] && out[1] == want[1]);
    free(out);
    free(want);
    free(max_new);
    free(prompt);
    cosmos_llama_free(m);
    cosmos_backend_free(be);
}

Test(llama, greedy_matches_reference) { check_greedy("gen_prompt", "gen_max_new", "gen_tokens", 0); }
Test(llama, greedy_stops_at_eos) { check_greedy("eos_prompt", "eos_max_new", "eos_tokens", 1); }

Test(llama, sequence_limits) {
    cosmos_backend_t *be = cpu();
    cosmos_llama_t *m = load_tiny(be, 32);
    cr_expect_eq(cosmos_llama_max_seq(m), 32);
    int32_t ids[40] = {0}, out[8];
    int n_out = 0;
    float *lg = malloc(sizeof(float) * 40 * 320);
    log_capture_start();
    cr_expect_eq(cosmos_llama_generate_greedy(m, ids, 30, 3, out, &n_out), COSMOS_ERR_INVALID_ARG);
    cr_expect(strstr(log_captured(), "max_seq 32"), "%s", log_captured());
    cr_expect_eq(cosmos_llama_generate_greedy(m, ids, 0, 3, out, &n_out), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_llama_logits(m, ids, 33, lg), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_llama_forward(m, ids, 2, 31, lg), COSMOS_ERR_INVALID_ARG);
    ids[3] = 320;
    cr_expect_eq(cosmos_llama_logits(m, ids, 5, lg), COSMOS_ERR_INVALID_ARG);
    cr_expect(strstr(log_captured(), "index 3"), "%s", log_captured());
    ids[3] = -1;
    cr_expect_eq(cosmos_llama_logits(m, ids, 5, lg), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
    ids[3] = 0;
    cr_expect_eq(cosmos_llama_generate_greedy(m, ids, 29, 3, out, &n_out), COSMOS_OK);
    cosmos_llama_free(m);
    /* max_seq beyond max_position_embeddings (512) */
    char w[1024];
    cosmos_llama_t *m2 = NULL;
    log_capture_start();
    cr_expect_eq(cosmos_llama_load(be, data_path("llama-tiny.h5", w, sizeof w), 513, &m2), COSMOS_ERR_INVALID_ARG);
    cr_expect(strstr(log_captured(), "max_position_embeddings"), "%s", log_captured());
    log_capture_stop();
    cr_expect_null(m2);
    cr_assert_eq(cosmos_llama_load(be, w, 0, &m2), COSMOS_OK);
    cr_expect_eq(cosmos_llama_max_seq(m2), 512);
    struct cosmos_llama_memory mem = cosmos_llama_memory(m2);
    cr_expect_eq(mem.kv_bytes, (size_t)2 * 2 * 512 * 2 * 16 * sizeof(float)); /* 2 layers x K,V x S x Hkv x Dh */
    cr_expect_eq(mem.weight_bytes, (size_t)2 * (size_t)cosmos_llama_config_num_params(cosmos_llama_get_config(m2)));
    cosmos_llama_free(m2);
    free(lg);
    cosmos_backend_free(be);
}

/* ---- config ---- */

Test(llama, configs_parse_and_round_trip) {
    char p[1024];
    struct cosmos_llama_config c, c2;
    config_path(p, sizeof p, "llamaguard-7b");
    cr_assert_eq(cosmos_llama_config_load(p, &c), COSMOS_OK);
    cr_expect(cosmos_config_file_is_llama(p));
    cr_expect_eq(c.head_dim, 128);
    cr_expect_eq(c.num_hidden_layers, 32);
    cr_expect_eq(c.bos_token_id, 1);
    cr_expect_eq(c.eos_token_id, 2);
    cr_expect_eq(cosmos_llama_config_num_params(&c), 6738415616LL); /* Llama-2-7B */
    char *json = cosmos_llama_config_to_json(&c);
    cr_assert(json);
    cr_assert_eq(cosmos_llama_config_parse(json, "round trip", &c2), COSMOS_OK);
    cr_expect_eq(memcmp(&c, &c2, sizeof c), 0);
    free(json);
    config_path(p, sizeof p, "llama-tiny");
    cr_assert_eq(cosmos_llama_config_load(p, &c), COSMOS_OK);
    cr_expect_eq(c.num_key_value_heads, 2);
    config_path(p, sizeof p, "t5-tiny");
    cr_expect_not(cosmos_config_file_is_llama(p));
    cr_expect_not(cosmos_config_file_is_llama("/nonexistent/llama.json"));
}

Test(llama, config_errors) {
    static const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"hidden_dim", "64", "unknown key 'hidden_dim'"},
        {"model_type", "\"t5\"", "model_type must be \"llama\""},
        {"vocab_size", NULL, "required key 'vocab_size'"},
        {"rope_theta", NULL, "required key 'rope_theta'"},
        {"hidden_size", "66", "not a multiple of num_attention_heads"},
        {"hidden_size", "68", "must be even"},
        {"num_key_value_heads", "3", "not a multiple of num_key_value_heads"},
        {"eos_token_id", "320", "'eos_token_id' 320 is outside the vocabulary"},
        {"bos_token_id", "-1", "'bos_token_id' must be an integer"},
        {"num_hidden_layers", "0", "'num_hidden_layers' must be an integer"},
        {"intermediate_size", "\"160\"", "'intermediate_size' must be an integer"},
        {"rms_norm_eps", "0", "'rms_norm_eps' must be in (0, 1)"},
        {"rope_theta", "\"1e4\"", "'rope_theta' must be a number"},
        {"name", "3", "'name' must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char p[1024];
        struct cosmos_llama_config c;
        write_config_variant("llama-tiny", cases[i].key, cases[i].value, "llama-variant.json", p, sizeof p);
        log_capture_start();
        cosmos_status st = cosmos_llama_config_load(p, &c);
        expect_config_error(cases[i].key, cases[i].value, st, COSMOS_ERR_INVALID_ARG, cases[i].needle, p);
        log_capture_stop();
    }
    struct cosmos_llama_config c;
    log_capture_start();
    cr_expect_eq(cosmos_llama_config_parse("[1, 2]", "inline", &c), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_llama_config_parse("{\"model_type\": ", "inline", &c), COSMOS_ERR_INVALID_ARG);
    log_capture_stop();
}

/* ---- weight file ---- */

enum variant { V_OK, V_MISSING, V_SHAPE, V_DTYPE, V_EXTRA, V_TOKENIZER };

/* llama-tiny weights (zeros) with one defect on dataset `target`. */
static void write_weights_variant(enum variant kind, const char *target, const char *out, char *path, size_t n) {
    char cp[1024];
    struct cosmos_llama_config c;
    config_path(cp, sizeof cp, "llama-tiny");
    cr_assert_eq(cosmos_llama_config_load(cp, &c), COSMOS_OK);
    struct cosmos_llama_tensor_spec *specs = NULL;
    int ns = 0;
    cr_assert_eq(cosmos_llama_weight_specs(&c, &specs, &ns), COSMOS_OK);
    tmp_path(path, n, out);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_create(path, &h), COSMOS_OK);
    char *json = cosmos_llama_config_to_json(&c);
    cr_assert_eq(cosmos_h5_write_model_header(h, "llama", json), COSMOS_OK);
    free(json);
    void *zeros = calloc(320 * 160, 4);
    for (int j = 0; j < ns; j++) {
        const int hit = !strcmp(specs[j].name, target);
        if (hit && kind == V_MISSING) continue;
        int64_t shape[2] = {specs[j].shape[0], specs[j].shape[1]};
        if (hit && kind == V_SHAPE) shape[0] += 1;
        const enum cosmos_dtype dt = hit && kind == V_DTYPE ? COSMOS_F32 : COSMOS_BF16;
        cr_assert_eq(cosmos_h5_write(h, specs[j].name, dt, specs[j].ndim, shape, zeros), COSMOS_OK);
    }
    if (kind == V_EXTRA) {
        int64_t shape[1] = {4};
        cr_assert_eq(cosmos_h5_write(h, target, COSMOS_BF16, 1, shape, zeros), COSMOS_OK);
    }
    cosmos_h5_close(h);
    if (kind == V_TOKENIZER)
        cr_assert_eq(cosmos_h5_write_bytes(path, COSMOS_LLAMA_TOKENIZER_DATASET, "spm!", 4), COSMOS_OK);
    free(zeros);
    free(specs);
}

Test(llama, weight_file_errors) {
    static const struct {
        enum variant kind;
        const char *target;
        cosmos_status want;
        const char *needle;
    } cases[] = {
        {V_OK, "", COSMOS_OK, ""},
        {V_TOKENIZER, "", COSMOS_OK, ""},
        {V_MISSING, "model.layers.1.mlp.up_proj.weight", COSMOS_ERR_FORMAT,
         "missing dataset 'model.layers.1.mlp.up_proj.weight' (expected shape [160, 64]"},
        {V_SHAPE, "model.layers.0.self_attn.k_proj.weight", COSMOS_ERR_FORMAT,
         "'model.layers.0.self_attn.k_proj.weight' has shape [33, 64], expected [32, 64]"},
        {V_DTYPE, "lm_head.weight", COSMOS_ERR_FORMAT, "'lm_head.weight' is float32, expected bfloat16"},
        {V_EXTRA, "model.layers.2.input_layernorm.weight", COSMOS_ERR_FORMAT,
         "unexpected dataset 'model.layers.2.input_layernorm.weight'"},
    };
    cosmos_backend_t *be = cpu();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char p[1024];
        cosmos_llama_t *m = NULL;
        write_weights_variant(cases[i].kind, cases[i].target, "llama-weights-variant.h5", p, sizeof p);
        log_capture_start();
        cosmos_status st = cosmos_llama_load(be, p, 16, &m);
        log_capture_stop();
        cr_expect_eq(st, cases[i].want, "case %zu (%s): %s", i, cases[i].target, cosmos_status_str(st));
        if (cases[i].want != COSMOS_OK) {
            cr_expect(strstr(log_captured(), cases[i].needle), "case %zu: '%s' lacks '%s'", i, log_captured(),
                      cases[i].needle);
            cr_expect_null(m);
        }
        cosmos_llama_free(m);
    }
    /* a file of another model type */
    char p[1024];
    cosmos_llama_t *m = NULL;
    log_capture_start();
    cr_expect_eq(cosmos_llama_load(be, data_path("t5-tiny.h5", p, sizeof p), 16, &m), COSMOS_ERR_FORMAT);
    cr_expect(strstr(log_captured(), "llama"), "%s", log_captured());
    cr_expect_eq(cosmos_llama_load(be, "/nonexistent/llama.h5", 16, &m), COSMOS_ERR_IO);
    log_capture_stop();
    cosmos_backend_free(be);
}

/* ---- random init ---- */

static uint16_t *read_bf16(const char *path, const char *name, int64_t numel) {
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(path, &h), COSMOS_OK);
    uint16_t *b = malloc(2 * (size_t)numel);
    cr_assert_eq(cosmos_h5_read(h, name, COSMOS_BF16, b), COSMOS_OK, "%s", name);
    cosmos_h5_close(h);
    return b;
}

Test(llama, init_random_round_trip) {
    char cp[1024], spm[1024], a[1024], b[1024], d[1024];
    struct cosmos_llama_config c;
    config_path(cp, sizeof cp, "llama-tiny");
    cr_assert_eq(cosmos_llama_config_load(cp, &c), COSMOS_OK);
    data_path("t5-test-spiece.model", spm, sizeof spm);
    tmp_path(a, sizeof a, "llama-init-a.h5");
    tmp_path(b, sizeof b, "llama-init-b.h5");
    tmp_path(d, sizeof d, "llama-init-d.h5");
    cr_assert_eq(cosmos_llama_init_random(&c, 7, spm, a), COSMOS_OK);
    cr_assert_eq(cosmos_llama_init_random(&c, 7, spm, b), COSMOS_OK);
    cr_assert_eq(cosmos_llama_init_random(&c, 8, NULL, d), COSMOS_OK);
    struct cosmos_llama_tensor_spec *specs = NULL;
    int ns = 0;
    cr_assert_eq(cosmos_llama_weight_specs(&c, &specs, &ns), COSMOS_OK);
    for (int j = 0; j < ns; j++) {
        const int64_t numel = specs[j].shape[0] * (specs[j].ndim == 2 ? specs[j].shape[1] : 1);
        uint16_t *wa = read_bf16(a, specs[j].name, numel), *wb = read_bf16(b, specs[j].name, numel);
        uint16_t *wd = read_bf16(d, specs[j].name, numel);
        cr_expect_eq(memcmp(wa, wb, 2 * (size_t)numel), 0, "%s differs between two seed-7 files", specs[j].name);
        cr_expect_neq(memcmp(wa, wd, 2 * (size_t)numel), 0, "%s equal for seeds 7 and 8", specs[j].name);
        free(wa);
        free(wb);
        free(wd);
    }
    free(specs);
    /* the tokenizer blob is the file's bytes; absent without spm */
    uint8_t *blob = NULL;
    size_t blob_n = 0;
    cr_assert_eq(cosmos_h5_read_bytes(a, COSMOS_LLAMA_TOKENIZER_DATASET, &blob, &blob_n), COSMOS_OK);
    FILE *fp = fopen(spm, "rb");
    cr_assert(fp);
    uint8_t *file = malloc(blob_n + 1);
    const size_t got = fread(file, 1, blob_n + 1, fp);
    fclose(fp);
    cr_expect_eq(got, blob_n);
    cr_expect_eq(memcmp(file, blob, blob_n), 0);
    free(file);
    free(blob);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(d, &h), COSMOS_OK);
    cr_expect_not(cosmos_h5_has_dataset(h, COSMOS_LLAMA_TOKENIZER_DATASET));
    cosmos_h5_close(h);
    /* both load, and the model runs */
    cosmos_backend_t *be = cpu();
    cosmos_llama_t *m = NULL;
    cr_assert_eq(cosmos_llama_load(be, a, 16, &m), COSMOS_OK);
    cr_expect_eq(memcmp(cosmos_llama_get_config(m), &c, sizeof c), 0);
    int32_t ids[4] = {5, 6, 7, 8}, out[4];
    int n_out = 0;
    cr_expect_eq(cosmos_llama_generate_greedy(m, ids, 4, 4, out, &n_out), COSMOS_OK);
    cosmos_llama_free(m);
    cr_assert_eq(cosmos_llama_load(be, d, 16, &m), COSMOS_OK);
    cosmos_llama_free(m);
    /* a tokenizer with more pieces than the vocabulary */
    struct cosmos_llama_config small = c;
    small.vocab_size = 100;
    log_capture_start();
    cr_expect_eq(cosmos_llama_init_random(&small, 7, spm, d), COSMOS_ERR_INVALID_ARG);
    cr_expect(strstr(log_captured(), "more than vocab_size 100"), "%s", log_captured());
    log_capture_stop();
    cosmos_backend_free(be);
}
