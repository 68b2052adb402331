/* The "aegis" guardrail check (spec components.md 5.3, see aegis.h): the moderation prompt, the
 * LlamaGuard model's greedy answer, the verdict. Layout: the check's context holds the model (on a
 * backend: the caller's, or a CPU backend of its own), the SentencePiece tokenizer and the prompt
 * data of the weight file; one call at a time (the model's KV cache is the check's state).
 * Deviation: the official check treats any exception as "safe"; here an error (a prompt longer than
 * the positions the check holds, out of memory) fails the run, so a prompt is never passed unread. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "core/guardrail/aegis.h"

#include <ctype.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/guardrail/guardrail_impl.h"
#include "core/guardrail/llama.h"
#include "core/config.h"
#include "core/h5bytes.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/text_tokenizer.h"

#define AEGIS_MAX_SEQ 4096 /* positions held (LlamaGuard-7b: max_position_embeddings 4096): the prompt and the answer */

/* ---- prompt data ---- */

void cosmos_aegis_prompt_free(struct cosmos_aegis_prompt *p) {
    if (!p) return;
    free(p->prefix);
    free(p->suffix);
    memset(p, 0, sizeof *p);
}

static cosmos_status copy_string(json_t *v, const char *key, const char *src, char *dst, size_t n) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(json_is_string(v) && json_string_length(v) < n, COSMOS_ERR_FORMAT,
              "%s: '%s' must be a string of at most %zu bytes", src, key, n - 1);
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
fail:
    return st;
}

cosmos_status cosmos_aegis_prompt_parse(const char *json, const char *src, struct cosmos_aegis_prompt *p) {
    cosmos_status st = COSMOS_OK;
    json_error_t err;
    memset(p, 0, sizeof *p);
    json_t *root = json_loads(json, 0, &err);
    CHECK_ARG(root && json_is_object(root), COSMOS_ERR_FORMAT, "%s: not a JSON object (%s)", src,
              root ? "another value" : err.text);
    static const char *const known[] = {"format",     "prompt_prefix",  "prompt_suffix",
                                        "categories", "max_new_tokens", "comment"};
    const char *unknown = cosmos_config_json_unknown_key(root, known, sizeof known / sizeof known[0]);
    CHECK_ARG(!unknown, COSMOS_ERR_FORMAT, "%s: unknown key '%s'", src, unknown);
    json_t *v = json_object_get(root, "format");
    CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), "cosmos-ar-aegis-prompt"), COSMOS_ERR_FORMAT,
              "%s: 'format' must be \"cosmos-ar-aegis-prompt\"", src);
    json_t *pre = json_object_get(root, "prompt_prefix"), *suf = json_object_get(root, "prompt_suffix");
    CHECK_ARG(json_is_string(pre) && json_is_string(suf), COSMOS_ERR_FORMAT,
              "%s: 'prompt_prefix' and 'prompt_suffix' must be strings", src);
    p->prefix = strdup(json_string_value(pre));
    p->suffix = strdup(json_string_value(suf));
    CHECK_ALLOC(p->prefix);
    CHECK_ALLOC(p->suffix);
    v = json_object_get(root, "max_new_tokens");
    CHECK_ARG(json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 1024, COSMOS_ERR_FORMAT,
              "%s: 'max_new_tokens' must be an integer in [1, 1024] (official: 100)", src);
    p->max_new_tokens = (int)json_integer_value(v);
    json_t *cats = json_object_get(root, "categories");
    CHECK_ARG(json_is_array(cats) && json_array_size(cats) <= COSMOS_AEGIS_MAX_CATEGORIES, COSMOS_ERR_FORMAT,
              "%s: 'categories' must be a list of at most %d {category, blocked_reason} objects", src,
              COSMOS_AEGIS_MAX_CATEGORIES);
    for (size_t i = 0; i < json_array_size(cats); i++) {
        json_t *c = json_array_get(cats, i);
        char what[64];
        snprintf(what, sizeof what, "categories[%zu]", i);
        CHECK_ARG(json_is_object(c) && json_object_size(c) == 2, COSMOS_ERR_FORMAT,
                  "%s: '%s' must be an object with 'category' and 'blocked_reason'", src, what);
        CHECK(copy_string(json_object_get(c, "category"), what, src, p->category[i], sizeof p->category[i]));
        CHECK(copy_string(json_object_get(c, "blocked_reason"), what, src, p->blocked_reason[i],
                          sizeof p->blocked_reason[i]));
        p->n_categories = (int)i + 1;
    }
fail:
    json_decref(root);
    if (st != COSMOS_OK) cosmos_aegis_prompt_free(p);
    return st;
}

char *cosmos_aegis_moderation_prompt(const struct cosmos_aegis_prompt *p, const char *user_prompt) {
    const size_t a = strlen(p->prefix), b = strlen(user_prompt), c = strlen(p->suffix);
    char *s = malloc(a + b + c + 1);
    if (!s) return NULL;
    memcpy(s, p->prefix, a);
    memcpy(s + a, user_prompt, b);
    memcpy(s + a + b, p->suffix, c + 1);
    return s;
}

/* ---- verdict ---- */

static int py_space(char ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r'); }

/* Python int() of s[0..n) restricted to ASCII: whitespace, sign, digits with single underscores
 * between them. Returns 0 when it would raise (or overflow far beyond any category index). */
static int py_int(const char *s, size_t n, long *out) {
    size_t i = 0, j = n;
    while (i < j && py_space(s[i])) i++;
    while (j > i && py_space(s[j - 1])) j--;
    int neg = 0;
    if (i < j && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == j || !isdigit((unsigned char)s[i]) || !isdigit((unsigned char)s[j - 1])) return 0;
    long v = 0;
    for (; i < j; i++) {
        if (s[i] == '_') {
            if (!isdigit((unsigned char)s[i + 1])) return 0; /* "1__2", "1_" */
            continue;
        }
        if (!isdigit((unsigned char)s[i])) return 0;
        if (v > 100000000L) return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

void cosmos_aegis_verdict(const struct cosmos_aegis_prompt *p, const char *output, int *safe, char *reason,
                          size_t reason_size) {
    static const char needle[] = "unsafe";
    const size_t n = strlen(output), m = sizeof needle - 1;
    *safe = 1;
    for (size_t i = 0; i + m <= n && *safe; i++) {
        size_t k = 0;
        while (k < m && tolower((unsigned char)output[i + k]) == needle[k]) k++;
        if (k == m) *safe = 0;
    }
    if (reason_size) reason[0] = '\0';
    if (*safe) return;
    snprintf(reason, reason_size, "Prompt blocked by Aegis.");
    const char *l1 = strchr(output, '\n');
    if (!l1) return; /* one line: the generic message */
    l1++;
    const char *end = strchr(l1, '\n');
    size_t len = end ? (size_t)(end - l1) : strlen(l1);
    while (len && *l1 == 'O') l1++, len--; /* .lstrip("O") */
    long k = 0;
    if (!py_int(l1, len, &k)) {
        LOG_WARN("aegis: cannot read a category number from the answer's second line (the generic message "
                 "is used)");
        return;
    }
    if (k >= 1 && k <= p->n_categories)
        snprintf(reason, reason_size, "%s: %s", p->category[k - 1], p->blocked_reason[k - 1]);
}

/* ---- the check ---- */

struct aegis {
    cosmos_backend_t *own_be; /* when the caller gave no backend */
    cosmos_llama_t *m;
    cosmos_spm_t *spm;
    struct cosmos_aegis_prompt prompt;
    int max_seq;
};

static void free_ctx(void *ctx) {
    struct aegis *a = ctx;
    if (!a) return;
    cosmos_llama_free(a->m);
    cosmos_spm_free(a->spm);
    cosmos_aegis_prompt_free(&a->prompt);
    cosmos_backend_free(a->own_be);
    free(a);
}

/* The added tokens of LlamaGuard-7b's Hugging Face tokenizer (cosmos_spm_added_fn). */
static size_t llama_added_token_at(const cosmos_spm_t *spm, const char *s, int32_t *id) {
    static const char *const names[] = {"<unk>", "<s>", "</s>"};
    return s[0] == '<' ? cosmos_spm_piece_at(spm, s, names, 3, id) : 0;
}

cosmos_status cosmos_aegis_tokenize(const cosmos_spm_t *spm, const char *text, int32_t **ids, int *n) {
    return cosmos_spm_encode_split(spm, text, llama_added_token_at, ids, n);
}

/* The model's KV cache changes while it answers: the context is const for the runner's sake only
 * (one call at a time, see guardrail.h). */
static cosmos_status check_text(const void *ctx, const char *user_prompt, int *safe, char *reason,
                                size_t reason_size) {
    cosmos_status st = COSMOS_OK;
    const struct aegis *a = ctx;
    char *full = NULL, *text = NULL;
    int32_t *ids = NULL, *out = NULL, *kept = NULL;
    int n = 0, n_out = 0, n_kept = 0;
    const int max_new = a->prompt.max_new_tokens;
    full = cosmos_aegis_moderation_prompt(&a->prompt, user_prompt);
    CHECK_ALLOC(full);
    CHECK(cosmos_aegis_tokenize(a->spm, full, &ids, &n));
    CHECK_ARG(n >= 1 && n + max_new <= a->max_seq, COSMOS_ERR_INVALID_ARG,
              "aegis: the moderation prompt is %d tokens; with the %d-token answer that exceeds the %d positions "
              "this check holds (a shorter prompt passes)",
              n, max_new, a->max_seq);
    out = malloc(sizeof(int32_t) * (size_t)max_new);
    kept = malloc(sizeof(int32_t) * (size_t)max_new);
    CHECK_ALLOC(out);
    CHECK_ALLOC(kept);
    CHECK(cosmos_llama_generate_greedy((cosmos_llama_t *)a->m, ids, n, max_new, out, &n_out));
    for (int i = 0; i < n_out; i++) /* tokenizer.decode(..., skip_special_tokens=True) */
        if (!cosmos_spm_is_special(a->spm, out[i])) kept[n_kept++] = out[i];
    CHECK(cosmos_spm_decode(a->spm, kept, n_kept, &text));
    cosmos_aegis_verdict(&a->prompt, text, safe, reason, reason_size);
    LOG_DEBUG("aegis: %d prompt tokens, %d answer tokens: \"%.200s\" -> %s", n, n_out, text, *safe ? "safe" : "unsafe");
fail:
    free(full), free(text), free(ids), free(out), free(kept);
    return st;
}

/* The llama config of the weight file's header (the KV cache size depends on it before loading). */
static cosmos_status read_llama_config(const char *path, struct cosmos_llama_config *cfg) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h = NULL;
    char *json = NULL;
    CHECK(cosmos_h5_open(path, &h));
    CHECK(cosmos_h5_check_model_header(h, COSMOS_LLAMA_MODEL_TYPE,
                                       "the Aegis check needs a LlamaGuard file (tools/convert_checkpoint.py aegis)",
                                       &json));
    CHECK(cosmos_llama_config_parse(json, path, cfg));
fail:
    free(json);
    cosmos_h5_close(h);
    return st;
}

static const struct cosmos_guardrail_check_ops g_ops = {
    .name = "aegis",
    .check_text = check_text,
    .check_video = NULL,
    .filter_video = NULL,
    .free_ctx = free_ctx,
};

cosmos_status cosmos_guardrail_aegis_create(const struct cosmos_guardrail_params *p,
                                            const struct cosmos_guardrail_check_ops **ops, void **ctx) {
    cosmos_status st = COSMOS_OK;
    struct aegis *a = NULL;
    uint8_t *blob = NULL;
    char *json = NULL;
    size_t nb = 0;
    CHECK_ARG(p && ops && ctx, COSMOS_ERR_INVALID_ARG, "aegis: NULL argument");
    CHECK_ARG(p->aegis_weights && p->aegis_weights[0], COSMOS_ERR_INVALID_ARG,
              "guardrail: check 'aegis' needs its weight file (aegis_weights: LlamaGuard-7b + the Aegis LoRA from "
              "tools/convert_checkpoint.py aegis, or `cosmos-ar init`)");
    a = calloc(1, sizeof *a);
    CHECK_ALLOC(a);
    CHECK(cosmos_h5_read_bytes(p->aegis_weights, COSMOS_AEGIS_PROMPT_DATASET, &blob, &nb));
    json = malloc(nb + 1);
    CHECK_ALLOC(json);
    memcpy(json, blob, nb);
    json[nb] = '\0';
    free(blob), blob = NULL;
    char src[1200];
    snprintf(src, sizeof src, "%s (dataset %s)", p->aegis_weights, COSMOS_AEGIS_PROMPT_DATASET);
    CHECK(cosmos_aegis_prompt_parse(json, src, &a->prompt));
    CHECK(cosmos_h5_read_bytes(p->aegis_weights, COSMOS_AEGIS_TOKENIZER_DATASET, &blob, &nb));
    CHECK(cosmos_spm_load(blob, nb, p->aegis_weights, &a->spm));
    cosmos_backend_t *be = p->backend;
    if (!be) {
        CHECK(cosmos_backend_create("cpu", NULL, &a->own_be));
        be = a->own_be;
    }
    struct cosmos_llama_config cfg;
    CHECK(read_llama_config(p->aegis_weights, &cfg));
    a->max_seq = cfg.max_position_embeddings < AEGIS_MAX_SEQ ? cfg.max_position_embeddings : AEGIS_MAX_SEQ;
    CHECK_ARG(cosmos_spm_piece_size(a->spm) <= cfg.vocab_size, COSMOS_ERR_FORMAT,
              "%s: the tokenizer has %d pieces, the model's vocabulary %d", p->aegis_weights,
              cosmos_spm_piece_size(a->spm), cfg.vocab_size);
    CHECK(cosmos_llama_load(be, p->aegis_weights, a->max_seq, &a->m));
    *ops = &g_ops;
    *ctx = a;
    a = NULL;
fail:
    free(blob);
    free(json);
    free_ctx(a);
    return st;
}

/* ---- random models (cosmos-ar init) ---- */

/* dir + "/" + rel (rel absolute: as is) into out[n]. */
static cosmos_status config_relative(const char *config_path, json_t *root, const char *key, char *out, size_t n) {
    cosmos_status st = COSMOS_OK;
    char base[1024];
    json_t *v = json_object_get(root, key);
    CHECK_ARG(json_is_string(v) && json_string_length(v) > 0, COSMOS_ERR_INVALID_ARG,
              "%s: '%s' must name a file (relative to the config)", config_path, key);
    snprintf(base, sizeof base, "%s", config_path);
    const char *f = json_string_value(v);
    const int k = f[0] == '/' ? snprintf(out, n, "%s", f) : snprintf(out, n, "%s/%s", dirname(base), f);
    CHECK_ARG(k > 0 && (size_t)k < n, COSMOS_ERR_INVALID_ARG, "%s: path of '%s' is too long", config_path, key);
fail:
    return st;
}

cosmos_status cosmos_aegis_init_random(const char *config_path, uint64_t seed, const char *out_path) {
    cosmos_status st = COSMOS_OK;
    char *text = NULL, *prompt_text = NULL, llm[1100], spm[1100], prompt_path[1100], tmp[1200];
    json_t *root = NULL;
    struct cosmos_aegis_prompt prompt = {0};
    int made = 0;
    CHECK(cosmos_config_file_text(config_path, &text));
    CHECK(cosmos_config_json_object(text, config_path, "an Aegis config", &root));
    static const char *const known[] = {"model_type", "name", "comment", "llm", "spiece_model", "prompt"};
    const char *unknown = cosmos_config_json_unknown_key(root, known, sizeof known / sizeof known[0]);
    CHECK_ARG(!unknown, COSMOS_ERR_INVALID_ARG,
              "%s: unknown key '%s' (keys: model_type, name, llm, spiece_model, prompt)", config_path, unknown);
    json_t *v = json_object_get(root, "model_type");
    CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), "aegis"), COSMOS_ERR_INVALID_ARG,
              "%s: model_type must be \"aegis\"", config_path);
    CHECK(config_relative(config_path, root, "llm", llm, sizeof llm));
    CHECK(config_relative(config_path, root, "spiece_model", spm, sizeof spm));
    CHECK(config_relative(config_path, root, "prompt", prompt_path, sizeof prompt_path));
    struct cosmos_llama_config cfg;
    CHECK(cosmos_llama_config_load(llm, &cfg));
    CHECK(cosmos_config_file_text(prompt_path, &prompt_text));
    CHECK(cosmos_aegis_prompt_parse(prompt_text, prompt_path, &prompt));
    cosmos_tmp_path(out_path, tmp, sizeof tmp);
    made = 1;
    CHECK(cosmos_llama_init_random(&cfg, seed, spm, tmp));
    CHECK(cosmos_h5_write_bytes(tmp, COSMOS_AEGIS_PROMPT_DATASET, prompt_text, strlen(prompt_text)));
    CHECK(cosmos_h5_zero_dataset(tmp, "model.norm.weight"));
    CHECK(cosmos_commit_tmp(tmp, out_path));
    made = 0;
fail:
    if (made) remove(tmp);
    cosmos_aegis_prompt_free(&prompt);
    json_decref(root);
    free(text);
    free(prompt_text);
    return st;
}
