/* The Aegis prompt check (spec components.md 5.3; core/guardrail/aegis.h): the aegis_prompt data and
 * its errors, the moderation prompt, the official verdict and block-message rules (Python's
 * int(line.lstrip("O")), categories off by one, "unsafe" anywhere in the lower-cased answer), a
 * random tiny model through the guardrail runner (answers nothing: safe), and a hand-built tiny
 * model whose greedy answer is "unsafe" (layers zeroed, one-hot embeddings, lm_head rows chaining
 * the prompt's last token to the answer's pieces and then EOS) through the same runner; the
 * tokenizer call's added tokens (<unk>, <s>, </s> in a prompt) against the Hugging Face
 * LlamaTokenizerFast of a Llama-style BPE model (tools/guardrail/make_llama_tokenizer_fixtures.py).
 * Scratch files in $COSMOS_TEST_TMP. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/guardrail/aegis.h"
#include "core/guardrail/guardrail.h"
#include "core/guardrail/llama.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "core/text_tokenizer.h"
#include "cosmos_build_config.h"
#include "log_capture.h"
#include "test_files.h"

#define TINY_CONFIG COSMOS_SOURCE_DIR "/configs/models/aegis-tiny.json"
#define DEMO_PROMPT COSMOS_SOURCE_DIR "/configs/guardrail/aegis-prompt-demo.json"
#define SPM COSMOS_SOURCE_DIR "/tests/data/t5-test-spiece.model"

static const char *k_prompt_json =
    "{\"format\": \"cosmos-ar-aegis-prompt\", \"prompt_prefix\": \"[INST] check\\n\\nUser: \", "
    "\"prompt_suffix\": \"\\n\\n[/INST]\", \"max_new_tokens\": 100, \"categories\": ["
    "{\"category\": \"violence\", \"blocked_reason\": \"violent.\"},"
    "{\"category\": \"sexual\", \"blocked_reason\": \"sexual.\"},"
    "{\"category\": \"crime\", \"blocked_reason\": \"crime.\"}]}";

static struct cosmos_aegis_prompt g_prompt;

static void load_prompt(void) {
    cr_assert_eq(cosmos_aegis_prompt_parse(k_prompt_json, "inline", &g_prompt), COSMOS_OK);
}
static void free_prompt(void) { cosmos_aegis_prompt_free(&g_prompt); }

Test(aegis, moderation_prompt, .init = load_prompt, .fini = free_prompt) {
    cr_expect_eq(g_prompt.n_categories, 3);
    cr_expect_eq(g_prompt.max_new_tokens, 100);
    char *s = cosmos_aegis_moderation_prompt(&g_prompt, "a cat {user_prompt} %s");
    cr_assert_not_null(s);
    cr_expect_str_eq(s, "[INST] check\n\nUser: a cat {user_prompt} %s\n\n[/INST]");
    free(s);
}

static void expect_verdict(const char *output, int safe_want, const char *reason_want) {
    int safe = -1;
    char reason[512];
    cosmos_aegis_verdict(&g_prompt, output, &safe, reason, sizeof reason);
    cr_expect_eq(safe, safe_want, "'%s': safe %d", output, safe);
    cr_expect_str_eq(reason, reason_want, "'%s'", output);
}

Test(aegis, verdict_rules, .init = load_prompt, .fini = free_prompt) {
    log_capture_start();
    expect_verdict("safe", 1, "");
    expect_verdict(" safe\nO2", 1, ""); /* a category without "unsafe" is still safe */
    expect_verdict("", 1, "");
    expect_verdict("unsafe", 0, "Prompt blocked by Aegis.");
    expect_verdict("UnSafe\nO2", 0, "sexual: sexual.");
    expect_verdict("unsafe\nO1", 0, "violence: violent.");
    expect_verdict("unsafe\nO3\nmore", 0, "crime: crime.");
    expect_verdict("unsafe\n  O3  ", 0, "Prompt blocked by Aegis."); /* lstrip("O") leaves "  O3  " */
    expect_verdict("unsafe\nOO2 ", 0, "sexual: sexual.");               /* every leading O, then int(" 2 ") */
    expect_verdict("unsafe\nO+1", 0, "violence: violent.");
    expect_verdict("unsafe\nO0_3", 0, "crime: crime.");                 /* int("0_3") == 3 */
    expect_verdict("unsafe\nO4", 0, "Prompt blocked by Aegis.");        /* beyond the categories */
    expect_verdict("unsafe\nO0", 0, "Prompt blocked by Aegis.");        /* index -1 */
    expect_verdict("unsafe\nO-1", 0, "Prompt blocked by Aegis.");
    expect_verdict("unsafe\nO1,O2", 0, "Prompt blocked by Aegis."); /* int() raises: the generic message */
    expect_verdict("unsafe\nO1__2", 0, "Prompt blocked by Aegis.");
    expect_verdict("unsafe\n", 0, "Prompt blocked by Aegis.");
    expect_verdict("the answer is UNSAFETY", 0, "Prompt blocked by Aegis.");
    expect_verdict("unsaf e", 1, "");
    log_capture_stop();
    cr_expect(strstr(log_captured(), "cannot read a category number") != NULL, "%s", log_captured());
    /* the reason is truncated, never overflowed */
    int safe = 1;
    char small[8];
    cosmos_aegis_verdict(&g_prompt, "unsafe\nO1", &safe, small, sizeof small);
    cr_expect_str_eq(small, "violenc");
}

Test(aegis, prompt_data_errors) {
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"[1]", "not a JSON object"},
        {"{\"format\": \"x\", \"prompt_prefix\": \"\", \"prompt_suffix\": \"\", \"max_new_tokens\": 1, "
         "\"categories\": []}",
         "'format'"},
        {"{\"format\": \"cosmos-ar-aegis-prompt\", \"prompt_suffix\": \"\", \"max_new_tokens\": 1, \"categories\": []}",
         "'prompt_prefix'"},
        {"{\"format\": \"cosmos-ar-aegis-prompt\", \"prompt_prefix\": \"\", \"prompt_suffix\": \"\", "
         "\"max_new_tokens\": 0, \"categories\": []}",
         "'max_new_tokens'"},
        {"{\"format\": \"cosmos-ar-aegis-prompt\", \"prompt_prefix\": \"\", \"prompt_suffix\": \"\", "
         "\"max_new_tokens\": 5, \"categories\": [{\"category\": \"a\"}]}",
         "categories[0]"},
        {"{\"format\": \"cosmos-ar-aegis-prompt\", \"prompt_prefix\": \"\", \"prompt_suffix\": \"\", "
         "\"max_new_tokens\": 5, \"categories\": [], \"extra\": 1}",
         "unknown key 'extra'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cosmos_aegis_prompt p;
        log_capture_start();
        cosmos_status st = cosmos_aegis_prompt_parse(bad[i].json, "case", &p);
        log_capture_stop();
        cr_expect_eq(st, COSMOS_ERR_FORMAT, "case %zu", i);
        cr_expect(strstr(log_captured(), bad[i].needle) != NULL, "case %zu: %s", i, log_captured());
    }
}

static cosmos_guardrail_t *load_aegis(const char *weights) {
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.checks[0] = "aegis";
    p.aegis_weights = weights;
    cosmos_guardrail_t *g = NULL;
    cr_assert_eq(cosmos_guardrail_load(&p, &g), COSMOS_OK, "loading %s", weights);
    return g;
}

Test(aegis, random_tiny_model_passes) {
    char path[1024];
    tmp_path(path, sizeof path, "aegis-random.h5");
    cr_assert_eq(cosmos_aegis_init_random(TINY_CONFIG, 3, path), COSMOS_OK);
    cosmos_guardrail_t *g = load_aegis(path);
    struct cosmos_guardrail_verdict v;
    const char *prompts[] = {"a robot arm picks up a red cube", "unsafe unsafe unsafe", ""};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(cosmos_guardrail_check_text(g, prompts[i], &v), COSMOS_OK);
        cr_expect(v.safe && v.n_checks_run == 1, "'%s': %s %s", prompts[i], v.check, v.reason);
    }
    cosmos_guardrail_free(g);
    remove(path);
}

Test(aegis, missing_or_foreign_files) {
    struct cosmos_guardrail_params p = cosmos_guardrail_params_default();
    p.checks[0] = "aegis";
    cosmos_guardrail_t *g = NULL;
    log_capture_start();
    p.aegis_weights = "/nonexistent/aegis.h5";
    cr_expect_neq(cosmos_guardrail_load(&p, &g), COSMOS_OK);
    cr_expect(strstr(log_captured(), "/nonexistent/aegis.h5") != NULL, "%s", log_captured());
    p.aegis_weights = COSMOS_SOURCE_DIR "/tests/data/t5-tiny.h5"; /* a T5 file: no aegis_prompt */
    cr_expect_eq(cosmos_guardrail_load(&p, &g), COSMOS_ERR_FORMAT);
    cr_expect(strstr(log_captured(), "aegis_prompt") != NULL, "%s", log_captured());
    log_capture_stop();
    cr_expect_null(g);
}

/* ---- a tiny model whose greedy answer is a chosen text ---- */

static void write_bf16(hid_t f, const char *name, const float *x, size_t n) {
    uint16_t *b = malloc(n * sizeof *b);
    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++) b[i] = cosmos_f32_to_bf16(x[i]);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    cr_assert(d >= 0, "no dataset %s", name);
    hid_t sp = H5Dget_space(d);
    cr_assert_eq((size_t)H5Sget_simple_extent_npoints(sp), n, "%s size", name);
    cr_assert(H5Dwrite(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, b) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    free(b);
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

Test(aegis, model_answering_unsafe_blocks) {
    char path[1024];
    tmp_path(path, sizeof path, "aegis-unsafe.h5");
    cr_assert_eq(cosmos_aegis_init_random(TINY_CONFIG, 5, path), COSMOS_OK);
    /* the prompt data and config of the file, the tokenizer */
    struct cosmos_llama_config cfg;
    cr_assert_eq(cosmos_llama_config_load(COSMOS_SOURCE_DIR "/configs/models/llama-tiny.json", &cfg), COSMOS_OK);
    size_t nb = 0;
    uint8_t *blob = read_all(SPM, &nb);
    cosmos_spm_t *spm = NULL;
    cr_assert_eq(cosmos_spm_load(blob, nb, SPM, &spm), COSMOS_OK);
    free(blob);
    struct cosmos_aegis_prompt pr;
    char *demo = (char *)read_all(DEMO_PROMPT, &nb);
    demo = realloc(demo, nb + 1);
    demo[nb] = '\0';
    cr_assert_eq(cosmos_aegis_prompt_parse(demo, DEMO_PROMPT, &pr), COSMOS_OK);
    free(demo);
    const char *user = "a robot arm picks up a red cube";
    char *full = cosmos_aegis_moderation_prompt(&pr, user);
    int32_t *ids = NULL, *ans = NULL;
    int n = 0, k = 0;
    cr_assert_eq(cosmos_spm_encode(spm, full, &ids, &n), COSMOS_OK);
    cr_assert_eq(cosmos_spm_encode(spm, "unsafe", &ans, &k), COSMOS_OK);
    /* the chain: ids[n-1] -> ans[0] -> ... -> ans[k-1] -> EOS, one hidden direction per step */
    const int D = cfg.hidden_size, V = cfg.vocab_size, L = cfg.num_hidden_layers;
    int32_t chain[16];
    chain[0] = ids[n - 1];
    for (int i = 0; i < k; i++) chain[i + 1] = ans[i];
    cr_assert(k + 1 < D && k + 1 < 16, "answer of %d pieces", k);
    for (int i = 0; i <= k; i++) {
        cr_assert(chain[i] != cfg.eos_token_id && !cosmos_spm_is_special(spm, chain[i]));
        for (int j = 0; j < i; j++) cr_assert_neq(chain[i], chain[j], "piece repeats in the chain");
    }
    float *emb = calloc((size_t)V * D, sizeof(float)), *head = calloc((size_t)V * D, sizeof(float));
    float *ones = malloc(sizeof(float) * (size_t)D), *zero = NULL;
    cr_assert(emb && head && ones);
    for (int d = 0; d < D; d++) ones[d] = 1.0f;
    for (int i = 0; i <= k; i++) {
        emb[(size_t)chain[i] * D + i] = 1.0f;
        const int next = i < k ? chain[i + 1] : cfg.eos_token_id;
        head[(size_t)next * D + i] = 4.0f;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(f >= 0);
    write_bf16(f, "model.embed_tokens.weight", emb, (size_t)V * D);
    write_bf16(f, "lm_head.weight", head, (size_t)V * D);
    write_bf16(f, "model.norm.weight", ones, (size_t)D);
    for (int l = 0; l < L; l++) { /* attention and MLP add nothing: the residual is the embedding */
        char name[128];
        const size_t no = (size_t)D * (size_t)(cfg.num_attention_heads * (D / cfg.num_attention_heads));
        const size_t nd = (size_t)D * (size_t)cfg.intermediate_size;
        zero = calloc(no > nd ? no : nd, sizeof(float));
        snprintf(name, sizeof name, "model.layers.%d.self_attn.o_proj.weight", l);
        write_bf16(f, name, zero, no);
        snprintf(name, sizeof name, "model.layers.%d.mlp.down_proj.weight", l);
        write_bf16(f, name, zero, nd);
        free(zero);
    }
    H5Fclose(f);
    cosmos_guardrail_t *g = load_aegis(path);
    struct cosmos_guardrail_verdict v;
    cr_assert_eq(cosmos_guardrail_check_text(g, user, &v), COSMOS_OK);
    cr_expect(!v.safe && !strcmp(v.check, "aegis"), "safe %d, check %s", v.safe, v.check);
    cr_expect_str_eq(v.reason, "Prompt blocked by Aegis."); /* one line: no category */
    /* another prompt ends on the same last token (the template's end): the same answer */
    cr_assert_eq(cosmos_guardrail_check_text(g, "anything at all", &v), COSMOS_OK);
    cr_expect(!v.safe);
    cosmos_guardrail_free(g);
    cosmos_aegis_prompt_free(&pr);
    cosmos_spm_free(spm);
    free(full), free(ids), free(ans), free(emb), free(head), free(ones);
    remove(path);
}

/* Prompts spelling <unk>, <s>, </s> (alone, glued, near misses, random mixes, inside the demo
 * moderation prompt): the ids of the official call tokenizer([text], add_special_tokens=False). */
Test(aegis, tokenizer_added_tokens_parity_with_hf) {
    const char *model = COSMOS_SOURCE_DIR "/tests/data/llama-test-bpe.model";
    const char *golden = COSMOS_SOURCE_DIR "/tests/data/llama-special.golden.h5";
    size_t nb = 0;
    uint8_t *blob = read_all(model, &nb);
    cosmos_spm_t *spm = NULL;
    cr_assert_eq(cosmos_spm_load(blob, nb, model, &spm), COSMOS_OK);
    free(blob);
    uint8_t *text = NULL;
    size_t nt = 0;
    cr_assert_eq(cosmos_h5_read_bytes(golden, "prompts", &text, &nt), COSMOS_OK);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(golden, &h), COSMOS_OK);
    struct cosmos_h5_info io, ii;
    cr_assert_eq(cosmos_h5_info(h, "offsets", &io), COSMOS_OK);
    cr_assert_eq(cosmos_h5_info(h, "ids", &ii), COSMOS_OK);
    const int np = (int)io.shape[0] - 1;
    int32_t *off = malloc(sizeof(int32_t) * (size_t)(np + 1)), *want = malloc(sizeof(int32_t) * (size_t)ii.shape[0]);
    cr_assert_eq(cosmos_h5_read(h, "offsets", COSMOS_I32, off), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read(h, "ids", COSMOS_I32, want), COSMOS_OK);
    cr_assert_gt(np, 200);
    int bad = 0, specials = 0;
    size_t pos = 0;
    for (int p = 0; p < np; p++) {
        const char *prompt = (const char *)text + pos;
        pos += strlen(prompt) + 1;
        cr_assert_leq(pos, nt);
        int32_t *ids = NULL;
        int n = 0;
        cr_assert_eq(cosmos_aegis_tokenize(spm, prompt, &ids, &n), COSMOS_OK);
        const int nw = off[p + 1] - off[p];
        int i = 0;
        while (i < n && i < nw && ids[i] == want[off[p] + i]) i++;
        for (int k = 0; k < n; k++) specials += ids[k] <= 2;
        if (i < n || n != nw) {
            cr_log_error("prompt %d \"%.60s\": %d ids (HF %d); first difference at %d", p, prompt, n, nw, i);
            bad++;
        }
        free(ids);
    }
    cr_expect_eq(bad, 0, "%d of %d prompts differ from the HF tokenizer", bad, np);
    cr_expect_gt(specials, 200, "the fixture exercises the added tokens (%d seen)", specials);
    free(off), free(want), free(text);
    cosmos_h5_close(h);
    cosmos_spm_free(spm);
}
