/* CUDA matmul through cuBLASLt: y[M,N] = x[M,K] . w[N,K]^T with bf16 x, w, y and fp32 accumulate
 * (CUBLAS_COMPUTE_32F), the counterpart of kernels/cpu/matmul.c; and the same in f32 throughout
 * (the T5 encoder's matmul_f32w, kernels/cpu/matmul_f32w.c: CUBLAS_COMPUTE_32F, no TF32, as
 * PyTorch's default fp32 matmul; COSMOS_CUDA_TF32=1 asks for CUBLAS_COMPUTE_32F_FAST_TF32, which
 * NVIDIA's PyTorch containers turn on through TORCH_ALLOW_TF32_CUBLAS_OVERRIDE). Row-major y is column-major
 * y^T [N,M] = op(A) B with A = w stored column-major [K,N] (op = transpose) and B = x stored
 * column-major [K,M]. The descriptors and the heuristic's algorithm are cached per (M, N, K,
 * pointer alignment): the decode loop asks the heuristic once per shape. Not thread-safe (one
 * backend context, one host thread).
 *
 * cuBLASLt is opened with dlopen when the first CUDA backend is created, not linked: its static
 * initialisers cost every process that links it about 210 MB resident and 0.07 s at start, CPU-only
 * runs of a CUDA build and every test included (docs/cuda.md "cuBLASLt, loaded on first use").
 * Looked for as libcublasLt.so.<major of the headers> on the loader's path (LD_LIBRARY_PATH, the
 * executable's RUNPATH, ldconfig), then in the toolkit directory of the build; COSMOS_CUBLASLT=PATH
 * names the file instead. The functions are typed from cublasLt.h, so a call through them is
 * checked like a direct call; a library of another major version is refused. */
#define _GNU_SOURCE /* dladdr: the file a library name resolved to */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "kernels/cuda/cuda_ops.h"

#define LT_STR2(x) #x
#define LT_STR(x) LT_STR2(x)
#define LT_SONAME "libcublasLt.so." LT_STR(CUBLAS_VER_MAJOR)

/* every cuBLASLt function this backend calls */
#define LT_FUNCS(X)                                                                                            \
    X(cublasLtGetVersion) X(cublasLtCreate) X(cublasLtDestroy) X(cublasLtMatmul) X(cublasLtMatmulDescCreate)   \
    X(cublasLtMatmulDescDestroy) X(cublasLtMatmulDescSetAttribute) X(cublasLtMatrixLayoutCreate)               \
    X(cublasLtMatrixLayoutDestroy) X(cublasLtMatmulPreferenceCreate) X(cublasLtMatmulPreferenceDestroy)        \
    X(cublasLtMatmulPreferenceSetAttribute) X(cublasLtMatmulAlgoGetHeuristic)

static struct {
#define LT_FIELD(f) __typeof__(f) *f;
    LT_FUNCS(LT_FIELD)
#undef LT_FIELD
} lt_api;

static pthread_once_t lt_once = PTHREAD_ONCE_INIT;
static cosmos_status lt_status = COSMOS_ERR_UNSUPPORTED; /* until lt_open succeeds */
static char lt_why[768], lt_path[512];
static size_t lt_version;

static void lt_open(void) {
    const char *env = getenv("COSMOS_CUBLASLT");
    const int user = env && *env;
    const char *cands[2];
    int n = 0;
    if (user) {
        cands[n++] = env; /* the user's choice, alone: no silent fallback to another file */
    } else {
        cands[n++] = LT_SONAME;
#ifdef COSMOS_CUBLASLT_DIR
        cands[n++] = COSMOS_CUBLASLT_DIR "/" LT_SONAME;
#endif
    }
    void *h = NULL;
    char errs[sizeof lt_why] = "";
    for (int i = 0; i < n && !h; i++) {
        h = dlopen(cands[i], RTLD_NOW | RTLD_LOCAL);
        if (h) {
            snprintf(lt_path, sizeof lt_path, "%s", cands[i]);
        } else {
            const char *e = dlerror();
            const size_t used = strlen(errs);
            snprintf(errs + used, sizeof errs - used, "%s%s", used ? "; " : "", e ? e : cands[i]);
        }
    }
    if (!h) {
        snprintf(lt_why, sizeof lt_why, "cannot open cuBLASLt (%s%s): %s", user ? "COSMOS_CUBLASLT=" : "",
                 user ? env : LT_SONAME, errs);
        return;
    }
#define LT_SYM(f)                                                                                              \
    *(void **)(&lt_api.f) = dlsym(h, #f);                                                                      \
    if (!lt_api.f) {                                                                                           \
        snprintf(lt_why, sizeof lt_why, "%s is not cuBLASLt: it has no symbol %s", lt_path, #f);               \
        goto refuse;                                                                                           \
    }
    LT_FUNCS(LT_SYM)
#undef LT_SYM
    Dl_info info; /* report the file the name resolved to, not only the name that was asked for */
    if (dladdr(*(void **)&lt_api.cublasLtGetVersion, &info) && info.dli_fname && *info.dli_fname)
        snprintf(lt_path, sizeof lt_path, "%s", info.dli_fname);
    lt_version = lt_api.cublasLtGetVersion();
    if (lt_version / 10000 != CUBLAS_VER_MAJOR) {
        snprintf(lt_why, sizeof lt_why, "%s is cuBLASLt %zu.%zu.%zu; this build was compiled against %d.x", lt_path,
                 lt_version / 10000, lt_version / 100 % 100, lt_version % 100, CUBLAS_VER_MAJOR);
        goto refuse;
    }
    lt_status = COSMOS_OK;
    return;
refuse:
    memset(&lt_api, 0, sizeof lt_api);
    dlclose(h);
}

cosmos_status cosmos_cublaslt_load(char *why, size_t n_why) {
    pthread_once(&lt_once, lt_open);
    if (why && n_why) snprintf(why, n_why, "%s", lt_status == COSMOS_OK ? lt_path : lt_why);
    return lt_status;
}

size_t cosmos_cublaslt_version(void) { return lt_status == COSMOS_OK ? lt_version : 0; }

#define LT_CACHE_MAX 128

struct lt_plan {
    int64_t M, N, K;
    int align; /* min alignment in bytes of the x, w, y pointers, capped at 256 */
    cudaDataType_t type; /* of x, w and y: CUDA_R_16BF (the model's matmuls) or CUDA_R_32F (T5) */
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
};

struct cosmos_cublaslt {
    cublasLtHandle_t handle;
    int tf32; /* f32 GEMMs with CUBLAS_COMPUTE_32F_FAST_TF32 (COSMOS_CUDA_TF32=1) */
    void *workspace;
    size_t ws_bytes;
    struct lt_plan plans[LT_CACHE_MAX];
    int n_plans;
};

static void plan_destroy(struct lt_plan *p) {
    if (p->op) lt_api.cublasLtMatmulDescDestroy(p->op);
    if (p->a) lt_api.cublasLtMatrixLayoutDestroy(p->a);
    if (p->b) lt_api.cublasLtMatrixLayoutDestroy(p->b);
    if (p->c) lt_api.cublasLtMatrixLayoutDestroy(p->c);
    p->op = NULL;
    p->a = p->b = p->c = NULL;
}

cosmos_status cosmos_cublaslt_create(size_t ws_bytes, cosmos_cublaslt_t **out) {
    cosmos_status st = COSMOS_OK;
    *out = NULL;
    char why[sizeof lt_why];
    st = cosmos_cublaslt_load(why, sizeof why);
    if (st != COSMOS_OK) {
        LOG_ERROR("CUDA backend: %s (set COSMOS_CUBLASLT to the library's path, or add its directory to "
                  "LD_LIBRARY_PATH)", why);
        return st;
    }
    cosmos_cublaslt_t *lt = calloc(1, sizeof *lt);
    CHECK_ALLOC(lt);
    const char *tf32 = getenv("COSMOS_CUDA_TF32");
    CHECK_ARG(!tf32 || !*tf32 || !strcmp(tf32, "0") || !strcmp(tf32, "1"), COSMOS_ERR_INVALID_ARG,
              "COSMOS_CUDA_TF32 is '%s': 1 (f32 matmuls in TF32) or 0 (full f32, the default)", tf32);
    lt->tf32 = tf32 && !strcmp(tf32, "1");
    if (lt->tf32)
        LOG_INFO("CUDA backend: f32 matmuls in TF32 (COSMOS_CUDA_TF32=1: the tensor cores' 10-bit mantissa inputs, "
                 "as PyTorch in NVIDIA's containers; T5, SigLIP, RetinaFace)");
    CUBLAS_CHECK(lt_api.cublasLtCreate(&lt->handle));
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
    if (lt->handle) lt_api.cublasLtDestroy(lt->handle);
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
    const cublasComputeType_t compute =
        p->type == CUDA_R_32F && lt->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    CUBLAS_CHECK(lt_api.cublasLtMatmulDescCreate(&p->op, compute, CUDA_R_32F));
    CUBLAS_CHECK(lt_api.cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(lt_api.cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    CUBLAS_CHECK(lt_api.cublasLtMatrixLayoutCreate(&p->a, p->type, (uint64_t)p->K, (uint64_t)p->N, p->K));
    CUBLAS_CHECK(lt_api.cublasLtMatrixLayoutCreate(&p->b, p->type, (uint64_t)p->K, (uint64_t)p->M, p->K));
    CUBLAS_CHECK(lt_api.cublasLtMatrixLayoutCreate(&p->c, p->type, (uint64_t)p->N, (uint64_t)p->M, p->N));
    CUBLAS_CHECK(lt_api.cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(lt_api.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                             sizeof ws));
    CUBLAS_CHECK(lt_api.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al,
                                                             sizeof al));
    CUBLAS_CHECK(lt_api.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al,
                                                             sizeof al));
    CUBLAS_CHECK(lt_api.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al,
                                                             sizeof al));
    CUBLAS_CHECK(lt_api.cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al,
                                                             sizeof al));
    cublasLtMatmulHeuristicResult_t res;
    int n_res = 0;
    CUBLAS_CHECK(lt_api.cublasLtMatmulAlgoGetHeuristic(lt->handle, p->op, p->a, p->b, p->c, p->c, pref, 1, &res,
                                                       &n_res));
    CHECK_ARG(n_res > 0, COSMOS_ERR_CUBLAS,
              "cuBLASLt has no %s algorithm for M=%lld N=%lld K=%lld (alignment %d bytes)",
              p->type == CUDA_R_32F ? "f32" : "bf16", (long long)p->M, (long long)p->N, (long long)p->K, p->align);
    p->algo = res.algo;
    lt_api.cublasLtMatmulPreferenceDestroy(pref);
    return COSMOS_OK;
fail:
    if (pref) lt_api.cublasLtMatmulPreferenceDestroy(pref);
    plan_destroy(p);
    return st;
}

/* y = x . w^T through the plan cached for (M, N, K, alignment, type); elements of `esize` bytes. */
static cosmos_status lt_matmul(cosmos_cublaslt_t *lt, void *y, const void *x, const void *w, int64_t M, int64_t N,
                               int64_t K, cudaDataType_t type, size_t esize, cudaStream_t stream) {
    cosmos_status st = COSMOS_OK;
    if (M <= 0 || N <= 0) return COSMOS_OK;
    if (K <= 0) return cosmos_cuda_check(cudaMemsetAsync(y, 0, esize * (size_t)(M * N), stream),
                                         "cudaMemsetAsync(y)", __FILE__, __LINE__);
    int align = ptr_align(x);
    if (ptr_align(w) < align) align = ptr_align(w);
    if (ptr_align(y) < align) align = ptr_align(y);
    struct lt_plan tmp = {0}, *p = NULL;
    for (int i = 0; i < lt->n_plans && !p; i++) {
        struct lt_plan *c = &lt->plans[i];
        if (c->M == M && c->N == N && c->K == K && c->align == align && c->type == type) p = c;
    }
    if (!p) {
        p = lt->n_plans < LT_CACHE_MAX ? &lt->plans[lt->n_plans] : &tmp; /* a full cache: plan per call */
        *p = (struct lt_plan){.M = M, .N = N, .K = K, .align = align, .type = type};
        CHECK(plan_make(lt, p));
        if (p != &tmp) lt->n_plans++;
    }
    const float alpha = 1.0f, beta = 0.0f;
    CUBLAS_CHECK(lt_api.cublasLtMatmul(lt->handle, p->op, &alpha, w, p->a, x, p->b, &beta, y, p->c, y, p->c, &p->algo,
                                       lt->workspace, lt->ws_bytes, stream));
fail:
    if (p == &tmp) plan_destroy(&tmp);
    return st;
}

cosmos_status cosmos_cuda_matmul(cosmos_cublaslt_t *lt, cosmos_bf16 *y, const cosmos_bf16 *x, const cosmos_bf16 *w,
                                 int64_t M, int64_t N, int64_t K, cudaStream_t stream) {
    return lt_matmul(lt, y, x, w, M, N, K, CUDA_R_16BF, sizeof(cosmos_bf16), stream);
}

cosmos_status cosmos_cuda_matmul_f32(cosmos_cublaslt_t *lt, float *y, const float *x, const float *w, int64_t M,
                                     int64_t N, int64_t K, cudaStream_t stream) {
    return lt_matmul(lt, y, x, w, M, N, K, CUDA_R_32F, sizeof(float), stream);
}
