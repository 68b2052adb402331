/* T5 prompt tokenization and prompt checks (see t5_tokenize.h; spec components.md 3.1-3.2). */
#include "core/model/t5_tokenize.h"

#include <ctype.h>
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

/* Warn with the text of the cut tokens (first 120 bytes of it). */
static void warn_cut(const cosmos_spm_t *spm, const int32_t *cut, int n_cut, int n_total, int max_len) {
    char *text = NULL;
    if (cosmos_spm_decode(spm, cut, n_cut, &text) != COSMOS_OK) text = NULL;
    size_t tl = text ? strlen(text) : 0;
    const int longer = tl > 120;
    if (longer) { /* cut back to a UTF-8 boundary */
        tl = 120;
        while (tl > 0 && ((unsigned char)text[tl] & 0xC0) == 0x80) tl--;
        text[tl] = '\0';
    }
    LOG_WARN("prompt is %d tokens; the encoder takes %d (%d + EOS): the last %d tokens were cut: \"%s%s\"", n_total,
             max_len, max_len - 1, n_cut, text ? text : "?", longer ? "..." : "");
    free(text);
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
    CHECK(cosmos_spm_encode(spm, prompt, &raw, &n));
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
