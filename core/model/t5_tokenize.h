/* T5 prompt -> token ids, as the official pipeline's tokenizer call does (spec components.md 3.1,
 * 3.2): SentencePiece ids of the prompt, EOS (</s> = 1) appended, truncated to max_len tokens
 * (max_len - 1 content tokens + EOS) and right-padded with <pad> = 0 to max_len. Checks first:
 * an empty (or whitespace-only) prompt and invalid UTF-8 are errors (INVALID_ARG, with the byte
 * offset); more than COSMOS_T5_MAX_WORDS words or a cut at max_len tokens log a warning saying what
 * was cut. HF's added tokens written literally in the prompt (<pad>, </s>, <unk>, <extra_id_0> ..
 * <extra_id_99>) get their own ids and split the text around them, as in the official call. */
#ifndef COSMOS_T5_TOKENIZE_H
#define COSMOS_T5_TOKENIZE_H

#include <stdint.h>

#include "core/status.h"
#include "core/text_tokenizer.h"

#define COSMOS_T5_MAX_WORDS 300

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF);
 * otherwise 0 and *bad_offset is the offset of the first bad byte. */
int cosmos_utf8_valid(const char *s, size_t n, size_t *bad_offset);
/* Whitespace-separated words of s. */
int cosmos_count_words(const char *s);

/* ids[0..max_len) filled as above; *len = number of non-pad tokens (content + EOS). */
cosmos_status cosmos_t5_tokenize(const cosmos_spm_t *spm, const char *prompt, int max_len, int32_t *ids, int *len);

#endif
