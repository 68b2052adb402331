/* Mutation tests of every user-editable text input (DEVELOPERS.md: bad input gets an error, never a
 * crash or a hang): the JSON configs of every model type, the Aegis prompt data, rank layouts,
 * batch manifests, model-directory manifests and token files. Each starts from a shipped, valid
 * file (which must load), then loads thousands of seeded mutants of it: bit flips, bytes from a
 * JSON-heavy alphabet, deleted and duplicated spans, cuts, and hostile values (huge, negative,
 * fractional, NaN-like numbers, null, wrong types, deep nesting) written over a random place. A
 * mutant may load (e.g. a changed digit) or fail with a status; the test fails on a crash, on a
 * status outside cosmos_status, or when no mutant at all is rejected (the parser would not be
 * checking anything). Under -DCOSMOS_SANITIZE=ON it is also a memory-safety check of the parsers.
 * Scratch files in $COSMOS_TEST_TMP. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/guardrail/aegis.h"
#include "core/guardrail/llama.h"
#include "core/guardrail/retinaface.h"
#include "core/guardrail/siglip.h"
#include "core/log.h"
#include "core/model/dit_config.h"
#include "core/model/dv_config.h"
#include "core/model/t5_config.h"
#include "core/pipeline/layout.h"
#include "core/pipeline/manifest.h"
#include "core/pipeline/model_dir.h"
#include "core/token_file.h"
#include "cosmos_build_config.h"
#include "test_files.h"

static void quiet_sink(enum cosmos_log_level level, const char *line, void *user) {
    (void)level, (void)line, (void)user;
}
static void quiet(void) { cosmos_log_set_sink(quiet_sink, NULL); }
static void loud(void) { cosmos_log_set_sink(NULL, NULL); }

static uint64_t g_rng;
static uint64_t next(void) { /* xorshift64* */
    g_rng ^= g_rng >> 12, g_rng ^= g_rng << 25, g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1DULL;
}
static size_t below(size_t n) { return n ? (size_t)(next() % n) : 0; }

static char *read_text(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    cr_assert(buf && fread(buf, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    buf[len] = '\0';
    *n = (size_t)len;
    return buf;
}

/* buf (malloc'd, capacity *cap) holding *n bytes + NUL: one random mutation in place. */
static void mutate(char **buf, size_t *n, size_t *cap) {
    static const char alphabet[] = "{}[]\":,-+.0123456789eE \n\t\\/nulltruefalse";
    static const char *const hostile[] = {
        "1e999",   "-1",      "0",        "99999999999999999999", "2147483648", "-2147483649", "1.5",
        "NaN",     "null",    "\"\"",     "[]",                   "{}",         "true",        "\"x\"",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        "\"\\u0000\"", "\"../../../etc/passwd\"", "1e-400", "-0", "4294967296", "\"\xff\xfe\"",
    };
    const char *ins = NULL;
    char one[2] = {0, 0};
    size_t del = 0, pos = below(*n + 1);
    switch (below(7)) {
    case 0: /* bit flip */
        if (*n) (*buf)[below(*n)] ^= (char)(1u << below(8));
        return;
    case 1: /* a byte from the alphabet, or any byte */
        one[0] = below(4) ? alphabet[below(sizeof alphabet - 1)] : (char)(1 + below(255));
        ins = one, del = pos < *n ? 1 : 0;
        break;
    case 2: /* delete a span */
        del = 1 + below(16);
        break;
    case 3: { /* duplicate a span */
        static char span[64];
        const size_t from = below(*n), len = 1 + below(sizeof span - 1);
        const size_t k = from + len <= *n ? len : *n - from;
        memcpy(span, *buf + from, k);
        span[k] = '\0';
        ins = span;
        break;
    }
    case 4: /* cut */
        *n = pos;
        (*buf)[*n] = '\0';
        return;
    default: /* a hostile value over what follows a ':' or a '[' (a value), else anywhere */
        for (size_t i = pos; i < *n; i++)
            if ((*buf)[i] == ':' || (*buf)[i] == '[') {
                pos = i + 1;
                size_t e = pos;
                while (e < *n && !strchr(",}]\n", (*buf)[e])) e++;
                del = e - pos;
                break;
            }
        ins = hostile[below(sizeof hostile / sizeof hostile[0])];
        break;
    }
    if (pos > *n) pos = *n;
    if (pos + del > *n) del = *n - pos;
    const size_t k = ins ? strlen(ins) : 0;
    if (*n - del + k + 1 > *cap) {
        *cap = 2 * (*n - del + k + 1);
        *buf = realloc(*buf, *cap);
        cr_assert_not_null(*buf);
    }
    memmove(*buf + pos + k, *buf + pos + del, *n - pos - del + 1);
    if (k) memcpy(*buf + pos, ins, k);
    *n = *n - del + k;
}

typedef cosmos_status (*load_fn)(const char *text, size_t n, const char *scratch);

static int valid_status(cosmos_status st) { return st <= COSMOS_OK && st >= COSMOS_ERR_BLOCKED; }

/* The seed must load; then `cases` mutants (1 to 4 mutations each). */
static void fuzz(const char *what, const char *seed_path, load_fn load, int cases, uint64_t seed) {
    char scratch[1024];
    char name[128];
    snprintf(name, sizeof name, "fuzz-%s", what);
    tmp_path(scratch, sizeof scratch, name);
    size_t n0 = 0;
    char *orig = read_text(seed_path, &n0);
    cosmos_status st = load(orig, n0, scratch);
    cr_assert_eq(st, COSMOS_OK, "%s: the unmutated %s must load (status %d)", what, seed_path, st);
    g_rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    int rejected = 0, accepted = 0;
    quiet();
    for (int c = 0; c < cases; c++) {
        size_t n = n0, cap = n0 + 1;
        char *buf = malloc(cap);
        cr_assert_not_null(buf);
        memcpy(buf, orig, n0 + 1);
        const int muts = 1 + (int)below(4);
        for (int k = 0; k < muts; k++) mutate(&buf, &n, &cap);
        st = load(buf, n, scratch);
        if (!valid_status(st)) {
            loud();
            cr_assert_fail("%s: mutant %d returned status %d: \"%.200s\"", what, c, st, buf);
        }
        if (st == COSMOS_OK)
            accepted++;
        else
            rejected++;
        free(buf);
    }
    loud();
    cr_log_info("%s: %d mutants rejected, %d accepted", what, rejected, accepted);
    cr_expect_gt(rejected, cases / 4, "%s: only %d of %d mutants rejected", what, rejected, cases);
    free(orig);
}

/* the NUL-terminated text (a mutant may hold an early NUL: the parser sees a shorter text) */
static cosmos_status ar_cfg(const char *t, size_t n, const char *s) {
    (void)n, (void)s;
    struct cosmos_ar_config c;
    return cosmos_ar_config_parse(t, "fuzz", &c);
}
static cosmos_status llama_cfg(const char *t, size_t n, const char *s) {
    (void)n, (void)s;
    struct cosmos_llama_config c;
    return cosmos_llama_config_parse(t, "fuzz", &c);
}
static cosmos_status retinaface_cfg(const char *t, size_t n, const char *s) {
    (void)n, (void)s;
    struct cosmos_retinaface_config c;
    return cosmos_retinaface_config_parse(t, "fuzz", &c);
}
static cosmos_status siglip_cfg(const char *t, size_t n, const char *s) {
    (void)n, (void)s;
    struct cosmos_siglip_config c;
    return cosmos_siglip_config_parse(t, "fuzz", &c);
}
static cosmos_status dit_cfg(const char *t, size_t n, const char *s) {
    (void)n, (void)s;
    struct cosmos_dit_config c;
    return cosmos_dit_config_parse(t, "fuzz", &c);
}
static cosmos_status dv_cfg(const char *t, size_t n, const char *s) {
    (void)n, (void)s;
    struct cosmos_dv_config c;
    return cosmos_dv_config_parse(t, "fuzz", &c);
}
static cosmos_status t5_cfg(const char *t, size_t n, const char *s) {
    (void)n, (void)s;
    struct cosmos_t5_config c;
    return cosmos_t5_config_parse(t, "fuzz", COSMOS_SOURCE_DIR "/configs/models", &c);
}
static cosmos_status aegis_prompt(const char *t, size_t n, const char *s) {
    (void)n, (void)s;
    struct cosmos_aegis_prompt p;
    const cosmos_status st = cosmos_aegis_prompt_parse(t, "fuzz", &p);
    if (st == COSMOS_OK) cosmos_aegis_prompt_free(&p);
    return st;
}

static void write_file(const char *path, const char *t, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(t, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}
static cosmos_status layout8(const char *t, size_t n, const char *s) {
    write_file(s, t, n);
    struct cosmos_layout l;
    return cosmos_layout_load(s, 8, &l);
}
static cosmos_status manifest(const char *t, size_t n, const char *s) {
    write_file(s, t, n);
    struct cosmos_manifest_defaults d = {.seed = 7, .num_input_frames = 9, .settings = "fuzz"};
    struct cosmos_manifest_item *items = NULL;
    int k = 0;
    cosmos_status st = cosmos_manifest_load(s, &d, &items, &k);
    if (st == COSMOS_OK) { /* a bad line is an item that says why; it counts as a rejection here */
        for (int i = 0; i < k; i++) {
            cr_assert(valid_status(items[i].status) && (items[i].status == COSMOS_OK || items[i].reason[0]),
                      "item %d: status %d without a reason", i, items[i].status);
            if (items[i].status != COSMOS_OK) st = items[i].status;
        }
        cosmos_manifest_free(items, k);
    }
    return st;
}
static char g_model_dir[1024]; /* the directory with the files its manifest names */
static cosmos_status model_dir(const char *t, size_t n, const char *s) {
    (void)s;
    char path[1200];
    snprintf(path, sizeof path, "%s/" COSMOS_MODEL_DIR_MANIFEST, g_model_dir);
    write_file(path, t, n);
    struct cosmos_model_dir md;
    return cosmos_model_dir_load(g_model_dir, &md);
}
static cosmos_status tokens(const char *t, size_t n, const char *s) {
    write_file(s, t, n);
    int32_t *ids = NULL;
    int k = 0;
    const cosmos_status st = cosmos_tokens_read(s, 1 << 20, "the test's limit", &ids, &k);
    free(ids);
    return st;
}

#define MODELS COSMOS_SOURCE_DIR "/configs/models/"
Test(fuzz, ar_config) { fuzz("ar-config", MODELS "cosmos-1.0-ar-5b-video2world.json", ar_cfg, 4000, 1); }
Test(fuzz, ar_config_12b_yarn) { fuzz("ar-config-12b", MODELS "cosmos-1.0-ar-12b.json", ar_cfg, 2000, 2); }
Test(fuzz, llama_config) { fuzz("llama-config", MODELS "llamaguard-7b.json", llama_cfg, 2000, 3); }
Test(fuzz, retinaface_config) { fuzz("retinaface-config", MODELS "retinaface-resnet50.json", retinaface_cfg, 2000, 4); }
Test(fuzz, siglip_config) { fuzz("siglip-config", MODELS "siglip-so400m-safety.json", siglip_cfg, 2000, 5); }
Test(fuzz, dit_config) { fuzz("dit-config", MODELS "cosmos-1.0-diffusion-7b-decoder.json", dit_cfg, 2000, 6); }
Test(fuzz, dv_config) { fuzz("dv-config", MODELS "cosmos-1.0-tokenizer-dv8x16x16.json", dv_cfg, 2000, 7); }
Test(fuzz, cv_config) { fuzz("cv-config", MODELS "cosmos-1.0-tokenizer-cv8x8x8.json", dv_cfg, 2000, 8); }
Test(fuzz, t5_config) { fuzz("t5-config", MODELS "t5-tiny.json", t5_cfg, 2000, 9); }
Test(fuzz, aegis_prompt) {
    fuzz("aegis-prompt", COSMOS_SOURCE_DIR "/configs/guardrail/aegis-prompt-demo.json", aegis_prompt, 2000, 10);
}
Test(fuzz, layout) {
    fuzz("layout", COSMOS_SOURCE_DIR "/configs/layouts/8-ranks-tp2-pp2.json", layout8, 1500, 11);
}
Test(fuzz, manifest) {
    char path[1024];
    tmp_path(path, sizeof path, "fuzz-seed-manifest.jsonl");
    static const char jobs[] =
        "{\"input\": \"a.png\", \"prompt\": \"A robot arm picks up a cube.\", \"seed\": 3, \"name\": \"one\"}\n"
        "{\"input\": \"b.mp4\", \"prompt\": \"A car drives.\", \"num_input_frames\": 1, \"num_frames\": 17}\n"
        "\n"
        "{\"input\": \"c.jpg\", \"prompt\": \"Rain on a window.\", \"seed\": 9223372036854775807}\n";
    write_file(path, jobs, sizeof jobs - 1);
    fuzz("manifest", path, manifest, 1500, 12);
}
Test(fuzz, model_dir_manifest) {
    /* a directory whose manifest names files that exist (the manifest is what is mutated) */
    char seed[1200], f[1300];
    char *dir = g_model_dir;
    tmp_path(dir, sizeof g_model_dir, "fuzz-model-dir");
    mkdir(dir, 0755);
    static const char *const names[] = {"ar.h5", "dv.h5", "t5.h5"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s/%s", dir, names[i]);
        write_file(f, "x", 1);
    }
    snprintf(seed, sizeof seed, "%s/" COSMOS_MODEL_DIR_MANIFEST, dir);
    char json[4096];
    snprintf(json, sizeof json, "%s",
             "{\"format\": \"cosmos-ar-model-dir\", \"format_version\": 1, \"name\": \"fuzz\", \"ar\": \"ar.h5\", "
             "\"tokenizer\": \"dv.h5\", \"t5\": \"t5.h5\"}\n");
    write_file(seed, json, strlen(json));
    fuzz("model-dir", seed, model_dir, 1500, 13);
}
Test(fuzz, token_file) {
    char path[1024];
    tmp_path(path, sizeof path, "fuzz-seed-tokens.txt");
    static const char toks[] = "64000\n17\n  5 6\t7\n2147483647\n0\n";
    write_file(path, toks, sizeof toks - 1);
    fuzz("tokens", path, tokens, 2000, 14);
}
