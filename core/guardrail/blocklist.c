/* The blocklist text check (spec components.md 5.2; official guardrail/blocklist/blocklist.py on
 * top of better_profanity 0.7.0, "BP"). In order: empty or whitespace-only prompt -> unsafe; every
 * run of non-ASCII bytes -> one space; BP-style censoring with the custom list, whitelist restore,
 * censor mark left -> unsafe; the same on the lemmatized prompt (lemmatize.c stands in for NLTK);
 * exact-match entries: whole-word match, or for entries of >= 4 characters a window of as many
 * words with difflib ratio >= (len - 0.5) / len (seqmatch.c). Deviations: docs/guardrail.md.
 * Word lists: a flat folder (blocklist.txt, whitelist.txt, exact_match.txt, as configs/guardrail/)
 * or the official checkpoint folder (custom/, whitelist/, exact_match/: every regular file, sorted
 * by name); one entry per line, stripped, blank lines and '#' lines skipped.
 * Layout: entries are NUL-terminated lower-case strings with their length; the censored text is
 * built with CENSOR_MARK bytes (0x80, which ASCII-folded text cannot contain) standing for BP's
 * "****", and each censor event records the entry and the span of text it replaced. */
#define _POSIX_C_SOURCE 200809L /* strdup, stat, opendir */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/guardrail/guardrail_impl.h"
#include "core/guardrail/lemmatize.h"
#include "core/guardrail/seqmatch.h"
#include "core/log.h"

#define MAX_LINE 1024              /* bytes per word-list line, newline excluded */
#define CENSOR_MARK ((char)0x80)   /* one byte of a censor mark; BP writes the censor char 4 times */
#define CENSOR_MARK_LEN 4
#define PARTIAL_MIN_CHARS 4        /* guardrail_partial_match_min_chars */
#define PARTIAL_LETTER_COUNT 0.5   /* guardrail_partial_match_letter_count */

struct entry {
    char *s;
    size_t n;
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

struct blocklist {
    struct entries censor;    /* custom entries, lower-case, distinct, whitelisted ones removed (BP CENSOR_WORDSET) */
    struct entries whitelist; /* lower-case */
    struct entries exact;     /* whitespace runs -> one space, stripped, lower-case; file order */
    struct entries lexicon;   /* distinct words of the censor entries: the lemmatizer's dictionary */
    int max_combinations;     /* BP MAX_NUMBER_COMBINATIONS: 1, or the most separators in an entry */
};

/* ---- small helpers ---------------------------------------------------------------------------- */

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }
static int is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
/* Python str.isspace() over ASCII: what str.split(), str.strip() and re's \s treat as whitespace */
static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }
/* BP ALLOWED_CHARACTERS: ASCII letters and digits, @ $ * " ' (and unicode letters: non-ASCII
 * bytes of an entry count as allowed; prompts have none left after folding) */
static int is_allowed(char c) {
    return is_alnum(c) || c == '@' || c == '$' || c == '*' || c == '"' || c == '\'' || (unsigned char)c >= 0x80;
}
/* re's \w over ASCII */
static int is_word(char c) { return is_alnum(c) || c == '_'; }
/* Python string.punctuation */
static int is_punct(char c) { return c > ' ' && c < 0x7f && !is_alnum(c); }

static void entries_free(struct entries *e) {
    for (size_t i = 0; i < e->n; i++) free(e->v[i].s);
    free(e->v);
    memset(e, 0, sizeof *e);
}

static cosmos_status entries_push(struct entries *e, const char *s, size_t n) {
    cosmos_status st = COSMOS_OK;
    if (e->n == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 64;
        struct entry *v = realloc(e->v, cap * sizeof *v);
        CHECK_ALLOC(v);
        e->v = v, e->cap = cap;
    }
    char *copy = malloc(n + 1);
    CHECK_ALLOC(copy);
    memcpy(copy, s, n);
    copy[n] = '\0';
    e->v[e->n++] = (struct entry){copy, n};
fail:
    return st;
}

static int entries_has(const struct entries *e, const char *s, size_t n) {
    for (size_t i = 0; i < e->n; i++)
        if (e->v[i].n == n && memcmp(e->v[i].s, s, n) == 0) return 1;
    return 0;
}

struct strbuf {
    char *s;
    size_t n, cap;
};

static cosmos_status sb_put(struct strbuf *b, const char *s, size_t n) {
    cosmos_status st = COSMOS_OK;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        CHECK_ALLOC(p);
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
fail:
    return st;
}

struct span {
    size_t s, n;
};

struct spans {
    struct span *v;
    size_t n, cap;
};

/* Python str.split(): maximal runs of non-whitespace */
static cosmos_status split_ws(const char *s, size_t n, struct spans *out) {
    cosmos_status st = COSMOS_OK;
    out->n = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && is_space(s[i])) i++;
        if (i == n) break;
        size_t a = i;
        while (i < n && !is_space(s[i])) i++;
        if (out->n == out->cap) {
            size_t cap = out->cap ? 2 * out->cap : 32;
            struct span *v = realloc(out->v, cap * sizeof *v);
            CHECK_ALLOC(v);
            out->v = v, out->cap = cap;
        }
        out->v[out->n++] = (struct span){a, i - a};
    }
fail:
    return st;
}

/* ---- word lists ------------------------------------------------------------------------------- */

static cosmos_status read_list_file(const char *path, struct entries *out) {
    cosmos_status st = COSMOS_OK;
    FILE *f = NULL;
    struct stat sb;
    char line[MAX_LINE + 2];
    CHECK_ARG(stat(path, &sb) == 0, COSMOS_ERR_IO, "guardrail: word list '%s' not found: %s", path, strerror(errno));
    CHECK_ARG(S_ISREG(sb.st_mode), COSMOS_ERR_IO, "guardrail: word list '%s' is not a regular file", path);
    f = fopen(path, "rb");
    CHECK_ARG(f != NULL, COSMOS_ERR_IO, "guardrail: cannot open word list '%s': %s", path, strerror(errno));
    for (long lineno = 1; fgets(line, sizeof line, f); lineno++) {
        size_t n = strlen(line);
        int has_newline = n > 0 && line[n - 1] == '\n';
        CHECK_ARG(has_newline || n <= MAX_LINE, COSMOS_ERR_FORMAT,
                  "guardrail: %s:%ld: line longer than %d bytes (one word or phrase per line)", path, lineno,
                  MAX_LINE);
        size_t a = 0;
        while (a < n && is_space(line[a])) a++;
        while (n > a && is_space(line[n - 1])) n--;
        if (n == a || line[a] == '#') continue;
        CHECK(entries_push(out, line + a, n - a));
    }
    CHECK_ARG(!ferror(f), COSMOS_ERR_IO, "guardrail: error reading word list '%s': %s", path, strerror(errno));
fail:
    if (f) fclose(f);
    return st;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static cosmos_status join_path(char *buf, size_t size, const char *dir, const char *name) {
    cosmos_status st = COSMOS_OK;
    int k = snprintf(buf, size, "%s/%s", dir, name);
    CHECK_ARG(k > 0 && (size_t)k < size, COSMOS_ERR_INVALID_ARG, "guardrail: path too long: %s/%s", dir, name);
fail:
    return st;
}

/* Official checkpoint layout: every regular file of dir, in name order. */
static cosmos_status read_list_dir(const char *dir, struct entries *out) {
    cosmos_status st = COSMOS_OK;
    DIR *d = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    char path[4096];
    d = opendir(dir);
    CHECK_ARG(d != NULL, COSMOS_ERR_IO, "guardrail: cannot open word-list folder '%s': %s", dir, strerror(errno));
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        struct stat sb;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        CHECK(join_path(path, sizeof path, dir, e->d_name));
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **v = realloc(names, cap * sizeof *v);
            CHECK_ALLOC(v);
            names = v;
        }
        names[n] = strdup(e->d_name);
        CHECK_ALLOC(names[n]);
        n++;
    }
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        CHECK(join_path(path, sizeof path, dir, names[i]));
        CHECK(read_list_file(path, out));
    }
fail:
    if (d) closedir(d);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void warn_non_ascii(const char *kind, const struct entries *e) {
    for (size_t i = 0; i < e->n; i++)
        for (size_t j = 0; j < e->v[i].n; j++)
            if ((unsigned char)e->v[i].s[j] >= 0x80) {
                LOG_WARN("guardrail: %s entry '%s' has non-ASCII characters and can never match (prompts are "
                         "ASCII-folded first)", kind, e->v[i].s);
                break;
            }
}

/* Derived lists: censor set (BP _populate_words_to_wordset), exact-match normal form, lexicon. */
static cosmos_status build_lists(struct blocklist *bl, struct entries *custom, struct entries *exact_raw) {
    cosmos_status st = COSMOS_OK;
    for (size_t i = 0; i < bl->whitelist.n; i++)
        for (size_t j = 0; j < bl->whitelist.v[i].n; j++) bl->whitelist.v[i].s[j] = lower(bl->whitelist.v[i].s[j]);
    bl->max_combinations = 1;
    for (size_t i = 0; i < custom->n; i++) {
        struct entry *e = &custom->v[i];
        for (size_t j = 0; j < e->n; j++) e->s[j] = lower(e->s[j]);
        if (entries_has(&bl->whitelist, e->s, e->n) || entries_has(&bl->censor, e->s, e->n)) continue;
        int sep = 0;
        for (size_t j = 0; j < e->n; j++) sep += !is_allowed(e->s[j]);
        if (sep > bl->max_combinations) bl->max_combinations = sep;
        CHECK(entries_push(&bl->censor, e->s, e->n));
        for (size_t j = 0; j < e->n;) {
            while (j < e->n && !is_allowed(e->s[j])) j++;
            size_t a = j;
            while (j < e->n && is_allowed(e->s[j])) j++;
            if (j > a && !entries_has(&bl->lexicon, e->s + a, j - a))
                CHECK(entries_push(&bl->lexicon, e->s + a, j - a));
        }
    }
    for (size_t i = 0; i < exact_raw->n; i++) {
        struct entry *e = &exact_raw->v[i];
        size_t k = 0;
        for (size_t j = 0; j < e->n; j++) {
            if (is_space(e->s[j])) {
                if (k > 0 && e->s[k - 1] != ' ') e->s[k++] = ' ';
            } else {
                e->s[k++] = lower(e->s[j]);
            }
        }
        while (k > 0 && e->s[k - 1] == ' ') k--;
        if (k > 0) CHECK(entries_push(&bl->exact, e->s, k));
    }
    warn_non_ascii("blocklist", &bl->censor);
    warn_non_ascii("whitelist", &bl->whitelist);
    warn_non_ascii("exact-match", &bl->exact);
fail:
    return st;
}

static cosmos_status blocklist_load(const char *dir, struct blocklist *bl) {
    cosmos_status st = COSMOS_OK;
    struct entries custom = {0}, exact_raw = {0};
    char path[4096];
    CHECK_ARG(dir != NULL, COSMOS_ERR_INVALID_ARG,
              "guardrail: the blocklist needs its word-list folder (hint: --guardrail-dir; the engine ships "
              "configs/guardrail/, the official lists are the checkpoint's Cosmos-1.0-Guardrail/blocklist/)");
    CHECK_ARG(is_dir(dir), COSMOS_ERR_IO, "guardrail: word-list folder '%s' not found or not a folder", dir);
    CHECK(join_path(path, sizeof path, dir, "custom"));
    if (is_dir(path)) {
        static const char *sub[3] = {"custom", "whitelist", "exact_match"};
        struct entries *dst[3] = {&custom, &bl->whitelist, &exact_raw};
        for (int k = 0; k < 3; k++) {
            CHECK(join_path(path, sizeof path, dir, sub[k]));
            CHECK_ARG(is_dir(path), COSMOS_ERR_IO, "guardrail: '%s' has custom/ but no %s/ folder (checkpoint layout)",
                      dir, sub[k]);
            CHECK(read_list_dir(path, dst[k]));
        }
    } else {
        static const char *file[3] = {"blocklist.txt", "whitelist.txt", "exact_match.txt"};
        struct entries *dst[3] = {&custom, &bl->whitelist, &exact_raw};
        for (int k = 0; k < 3; k++) {
            CHECK(join_path(path, sizeof path, dir, file[k]));
            CHECK(read_list_file(path, dst[k]));
        }
    }
    CHECK(build_lists(bl, &custom, &exact_raw));
    if (bl->censor.n == 0)
        LOG_WARN("guardrail: blocklist '%s' has no entries: the censor pass matches nothing (better_profanity "
                 "would fall back to its own default list)", dir);
    LOG_DEBUG("guardrail: blocklist %s: %zu entries (max %d separators), %zu whitelisted, %zu exact-match", dir,
              bl->censor.n, bl->max_combinations, bl->whitelist.n, bl->exact.n);
fail:
    entries_free(&custom);
    entries_free(&exact_raw);
    return st;
}

/* ---- better_profanity censoring (spec 5.2 steps 3-4) ------------------------------------------ */

/* BP's VaryingString equality, char-wise: entry char e accepts these (lower-cased) text chars. */
static int leet_char_eq(char e, char t) {
    t = lower(t);
    if (t == e) return 1;
    switch (e) {
    case 'a': return t == '@' || t == '*' || t == '4';
    case 'i': return t == '*' || t == 'l' || t == '1';
    case 'o': return t == '*' || t == '0' || t == '@';
    case 'u': return t == '*' || t == 'v';
    case 'v': return t == '*' || t == 'u';
    case 'l': return t == '1';
    case 'e': return t == '*' || t == '3';
    case 's': return t == '$' || t == '5';
    case 't': return t == '7';
    default: return 0;
    }
}

/* Index of the first entry of list that s (n bytes) spells, leetspeak included; -1 if none. */
static long find_leet(const struct entries *list, const char *s, size_t n) {
    for (size_t i = 0; i < list->n; i++) {
        const struct entry *e = &list->v[i];
        if (e->n != n) continue;
        size_t j = 0;
        while (j < n && leet_char_eq(e->s[j], s[j])) j++;
        if (j == n) return (long)i;
    }
    return -1;
}

static int lexicon_known(const char *w, size_t n, const void *user) {
    const struct blocklist *bl = user;
    return find_leet(&bl->lexicon, w, n) >= 0;
}

struct censor_event {
    size_t entry;     /* index into bl->censor */
    size_t start, n;  /* span of the censored input text */
};

struct censor_out {
    struct strbuf text; /* censored text: CENSOR_MARK x4 per event */
    struct censor_event *ev;
    size_t n_ev, cap_ev;
};

static cosmos_status put_mark(struct censor_out *o, size_t entry, size_t start, size_t n) {
    cosmos_status st = COSMOS_OK;
    static const char mark[CENSOR_MARK_LEN] = {CENSOR_MARK, CENSOR_MARK, CENSOR_MARK, CENSOR_MARK};
    CHECK(sb_put(&o->text, mark, CENSOR_MARK_LEN));
    if (o->n_ev == o->cap_ev) {
        size_t cap = o->cap_ev ? 2 * o->cap_ev : 8;
        struct censor_event *v = realloc(o->ev, cap * sizeof *v);
        CHECK_ALLOC(v);
        o->ev = v, o->cap_ev = cap;
    }
    o->ev[o->n_ev++] = (struct censor_event){entry, start, n};
fail:
    return st;
}

/* One of the words that may follow the current one: [ws, we) in the text, and BP's end index
 * (the separator after the word, or the word's last byte when it ends the text). */
struct next_word {
    size_t ws, we, end;
    int empty;
};

static size_t next_word_start(const char *t, size_t m, size_t from) {
    while (from < m && !is_allowed(t[from])) from++;
    return from;
}

/* BP _get_next_words: up to num words after position from. A word starting on the text's last
 * byte counts as no word (BP's `>= len(text) - 1` test), and nothing follows an empty word. */
static size_t next_words(const char *t, size_t m, size_t from, int num, struct next_word *nw) {
    size_t k = 0;
    while (k < (size_t)num) {
        size_t s = next_word_start(t, m, from);
        if (s + 1 >= m) {
            nw[k++] = (struct next_word){s, s, s, 1};
            break;
        }
        size_t we = s;
        while (we < m && is_allowed(t[we])) we++;
        size_t end = we < m ? we : m - 1;
        nw[k++] = (struct next_word){s, we, end, 0};
        from = end;
    }
    return k;
}

/* BP Profanity.censor(text) (_hide_swear_words): words are runs of allowed chars; a word is
 * censored when it, or it joined with up to max_combinations next words without or with the
 * separators between them, spells an entry; a joined match also swallows the words it used.
 * Offsets of events are relative to text. */
static cosmos_status censor(const struct blocklist *bl, const char *text, size_t n, struct censor_out *o) {
    cosmos_status st = COSMOS_OK;
    struct next_word *nw = NULL;
    struct strbuf joined = {0};
    o->text.n = 0, o->n_ev = 0;
    CHECK(sb_put(&o->text, "", 0));
    size_t s0 = next_word_start(text, n, 0);
    if (s0 + 1 >= n) { /* no word, or only one byte of word at the very end: BP returns the text */
        CHECK(sb_put(&o->text, text, n));
        goto fail;
    }
    CHECK(sb_put(&o->text, text, s0));
    const char *t = text + s0;
    size_t m = n - s0;
    nw = malloc((size_t)bl->max_combinations * sizeof *nw);
    CHECK_ALLOC(nw);
    size_t cs = 0, cl = 0; /* current word t[cs, cs + cl) */
    size_t skip = 0;       /* BP skip_index + 1 (0: none) */
    for (size_t i = 0; i < m; i++) {
        if (i + 1 < skip) continue;
        char c = t[i];
        if (is_allowed(c)) {
            if (cl == 0) cs = i;
            cl++;
            continue;
        }
        if (cl == 0) {
            CHECK(sb_put(&o->text, &c, 1));
            continue;
        }
        size_t k = next_words(t, m, i, bl->max_combinations, nw);
        long hit = -1;
        size_t hit_end = 0, hit_we = 0;
        joined.n = 0;
        CHECK(sb_put(&joined, t + cs, cl));
        for (size_t w = 0; w < k && hit < 0; w++) {
            if (nw[w].empty) continue;
            CHECK(sb_put(&joined, t + nw[w].ws, nw[w].we - nw[w].ws));
            hit = find_leet(&bl->censor, joined.s, joined.n);            /* words joined without separators */
            if (hit < 0) hit = find_leet(&bl->censor, t + cs, nw[w].we - cs); /* with the separators */
            hit_end = nw[w].end, hit_we = nw[w].we;
        }
        if (hit >= 0) {
            CHECK(put_mark(o, (size_t)hit, s0 + cs, hit_we - cs));
            skip = hit_end + 1;
            cl = 0;
            continue; /* BP drops the separator that ended the current word */
        }
        hit = find_leet(&bl->censor, t + cs, cl);
        if (hit >= 0)
            CHECK(put_mark(o, (size_t)hit, s0 + cs, cl));
        else
            CHECK(sb_put(&o->text, t + cs, cl));
        CHECK(sb_put(&o->text, &c, 1));
        cl = 0;
    }
    if (cl > 0 && skip < m) { /* last word, unless a joined match already took the text's last byte */
        long hit = find_leet(&bl->censor, t + cs, cl);
        if (hit >= 0)
            CHECK(put_mark(o, (size_t)hit, s0 + cs, cl));
        else
            CHECK(sb_put(&o->text, t + cs, cl));
    }
fail:
    free(nw);
    free(joined.s);
    return st;
}

static int whitelisted(const struct blocklist *bl, const char *tok, size_t n) {
    size_t a = 0;
    while (a < n && is_punct(tok[a])) a++;
    while (n > a && is_punct(tok[n - 1])) n--;
    for (size_t i = 0; i < bl->whitelist.n; i++) {
        const struct entry *e = &bl->whitelist.v[i];
        if (e->n != n - a) continue;
        size_t j = 0;
        while (j < e->n && lower(tok[a + j]) == e->s[j]) j++;
        if (j == e->n) return 1;
    }
    return 0;
}

static size_t count_marks(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == CENSOR_MARK;
    return k / CENSOR_MARK_LEN;
}

/* Censor text, restore whitelisted tokens (Blocklist.uncensor_whitelist: the i-th whitespace token
 * of the censored text becomes the i-th token of the input when that one, stripped of punctuation
 * and lower-cased, is whitelisted), and report the first censor mark left, if any. */
static cosmos_status censor_prompt(const struct blocklist *bl, const char *text, const char *pass, int *safe,
                                   char *reason, size_t reason_size) {
    cosmos_status st = COSMOS_OK;
    struct censor_out o = {0};
    struct spans in_tok = {0}, out_tok = {0};
    size_t n = strlen(text);
    CHECK(censor(bl, text, n, &o));
    CHECK(split_ws(text, n, &in_tok));
    CHECK(split_ws(o.text.s, o.text.n, &out_tok));
    size_t marks = 0;
    for (size_t i = 0; i < out_tok.n; i++) {
        const struct span *c = &out_tok.v[i];
        size_t k = count_marks(o.text.s + c->s, c->n);
        /* Python raises IndexError when the input has fewer tokens; we restore nothing then */
        if (i < in_tok.n && whitelisted(bl, text + in_tok.v[i].s, in_tok.v[i].n)) {
            marks += k;
            continue;
        }
        if (k > 0) {
            const struct censor_event *e = &o.ev[marks];
            int shown = e->n > 120 ? 120 : (int)e->n;
            snprintf(reason, reason_size, "%s'%.*s' matches blocklist entry '%s'", pass, shown, text + e->start,
                     bl->censor.v[e->entry].s);
            *safe = 0;
            goto fail;
        }
    }
    *safe = 1;
fail:
    free(o.text.s);
    free(o.ev);
    free(in_tok.v);
    free(out_tok.v);
    return st;
}

/* ---- exact-match entries (spec 5.2 step 6) ---------------------------------------------------- */

/* re's \b at position p of s[0, n) */
static int word_boundary(const char *s, size_t n, size_t p) {
    int before = p > 0 && is_word(s[p - 1]);
    int after = p < n && is_word(s[p]);
    return before != after;
}

static cosmos_status check_exact(const struct blocklist *bl, const char *prompt, int *safe, char *reason,
                                 size_t reason_size) {
    cosmos_status st = COSMOS_OK;
    struct strbuf norm = {0};
    struct spans words = {0}, entry_words = {0};
    size_t n = strlen(prompt);
    *safe = 1;
    /* re.sub(r"\s+", " ", prompt).strip().lower() */
    CHECK(sb_put(&norm, "", 0));
    for (size_t i = 0; i < n;) {
        if (is_space(prompt[i])) {
            while (i < n && is_space(prompt[i])) i++;
            if (norm.n > 0 && i < n) CHECK(sb_put(&norm, " ", 1));
        } else {
            char c = lower(prompt[i++]);
            CHECK(sb_put(&norm, &c, 1));
        }
    }
    CHECK(split_ws(norm.s, norm.n, &words));
    for (size_t e = 0; e < bl->exact.n && *safe; e++) {
        const struct entry *x = &bl->exact.v[e];
        for (size_t p = 0; p + x->n <= norm.n; p++) {
            if (memcmp(norm.s + p, x->s, x->n) == 0 && word_boundary(norm.s, norm.n, p) &&
                word_boundary(norm.s, norm.n, p + x->n)) {
                snprintf(reason, reason_size, "exact-match entry '%s'", x->s);
                *safe = 0;
                break;
            }
        }
        if (!*safe || x->n < PARTIAL_MIN_CHARS) continue;
        /* a window of as many words as the entry, similar enough: ratio >= (len - 0.5) / len */
        CHECK(split_ws(x->s, x->n, &entry_words));
        const double need = ((double)x->n - PARTIAL_LETTER_COUNT) / (double)x->n;
        for (size_t i = 0; i + entry_words.n <= words.n; i++) {
            const struct span *first = &words.v[i], *last = &words.v[i + entry_words.n - 1];
            size_t wn = last->s + last->n - first->s;
            double ratio;
            CHECK(cosmos_seqmatch_ratio(norm.s + first->s, wn, x->s, x->n, &ratio));
            if (ratio >= need) {
                int shown = wn > 120 ? 120 : (int)wn;
                snprintf(reason, reason_size, "'%.*s' nearly matches exact-match entry '%s' (ratio %.3f >= %.3f)",
                         shown, norm.s + first->s, x->s, ratio, need);
                *safe = 0;
                break;
            }
        }
    }
fail:
    free(norm.s);
    free(words.v);
    free(entry_words.v);
    return st;
}

/* ---- the check -------------------------------------------------------------------------------- */

/* Blocklist.is_safe */
static cosmos_status blocklist_check_text(const void *ctx, const char *prompt, int *safe, char *reason,
                                          size_t reason_size) {
    cosmos_status st = COSMOS_OK;
    const struct blocklist *bl = ctx;
    char *ascii = NULL, *lemmas = NULL;
    size_t n = strlen(prompt), k = 0;
    *safe = 1;
    reason[0] = '\0';

    size_t i = 0;
    while (i < n && is_space(prompt[i])) i++;
    if (i == n) {
        snprintf(reason, reason_size, "%s", n ? "prompt is whitespace only" : "prompt is empty");
        *safe = 0;
        return COSMOS_OK;
    }
    /* to_ascii: every run of non-ASCII bytes -> one space */
    ascii = malloc(n + 1);
    CHECK_ALLOC(ascii);
    for (i = 0; i < n;) {
        if ((unsigned char)prompt[i] >= 0x80) {
            while (i < n && (unsigned char)prompt[i] >= 0x80) i++;
            ascii[k++] = ' ';
        } else {
            ascii[k++] = prompt[i++];
        }
    }
    ascii[k] = '\0';

    CHECK(censor_prompt(bl, ascii, "", safe, reason, reason_size));
    if (!*safe) goto fail;
    CHECK(cosmos_lemmatize_text(ascii, lexicon_known, bl, &lemmas));
    CHECK(censor_prompt(bl, lemmas, "lemmatized ", safe, reason, reason_size));
    if (!*safe) goto fail;
    CHECK(check_exact(bl, ascii, safe, reason, reason_size));
fail:
    free(ascii);
    free(lemmas);
    return st;
}

static void blocklist_free(void *ctx) {
    struct blocklist *bl = ctx;
    if (!bl) return;
    entries_free(&bl->censor);
    entries_free(&bl->whitelist);
    entries_free(&bl->exact);
    entries_free(&bl->lexicon);
    free(bl);
}

/* Text only: no video hooks, so the runner skips the blocklist for frames. */
static const struct cosmos_guardrail_check_ops g_blocklist_ops = {
    .name = "blocklist",
    .check_text = blocklist_check_text,
    .check_video = NULL,
    .filter_video = NULL,
    .free_ctx = blocklist_free,
};

cosmos_status cosmos_guardrail_blocklist_create(const struct cosmos_guardrail_params *p,
                                                const struct cosmos_guardrail_check_ops **ops, void **ctx) {
    cosmos_status st = COSMOS_OK;
    struct blocklist *bl = calloc(1, sizeof *bl);
    CHECK_ALLOC(bl);
    CHECK(blocklist_load(p->blocklist_dir, bl));
    *ops = &g_blocklist_ops;
    *ctx = bl;
    return COSMOS_OK;
fail:
    blocklist_free(bl);
    return st;
}
