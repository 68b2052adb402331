/* CUDA next-token sampler (spec ar-model.md section 5; API and the exactness note in
 * cuda_sample.h), the counterpart of core/model/sampler.c. Greedy: one block, argmax with the
 * lowest index on ties. Otherwise three stream-ordered steps over f32 logits[V]: (1) one block:
 * max logit, p_i = f32(exp((l_i - mx) * (1/T))), double sum, p_i = f32(p_i / sum), ids 0..V-1;
 * (2) CUB's stable descending radix sort of the (p, id) pairs, so equal p keep ascending ids;
 * (3) one block over the sorted [V]: top-k renormalisation, double inclusive prefix sums, the top-p
 * edge rule, the Philox draw (bit-identical to core/rng.c) and the inverse-CDF search. One block
 * per step keeps every sum in one fixed order, so a run is reproducible on the GPU. */
#include <math.h>
#include <stdlib.h>

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

extern "C" { /* C headers without their own extern "C" */
#include "core/log.h"
#include "core/model/sampler.h"
#include "core/rng.h"
}
#include "core/philox.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_sample.h"

#define SAMPLE_THREADS 1024
#define ARGMAX_NONE 0x7fffffff

struct cosmos_cuda_sampler {
    int V;
    float *probs;        /* [V] softmax probabilities, token order */
    int32_t *ids;        /* [V] 0..V-1 */
    float *probs_sorted; /* [V] descending; the first top_k renormalised in place */
    int32_t *ids_sorted; /* [V] token id of each sorted entry */
    double *cum;         /* [V] inclusive prefix sums of probs_sorted */
    void *sort_tmp;      /* CUB radix-sort temporaries */
    size_t sort_tmp_bytes;
};

/* The draw: core/philox.h, the same code as the host's cosmos_rng_uniform. */
static __device__ double rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return cosmos_philox_uniform(seed, stream, index);
}

/* ---- block-wide helpers (blockDim.x == SAMPLE_THREADS) ---- */

/* Argmax candidate: i == ARGMAX_NONE when the thread saw no non-NaN value. */
struct argmax_item {
    float v;
    int i;
};
/* Greater value wins, equal values go to the lower index: with every candidate the first maximum
 * of its own (ascending) indices, the result is the first maximum overall, whatever the tree. */
struct argmax_op {
    __device__ argmax_item operator()(const argmax_item &a, const argmax_item &b) const {
        if (a.i == ARGMAX_NONE) return b;
        if (b.i == ARGMAX_NONE) return a;
        if (a.v > b.v) return a;
        if (b.v > a.v) return b;
        return a.i < b.i ? a : b;
    }
};
struct min_op {
    __device__ int operator()(int a, int b) const { return a < b ? a : b; }
};

typedef cub::BlockReduce<argmax_item, SAMPLE_THREADS> argmax_reduce;
typedef cub::BlockReduce<double, SAMPLE_THREADS> sum_reduce;
typedef cub::BlockScan<double, SAMPLE_THREADS> sum_scan;
typedef cub::BlockReduce<int, SAMPLE_THREADS> min_reduce;

/* The index the CPU loop `if (x[i] > x[best]) best = i` ends with: the first maximum of the
 * non-NaN values, or 0 when x[0] is NaN (nothing compares greater than it). Every thread gets it.
 * With nonfinite (device; thread 0 writes it): 1 when any x[i] is NaN or infinite, else 0. */
static __device__ int block_argmax(const float *x, int V, argmax_reduce::TempStorage &tmp, int *s_best,
                                   int32_t *nonfinite) {
    argmax_item a = {-INFINITY, ARGMAX_NONE};
    int bad = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        const float v = x[i];
        bad |= !isfinite(v);
        if (!isnan(v) && (a.i == ARGMAX_NONE || v > a.v)) {
            a.v = v;
            a.i = i;
        }
    }
    bad = __syncthreads_or(bad);
    if (nonfinite && threadIdx.x == 0) *nonfinite = bad ? 1 : 0;
    const argmax_item r = argmax_reduce(tmp).Reduce(a, argmax_op());
    if (threadIdx.x == 0) *s_best = (isnan(x[0]) || r.i == ARGMAX_NONE) ? 0 : r.i;
    __syncthreads();
    return *s_best;
}

/* ---- kernels: one block of SAMPLE_THREADS each ---- */

static __global__ void __launch_bounds__(SAMPLE_THREADS)
    sample_argmax_f32_kernel(int32_t *token, int32_t *nonfinite, const float *logits, int V) {
    __shared__ argmax_reduce::TempStorage tmp;
    __shared__ int s_best;
    const int best = block_argmax(logits, V, tmp, &s_best, nonfinite);
    if (threadIdx.x == 0) *token = best;
}

/* probs[i] = f32(p_i / sum_j p_j) with p_i = f32(exp((logits[i] - max) * inv_t)); ids[i] = i.
 * exp in double rounded to f32, as the CPU sampler computes it (glibc's double exp there): the two
 * doubles differ by an ulp at most, so the f32 values agree except next to a rounding midpoint. */
static __global__ void __launch_bounds__(SAMPLE_THREADS)
    sample_softmax_f32_kernel(float *probs, int32_t *ids, int32_t *nonfinite, const float *logits, int V, float inv_t) {
    __shared__ union {
        argmax_reduce::TempStorage argmax;
        sum_reduce::TempStorage sum;
    } tmp;
    __shared__ int s_best;
    __shared__ double s_sum;
    const float mx = logits[block_argmax(logits, V, tmp.argmax, &s_best, nonfinite)];
    double part = 0.0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        const float p = (float)exp((double)((logits[i] - mx) * inv_t));
        probs[i] = p;
        ids[i] = i;
        part += p;
    }
    __syncthreads(); /* tmp changes role */
    const double sum = sum_reduce(tmp.sum).Sum(part);
    if (threadIdx.x == 0) s_sum = sum;
    __syncthreads();
    const double total = s_sum;
    for (int i = threadIdx.x; i < V; i += blockDim.x) probs[i] = (float)((double)probs[i] / total);
}

/* Over q[V] sorted descending (ids alongside): keep the first top_k (when 0 < top_k < V) and
 * renormalise them in place; cum[i] = q[0] + ... + q[i] in double; kept_n = the first i whose
 * preceding mass cum[i-1] > top_p (else all kept); u = uniform(seed, SAMPLE, position) * cum[kept_n-1];
 * token = ids[first i < kept_n with u < cum[i]], else ids[kept_n-1]. Thread t owns the contiguous
 * chunk [lo, hi) so its partial sums run in index order; the searches are min-reductions of each
 * chunk's first hit, which is the CPU's first hit whatever the values. */
static __global__ void __launch_bounds__(SAMPLE_THREADS)
    sample_top_p_f32_kernel(int32_t *token, float *q, const int32_t *ids, double *cum, int V, int top_k, float top_p,
                            uint64_t seed, int64_t pos_host, const int64_t *pos_dev) {
    __shared__ union {
        sum_reduce::TempStorage sum;
        sum_scan::TempStorage scan;
        min_reduce::TempStorage min;
    } tmp;
    __shared__ double s_kept, s_u;
    __shared__ int s_n;
    const int n_keep = (top_k > 0 && top_k < V) ? top_k : V;
    const int chunk = (n_keep + (int)blockDim.x - 1) / (int)blockDim.x;
    const int lo = min(n_keep, (int)threadIdx.x * chunk), hi = min(n_keep, lo + chunk);

    if (n_keep < V) { /* top-k: renormalise the first k before top-p sees them */
        double part = 0.0;
        for (int i = lo; i < hi; i++) part += q[i];
        const double kept = sum_reduce(tmp.sum).Sum(part);
        if (threadIdx.x == 0) s_kept = kept;
        __syncthreads();
        const double k_mass = s_kept;
        for (int i = lo; i < hi; i++) q[i] = (float)((double)q[i] / k_mass);
    }

    double part = 0.0;
    for (int i = lo; i < hi; i++) part += q[i];
    double run;
    sum_scan(tmp.scan).ExclusiveSum(part, run); /* thread 0 gets 0 */
    for (int i = lo; i < hi; i++) {
        run += q[i];
        cum[i] = run;
    }
    __syncthreads(); /* cum complete for the whole block; tmp changes role */

    const double tp = (double)top_p;
    int first_out = n_keep;
    for (int i = lo; i < hi; i++) {
        const double before = i == 0 ? 0.0 : cum[i - 1];
        if (before > tp) {
            first_out = i;
            break;
        }
    }
    const int kept_n = min_reduce(tmp.min).Reduce(first_out, min_op());
    if (threadIdx.x == 0) {
        const int n = kept_n > 0 ? kept_n : 1; /* top_p > 0 keeps the top-1 anyway */
        const int64_t pos = pos_dev ? *pos_dev : pos_host;
        s_n = n;
        s_u = rng_uniform(seed, COSMOS_RNG_STREAM_SAMPLE, (uint64_t)pos) * cum[n - 1];
    }
    __syncthreads();
    const int n = s_n;
    const double u = s_u;
    int hit = n;
    for (int i = lo; i < hi && i < n; i++) {
        if (u < cum[i]) {
            hit = i;
            break;
        }
    }
    const int pick = min_reduce(tmp.min).Reduce(hit, min_op());
    if (threadIdx.x == 0) *token = ids[pick < n ? pick : n - 1];
}

static __global__ void rng_uniform_f64_kernel(double *out, const uint64_t *seed, const uint64_t *index, int64_t n,
                                              uint64_t rng_stream) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = rng_uniform(seed[i], rng_stream, index[i]);
}

/* ---- host side ---- */

extern "C" cosmos_status cosmos_cuda_sampler_init(int n_vocab, cosmos_cuda_sampler_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_cuda_sampler_t *s = NULL;
    size_t n = 0;
    *out = NULL;
    CHECK_ARG(n_vocab > 0, COSMOS_ERR_INVALID_ARG, "GPU sampler: vocab size must be > 0 (got %d)", n_vocab);
    n = (size_t)n_vocab;
    s = (cosmos_cuda_sampler_t *)calloc(1, sizeof *s);
    CHECK_ALLOC(s);
    s->V = n_vocab;
    CUDA_CHECK(cudaMalloc(&s->probs, sizeof(float) * n));
    CUDA_CHECK(cudaMalloc(&s->ids, sizeof(int32_t) * n));
    CUDA_CHECK(cudaMalloc(&s->probs_sorted, sizeof(float) * n));
    CUDA_CHECK(cudaMalloc(&s->ids_sorted, sizeof(int32_t) * n));
    CUDA_CHECK(cudaMalloc(&s->cum, sizeof(double) * n));
    CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(NULL, s->sort_tmp_bytes, (const float *)NULL, (float *)NULL,
                                                         (const int32_t *)NULL, (int32_t *)NULL, n_vocab, 0,
                                                         (int)(sizeof(float) * 8), (cudaStream_t)0));
    CUDA_CHECK(cudaMalloc(&s->sort_tmp, s->sort_tmp_bytes ? s->sort_tmp_bytes : 1));
    *out = s;
    return COSMOS_OK;
fail:
    cosmos_cuda_sampler_free(s);
    return st;
}

extern "C" size_t cosmos_cuda_sampler_bytes(const cosmos_cuda_sampler_t *s) {
    if (!s) return 0;
    const size_t V = (size_t)s->V;
    return V * (2 * sizeof(float) + 2 * sizeof(int32_t) + sizeof(double)) + s->sort_tmp_bytes;
}

extern "C" void cosmos_cuda_sampler_free(cosmos_cuda_sampler_t *s) {
    if (!s) return;
    cudaFree(s->probs);
    cudaFree(s->ids);
    cudaFree(s->probs_sorted);
    cudaFree(s->ids_sorted);
    cudaFree(s->cum);
    cudaFree(s->sort_tmp);
    free(s);
}

/* pos_dev NULL: the position is pos_host. Only launches (no sync, no allocation). */
static cosmos_status sample_launch(cosmos_cuda_sampler_t *s, int32_t *token, int32_t *nonfinite, const float *logits,
                                   const struct cosmos_sampler_params *p, int64_t pos_host, const int64_t *pos_dev,
                                   cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    size_t tmp_bytes = 0;
    float inv_t = 0.0f;
    CHECK_ARG(s && token && logits && p, COSMOS_ERR_INVALID_ARG, "GPU sampler: NULL argument");
    CHECK(cosmos_sampler_params_check(p));
    if (p->temperature == 0.0f) {
        COSMOS_LAUNCH(1, SAMPLE_THREADS, 0, stream, sample_argmax_f32_kernel)(token, nonfinite, logits, s->V);
        return CUDA_LAUNCH_STATUS("sample_argmax_f32_kernel");
    }
    inv_t = 1.0f / p->temperature; /* as the CPU: f32 reciprocal, then a multiply */
    COSMOS_LAUNCH(1, SAMPLE_THREADS, 0, stream, sample_softmax_f32_kernel)
    (s->probs, s->ids, nonfinite, logits, s->V, inv_t);
    CHECK(CUDA_LAUNCH_STATUS("sample_softmax_f32_kernel"));
    tmp_bytes = s->sort_tmp_bytes;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(s->sort_tmp, tmp_bytes, (const float *)s->probs,
                                                         s->probs_sorted, (const int32_t *)s->ids, s->ids_sorted, s->V,
                                                         0, (int)(sizeof(float) * 8), stream));
    COSMOS_LAUNCH(1, SAMPLE_THREADS, 0, stream, sample_top_p_f32_kernel)
    (token, s->probs_sorted, s->ids_sorted, s->cum, s->V, p->top_k, p->top_p, p->seed, pos_host, pos_dev);
    return CUDA_LAUNCH_STATUS("sample_top_p_f32_kernel");
fail:
    return st;
}

extern "C" cosmos_status cosmos_cuda_sample(cosmos_cuda_sampler_t *s, int32_t *token, int32_t *nonfinite,
                                            const float *logits, const struct cosmos_sampler_params *p,
                                            int64_t position, cudaStream_t stream) {
    return sample_launch(s, token, nonfinite, logits, p, position, NULL, stream);
}

extern "C" cosmos_status cosmos_cuda_sample_devpos(cosmos_cuda_sampler_t *s, int32_t *token, int32_t *nonfinite,
                                                   const float *logits, const struct cosmos_sampler_params *p,
                                                   const int64_t *position, cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(position, COSMOS_ERR_INVALID_ARG, "GPU sampler: NULL device position");
    return sample_launch(s, token, nonfinite, logits, p, 0, position, stream);
fail:
    return st;
}

extern "C" cosmos_status cosmos_cuda_rng_uniform_test(double *out, const uint64_t *seed, const uint64_t *index,
                                                      int64_t n, uint64_t rng_stream, cudaStream_t stream) {
    if (n <= 0) return COSMOS_OK;
    COSMOS_LAUNCH(cosmos_grid_1d(n, 256), 256, 0, stream, rng_uniform_f64_kernel)(out, seed, index, n, rng_stream);
    return CUDA_LAUNCH_STATUS("rng_uniform_f64_kernel");
}
