/* Context files (docs/weights.md "Other files the CLI reads and writes"): HDF5 with a float32
 * dataset /context [rows, cols] holding a text embedding (the T5 output the AR cross-attention and
 * the diffusion decoder attend to: 512 x 1024 for the real models, padding rows zero). Written by
 * `cosmos-ar encode-text` and `cosmos-ar init` (a random stand-in), read by `logits` / `sample`
 * --context and by the pipeline (a model directory's "dd_context"). */
#ifndef COSMOS_CONTEXT_FILE_H
#define COSMOS_CONTEXT_FILE_H

#include <stdint.h>

#include "core/status.h"

/* Reads /context of `path`; *out is malloc'd f32 [rows * cols] (caller frees). FORMAT when the
 * dataset is missing, not 2-D float32, or holds a non-finite value (the message names the file). */
cosmos_status cosmos_context_read(const char *path, float **out, int *rows, int *cols);
/* Writes a context file with /context = ctx [rows, cols] (temporary name + rename). */
cosmos_status cosmos_context_write(const char *path, const float *ctx, int64_t rows, int64_t cols);

#endif
