/* The CUDA emulator's cuBLASLt (emu.h): the functions kernels/cuda/matmul_cublaslt.c calls, with
 * cuBLASLt's meaning: D = alpha op(A) op(B) + beta C on column-major layouts (rows, cols, leading
 * dimension), bf16 or f32 matrices, f32 compute and scale, products summed in f32 in index order,
 * D rounded to nearest even. The test executables load it as cuBLASLt through COSMOS_CUBLASLT
 * (it lives in the emulator's library, next to the runtime). Checked as the real library would
 * refuse them: shapes that do not chain (op(A) m x k, op(B) k x n, C and D m x n), a leading
 * dimension under the rows, attributes it does not emulate (other orders, batches, epilogues), and
 * pointers less aligned than the alignment the heuristic was asked for. */
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <stdio.h>
#include <string.h>

#include <vector>

#include "tests/cuda_emu/emu.h"

namespace {
struct layout {
    cudaDataType_t type;
    uint64_t rows, cols;
    int64_t ld;
};
struct desc {
    cublasComputeType_t compute;
    cudaDataType_t scale;
    cublasOperation_t ta, tb;
};
struct pref {
    uint64_t ws;
    uint32_t align[4]; /* A, B, C, D */
};
struct algo {
    uint32_t magic;
    uint32_t align[4];
};
const uint32_t kAlgoMagic = 0x454d554cu; /* "EMUL" */
static_assert(sizeof(layout) <= sizeof(cublasLtMatrixLayoutOpaque_t), "layout");
static_assert(sizeof(desc) <= sizeof(cublasLtMatmulDescOpaque_t), "desc");
static_assert(sizeof(pref) <= sizeof(cublasLtMatmulPreferenceOpaque_t), "pref");
static_assert(sizeof(algo) <= sizeof(cublasLtMatmulAlgo_t), "algo");

cublasStatus_t refuse(const char *why) {
    fprintf(stderr, "cuda-emu cuBLASLt: %s\n", why);
    return CUBLAS_STATUS_INVALID_VALUE;
}
bool type_ok(cudaDataType_t t) { return t == CUDA_R_16BF || t == CUDA_R_32F; }
size_t type_bytes(cudaDataType_t t) { return t == CUDA_R_16BF ? 2 : 4; }
float load(const void *p, cudaDataType_t t, size_t i) {
    if (t == CUDA_R_16BF) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    return ((const float *)p)[i];
}
void store(void *p, cudaDataType_t t, size_t i, float v) {
    if (t == CUDA_R_16BF) ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
    else ((float *)p)[i] = v;
}
/* f32 -> TF32 (8-bit exponent, 10-bit mantissa): round to nearest, ties away from zero, as the
 * conversion PTX cvt.rna.tf32.f32 does; inf and NaN kept */
float to_tf32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    memcpy(&x, &u, sizeof x);
    return x;
}
/* the m, n, k of the product, or a reason it is not one */
const char *shape_check(const desc *d, const layout *a, const layout *b, const layout *c, const layout *dd,
                        uint64_t *m, uint64_t *n, uint64_t *k) {
    const uint64_t am = d->ta == CUBLAS_OP_N ? a->rows : a->cols, ak = d->ta == CUBLAS_OP_N ? a->cols : a->rows;
    const uint64_t bk = d->tb == CUBLAS_OP_N ? b->rows : b->cols, bn = d->tb == CUBLAS_OP_N ? b->cols : b->rows;
    if (ak != bk) return "op(A) and op(B) disagree on k";
    if (c->rows != am || c->cols != bn || dd->rows != am || dd->cols != bn) return "C or D is not m x n";
    if (!type_ok(a->type) || !type_ok(b->type) || !type_ok(c->type) || !type_ok(dd->type))
        return "matrix type not bf16 or f32";
    if ((d->compute != CUBLAS_COMPUTE_32F && d->compute != CUBLAS_COMPUTE_32F_FAST_TF32) || d->scale != CUDA_R_32F)
        return "compute or scale type not f32 (or f32 with TF32 inputs)";
    if (d->compute == CUBLAS_COMPUTE_32F_FAST_TF32 && (a->type != CUDA_R_32F || b->type != CUDA_R_32F))
        return "TF32 compute on inputs that are not f32";
    const layout *all[4] = {a, b, c, dd};
    for (const layout *l : all)
        if (l->ld < (int64_t)(l->rows ? l->rows : 1)) return "leading dimension under the rows";
    *m = am, *n = bn, *k = ak;
    return nullptr;
}
} // namespace

extern "C" {

size_t cublasLtGetVersion(void) { return CUBLAS_VERSION; }

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) {
    static int handle_storage;
    *h = (cublasLtHandle_t)&handle_storage;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) { return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED; }

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *out, cublasComputeType_t compute, cudaDataType_t scale) {
    auto *o = new cublasLtMatmulDescOpaque_t();
    desc *d = (desc *)o;
    d->compute = compute, d->scale = scale, d->ta = d->tb = CUBLAS_OP_N;
    *out = o;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
    delete d;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t o, cublasLtMatmulDescAttributes_t attr,
                                              const void *buf, size_t size) {
    desc *d = (desc *)o;
    if (attr == CUBLASLT_MATMUL_DESC_TRANSA || attr == CUBLASLT_MATMUL_DESC_TRANSB) {
        if (size != sizeof(cublasOperation_t)) return refuse("transpose attribute of the wrong size");
        cublasOperation_t op;
        memcpy(&op, buf, sizeof op);
        if (op != CUBLAS_OP_N && op != CUBLAS_OP_T) return refuse("only CUBLAS_OP_N / CUBLAS_OP_T are emulated");
        (attr == CUBLASLT_MATMUL_DESC_TRANSA ? d->ta : d->tb) = op;
        return CUBLAS_STATUS_SUCCESS;
    }
    fprintf(stderr, "cuda-emu cuBLASLt: matmul attribute %d is not emulated\n", (int)attr);
    return CUBLAS_STATUS_NOT_SUPPORTED;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *out, cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
    auto *o = new cublasLtMatrixLayoutOpaque_t();
    layout *l = (layout *)o;
    l->type = type, l->rows = rows, l->cols = cols, l->ld = ld;
    *out = o;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
    delete l;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *out) {
    auto *o = new cublasLtMatmulPreferenceOpaque_t();
    pref *p = (pref *)o;
    for (int i = 0; i < 4; i++) p->align[i] = 256; /* cuBLASLt's default: assume 256-byte alignment */
    *out = o;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
    delete p;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t o,
                                                    cublasLtMatmulPreferenceAttributes_t attr, const void *buf,
                                                    size_t size) {
    pref *p = (pref *)o;
    int which = -1;
    switch (attr) {
    case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
        if (size != sizeof(uint64_t)) return refuse("workspace preference of the wrong size");
        memcpy(&p->ws, buf, sizeof p->ws);
        return CUBLAS_STATUS_SUCCESS;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES: which = 0; break;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES: which = 1; break;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES: which = 2; break;
    case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES: which = 3; break;
    default: fprintf(stderr, "cuda-emu cuBLASLt: preference %d is not emulated\n", (int)attr); return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (size != sizeof(uint32_t)) return refuse("alignment preference of the wrong size");
    memcpy(&p->align[which], buf, sizeof(uint32_t));
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t op, cublasLtMatrixLayout_t a,
                                              cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                                              cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t pr, int requested,
                                              cublasLtMatmulHeuristicResult_t results[], int *returned) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    uint64_t m, n, k;
    *returned = 0;
    if (requested < 1) return refuse("requested algorithm count < 1");
    const char *why = shape_check((desc *)op, (layout *)a, (layout *)b, (layout *)c, (layout *)d, &m, &n, &k);
    if (why) return refuse(why);
    memset(&results[0], 0, sizeof results[0]);
    algo *al = (algo *)&results[0].algo;
    al->magic = kAlgoMagic;
    memcpy(al->align, ((pref *)pr)->align, sizeof al->align);
    results[0].state = CUBLAS_STATUS_SUCCESS;
    results[0].wavesCount = 1.0f;
    *returned = 1;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t op, const void *alpha, const void *A,
                              cublasLtMatrixLayout_t Adesc, const void *B, cublasLtMatrixLayout_t Bdesc,
                              const void *beta, const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
                              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *alg, void *ws,
                              size_t ws_bytes, cudaStream_t stream) {
    (void)ws, (void)ws_bytes;
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    uint64_t m, n, k;
    const desc dsc = *(desc *)op;
    const layout la = *(layout *)Adesc, lb = *(layout *)Bdesc, lc = *(layout *)Cdesc, ld = *(layout *)Ddesc;
    const char *why = shape_check(&dsc, &la, &lb, &lc, &ld, &m, &n, &k);
    if (why) return refuse(why);
    if (!alg || ((const algo *)alg)->magic != kAlgoMagic) return refuse("no algorithm from cublasLtMatmulAlgoGetHeuristic");
    const void *ptrs[4] = {A, B, C, D};
    for (int i = 0; i < 4; i++) {
        const uint32_t want = ((const algo *)alg)->align[i];
        if (want && ((uintptr_t)ptrs[i] % want) != 0) {
            fprintf(stderr, "cuda-emu cuBLASLt: matrix %c at %p is not %u-byte aligned, as its algorithm assumes\n",
                    "ABCD"[i], ptrs[i], want);
            return CUBLAS_STATUS_INVALID_VALUE;
        }
    }
    float al, be;
    memcpy(&al, alpha, sizeof al);
    memcpy(&be, beta, sizeof be);
    const cudaError_t e = cosmos_emu::enqueue(stream, [=]() {
        std::vector<float> opa(m * k), opb(n * k); /* op(A) row i, op(B) column j: contiguous over k */
        for (uint64_t i = 0; i < m; i++)
            for (uint64_t l = 0; l < k; l++)
                opa[i * k + l] = load(A, la.type, dsc.ta == CUBLAS_OP_N ? i + l * la.ld : l + i * la.ld);
        for (uint64_t j = 0; j < n; j++)
            for (uint64_t l = 0; l < k; l++)
                opb[j * k + l] = load(B, lb.type, dsc.tb == CUBLAS_OP_N ? l + j * lb.ld : j + l * lb.ld);
        if (dsc.compute == CUBLAS_COMPUTE_32F_FAST_TF32) { /* the inputs as TF32 (cvt.rna.tf32.f32) */
            for (float &x : opa) x = to_tf32(x);
            for (float &x : opb) x = to_tf32(x);
        }
        for (uint64_t j = 0; j < n; j++)
            for (uint64_t i = 0; i < m; i++) {
                float acc = 0.0f;
                const float *pa = &opa[i * k], *pb = &opb[j * k];
                for (uint64_t l = 0; l < k; l++) acc += pa[l] * pb[l];
                float v = al * acc;
                if (be != 0.0f) v += be * load(C, lc.type, i + j * lc.ld);
                store(D, ld.type, i + j * ld.ld, v);
            }
    });
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

} /* extern "C" */
