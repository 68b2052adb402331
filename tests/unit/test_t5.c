/* T5 encoder tests (spec components.md section 3): relative-position buckets, tokenizer id parity
 * with the Hugging Face T5TokenizerFast on a varied prompt set, the encoder against HF
 * T5EncoderModel (tiny config, bf16-exact random weights; fixtures from tools/t5/make_t5_fixtures.py)
 * for bf16 and f32 weight storage, exact-zero padding rows, the prompt checks, and HF's added tokens
 * (<pad>, </s>, <unk>, <extra_id_K>) typed in a prompt (tools/t5/make_t5_special_fixtures.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "core/model/t5_model.h"
#include "core/model/t5_tokenize.h"
#include "cosmos_build_config.h"
#include "t5_test_util.h"

#define TOL_REL 1e-5

static const char *data_path(const char *name, char *buf, size_t n) {
    snprintf(buf, n, "%s/tests/data/%s", COSMOS_SOURCE_DIR, name);
    return buf;
}

static int32_t *read_i32(cosmos_h5_t *h, const char *name, int64_t *numel) {
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, name, &info), COSMOS_OK, "%s", name);
    int64_t n = 1;
    for (int i = 0; i < info.ndim; i++) n *= info.shape[i];
    int32_t *p = malloc(sizeof(int32_t) * (size_t)n);
    cr_assert_eq(cosmos_h5_read(h, name, COSMOS_I32, p), COSMOS_OK);
    *numel = n;
    return p;
}

/* NUL-separated strings of a uint8 dataset -> array of pointers into *blob. */
static int split_prompts(const char *golden, const char *name, uint8_t **blob, const char ***out) {
    size_t n = 0;
    cr_assert_eq(cosmos_h5_read_bytes(golden, name, blob, &n), COSMOS_OK);
    int cnt = 0;
    for (size_t i = 0; i < n; i++) cnt += (*blob)[i] == 0;
    const char **p = malloc(sizeof(char *) * (size_t)cnt);
    size_t start = 0;
    for (int k = 0; k < cnt; k++) {
        p[k] = (const char *)*blob + start;
        start += strlen(p[k]) + 1;
    }
    *out = p;
    return cnt;
}

Test(t5, bucket_spec_examples) {
    const int rel[] = {0, -1, -7, -8, -12, -16, -32, -64, -127, -500, 1, 8, 16, 32, 64, 127, 500};
    const int want[] = {0, 1, 7, 8, 9, 10, 12, 14, 15, 15, 17, 24, 26, 28, 30, 31, 31};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++)
        cr_expect_eq(cosmos_t5_rel_bucket(rel[i], 32, 128), want[i], "rel %d: got %d want %d", rel[i],
                     cosmos_t5_rel_bucket(rel[i], 32, 128), want[i]);
}

Test(t5, bucket_matches_hf) {
    char g[1024];
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(data_path("t5-tiny.golden.h5", g, sizeof g), &h), COSMOS_OK);
    int64_t n = 0, n2 = 0;
    int32_t *rel = read_i32(h, "bucket_rel", &n), *val = read_i32(h, "bucket_val", &n2);
    cr_assert_eq(n, n2);
    for (int64_t i = 0; i < n; i++)
        cr_expect_eq(cosmos_t5_rel_bucket(rel[i], 32, 128), val[i], "rel %d: got %d, HF %d", rel[i],
                     cosmos_t5_rel_bucket(rel[i], 32, 128), val[i]);
    free(rel);
    free(val);
    cosmos_h5_close(h);
}

static cosmos_t5_t *load(const char *path, cosmos_backend_t **be) {
    cr_assert_eq(cosmos_backend_create("cpu", NULL, be), COSMOS_OK);
    cosmos_t5_t *m = NULL;
    cr_assert_eq(cosmos_t5_load(*be, path, &m), COSMOS_OK, "%s", path);
    return m;
}

/* The prompts of dataset `prompts_ds` of golden fixture `golden` tokenized as HF did: the padded
 * ids of `ids_ds` and, when lens_ds is given, the lengths. Returns the number of prompts; *n_sentinel
 * (may be NULL) counts the sentinel ids met. */
static int expect_hf_ids(const char *golden, const char *prompts_ds, const char *ids_ds, const char *lens_ds,
                         int *n_sentinel) {
    char w[1024], g[1024];
    cosmos_backend_t *be = NULL;
    cosmos_t5_t *m = load(data_path("t5-tiny.h5", w, sizeof w), &be);
    const cosmos_spm_t *spm = cosmos_t5_tokenizer(m);
    data_path(golden, g, sizeof g);
    uint8_t *blob = NULL;
    const char **prompts = NULL;
    const int np = split_prompts(g, prompts_ds, &blob, &prompts);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(g, &h), COSMOS_OK);
    int64_t n = 0, nl = 0;
    int32_t *want = read_i32(h, ids_ds, &n), *lens = lens_ds ? read_i32(h, lens_ds, &nl) : NULL;
    cr_assert_eq(n, (int64_t)np * 512);
    cr_assert(!lens || nl == (int64_t)np);
    int32_t ids[512];
    int bad = 0, sentinels = 0;
    for (int p = 0; p < np; p++) {
        int len = 0;
        cr_assert_eq(cosmos_t5_tokenize(spm, prompts[p], 512, ids, &len), COSMOS_OK, "%s", prompts[p]);
        int i = 0;
        while (i < 512 && ids[i] == want[p * 512 + i]) i++;
        for (int k = 0; k < len; k++) sentinels += ids[k] >= cosmos_spm_piece_size(spm);
        if (i < 512 || (lens && len != lens[p])) {
            cr_log_error("prompt %d \"%.60s\": length %d (HF %d); first differing id at %d: %d, HF %d", p,
                         prompts[p], len, lens ? lens[p] : -1, i, i < 512 ? ids[i] : -1,
                         i < 512 ? want[p * 512 + i] : -1);
            bad++;
        }
    }
    cr_expect_eq(bad, 0, "%s: %d of %d prompts differ from the HF tokenizer", golden, bad, np);
    if (n_sentinel) *n_sentinel = sentinels;
    free(want);
    free(lens);
    free(prompts);
    free(blob);
    cosmos_h5_close(h);
    cosmos_t5_free(m);
    cosmos_backend_free(be);
    return np;
}

Test(t5, tokenizer_parity_with_hf) { expect_hf_ids("t5-tiny.golden.h5", "parity_prompts", "parity_ids", NULL, NULL); }

/* Prompts that spell HF's added tokens (<pad>, </s>, <unk>, <extra_id_K>) literally, alone, glued to
 * text, near misses, and in the part cut at 512 tokens (tools/t5/make_t5_special_fixtures.py,
 * transformers 4.45.0). The padded ids and the lengths must be HF's. */
Test(t5, added_tokens_parity_with_hf) {
    int with_sentinel = 0;
    const int np = expect_hf_ids("t5-special.golden.h5", "special_prompts", "special_ids", "special_lens", &with_sentinel);
    cr_assert_gt(np, 200);
    cr_expect_gt(with_sentinel, 100, "the fixture exercises the sentinel ids (%d seen)", with_sentinel);
}

/* The ids of literal added tokens: </s> is EOS, <pad> 0 with attention (inside the length),
 * <extra_id_0> the last sentinel; text glued to one starts a new word. */
Test(t5, added_tokens_examples) {
    char w[1024];
    cosmos_backend_t *be = NULL;
    cosmos_t5_t *m = load(data_path("t5-tiny.h5", w, sizeof w), &be);
    const cosmos_spm_t *spm = cosmos_t5_tokenizer(m);
    const int ps = cosmos_spm_piece_size(spm);
    int32_t ids[512], ref[512];
    int len = 0, rlen = 0;
    cr_assert_eq(cosmos_t5_tokenize(spm, "</s>", 512, ids, &len), COSMOS_OK);
    cr_expect(len == 2 && ids[0] == 1 && ids[1] == 1 && ids[2] == 0);
    cr_assert_eq(cosmos_t5_tokenize(spm, "<pad>", 512, ids, &len), COSMOS_OK);
    cr_expect(len == 2 && ids[0] == 0 && ids[1] == 1);
    cr_assert_eq(cosmos_t5_tokenize(spm, "<extra_id_0> <extra_id_99>", 512, ids, &len), COSMOS_OK);
    cr_expect(len == 3 && ids[0] == ps + 99 && ids[1] == ps && ids[2] == 1, "%d: %d %d %d", len, ids[0], ids[1],
              ids[2]);
    /* "a</s>b" == "a </s> b": both pieces of text are encoded as words of their own */
    cr_assert_eq(cosmos_t5_tokenize(spm, "a</s>b", 512, ids, &len), COSMOS_OK);
    cr_assert_eq(cosmos_t5_tokenize(spm, "a </s> b", 512, ref, &rlen), COSMOS_OK);
    cr_expect(len == rlen && memcmp(ids, ref, sizeof ids) == 0);
    /* near misses are text */
    cr_assert_eq(cosmos_t5_tokenize(spm, "<extra_id_100>", 512, ids, &len), COSMOS_OK);
    for (int k = 0; k < len - 1; k++) cr_expect(ids[k] < ps && ids[k] != 1, "id %d at %d", ids[k], k);
    /* a cut that holds added tokens warns (its text is spelled out) and keeps 511 + EOS */
    char *longp = malloc(700 * 13 + 1);
    longp[0] = '\0';
    for (int k = 0; k < 700; k++) strcat(longp, k % 2 ? "<extra_id_7> " : "</s> ");
    cr_assert_eq(cosmos_t5_tokenize(spm, longp, 512, ids, &len), COSMOS_OK);
    cr_expect(len == 512 && ids[0] == 1 && ids[1] == ps + 92 && ids[511] == 1);
    free(longp);
    cosmos_t5_free(m);
    cosmos_backend_free(be);
}

static void check_golden(const char *weights) {
    char g[1024];
    cosmos_backend_t *be = NULL;
    cosmos_t5_t *m = load(weights, &be);
    const int D = cosmos_t5_get_config(m)->d_model;
    data_path("t5-tiny.golden.h5", g, sizeof g);
    uint8_t *blob = NULL;
    const char **prompts = NULL;
    int np = split_prompts(g, "golden_prompts", &blob, &prompts);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(g, &h), COSMOS_OK);
    int64_t n = 0;
    int32_t *lens = read_i32(h, "golden_lens", &n);
    int32_t *want_ids = read_i32(h, "golden_ids", &n);
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, "golden_hidden", &info), COSMOS_OK);
    float *ref = malloc(sizeof(float) * (size_t)(info.shape[0] * info.shape[1]));
    cr_assert_eq(cosmos_h5_read(h, "golden_hidden", COSMOS_F32, ref), COSMOS_OK);
    float *out = malloc(sizeof(float) * 512 * (size_t)D);
    int32_t ids[512];
    int64_t row0 = 0;
    double worst = 0;
    for (int p = 0; p < np; p++) {
        int len = 0;
        memset(out, 0x7f, sizeof(float) * 512 * (size_t)D); /* garbage: pad rows must be written */
        cr_assert_eq(cosmos_t5_encode_prompt(m, prompts[p], out, ids, &len), COSMOS_OK);
        cr_assert_eq(len, lens[p], "prompt %d: %d tokens, HF %d", p, len, lens[p]);
        cr_assert_arr_eq(ids, want_ids + p * 512, sizeof ids, "prompt %d: ids differ from HF", p);
        double maxd = 0, maxr = 0;
        for (int64_t i = 0; i < (int64_t)len * D; i++) {
            double d = fabs((double)out[i] - ref[row0 * D + i]);
            maxd = d > maxd ? d : maxd;
            maxr = fabs(ref[row0 * D + i]) > maxr ? fabs(ref[row0 * D + i]) : maxr;
        }
        double rel = maxd / maxr;
        worst = rel > worst ? rel : worst;
        cr_log_info("%s prompt %d (%d tokens): max|diff| %.3g, max|ref| %.3g, rel %.3g", weights, p, len, maxd, maxr,
                    rel);
        cr_expect(rel <= TOL_REL, "prompt %d: relative error %.3g > %g", p, rel, TOL_REL);
        for (int64_t i = (int64_t)len * D; i < 512 * (int64_t)D; i++)
            cr_assert(out[i] == 0.0f && !signbit(out[i]), "pad element %lld is %g, not +0", (long long)i, out[i]);
        row0 += len;
    }
    fprintf(stderr, "t5 golden %s: worst relative error %.3g\n", weights, worst);
    free(out);
    free(ref);
    free(lens);
    free(want_ids);
    free(prompts);
    free(blob);
    cosmos_h5_close(h);
    cosmos_t5_free(m);
    cosmos_backend_free(be);
}

Test(t5, golden_bf16_weights) {
    char w[1024];
    check_golden(data_path("t5-tiny.h5", w, sizeof w));
}

/* The same weights stored as float32 (the converter's default): rewrite the fixture. */
Test(t5, golden_f32_weights) {
    char w[1024], out[1024];
    const char *tmpdir = getenv("COSMOS_TEST_TMP");
    snprintf(out, sizeof out, "%s/t5-tiny-f32.h5", tmpdir ? tmpdir : "/tmp");
    t5_test_write_f32_copy(data_path("t5-tiny.h5", w, sizeof w), out);
    check_golden(out);
}

Test(t5, bad_prompts) {
    char w[1024];
    cosmos_backend_t *be = NULL;
    cosmos_t5_t *m = load(data_path("t5-tiny.h5", w, sizeof w), &be);
    int32_t ids[512];
    int len = 0;
    const cosmos_spm_t *spm = cosmos_t5_tokenizer(m);
    cr_expect_eq(cosmos_t5_tokenize(spm, "", 512, ids, &len), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_t5_tokenize(spm, " \t\n ", 512, ids, &len), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_t5_tokenize(spm, "bad \xff byte", 512, ids, &len), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_t5_tokenize(spm, "overlong \xc0\xaf", 512, ids, &len), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_t5_tokenize(spm, "surrogate \xed\xa0\x80", 512, ids, &len), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_t5_tokenize(spm, "cut \xe2\x82", 512, ids, &len), COSMOS_ERR_INVALID_ARG);
    cr_expect_eq(cosmos_t5_tokenize(spm, "ok \xe2\x82\xac \xf0\x9f\x99\x82", 512, ids, &len), COSMOS_OK);
    cr_expect_eq(ids[len - 1], 1, "EOS appended");
    size_t off = 0;
    cr_expect(!cosmos_utf8_valid("ab\xff", 3, &off));
    cr_expect_eq(off, 2);
    cosmos_t5_free(m);
    cosmos_backend_free(be);
}

Test(t5, init_random_roundtrip) {
    char cfgp[1024], out[1024];
    const char *tmpdir = getenv("COSMOS_TEST_TMP");
    snprintf(cfgp, sizeof cfgp, "%s/configs/models/t5-tiny.json", COSMOS_SOURCE_DIR);
    snprintf(out, sizeof out, "%s/t5-tiny-random.h5", tmpdir ? tmpdir : "/tmp");
    cr_assert(cosmos_config_file_is_t5(cfgp));
    struct cosmos_t5_config c;
    cr_assert_eq(cosmos_t5_config_load(cfgp, &c), COSMOS_OK);
    cr_assert_eq(cosmos_t5_init_random(&c, 7, c.spiece_model, out), COSMOS_OK);
    cosmos_backend_t *be = NULL;
    cosmos_t5_t *m = load(out, &be);
    float *o = malloc(sizeof(float) * 512 * (size_t)c.d_model);
    int len = 0;
    cr_assert_eq(cosmos_t5_encode_prompt(m, "A robot arm picks up a red cube.", o, NULL, &len), COSMOS_OK);
    for (int64_t i = 0; i < 512 * (int64_t)c.d_model; i++) {
        if (i < (int64_t)len * c.d_model)
            cr_assert(isfinite(o[i]));
        else
            cr_assert(o[i] == 0.0f);
    }
    free(o);
    cosmos_t5_free(m);
    cosmos_backend_free(be);
}

/* The weight bytes of a memory plan: the tiny fixture's bf16 tensors as the CPU holds them, and
 * with the matmul weights widened to f32 as a bf16 backend (CUDA) holds them; errors for files
 * that are not T5 encoders. */
Test(t5, weight_bytes) {
    char w[1024];
    data_path("t5-tiny.h5", w, sizeof w);
    cosmos_backend_t *be = NULL;
    cosmos_t5_t *m = load(w, &be);
    const struct cosmos_t5_config *c = cosmos_t5_get_config(m);
    const int64_t D = c->d_model, I = (int64_t)c->num_heads * c->d_kv, F = c->d_ff, L = c->num_layers;
    const int64_t mm = L * (4 * I * D + 2 * F * D);                                    /* matmul weights */
    const int64_t f32_rest = 4 * ((int64_t)c->relative_attention_num_buckets * c->num_heads + (2 * L + 1) * D);
    const int64_t embed = 2 * (int64_t)c->vocab_size * D;                              /* bf16, as stored */
    int64_t host = 0, dev = 0;
    cr_assert_eq(cosmos_t5_weight_bytes(w, COSMOS_F32, &host), COSMOS_OK);
    cr_assert_eq(cosmos_t5_weight_bytes(w, COSMOS_BF16, &dev), COSMOS_OK);
    cr_expect_eq(host, embed + f32_rest + 2 * mm, "host %lld", (long long)host);
    cr_expect_eq(dev, embed + f32_rest + 4 * mm, "device %lld", (long long)dev);
    int64_t b = 1;
    char other[1024];
    cr_expect_eq(cosmos_t5_weight_bytes(data_path("tiny-ar-4b.h5", other, sizeof other), COSMOS_F32, &b),
                 COSMOS_ERR_FORMAT);
    cr_expect_eq(b, 0);
    cr_expect_neq(cosmos_t5_weight_bytes("/nonexistent/t5.h5", COSMOS_F32, &b), COSMOS_OK);
    cosmos_t5_free(m);
    cosmos_backend_free(be);
}
