/* Shared by the T5 suites (tests/unit/test_t5.c, tests/cuda/test_cuda_t5.c): a T5 encoder file
 * rewritten with every weight tensor float32 (the converter's default for the official weights),
 * from a bf16 fixture. */
#ifndef COSMOS_T5_TEST_UTIL_H
#define COSMOS_T5_TEST_UTIL_H

/* Copies in_path (bf16 tensors) to out_path: the same header, every tensor widened to f32, the
 * SentencePiece model as it is. Asserts (Criterion) on failure. */
void t5_test_write_f32_copy(const char *in_path, const char *out_path);

#endif
