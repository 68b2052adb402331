/* CUDA matmul through cuBLASLt: y[M,N] = x[M,K] . w[N,K]^T with bf16 x, w, y and fp32 accumulate
 * (CUBLAS_COMPUTE_32F), the counterpart of kernels/cpu/matmul.c. Row-major y is column-major
 * y^T [N,M] = op(A) B with A = w stored column-major [K,N] (op = transpose) and B = x stored
 * column-major [K,M]. The descriptors and the heuristic's algorithm are cached per (M, N, K,
 * pointer alignment): the decode loop asks the heuristic once per shape. Not thread-safe (one
 * backend context, one host thread). */
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "kernels/cuda/cuda_ops.h"

#define LT_CACHE_MAX 128

struct lt_plan {
    int64_t M, N, K;
    int align; /* min alignment in bytes of the x, w, y pointers, capped at 256 */
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
};

struct cosmos_cublaslt {
    cublasLtHandle_t handle;
    void *workspace;
    size_t ws_bytes;
    struct lt_plan plans[LT_CACHE_MAX];
    int n_plans;
};

static void plan_destroy(struct lt_plan *p) {
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    if (p->a) cublasLtMatrixLayoutDestroy(p->a);
    if (p->b) cublasLtMatrixLayoutDestroy(p->b);
    if (p->c) cublasLtMatrixLayoutDestroy(p->c);
    p->op = NULL;
    p->a = p->b = p->c = NULL;
}

cosmos_status cosmos_cublaslt_create(size_t ws_bytes, cosmos_cublaslt_t **out) {
    cosmos_status st = COSMOS_OK;
    *out = NULL;
    cosmos_cublaslt_t *lt = calloc(1, sizeof *lt);
    CHECK_ALLOC(lt);
    CUBLAS_CHECK(cublasLtCreate(&lt->handle));
    lt->ws_bytes = ws_bytes;
    if (ws_bytes) CUDA_CHECK(cudaMalloc(&lt->workspace, ws_bytes));
    *out = lt;
    return COSMOS_OK;
fail:
    cosmos_cublaslt_free(lt);
    return st;
}

void cosmos_cublaslt_free(cosmos_cublaslt_t *lt) {
    if (!lt) return;
    for (int i = 0; i < lt->n_plans; i++) plan_destroy(&lt->plans[i]);
    if (lt->workspace) cudaFree(lt->workspace);
    if (lt->handle) cublasLtDestroy(lt->handle);
    free(lt);
}

static int ptr_align(const void *p) {
    uintptr_t u = (uintptr_t)p;
    int a = 1;
    while (a < 256 && (u & (uintptr_t)a) == 0) a <<= 1;
    return a;
}

static cosmos_status plan_make(cosmos_cublaslt_t *lt, struct lt_plan *p) {
    cosmos_status st = COSMOS_OK;
    cublasLtMatmulPreference_t pref = NULL;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const uint64_t ws = lt->ws_bytes;
    const uint32_t al = (uint32_t)p->align;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, (uint64_t)p->K, (uint64_t)p->N, p->K));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, (uint64_t)p->K, (uint64_t)p->M, p->K));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->c, CUDA_R_16BF, (uint64_t)p->N, (uint64_t)p->M, p->N));
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al, sizeof al));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al, sizeof al));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al, sizeof al));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al, sizeof al));
    cublasLtMatmulHeuristicResult_t res;
    int n_res = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt->handle, p->op, p->a, p->b, p->c, p->c, pref, 1, &res, &n_res));
    CHECK_ARG(n_res > 0, COSMOS_ERR_CUBLAS,
              "cuBLASLt has no bf16 algorithm for M=%lld N=%lld K=%lld (alignment %d bytes)", (long long)p->M,
              (long long)p->N, (long long)p->K, p->align);
    p->algo = res.algo;
    cublasLtMatmulPreferenceDestroy(pref);
    return COSMOS_OK;
fail:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    plan_destroy(p);
    return st;
}

cosmos_status cosmos_cuda_matmul(cosmos_cublaslt_t *lt, cosmos_bf16 *y, const cosmos_bf16 *x, const cosmos_bf16 *w,
                                 int64_t M, int64_t N, int64_t K, cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    if (M <= 0 || N <= 0) return COSMOS_OK;
    if (K <= 0) return cosmos_cuda_check(cudaMemsetAsync(y, 0, sizeof(cosmos_bf16) * (size_t)(M * N), stream),
                                         "cudaMemsetAsync(y)", __FILE__, __LINE__);
    int align = ptr_align(x);
    if (ptr_align(w) < align) align = ptr_align(w);
    if (ptr_align(y) < align) align = ptr_align(y);
    struct lt_plan tmp = {0}, *p = NULL;
    for (int i = 0; i < lt->n_plans && !p; i++) {
        struct lt_plan *c = &lt->plans[i];
        if (c->M == M && c->N == N && c->K == K && c->align == align) p = c;
    }
    if (!p) {
        p = lt->n_plans < LT_CACHE_MAX ? &lt->plans[lt->n_plans] : &tmp; /* a full cache: plan per call */
        *p = (struct lt_plan){.M = M, .N = N, .K = K, .align = align};
        CHECK(plan_make(lt, p));
        if (p != &tmp) lt->n_plans++;
    }
    const float alpha = 1.0f, beta = 0.0f;
    CUBLAS_CHECK(cublasLtMatmul(lt->handle, p->op, &alpha, w, p->a, x, p->b, &beta, y, p->c, y, p->c, &p->algo,
                                lt->workspace, lt->ws_bytes, stream));
fail:
    if (p == &tmp) plan_destroy(&tmp);
    return st;
}
