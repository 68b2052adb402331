/* SentencePiece tokenizer behind a C interface (spec components.md 3.2): a thin shim over the
 * SentencePiece C++ library (Debian libsentencepiece), implemented in text_tokenizer.cc, the one
 * C++ file of the project. It only maps text <-> piece ids with the model's own normaliser; the
 * T5 rules on top (EOS, truncation, padding, prompt checks) live in core/model/t5_tokenize.c.
 * Loading copies nothing the caller must keep; the handle is immutable after load. */
#ifndef COSMOS_TEXT_TOKENIZER_H
#define COSMOS_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cosmos_spm cosmos_spm_t;

/* Load a serialized SentencePiece model (the bytes of a .model file). `source` names it in
 * messages. FORMAT error when the bytes are not a model. Caller owns *out (cosmos_spm_free). */
cosmos_status cosmos_spm_load(const void *bytes, size_t n, const char *source, cosmos_spm_t **out);
void cosmos_spm_free(cosmos_spm_t *spm); /* NULL is a no-op */
int cosmos_spm_piece_size(const cosmos_spm_t *spm);
int cosmos_spm_eos_id(const cosmos_spm_t *spm);
int cosmos_spm_pad_id(const cosmos_spm_t *spm);
/* Id of the piece spelled exactly `piece`, or -1 when the model has no such piece. */
int cosmos_spm_piece_id(const cosmos_spm_t *spm, const char *piece);
/* 1 for ids a Hugging Face decode with skip_special_tokens drops: control pieces (<s>, </s>, <pad>),
 * the unknown piece, and ids outside the vocabulary; 0 otherwise. */
int cosmos_spm_is_special(const cosmos_spm_t *spm, int id);
/* Ids of `text` (UTF-8, NUL-terminated); no EOS added. *ids is malloc'd (caller frees). */
cosmos_status cosmos_spm_encode(const cosmos_spm_t *spm, const char *text, int32_t **ids, int *n);
/* A Hugging Face tokenizer's added tokens ("added_tokens" of tokenizer.json) as they are spelled in
 * a text: the byte length of the one spelled at s (0 when none) and its id in *id. */
typedef size_t (*cosmos_spm_added_fn)(const cosmos_spm_t *spm, const char *s, int32_t *id);
/* Ids of `text` as a Hugging Face fast tokenizer makes them when it matches its added tokens in the
 * raw text (split_special_tokens=False, the default): each added token its id, the text between
 * two of them encoded on its own as cosmos_spm_encode would encode a whole text. No EOS or BOS.
 * added NULL: cosmos_spm_encode. *ids is malloc'd (caller frees). */
cosmos_status cosmos_spm_encode_split(const cosmos_spm_t *spm, const char *text, cosmos_spm_added_fn added,
                                      int32_t **ids, int *n);
/* For matchers: the piece among names[0..n_names) spelled at s (its length, and its id in *id), 0
 * when none is or the model has no such piece. */
size_t cosmos_spm_piece_at(const cosmos_spm_t *spm, const char *s, const char *const *names, int n_names, int32_t *id);
/* Text of ids[0..n); *text is malloc'd (caller frees). */
cosmos_status cosmos_spm_decode(const cosmos_spm_t *spm, const int32_t *ids, int n, char **text);

#ifdef __cplusplus
}
#endif

#endif
