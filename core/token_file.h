/* Token files: the text format of token ids that `tokenize`, `sample`, `generate --save-tokens`
 * and `batch --save-tokens` write and `logits`, `sample` and `detokenize` read: whitespace-separated
 * decimal integers (the writers put one per line). Written to a temporary name and renamed, so the
 * path never holds a partial file. */
#ifndef COSMOS_TOKEN_FILE_H
#define COSMOS_TOKEN_FILE_H

#include <stdint.h>

#include "core/status.h"

/* The ids of a token file. Errors naming the file: missing or unreadable (IO), empty, a word that is
 * not an int32 integer (FORMAT, with its index), more than max_n ids (INVALID_ARG; `limit` says
 * what max_n is, e.g. "the model's max_seq_len"). *out is malloc'd. */
cosmos_status cosmos_tokens_read(const char *path, int64_t max_n, const char *limit, int32_t **out, int *n);
/* ids[0..n) one per line. IO error, with nothing left at path, when the file cannot be made or
 * written (a missing folder, a full disk). */
cosmos_status cosmos_tokens_write(const char *path, const int32_t *ids, int64_t n);

#endif
