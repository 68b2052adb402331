/* Rule-based lemmatizer replacing NLTK's word_tokenize + WordNetLemmatizer in the blocklist
 * (spec components.md 5.2 step 5; deviations in docs/guardrail.md).
 * Tokenizer (a subset of the Treebank rules behind word_tokenize): split at whitespace; split off
 * each of ; @ # $ % & ? ! ( ) [ ] { } < > " ` as its own token, and , : unless a digit follows;
 * split off a leading ', a trailing run of '.', and the clitics n't 's 'm 'd 'll 're 've and a
 * trailing '.
 * Lemmatizer: a token that is a known word stays; otherwise the candidates below are tried in order
 * and the first known one wins (WordNet's morphy works the same way against its dictionary; our
 * dictionary is the caller's, see lemmatize.h): a few irregular forms, then suffix rules for
 * plurals (-ies -ves -es -s -men) and verb forms (-ied -ed -ying -ing, with e restored or a doubled
 * final consonant undone). No known candidate: the token stays as written.
 * Layout: tokens are spans of the input; the output is one growing buffer of lemmas and spaces. */
#include "core/guardrail/lemmatize.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static const struct {
    const char *form, *lemma;
} g_irregular[] = {
    {"men", "man"},       {"women", "woman"},   {"children", "child"}, {"people", "person"},
    {"mice", "mouse"},    {"geese", "goose"},   {"feet", "foot"},      {"teeth", "tooth"},
    {"shot", "shoot"},    {"fought", "fight"},  {"stole", "steal"},    {"stolen", "steal"},
    {"struck", "strike"}, {"slain", "slay"},    {"slew", "slay"},      {"bled", "bleed"},
    {"hung", "hang"},     {"beaten", "beat"},   {"burnt", "burn"},     {"broke", "break"},
    {"broken", "break"},  {"threw", "throw"},   {"thrown", "throw"},   {"bitten", "bite"},
    {"hidden", "hide"},   {"caught", "catch"},  {"sold", "sell"},      {"bought", "buy"},
    {"took", "take"},     {"taken", "take"},    {"ran", "run"},        {"died", "die"},
};

/* suffix -> replacement; undouble: the remaining stem ends in a doubled consonant, drop one */
static const struct {
    const char *suffix, *repl;
    int undouble;
} g_rules[] = {
    {"ies", "y", 0}, {"ies", "ie", 0}, {"ves", "f", 0}, {"ves", "fe", 0}, {"es", "", 0},
    {"s", "", 0},    {"men", "man", 0}, {"ied", "y", 0}, {"ed", "", 0},   {"ed", "e", 0},
    {"ed", "", 1},   {"ying", "ie", 0}, {"ing", "", 0}, {"ing", "e", 0}, {"ing", "", 1},
};

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

static int is_vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

static int ends_with_ci(const char *s, size_t n, const char *suffix) {
    size_t k = strlen(suffix);
    if (k > n) return 0;
    for (size_t i = 0; i < k; i++)
        if (lower(s[n - k + i]) != suffix[i]) return 0;
    return 1;
}

void cosmos_lemmatize_token(const char *tok, size_t len, cosmos_lemma_known_fn known, const void *user, char *out) {
    for (size_t i = 0; i < len; i++) out[i] = lower(tok[i]);
    out[len] = '\0';
    if (known(out, len, user)) goto unchanged;

    for (size_t r = 0; r < sizeof g_irregular / sizeof g_irregular[0]; r++) {
        size_t k = strlen(g_irregular[r].lemma);
        if (strcmp(out, g_irregular[r].form) != 0 || k + 1 > COSMOS_LEMMA_OUT_SIZE(len)) continue;
        if (known(g_irregular[r].lemma, k, user)) {
            memcpy(out, g_irregular[r].lemma, k + 1);
            return;
        }
        break;
    }
    for (size_t r = 0; r < sizeof g_rules / sizeof g_rules[0]; r++) {
        if (!ends_with_ci(tok, len, g_rules[r].suffix)) continue;
        size_t stem = len - strlen(g_rules[r].suffix), rl = strlen(g_rules[r].repl);
        if (stem < 1 || stem + rl < 2) continue;
        for (size_t i = 0; i < stem; i++) out[i] = lower(tok[i]);
        if (g_rules[r].undouble) {
            char c = out[stem - 1];
            if (stem < 3 || c != out[stem - 2] || is_vowel(c) || !(c >= 'a' && c <= 'z')) continue;
            stem--;
        }
        memcpy(out + stem, g_rules[r].repl, rl + 1);
        if (known(out, stem + rl, user)) return;
    }
unchanged:
    memcpy(out, tok, len);
    out[len] = '\0';
}

/* Python str.isspace() over ASCII: the separators of str.split() */
static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

struct outbuf {
    char *s;
    size_t n, cap;
    char *scratch; /* COSMOS_LEMMA_OUT_SIZE(longest token) bytes */
    cosmos_lemma_known_fn known;
    const void *user;
};

/* Append one token (lemmatized when lemma is set) and a space. The buffer is sized up front
 * (every token grows by at most 7 bytes plus its space), so this never reallocates. */
static void emit(struct outbuf *b, const char *tok, size_t len, int lemma) {
    if (len == 0) return;
    if (lemma) {
        cosmos_lemmatize_token(tok, len, b->known, b->user, b->scratch);
        tok = b->scratch;
        len = strlen(b->scratch);
    }
    memcpy(b->s + b->n, tok, len);
    b->n += len;
    b->s[b->n++] = ' ';
}

/* A piece of a chunk between split characters: leading quote, clitics, trailing periods. */
static void emit_piece(struct outbuf *b, const char *s, size_t n) {
    static const char *clitics[] = {"n't", "'ll", "'re", "'ve", "'s", "'m", "'d", "'"};
    if (n > 1 && s[0] == '\'') {
        emit(b, s, 1, 0);
        s++, n--;
    }
    size_t dots = 0;
    while (dots < n && s[n - 1 - dots] == '.') dots++;
    size_t body = n - dots;
    size_t cl = 0;
    for (size_t k = 0; k < sizeof clitics / sizeof clitics[0] && body > 0; k++) {
        size_t kl = strlen(clitics[k]);
        if (body > kl && ends_with_ci(s, body, clitics[k]) && s[body - kl - 1] != '\'') {
            cl = kl;
            break;
        }
    }
    emit(b, s, body - cl, 1);
    emit(b, s + body - cl, cl, 0);
    emit(b, s + body, dots, 0);
}

cosmos_status cosmos_lemmatize_text(const char *text, cosmos_lemma_known_fn known, const void *user, char **out) {
    cosmos_status st = COSMOS_OK;
    size_t n = strlen(text);
    struct outbuf b = {0};
    *out = NULL;
    /* worst case: every byte its own token followed by a space, each lemma 7 bytes longer */
    b.cap = 9 * n + 1;
    b.s = malloc(b.cap);
    CHECK_ALLOC(b.s);
    b.scratch = malloc(COSMOS_LEMMA_OUT_SIZE(n));
    CHECK_ALLOC(b.scratch);
    b.known = known, b.user = user;

    static const char split_always[] = ";@#$%&?!()[]{}<>\"`";
    size_t i = 0;
    while (i < n) {
        while (i < n && is_space(text[i])) i++;
        size_t a = i;
        while (i < n && !is_space(text[i])) i++;
        size_t piece = a;
        for (size_t j = a; j <= i; j++) {
            int split = 0;
            if (j < i) {
                char c = text[j];
                split = strchr(split_always, c) != NULL ||
                        ((c == ',' || c == ':') && !(j + 1 < i && is_digit(text[j + 1])));
            }
            if (j == i || split) {
                emit_piece(&b, text + piece, j - piece);
                if (j < i) emit(&b, text + j, 1, 0);
                piece = j + 1;
            }
        }
    }
    if (b.n > 0) b.n--; /* drop the trailing space */
    b.s[b.n] = '\0';
    *out = b.s;
    b.s = NULL;
fail:
    free(b.s);
    free(b.scratch);
    return st;
}
