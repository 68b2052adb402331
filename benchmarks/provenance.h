/* Provenance header shared by every benchmark (STYLE.md "Benchmarks"): git sha, date, host, CPU,
 * threads, compiler, build type, BLAS, backend. Printed as a table header and added to the JSON. */
#ifndef COSMOS_BENCH_PROVENANCE_H
#define COSMOS_BENCH_PROVENANCE_H

#include <jansson.h>

#include "core/backend.h"
#include "core/process.h" /* cosmos_now_s, cosmos_peak_rss_bytes: the benchmarks' clock and RSS */

/* A JSON object with the provenance fields (caller owns the reference). */
json_t *bench_provenance(const char *backend, int n_threads);
/* Print "# key: value" lines of a provenance object to stdout. */
void bench_provenance_print(json_t *prov);
/* GFLOP/s of C[M,N] += A[M,K] B[K,N] (row-major cblas_sgemm, as the CPU conv and linear kernels
 * call it), best of reps after one warm-up; 0 when out of memory. The "floor" of the benchmarks. */
double bench_sgemm_gflops(int M, int N, int K, int reps);
/* GFLOP/s of the backend's own matmul y[M,N] = x[M,K] . w[N,K]^T (activations of its dtype, bf16
 * weights; on CUDA cuBLASLt), best of reps after one warm-up, each call followed by a sync: the
 * floor's rate of a benchmark run on a device. */
cosmos_status bench_backend_matmul_gflops(cosmos_backend_t *be, int64_t M, int64_t N, int64_t K, int reps,
                                          double *gflops);
/* The same in f32 throughout (cosmos_op_matmul_f32w: on CUDA cuBLASLt's f32 GEMM): the floor's rate
 * of the f32 models (T5, the video guardrail's) on a device. */
cosmos_status bench_backend_matmul_f32_gflops(cosmos_backend_t *be, int64_t M, int64_t N, int64_t K, int reps,
                                              double *gflops);
/* The f32 GEMM rate of a benchmark's floor on the backend its model runs on: bench_sgemm_gflops for
 * NULL or a host backend, bench_backend_matmul_f32_gflops on a device; best of 3. */
cosmos_status bench_f32_gemm_gflops(cosmos_backend_t *be, int64_t M, int64_t N, int64_t K, double *gflops);
/* Memory bandwidth in GB/s, the denominator of the benchmarks' bandwidth floors: on a host backend
 * (or NULL) a sum over a buffer of `bytes` far larger than the caches with the OpenMP threads, best
 * of 5; on a device a bf16 copy of `bytes` between two device buffers with the backend's own copy
 * op, best of 10, counted as read + write traffic (2 x bytes per copy): the rate at which the
 * card's memory moves bytes (issue 4: "bytes read per step / measured copy bandwidth of the same
 * card"). 0 on failure (out of memory). */
double bench_bandwidth_gbs(cosmos_backend_t *be, size_t bytes);
/* A backend tensor of n values of dtype dt (bf16 or f32) in *out (the caller frees it): 2^20 random
 * normals from seed stream `stream`, repeated (the timings do not depend on the values; drawing
 * 84 M normals per tensor would cost seconds). */
cosmos_status bench_upload_random(cosmos_backend_t *be, enum cosmos_dtype dt, int64_t n, uint64_t stream, void **out);
/* cosmos_backend_create(name, bp) with the environment variable var set to value for the call
 * (restored after): a second backend with another kernel choice, a benchmark's peer in the same run
 * (COSMOS_CUDA_ATTENTION=f32, COSMOS_CUDA_GEMV=cublaslt). */
cosmos_status bench_backend_create_with_env(const char *name, const struct cosmos_backend_params *bp, const char *var,
                                            const char *value, cosmos_backend_t **out);
/* Minimum and median of v[n] (sorts v; n >= 1). */
void bench_min_p50(double *v, int n, double *mn, double *p50);

#endif
