/* Shared by the suites that check the fused decode step against the separate ops (test_golden on
 * cpu-staged, test_cuda_ops on a GPU or the emulator): the same teacher-forced decode run both ways,
 * and where two f32 arrays first differ in their bits. */
#ifndef COSMOS_TEST_DECODE_PAIR_H
#define COSMOS_TEST_DECODE_PAIR_H

#include <stdint.h>

#include "core/backend.h"

/* The model at path on be decodes tokens[0..n) one token at a time from position 0 (context ctx
 * [ctx_rows, ctx_cols] first when not NULL), twice: out[0] with the fused decode ops (every layer's
 * wq|wk|wv and w1|w3 grouped: asserted), out[1] with unfused_decode (none grouped: asserted); each
 * [n, V] f32 logits, malloc'd (the caller frees). Returns V. Asserts (Criterion) every load and step. */
int decode_fused_and_unfused(const char *path, cosmos_backend_t *be, const int32_t *tokens, int n, const float *ctx,
                             int ctx_rows, int ctx_cols, float *out[2]);
/* The first index in [0, n) where a and b differ bit for bit, or -1. */
int64_t first_bit_difference(const float *a, const float *b, int64_t n);

#endif
