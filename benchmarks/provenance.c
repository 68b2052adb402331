/* Benchmark provenance (see provenance.h). */
#define _POSIX_C_SOURCE 200809L
#include "benchmarks/provenance.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dtype.h"
#include "core/log.h"
#include "core/process.h"
#include "core/rng.h"
#include "core/system_info.h"
#include "cosmos_build_config.h"
#include "kernels/cpu/cpu_sgemm.h"

json_t *bench_provenance(const char *backend, int n_threads) {
    char host[128] = "?", cpu[256], date[64];
    gethostname(host, sizeof host - 1);
    cosmos_cpu_model(cpu, sizeof cpu);
    cosmos_utc_timestamp(date, sizeof date);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:s, s:s}", "git_sha", cosmos_git_sha(), "version",
                     COSMOS_VERSION, "date", date, "host", host, "cpu", cpu, "online_cpus",
                     (int)sysconf(_SC_NPROCESSORS_ONLN), "threads", n_threads, "compiler", COSMOS_C_COMPILER,
                     "build_type", COSMOS_BUILD_TYPE, "blas", openblas_get_config(), "backend", backend);
}

void bench_provenance_print(json_t *prov) {
    const char *key;
    json_t *v;
    json_object_foreach(prov, key, v) {
        if (json_is_string(v))
            printf("# %-12s %s\n", key, json_string_value(v));
        else if (json_is_integer(v))
            printf("# %-12s %lld\n", key, (long long)json_integer_value(v));
    }
}


double bench_sgemm_gflops(int M, int N, int K, int reps) {
    float *a = malloc(sizeof(float) * (size_t)M * K), *b = malloc(sizeof(float) * (size_t)K * N);
    float *c = calloc((size_t)M * N, sizeof(float));
    double best = 1e30;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)((i * 7 % 13) - 6) * 0.01f;
        for (size_t i = 0; i < (size_t)K * N; i++) b[i] = (float)((i * 5 % 11) - 5) * 0.01f;
        for (int r = -1; r < reps; r++) {
            double t0 = cosmos_now_s();
            cosmos_cpu_sgemm(0, 0, M, N, K, 1.0f, a, K, b, N, 1.0f, c, N);
            double dt = cosmos_now_s() - t0;
            if (r >= 0 && dt < best) best = dt;
        }
    }
    free(a), free(b), free(c);
    return best < 1e30 ? 2.0 * M * N * K / best / 1e9 : 0.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_min_p50(double *v, int n, double *mn, double *p50) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    *mn = v[0], *p50 = v[n / 2];
}

/* best-of-reps GFLOP/s of y[M,N] = x[M,K] . w[N,K]^T: activations of the backend's dtype and bf16
 * weights (cosmos_op_matmul), or all f32 (f32: cosmos_op_matmul_f32w) */
static cosmos_status matmul_rate(cosmos_backend_t *be, int64_t M, int64_t N, int64_t K, int reps, int f32,
                                 double *gflops) {
    cosmos_status st = COSMOS_OK;
    const enum cosmos_dtype act = f32 ? COSMOS_F32 : cosmos_backend_act_dtype(be), wt = f32 ? COSMOS_F32 : COSMOS_BF16;
    const size_t as = cosmos_dtype_size(act);
    void *x = NULL, *w = NULL, *y = NULL;
    CHECK(cosmos_backend_alloc(be, as * (size_t)(M * K), &x));
    CHECK(cosmos_backend_alloc(be, cosmos_dtype_size(wt) * (size_t)(N * K), &w));
    CHECK(cosmos_backend_alloc(be, as * (size_t)(M * N), &y));
    struct cosmos_tensor tx = cosmos_tensor_2d(x, act, M, K), tw = cosmos_tensor_2d(w, wt, N, K),
                         ty = cosmos_tensor_2d(y, act, M, N);
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        const double t0 = cosmos_now_s();
        CHECK(f32 ? cosmos_op_matmul_f32w(be, ty, tx, tw) : cosmos_op_matmul(be, ty, tx, tw));
        CHECK(cosmos_backend_sync(be));
        const double t = cosmos_now_s() - t0;
        if (r > 0 && t < best) best = t;
    }
    *gflops = 2.0 * (double)M * (double)N * (double)K / best * 1e-9;
fail:
    cosmos_backend_free_mem(be, x);
    cosmos_backend_free_mem(be, w);
    cosmos_backend_free_mem(be, y);
    return st;
}

cosmos_status bench_backend_matmul_gflops(cosmos_backend_t *be, int64_t M, int64_t N, int64_t K, int reps,
                                          double *gflops) {
    return matmul_rate(be, M, N, K, reps, 0, gflops);
}

cosmos_status bench_backend_matmul_f32_gflops(cosmos_backend_t *be, int64_t M, int64_t N, int64_t K, int reps,
                                              double *gflops) {
    return matmul_rate(be, M, N, K, reps, 1, gflops);
}

cosmos_status bench_f32_gemm_gflops(cosmos_backend_t *be, int64_t M, int64_t N, int64_t K, double *gflops) {
    if (be && !cosmos_backend_is_host(be)) return bench_backend_matmul_f32_gflops(be, M, N, K, 3, gflops);
    *gflops = bench_sgemm_gflops((int)M, (int)N, (int)K, 3);
    return COSMOS_OK;
}

static double host_read_gbs(size_t bytes, int reps) {
    const size_t n = bytes / sizeof(float);
    float *buf = malloc(n * sizeof(float));
    if (!buf) return 0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
    double best = 1e30, sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = cosmos_now_s(), s = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += buf[i];
        const double dt = cosmos_now_s() - t0;
        sink += s;
        if (dt < best) best = dt;
    }
    free(buf);
    if (sink == -1) printf("%g", sink);
    return (double)bytes / best / 1e9;
}

static double device_copy_gbs(cosmos_backend_t *be, size_t bytes, int reps) {
    void *a = NULL, *b = NULL;
    double best = 1e30;
    const int64_t n = (int64_t)(bytes / 2);
    if (cosmos_backend_alloc(be, bytes, &a) != COSMOS_OK || cosmos_backend_alloc(be, bytes, &b) != COSMOS_OK) goto out;
    struct cosmos_tensor ta = cosmos_tensor_1d(a, COSMOS_BF16, n), tb = cosmos_tensor_1d(b, COSMOS_BF16, n);
    if (cosmos_op_copy(be, tb, ta) != COSMOS_OK || cosmos_backend_sync(be) != COSMOS_OK) goto out; /* warm-up */
    for (int r = 0; r < reps; r++) {
        const double t0 = cosmos_now_s();
        if (cosmos_op_copy(be, tb, ta) != COSMOS_OK || cosmos_backend_sync(be) != COSMOS_OK) goto out;
        const double dt = cosmos_now_s() - t0;
        if (dt < best) best = dt;
    }
out:
    cosmos_backend_free_mem(be, a);
    cosmos_backend_free_mem(be, b);
    return best < 1e30 ? 2.0 * (double)bytes / best / 1e9 : 0.0;
}

double bench_bandwidth_gbs(cosmos_backend_t *be, size_t bytes) {
    return !be || cosmos_backend_is_host(be) ? host_read_gbs(bytes, 5) : device_copy_gbs(be, bytes, 10);
}

cosmos_status bench_upload_random(cosmos_backend_t *be, enum cosmos_dtype dt, int64_t n, uint64_t stream, void **out) {
    cosmos_status st = COSMOS_OK;
    *out = NULL;
    const size_t es = cosmos_dtype_size(dt);
    void *host = malloc(es * (size_t)n);
    CHECK_ALLOC(host);
    const int64_t period = (int64_t)1 << 20;
    for (int64_t i = 0; i < n && i < period; i++) {
        const float v = cosmos_rng_normal(7, stream, (uint64_t)i);
        if (dt == COSMOS_BF16) ((cosmos_bf16 *)host)[i] = cosmos_f32_to_bf16(v);
        else ((float *)host)[i] = v;
    }
    for (int64_t i = period; i < n; i += period)
        memcpy((char *)host + es * (size_t)i, host, es * (size_t)(n - i < period ? n - i : period));
    CHECK(cosmos_backend_alloc(be, es * (size_t)n, out));
    CHECK(cosmos_backend_upload(be, *out, host, es * (size_t)n));
fail:
    free(host);
    return st;
}


cosmos_status bench_backend_create_with_env(const char *name, const struct cosmos_backend_params *bp, const char *var,
                                            const char *value, cosmos_backend_t **out) {
    const char *prev = getenv(var);
    char *saved = prev ? strdup(prev) : NULL;
    if (prev && !saved) return COSMOS_ERR_NOMEM;
    setenv(var, value, 1);
    const cosmos_status st = cosmos_backend_create(name, bp, out);
    if (saved) setenv(var, saved, 1);
    else unsetenv(var);
    free(saved);
    return st;
}
