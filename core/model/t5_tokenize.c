/* T5 prompt tokenization and prompt checks (see t5_tokenize.h; spec components.md 3.1-3.2). */
#include "core/model/t5_tokenize.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

int cosmos_utf8_valid(const char *str, size_t n, size_t *bad_offset) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            goto bad;
        }
        if (i + len > n) goto bad;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
        i += len;
    }
    return 1;
bad:
    if (bad_offset) *bad_offset = i;
    return 0;
}

int cosmos_count_words(const char *s) {
    int n = 0, in_word = 0;
    for (; *s; s++) {
        int sp = isspace((unsigned char)*s);
        if (!sp && !in_word) n++;
        in_word = !sp;
    }
    return n;
}

/* The added tokens of Hugging Face T5TokenizerFast (spec components.md 3.2), which the official
 * tokenizer call recognises in the raw prompt (before normalisation, case-sensitively): <pad>, </s>
 * and <unk> (the model's own pieces) and the 100 sentinels <extra_id_0> .. <extra_id_99> at ids
 * piece_size + 99 - k. No added token is a prefix of another one at the same place, so a match at
 * a position is the only one there. */
#define T5_EXTRA_IDS 100
static const char *const t5_named[] = {"<pad>", "</s>", "<unk>"};

/* The added token spelled at s (cosmos_spm_added_fn). */
static size_t added_token_at(const cosmos_spm_t *spm, const char *s, int32_t *id) {
    if (s[0] != '<') return 0;
    const size_t named = cosmos_spm_piece_at(spm, s, t5_named, (int)(sizeof t5_named / sizeof t5_named[0]), id);
    if (named) return named;
    static const char pre[] = "<extra_id_";
    const size_t np = sizeof pre - 1;
    if (strncmp(s, pre, np) != 0) return 0;
    const char *d = s + np;
    int k = 0, nd = 0;
    while (nd < 3 && isdigit((unsigned char)d[nd])) k = 10 * k + (d[nd++] - '0');
    if (nd == 0 || nd > 2 || d[nd] != '>' || (nd == 2 && d[0] == '0')) return 0; /* 0..99, as HF spells them */
    *id = cosmos_spm_piece_size(spm) + T5_EXTRA_IDS - 1 - k;
    return np + (size_t)nd + 1;
}

/* The added token of id `id` spelled out into name[n]; 0 when id is an ordinary piece. */
static int added_token_name(const cosmos_spm_t *spm, int32_t id, char *name, size_t n) {
    const int ps = cosmos_spm_piece_size(spm);
    if (id >= ps && id < ps + T5_EXTRA_IDS) return snprintf(name, n, "<extra_id_%d>", ps + T5_EXTRA_IDS - 1 - id), 1;
    for (size_t t = 0; t < sizeof t5_named / sizeof t5_named[0]; t++)
        if (id == cosmos_spm_piece_id(spm, t5_named[t])) return snprintf(name, n, "%s", t5_named[t]), 1;
    return 0;
}

/* Text of ids for a message in out[size] (cut where it fills): runs of ordinary pieces decoded,
 * added tokens spelled out; "?" when a run cannot be decoded. */
static void display_text(const cosmos_spm_t *spm, const int32_t *ids, int n, char *out, size_t size) {
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0, j; i < n && len + 1 < size; i = j) {
        char name[32], *run = NULL;
        const int special = added_token_name(spm, ids[i], name, sizeof name);
        for (j = i + 1; !special && j < n && !added_token_name(spm, ids[j], name, sizeof name);) j++;
        if (!special && cosmos_spm_decode(spm, ids + i, j - i, &run) != COSMOS_OK) {
            snprintf(out, size, "?");
            return;
        }
        const int w = snprintf(out + len, size - len, "%s", special ? name : run);
        free(run);
        len += w > 0 ? (size_t)w : 0;
    }
}

/* Warn with the text of the cut tokens (first 120 bytes of it). */
static void warn_cut(const cosmos_spm_t *spm, const int32_t *cut, int n_cut, int n_total, int max_len) {
    char text[256];
    display_text(spm, cut, n_cut, text, sizeof text);
    size_t tl = strlen(text);
    const int longer = tl > 120;
    if (longer) { /* cut back to a UTF-8 boundary */
        tl = 120;
        while (tl > 0 && ((unsigned char)text[tl] & 0xC0) == 0x80) tl--;
        text[tl] = '\0';
    }
    LOG_WARN("prompt is %d tokens; the encoder takes %d (%d + EOS): the last %d tokens were cut: \"%s%s\"", n_total,
             max_len, max_len - 1, n_cut, text, longer ? "..." : "");
}

cosmos_status cosmos_t5_tokenize(const cosmos_spm_t *spm, const char *prompt, int max_len, int32_t *ids, int *len) {
    cosmos_status st = COSMOS_OK;
    int32_t *raw = NULL;
    int n = 0;
    *len = 0;
    size_t bytes = strlen(prompt), bad = 0;
    CHECK_ARG(max_len >= 2, COSMOS_ERR_INVALID_ARG, "t5 tokenize: max_len %d < 2", max_len);
    CHECK_ARG(cosmos_utf8_valid(prompt, bytes, &bad), COSMOS_ERR_INVALID_ARG,
              "prompt is not valid UTF-8 (bad byte 0x%02x at offset %zu of %zu)", (unsigned char)prompt[bad], bad,
              bytes);
    const int words = cosmos_count_words(prompt);
    CHECK_ARG(words > 0, COSMOS_ERR_INVALID_ARG, "prompt is empty%s: give a text description",
              bytes ? " (only whitespace)" : "");
    if (words > COSMOS_T5_MAX_WORDS)
        LOG_WARN("prompt has %d words, more than the %d Cosmos supports: nothing is cut by word count, but "
                 "tokens beyond %d are cut (see below if so)",
                 words, COSMOS_T5_MAX_WORDS, max_len - 1);
    CHECK(cosmos_spm_encode_split(spm, prompt, added_token_at, &raw, &n));
    const int eos = cosmos_spm_eos_id(spm) >= 0 ? cosmos_spm_eos_id(spm) : 1;
    const int pad = cosmos_spm_pad_id(spm) >= 0 ? cosmos_spm_pad_id(spm) : 0;
    int keep = n;
    if (keep > max_len - 1) {
        keep = max_len - 1;
        warn_cut(spm, raw + keep, n - keep, n + 1, max_len);
    }
    memcpy(ids, raw, sizeof(int32_t) * (size_t)keep);
    ids[keep] = eos;
    for (int i = keep + 1; i < max_len; i++) ids[i] = pad;
    *len = keep + 1;
fail:
    free(raw);
    return st;
}
