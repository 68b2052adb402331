/* Shared pieces of the GPU parity suites (test_cuda_ops.c, test_cuda_dit.c): the CPU and CUDA
 * backends of a test (skipped without a device), a device tensor back to host f32, and the
 * tolerance comparison of a CUDA result with the CPU op's. */
#ifndef COSMOS_CUDA_TEST_UTIL_H
#define COSMOS_CUDA_TEST_UTIL_H

#include <stdint.h>

#include "core/backend.h"

/* Skips the calling test (visibly, cr_skip_test) when this machine has no CUDA device; else opens
 * the "cpu" and "cuda:0" backends (the latter with bf16 activations) into *cpu and *gpu. */
void cuda_test_open_backends(cosmos_backend_t **cpu, cosmos_backend_t **gpu);
/* 1 when cuda:0 is the CUDA emulator (tests/cuda_emu, docs/cuda.md): a suite then leaves out the
 * shapes too large to run on a CPU in reasonable time, and logs what it left out. */
int cuda_test_emulated(void);
/* Frees both and sets them to NULL. */
void cuda_test_close_backends(cosmos_backend_t **cpu, cosmos_backend_t **gpu);
/* Host f32 copy (malloc'd, caller frees) of n elements of dtype dt (bf16 or f32) at device address
 * d of backend be; synchronises the backend first. Asserts on failure. */
float *cuda_test_download(cosmos_backend_t *be, const void *d, int64_t n, enum cosmos_dtype dt);
/* A device copy (backend alloc + upload, caller frees with cosmos_backend_free_mem) of n host f32
 * values. Asserts on failure. */
float *cuda_test_upload_f32(cosmos_backend_t *be, const float *host, int64_t n);
/* Expects |got - want| <= atol + rtol |want| for all n values (equal values pass, infinities
 * included; NaN never does); logs the max abs / rel difference and the first mismatches with their
 * indices. */
void cuda_test_compare(const char *what, const float *got, const float *want, int64_t n, double atol, double rtol);

#endif
