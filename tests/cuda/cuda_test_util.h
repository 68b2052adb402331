/* Shared pieces of the GPU parity suites (test_cuda_ops.c, test_cuda_dit.c): a device tensor back
 * to host f32, and the tolerance comparison of a CUDA result with the CPU op's. */
#ifndef COSMOS_CUDA_TEST_UTIL_H
#define COSMOS_CUDA_TEST_UTIL_H

#include <stdint.h>

#include "core/backend.h"

/* Host f32 copy (malloc'd, caller frees) of n elements of dtype dt (bf16 or f32) at device address
 * d of backend be; synchronises the backend first. Asserts on failure. */
float *cuda_test_download(cosmos_backend_t *be, const void *d, int64_t n, enum cosmos_dtype dt);
/* Expects |got - want| <= atol + rtol |want| for all n values (NaN never passes); logs the max abs /
 * rel difference and the first mismatches with their indices. */
void cuda_test_compare(const char *what, const float *got, const float *want, int64_t n, double atol, double rtol);

#endif
