/* CPU kernels against naive double-precision loops: the threaded sgemm (every transpose, strided
 * operands, beta, splits by rows and by columns: equal to one single-threaded sgemm and to the
 * double loop), matmul (both the GEMV decode path and the sgemm prefill path, awkward sizes), attention (causal with an offset, GQA, cross), RMSNorm, RoPE,
 * and the backend dispatchers' shape checks. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/rng.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_sgemm.h"

static float rnd(uint64_t stream, uint64_t i) { return cosmos_rng_normal(77, stream, i); }

static void fill(float *x, int64_t n, uint64_t stream) {
    for (int64_t i = 0; i < n; i++) x[i] = rnd(stream, (uint64_t)i);
}
static void fill_bf16(cosmos_bf16 *x, int64_t n, uint64_t stream, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = cosmos_f32_to_bf16(scale * rnd(stream, (uint64_t)i));
}

static void check_matmul(int64_t M, int64_t N, int64_t K) {
    float *x = malloc(sizeof(float) * (size_t)(M * K)), *y = malloc(sizeof(float) * (size_t)(M * N));
    cosmos_bf16 *w = malloc(sizeof(cosmos_bf16) * (size_t)(N * K));
    fill(x, M * K, 1);
    fill_bf16(w, N * K, 2, 1.0f / sqrtf((float)K));
    cr_assert_eq(cosmos_cpu_matmul(y, x, w, M, N, K), COSMOS_OK);
    double max_err = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)x[m * K + k] * cosmos_bf16_to_f32(w[n * K + k]);
            double e = fabs(s - y[m * N + n]);
            if (e > max_err) max_err = e;
        }
    cr_expect(max_err < 1e-5 * sqrt((double)K), "matmul M=%lld N=%lld K=%lld: max err %g", (long long)M,
              (long long)N, (long long)K, max_err);
    free(x);
    free(y);
    free(w);
}

Test(kernels, matmul_gemv_and_gemm_paths) {
    check_matmul(1, 1, 1);
    check_matmul(1, 257, 129);
    check_matmul(3, 100, 513);
    check_matmul(4, 64, 64);
    check_matmul(5, 33, 77);      /* first sgemm size */
    check_matmul(37, 1000, 300);  /* odd sizes, one f32 weight block */
    check_matmul(64, 40000, 70);  /* 40000*70*4 > 8 MB: more than one f32 weight block */
}

/* The prefill matmul (M > 4) gives the same bits on 1, 2 and 3 threads, and the same bits as one
 * whole OpenBLAS sgemm of the widened weights: shapes with one block, several blocks (per-thread
 * path on 2 and 3 threads), a last block narrower than the others and K above 32768 (T5-11B's
 * feed-forward output, K = 65536, where blocks are BLOCK_MIN_ROWS wide). */
Test(kernels, matmul_thread_invariant) {
    const int64_t shapes[][3] = {{6, 300, 40000}, {64, 40000, 70}, {5, 4096, 1024}, {300, 1000, 1100}, {17, 5000, 520}};
    const int saved = omp_get_max_threads();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *x = malloc(sizeof(float) * (size_t)(M * K)), *wf = malloc(sizeof(float) * (size_t)(N * K));
        float *ref = malloc(sizeof(float) * (size_t)(M * N)), *y = malloc(sizeof(float) * (size_t)(M * N));
        cosmos_bf16 *w = malloc(sizeof(cosmos_bf16) * (size_t)(N * K));
        fill(x, M * K, 3);
        fill_bf16(w, N * K, 4, 1.0f / sqrtf((float)K));
        for (int64_t i = 0; i < N * K; i++) wf[i] = cosmos_bf16_to_f32(w[i]);
        cosmos_cpu_blas_single_threaded();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, x, (int)K, wf, (int)K, 0.0f,
                    ref, (int)N);
        for (int t = 1; t <= 3; t++) {
            omp_set_num_threads(t);
            memset(y, 0xff, sizeof(float) * (size_t)(M * N)); /* NaN: a row left unwritten shows */
            cr_assert_eq(cosmos_cpu_matmul(y, x, w, M, N, K), COSMOS_OK);
            cr_expect_eq(memcmp(y, ref, sizeof(float) * (size_t)(M * N)), 0,
                         "matmul M=%lld N=%lld K=%lld on %d threads differs from one whole sgemm", (long long)M,
                         (long long)N, (long long)K, t);
        }
        free(x), free(wf), free(ref), free(y), free(w);
    }
    omp_set_num_threads(saved);
}

static void naive_attention(double *out, const float *q, const float *k, const float *v, int64_t T, int64_t H,
                            int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0, int causal) {
    const int64_t rep = H / Hkv;
    double *p = malloc(sizeof(double) * (size_t)S);
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++) {
            int64_t nk = causal ? pos0 + t + 1 : S, g = h / rep;
            double mx = -1e300, sum = 0;
            for (int64_t j = 0; j < nk; j++) {
                double s = 0;
                for (int64_t d = 0; d < Dh; d++) s += (double)q[(t * H + h) * Dh + d] * k[(j * Hkv + g) * Dh + d];
                p[j] = s / sqrt((double)Dh);
                if (p[j] > mx) mx = p[j];
            }
            for (int64_t j = 0; j < nk; j++) sum += p[j] = exp(p[j] - mx);
            for (int64_t d = 0; d < Dh; d++) {
                double o = 0;
                for (int64_t j = 0; j < nk; j++) o += p[j] / sum * v[(j * Hkv + g) * Dh + d];
                out[(t * H + h) * Dh + d] = o;
            }
        }
    free(p);
}

static void check_attention(int64_t T, int64_t H, int64_t Hkv, int64_t Dh, int64_t S, int64_t pos0, int causal) {
    float *q = malloc(sizeof(float) * (size_t)(T * H * Dh)), *o = malloc(sizeof(float) * (size_t)(T * H * Dh));
    float *k = malloc(sizeof(float) * (size_t)(S * Hkv * Dh)), *v = malloc(sizeof(float) * (size_t)(S * Hkv * Dh));
    double *ref = malloc(sizeof(double) * (size_t)(T * H * Dh));
    fill(q, T * H * Dh, 3);
    fill(k, S * Hkv * Dh, 4);
    fill(v, S * Hkv * Dh, 5);
    /* poison the cache beyond the last visible position: it must never be read */
    if (causal)
        for (int64_t i = (pos0 + T) * Hkv * Dh; i < S * Hkv * Dh; i++) k[i] = v[i] = NAN;
    cr_assert_eq(cosmos_cpu_attention(o, q, k, v, COSMOS_F32, T, H, Hkv, Dh, S, pos0, causal), COSMOS_OK);
    naive_attention(ref, q, k, v, T, H, Hkv, Dh, S, pos0, causal);
    double max_err = 0;
    for (int64_t i = 0; i < T * H * Dh; i++) max_err = fmax(max_err, fabs(ref[i] - o[i]));
    /* the same with a bf16 cache: compare against the naive loop on the bf16-rounded values */
    const int64_t nkv = causal ? (pos0 + T) * Hkv * Dh : S * Hkv * Dh;
    cosmos_bf16 *kb = calloc((size_t)(S * Hkv * Dh), sizeof *kb), *vb = calloc((size_t)(S * Hkv * Dh), sizeof *vb);
    for (int64_t i = 0; i < nkv; i++) {
        kb[i] = cosmos_f32_to_bf16(k[i]);
        vb[i] = cosmos_f32_to_bf16(v[i]);
        k[i] = cosmos_bf16_to_f32(kb[i]);
        v[i] = cosmos_bf16_to_f32(vb[i]);
    }
    cr_assert_eq(cosmos_cpu_attention(o, q, kb, vb, COSMOS_BF16, T, H, Hkv, Dh, S, pos0, causal), COSMOS_OK);
    naive_attention(ref, q, k, v, T, H, Hkv, Dh, S, pos0, causal);
    for (int64_t i = 0; i < T * H * Dh; i++) max_err = fmax(max_err, fabs(ref[i] - o[i]));
    free(kb);
    free(vb);
    cr_expect(max_err < 1e-5, "attention T=%lld H=%lld Hkv=%lld Dh=%lld S=%lld pos0=%lld causal=%d: err %g",
              (long long)T, (long long)H, (long long)Hkv, (long long)Dh, (long long)S, (long long)pos0, causal,
              max_err);
    free(q);
    free(o);
    free(k);
    free(v);
    free(ref);
}

Test(kernels, attention_causal_decode_cross) {
    check_attention(1, 4, 4, 8, 16, 0, 1);    /* first token */
    check_attention(1, 8, 2, 32, 100, 98, 1); /* decode near the end of the cache */
    check_attention(13, 4, 2, 32, 64, 20, 1); /* chunk at an offset, GQA 2 */
    check_attention(7, 6, 3, 6, 7, 0, 1);     /* odd sizes */
    check_attention(5, 4, 1, 16, 11, 0, 0);   /* cross-attention: all keys */
    /* decode with few (token, group) items: the keys are split into blocks merged at the end
     * (with OMP_NUM_THREADS=2 as CTest sets it) */
    check_attention(1, 4, 1, 32, 1500, 1400, 1);
    check_attention(1, 8, 1, 16, 3000, 2999, 1);
    check_attention(1, 4, 1, 16, 1100, 0, 0);   /* non-causal over a long context */
    check_attention(2, 4, 1, 16, 1200, 1100, 1); /* two tokens */
    /* the tiles of the decode kernel: 4 heads x 2 keys for the scores, 8 keys for the V sum, with
     * the leftovers (rep 3 and 6, Dh not a multiple of 8, odd key counts), and real model shapes */
    check_attention(1, 8, 2, 128, 4200, 4150, 1); /* bench-ar-4b-narrow at a long position */
    check_attention(1, 32, 8, 128, 700, 620, 1);  /* the 4B / 5B heads */
    check_attention(3, 6, 2, 8, 300, 201, 1);     /* rep 3: no 4-head tile */
    check_attention(1, 12, 2, 20, 999, 998, 1);   /* rep 6: a tile and two heads left; Dh 20 */
    check_attention(4, 8, 1, 24, 77, 0, 0);       /* rep 8, non-causal, keys not a multiple of 8 */
    /* chunks of 16 or more queries: the sgemm kernel (attention_gemm.c) */
    check_attention(16, 4, 2, 32, 64, 0, 1);      /* the first chunk */
    check_attention(40, 8, 2, 32, 200, 100, 1);   /* a chunk at an offset */
    check_attention(70, 6, 3, 20, 500, 430, 1);   /* two query blocks, the second partial; rep 2 */
    check_attention(130, 4, 1, 16, 700, 0, 0);    /* cross-attention over all keys; three blocks */
    check_attention(200, 4, 4, 8, 200, 0, 1);     /* a whole prompt, MHA */
}

/* Non-finite inputs behave as in the naive softmax: a key scored -inf gets weight 0; a NaN in a K
 * or V row makes the outputs of its KV head's query heads NaN (the other heads stay finite). */
Test(kernels, attention_nonfinite) {
    enum { T = 1, H = 8, Hkv = 2, Dh = 32, S = 600, P = 599 };
    float *q = malloc(sizeof(float) * T * H * Dh), *o = malloc(sizeof(float) * T * H * Dh);
    float *k = malloc(sizeof(float) * S * Hkv * Dh), *v = malloc(sizeof(float) * S * Hkv * Dh);
    double *ref = malloc(sizeof(double) * T * H * Dh);
    fill(q, T * H * Dh, 3);
    fill(k, S * Hkv * Dh, 4);
    fill(v, S * Hkv * Dh, 5);
    for (int h = 0; h < H; h++) q[h * Dh] = 1.0f;
    k[(300 * Hkv + 1) * Dh] = -INFINITY; /* key 300 of KV head 1 scores -inf for heads 4..7 */
    cr_assert_eq(cosmos_cpu_attention(o, q, k, v, COSMOS_F32, T, H, Hkv, Dh, S, P, 1), COSMOS_OK);
    naive_attention(ref, q, k, v, T, H, Hkv, Dh, S, P, 1);
    double max_err = 0;
    for (int i = 0; i < T * H * Dh; i++) max_err = fmax(max_err, fabs(ref[i] - o[i]));
    cr_expect(max_err < 1e-5, "a key scored -inf: err %g", max_err);
    k[(100 * Hkv + 0) * Dh + 5] = -NAN; /* KV head 0: heads 0..3 (sign bit set, as x86 makes NaNs) */
    v[(500 * Hkv + 1) * Dh + 7] = NAN; /* KV head 1: heads 4..7, through the V sum only (dim 7) */
    cr_assert_eq(cosmos_cpu_attention(o, q, k, v, COSMOS_F32, T, H, Hkv, Dh, S, P, 1), COSMOS_OK);
    for (int h = 0; h < 4; h++) cr_expect(isnan(o[h * Dh + 3]), "head %d: a NaN key must give NaN", h);
    for (int h = 4; h < H; h++) {
        cr_expect(isnan(o[h * Dh + 7]), "head %d: a NaN value must give NaN", h);
        cr_expect(isfinite(o[h * Dh + 6]), "head %d: other dims stay finite", h);
    }
    free(q);
    free(o);
    free(k);
    free(v);
    free(ref);
}

/* The sgemm kernel of a chunk: a NaN in a key or value a row must not see (a later token of the
 * same chunk) stays out of that row; the rows that see it get NaN as the naive
 * softmax does; the result does not depend on the thread count. */
Test(kernels, attention_chunk_masking_and_threads) {
    enum { T = 100, H = 4, Hkv = 2, Dh = 16, P0 = 10, S = P0 + T };
    float *q = malloc(sizeof(float) * T * H * Dh), *o = malloc(sizeof(float) * T * H * Dh);
    float *o2 = malloc(sizeof(float) * T * H * Dh);
    float *k = malloc(sizeof(float) * S * Hkv * Dh), *v = malloc(sizeof(float) * S * Hkv * Dh);
    fill(q, T * H * Dh, 6);
    fill(k, S * Hkv * Dh, 7);
    fill(v, S * Hkv * Dh, 8);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    cr_assert_eq(cosmos_cpu_attention(o, q, k, v, COSMOS_F32, T, H, Hkv, Dh, S, P0, 1), COSMOS_OK);
    for (int t = 2; t <= 3; t++) {
        omp_set_num_threads(t);
        cr_assert_eq(cosmos_cpu_attention(o2, q, k, v, COSMOS_F32, T, H, Hkv, Dh, S, P0, 1), COSMOS_OK);
        cr_expect_eq(memcmp(o, o2, sizeof(float) * T * H * Dh), 0, "chunk attention on %d threads differs", t);
    }
    omp_set_num_threads(saved);
    v[((P0 + 30) * Hkv + 1) * Dh + 3] = NAN;       /* token 30's value, KV head 1 (heads 2, 3), dim 3 */
    k[((P0 + 70) * Hkv + 0) * Dh + 5] = -NAN;     /* token 70's key, KV head 0 (heads 0, 1) */
    cr_assert_eq(cosmos_cpu_attention(o, q, k, v, COSMOS_F32, T, H, Hkv, Dh, S, P0, 1), COSMOS_OK);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int d = 0; d < Dh; d++) {
                const float x = o[(t * H + h) * Dh + d];
                const int nan_v = h >= 2 && d == 3 && t >= 30, nan_k = h < 2 && t >= 70;
                if (nan_v || nan_k)
                    cr_expect(isnan(x), "token %d head %d dim %d: %g, expected NaN", t, h, d, (double)x);
                else
                    cr_expect(isfinite(x), "token %d head %d dim %d: %g, expected a number", t, h, d, (double)x);
            }
    free(q), free(o), free(o2), free(k), free(v);
}

/* The softmax's exp: within about 1 ulp of exp() wherever e^x is a normal float (checked on a
 * sample of the floats in [-87.3, 0]), 0 below, exactly 1 at 0. */
Test(kernels, attention_exp) {
    cr_expect_eq(cosmos_cpu_attn_expf(0.0f), 1.0f);
    cr_expect_eq(cosmos_cpu_attn_expf(-0.0f), 1.0f);
    cr_expect_eq(cosmos_cpu_attn_expf(-88.0f), 0.0f);
    cr_expect_eq(cosmos_cpu_attn_expf(-1e30f), 0.0f);
    cr_expect_eq(cosmos_cpu_attn_expf(-INFINITY), 0.0f);
    double max_ulp = 0;
    float worst = 0;
    /* negative floats in order of magnitude: bit patterns from 0x80000000 up; every 97th */
    for (uint32_t u = 0x80000000u; u < 0xC2AE999Au; u += 97) { /* 0xC2AE999A: -87.3f */
        float x;
        memcpy(&x, &u, sizeof x);
        const double e = exp((double)x), ulp = ldexp(1.0, ilogb(e) - 23);
        const double err = fabs((double)cosmos_cpu_attn_expf(x) - e) / ulp;
        if (err > max_ulp) max_ulp = err, worst = x;
    }
    cr_expect(max_ulp < 1.05, "attn_expf: %g ulp at x = %g", max_ulp, (double)worst);
}

/* gelu_pytorch_tanh in double: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), written as
 * x / (1 + e^(-2u)) (the same value; 1 + tanh(u) would cancel in double too once u < -19). */
static double gelu_tanh_ref(double x) {
    const double u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * u));
}

/* SigLIP's GELU on a sample of all floats: within 4 (1 + 2|u|) ulp of the double-precision value
 * where that and e^(-2|u|) are normal floats (the 2|u| is the conditioning of e^(-2u) on the float
 * u), within 2^-122 where they are not (x below about -9.9: the exp flushes to 0). The old
 * 0.5 x (1 + tanhf(u)) form loses all digits in the negative tail, which the loop also measures:
 * the new form must beat it there. +inf, NaN rules; in place. */
Test(kernels, gelu_tanh) {
    enum { N = 4096 };
    static float x[N], y[N];
    double max_ulp = 0, old_tail = 0, new_tail = 0;
    float worst = 0;
    for (uint32_t base = 0; base < 0xFF800000u; base += N * 131u) {
        int n = 0;
        for (; n < N; n++) {
            const uint32_t u = base + (uint32_t)n * 131u;
            if (u >= 0xFF800000u || (u >= 0x7F800000u && u < 0x80000000u)) break;
            memcpy(&x[n], &u, sizeof x[n]);
        }
        cosmos_cpu_gelu_tanh(y, x, n);
        for (int i = 0; i < n; i++) {
            const double e = gelu_tanh_ref(x[i]), u = 0.7978845608028654 * (x[i] + 0.044715 * x[i] * x[i] * x[i]);
            if (!isfinite(e) || fabs(e) > 0x1p127) continue;
            if (-2.0 * fabs(u) < -87.3 || fabs(e) < 0x1p-126) { /* e^(-2|u|) or the result below normal floats */
                if (!(fabs((double)y[i] - e) <= 0x1p-122)) max_ulp = INFINITY, worst = x[i];
                continue;
            }
            /* u is rounded to float (as PyTorch's is): e^(-2u) then carries about 2|u| times u's
             * relative error, so the bound grows with |u| */
            const double ulp = ldexp(1.0, ilogb(e) - 23), err = fabs((double)y[i] - e) / ulp / (1.0 + 2.0 * fabs(u));
            if (err > max_ulp) max_ulp = err, worst = x[i];
            if (x[i] < -3.0f) { /* the negative tail: relative errors, new and old form */
                const float v = x[i], uu = 0.7978845608028654f * (v + 0.044715f * v * v * v);
                const double old = 0.5f * v * (1.0f + tanhf(uu));
                old_tail = fmax(old_tail, fabs(old - e) / fabs(e));
                new_tail = fmax(new_tail, fabs((double)y[i] - e) / fabs(e));
            }
        }
    }
    cr_log_info("gelu_tanh: max %g ulp / (1 + 2|u|) (at %g); negative tail: %g relative (tanhf form %g)", max_ulp,
                (double)worst, new_tail, old_tail);
    cr_expect(max_ulp <= 4.0, "gelu_tanh: %g ulp / (1 + 2|u|) at x = %g", max_ulp, (double)worst);
    cr_expect(new_tail < 1e-4 && old_tail > 0.5, "negative tail: %g relative (tanhf form %g)", new_tail, old_tail);
    float z[5] = {INFINITY, -INFINITY, NAN, 0.0f, 1.0f};
    cosmos_cpu_gelu_tanh(z, z, 5); /* in place */
    cr_expect(isinf(z[0]) && z[0] > 0, "gelu(+inf) = %g", (double)z[0]);
    cr_expect(isnan(z[1]), "gelu(-inf) = %g (0.5 x (1 + tanh(u)) gives NaN)", (double)z[1]);
    cr_expect(isnan(z[2]), "gelu(NaN) = %g", (double)z[2]);
    cr_expect(z[3] == 0.0f, "gelu(0) = %g", (double)z[3]);
    cr_expect(fabs(z[4] - gelu_tanh_ref(1.0)) <= 2e-7, "gelu(1) = %.9g", (double)z[4]);
}

Test(kernels, rmsnorm_and_rope) {
    enum { R = 5, D = 48 };
    float x[R * D], y[R * D];
    cosmos_bf16 w[D];
    fill(x, R * D, 6);
    fill_bf16(w, D, 7, 1.0f);
    cosmos_cpu_rmsnorm(y, x, w, R, D, 1e-5f);
    for (int r = 0; r < R; r++) {
        double ss = 0;
        for (int i = 0; i < D; i++) ss += (double)x[r * D + i] * x[r * D + i];
        double inv = 1.0 / sqrt(ss / D + 1e-5);
        for (int i = 0; i < D; i++)
            cr_expect(fabs(y[r * D + i] - x[r * D + i] * inv * cosmos_bf16_to_f32(w[i])) < 1e-5);
    }
    /* RoPE with a table of angles a: pairs (i, i + Dh/2) rotate by a[i] */
    enum { T = 3, H = 2, Dh = 8, S = 6 };
    float v[T * H * Dh], v0[T * H * Dh], cs[S * Dh / 2], sn[S * Dh / 2];
    fill(v, T * H * Dh, 8);
    for (int i = 0; i < T * H * Dh; i++) v0[i] = v[i];
    for (int i = 0; i < S * Dh / 2; i++) {
        cs[i] = cosf(0.1f * (float)i);
        sn[i] = sinf(0.1f * (float)i);
    }
    cosmos_cpu_rope(v, cs, sn, T, H, Dh, 2);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Dh / 2; i++) {
                const float *a = v0 + (t * H + h) * Dh;
                float c = cs[(2 + t) * Dh / 2 + i], s = sn[(2 + t) * Dh / 2 + i];
                cr_expect(fabs(v[(t * H + h) * Dh + i] - (a[i] * c - a[i + Dh / 2] * s)) < 1e-6);
                cr_expect(fabs(v[(t * H + h) * Dh + i + Dh / 2] - (a[i + Dh / 2] * c + a[i] * s)) < 1e-6);
            }
}

Test(kernels, dispatchers_reject_bad_shapes) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    float x[64], y[64];
    cosmos_bf16 w[64];
    cr_expect_eq(cosmos_op_matmul(be, cosmos_tensor_2d(y, COSMOS_F32, 2, 4), cosmos_tensor_2d(x, COSMOS_F32, 2, 8),
                                  cosmos_tensor_2d(w, COSMOS_BF16, 4, 7)),
                 COSMOS_ERR_INVALID_ARG, "in-features mismatch");
    cr_expect_eq(cosmos_op_matmul(be, cosmos_tensor_2d(y, COSMOS_F32, 2, 4), cosmos_tensor_2d(x, COSMOS_F32, 2, 8),
                                  cosmos_tensor_2d(w, COSMOS_BF16, 4, 8)),
                 COSMOS_OK);
    cr_expect_eq(cosmos_op_attention(be, cosmos_tensor_3d(y, COSMOS_F32, 2, 3, 4), cosmos_tensor_3d(x, COSMOS_F32, 2, 3, 4),
                                     cosmos_tensor_3d(x, COSMOS_F32, 4, 2, 4), cosmos_tensor_3d(y, COSMOS_F32, 4, 2, 4),
                                     0, 1),
                 COSMOS_ERR_INVALID_ARG, "3 heads over 2 KV heads");
    /* reservations: nothing to reserve on the CPU, but the shapes are still checked */
    cr_expect_eq(cosmos_backend_reserve_attention(be, 4, 8, 2, 16, 512, 1), COSMOS_OK);
    cr_expect_eq(cosmos_backend_reserve_attention(be, 4, 3, 2, 16, 512, 1), COSMOS_ERR_INVALID_ARG, "3 heads over 2");
    cr_expect_eq(cosmos_backend_reserve_attention(be, 0, 8, 2, 16, 512, 0), COSMOS_ERR_INVALID_ARG, "T_max 0");
    cr_expect_eq(cosmos_backend_reserve_sampler(be, 64000), COSMOS_OK);
    cr_expect_eq(cosmos_backend_reserve_sampler(be, 0), COSMOS_ERR_INVALID_ARG, "vocab 0");
    cosmos_backend_t *cuda = NULL;
    cr_expect_eq(cosmos_backend_create("cuda:0", NULL, &cuda), COSMOS_ERR_UNSUPPORTED,
                 "a CPU-only build says the CUDA backend is unsupported");
    cr_expect_eq(cosmos_backend_create("tpu", NULL, &cuda), COSMOS_ERR_INVALID_ARG);
    cosmos_backend_free(be);
}

/* matmul_add and matmul_swiglu on a backend without the fusion: exactly matmul then add / silu_mul
 * (bit for bit), y aliasing a; mis-shaped operands are refused before anything is computed. */
Test(kernels, fused_matmul_ops_compose) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    enum { M = 3, N = 5, K = 16 };
    float x[M * K], a[M * N], y[M * N], t[2 * M * N], want[M * N], h1[M * N], h3[M * N];
    cosmos_bf16 w[2 * N * K];
    for (int i = 0; i < M * K; i++) x[i] = cosmos_round_bf16(sinf(0.37f * (float)i));
    for (int i = 0; i < 2 * N * K; i++) w[i] = cosmos_f32_to_bf16(0.3f * cosf(0.11f * (float)i));
    for (int i = 0; i < M * N; i++) a[i] = y[i] = 0.5f * (float)(i % 7) - 1.0f;
    const struct cosmos_tensor tx = cosmos_tensor_2d(x, COSMOS_F32, M, K), tw1 = cosmos_tensor_2d(w, COSMOS_BF16, N, K),
                               tw3 = cosmos_tensor_2d(w + N * K, COSMOS_BF16, N, K),
                               tw13 = cosmos_tensor_2d(w, COSMOS_BF16, 2 * N, K), ty = cosmos_tensor_2d(y, COSMOS_F32, M, N),
                               tt = cosmos_tensor_2d(t, COSMOS_F32, M, N), tt2 = cosmos_tensor_2d(t, COSMOS_F32, 2 * M, N);
    cr_assert_eq(cosmos_op_matmul(be, cosmos_tensor_2d(want, COSMOS_F32, M, N), tx, tw1), COSMOS_OK);
    cr_assert_eq(cosmos_op_add(be, cosmos_tensor_2d(want, COSMOS_F32, M, N), cosmos_tensor_2d(a, COSMOS_F32, M, N),
                               cosmos_tensor_2d(want, COSMOS_F32, M, N)),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_matmul_add(be, ty, ty, tx, tw1, tt), COSMOS_OK);
    cr_expect(memcmp(y, want, sizeof y) == 0, "matmul_add differs from matmul then add");
    cr_assert_eq(cosmos_op_matmul(be, cosmos_tensor_2d(h1, COSMOS_F32, M, N), tx, tw1), COSMOS_OK);
    cr_assert_eq(cosmos_op_matmul(be, cosmos_tensor_2d(h3, COSMOS_F32, M, N), tx, tw3), COSMOS_OK);
    cr_assert_eq(cosmos_op_silu_mul(be, cosmos_tensor_2d(want, COSMOS_F32, M, N), cosmos_tensor_2d(h1, COSMOS_F32, M, N),
                                    cosmos_tensor_2d(h3, COSMOS_F32, M, N)),
                 COSMOS_OK);
    cr_assert_eq(cosmos_op_matmul_swiglu(be, ty, tx, tw13, tt2), COSMOS_OK);
    cr_expect(memcmp(y, want, sizeof y) == 0, "matmul_swiglu differs from two matmuls then silu_mul");
    memcpy(want, y, sizeof y);
    cr_expect_eq(cosmos_op_matmul_add(be, ty, ty, tx, tw1, cosmos_tensor_2d(t, COSMOS_F32, M, N - 1)),
                 COSMOS_ERR_INVALID_ARG, "tmp of the wrong size");
    cr_expect_eq(cosmos_op_matmul_add(be, ty, ty, tx, cosmos_tensor_2d(w, COSMOS_BF16, N, K - 1), tt),
                 COSMOS_ERR_INVALID_ARG, "in-features mismatch");
    cr_expect_eq(cosmos_op_matmul_swiglu(be, ty, tx, cosmos_tensor_2d(w, COSMOS_BF16, 2 * N - 1, K), tt2),
                 COSMOS_ERR_INVALID_ARG, "an odd number of w1|w3 rows");
    cr_expect_eq(cosmos_op_matmul_swiglu(be, ty, tx, tw13, tt), COSMOS_ERR_INVALID_ARG, "h13 of one half");
    cr_expect_eq(cosmos_op_matmul_swiglu(be, cosmos_tensor_2d(y, COSMOS_F32, M, N - 1), tx, tw13, tt2),
                 COSMOS_ERR_INVALID_ARG, "h of the wrong width");
    cr_expect(memcmp(y, want, sizeof y) == 0, "a refused call wrote its output");
    cosmos_backend_free(be);
}

/* add_rows_rmsnorm on a backend without the fusion: add_rows then rmsnorm; y may not be x. */
Test(kernels, add_rows_rmsnorm_composes) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    enum { T = 3, D = 10, S = 5, P = 2 };
    float x[2][T * D], y[2][T * D], tab[S * D];
    cosmos_bf16 w[D];
    for (int i = 0; i < T * D; i++) x[0][i] = x[1][i] = sinf(0.9f * (float)i);
    for (int i = 0; i < S * D; i++) tab[i] = 0.01f * (float)i;
    for (int i = 0; i < D; i++) w[i] = cosmos_f32_to_bf16(1.0f - 0.05f * (float)i);
    const struct cosmos_tensor tt = cosmos_tensor_2d(tab, COSMOS_F32, S, D), tw = cosmos_tensor_1d(w, COSMOS_BF16, D);
    struct cosmos_tensor tx[2], ty[2];
    for (int f = 0; f < 2; f++)
        tx[f] = cosmos_tensor_2d(x[f], COSMOS_F32, T, D), ty[f] = cosmos_tensor_2d(y[f], COSMOS_F32, T, D);
    cr_assert_eq(cosmos_op_add_rows(be, tx[0], tx[0], tt, P), COSMOS_OK);
    cr_assert_eq(cosmos_op_rmsnorm(be, ty[0], tx[0], tw, 1e-5f), COSMOS_OK);
    cr_assert_eq(cosmos_op_add_rows_rmsnorm(be, tx[1], tt, P, ty[1], tw, 1e-5f), COSMOS_OK);
    cr_expect(!memcmp(x[0], x[1], sizeof x[0]) && !memcmp(y[0], y[1], sizeof y[0]),
              "add_rows_rmsnorm differs from add_rows then rmsnorm");
    cr_expect_eq(cosmos_op_add_rows_rmsnorm(be, tx[1], tt, S - T + 1, ty[1], tw, 1e-5f), COSMOS_ERR_INVALID_ARG,
                 "rows past the table");
    cr_expect_eq(cosmos_op_add_rows_rmsnorm(be, tx[1], tt, P, tx[1], tw, 1e-5f), COSMOS_ERR_INVALID_ARG, "y is x");
    cr_expect(!memcmp(x[0], x[1], sizeof x[0]), "a refused call changed x");
    cosmos_backend_free(be);
}

/* qkv_rope_store on a backend without the fusion: the four ops it stands for, and nothing written
 * when an operand is mis-shaped (checked before the first op runs). */
Test(kernels, qkv_rope_store_composes) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    enum { T = 2, H = 4, HKV = 2, DH = 8, S = 6, P = 3 };
    float q[2][T * H * DH], k[2][T * HKV * DH], v[T * HKV * DH], kc[2][S * HKV * DH], vc[2][S * HKV * DH];
    float cs[S * DH / 2], sn[S * DH / 2];
    cosmos_bf16 qw[DH], kw[DH];
    for (int i = 0; i < T * H * DH; i++) q[0][i] = q[1][i] = sinf(0.3f * (float)i);
    for (int i = 0; i < T * HKV * DH; i++) k[0][i] = k[1][i] = cosf(0.7f * (float)i), v[i] = 0.1f * (float)i;
    for (int i = 0; i < S * HKV * DH; i++) kc[0][i] = kc[1][i] = vc[0][i] = vc[1][i] = -1.0f;
    for (int i = 0; i < S * DH / 2; i++) cs[i] = cosf(0.2f * (float)i), sn[i] = sinf(0.2f * (float)i);
    for (int i = 0; i < DH; i++) qw[i] = cosmos_f32_to_bf16(1.0f + 0.1f * (float)i), kw[i] = cosmos_f32_to_bf16(0.5f);
    const struct cosmos_tensor tqw = cosmos_tensor_1d(qw, COSMOS_BF16, DH), tkw = cosmos_tensor_1d(kw, COSMOS_BF16, DH),
                               tc = cosmos_tensor_2d(cs, COSMOS_F32, S, DH / 2),
                               ts = cosmos_tensor_2d(sn, COSMOS_F32, S, DH / 2),
                               tv = cosmos_tensor_3d(v, COSMOS_F32, T, HKV, DH);
    struct cosmos_tensor tq[2], tk[2], tkc[2], tvc[2];
    for (int f = 0; f < 2; f++) {
        tq[f] = cosmos_tensor_3d(q[f], COSMOS_F32, T, H, DH), tk[f] = cosmos_tensor_3d(k[f], COSMOS_F32, T, HKV, DH);
        tkc[f] = cosmos_tensor_3d(kc[f], COSMOS_F32, S, HKV, DH), tvc[f] = cosmos_tensor_3d(vc[f], COSMOS_F32, S, HKV, DH);
    }
    cr_assert_eq(cosmos_op_qk_norm_rope(be, tq[0], tqw, 1e-5f, tc, ts, P), COSMOS_OK);
    cr_assert_eq(cosmos_op_qk_norm_rope(be, tk[0], tkw, 1e-5f, tc, ts, P), COSMOS_OK);
    cr_assert_eq(cosmos_op_store_rows(be, tkc[0], tk[0], P), COSMOS_OK);
    cr_assert_eq(cosmos_op_store_rows(be, tvc[0], tv, P), COSMOS_OK);
    cr_assert_eq(cosmos_op_qkv_rope_store(be, tq[1], tk[1], tv, tqw, tkw, 1e-5f, tc, ts, tkc[1], tvc[1], P), COSMOS_OK);
    cr_expect(!memcmp(q[0], q[1], sizeof q[0]) && !memcmp(k[0], k[1], sizeof k[0]) &&
                  !memcmp(kc[0], kc[1], sizeof kc[0]) && !memcmp(vc[0], vc[1], sizeof vc[0]),
              "qkv_rope_store differs from its four ops");
    memcpy(q[0], q[1], sizeof q[0]);
    cr_expect_eq(cosmos_op_qkv_rope_store(be, tq[1], tk[1], tv, tqw, tkw, 1e-5f, tc, ts, tkc[1], tvc[1], S - 1),
                 COSMOS_ERR_INVALID_ARG, "rows past the cache");
    cr_expect_eq(cosmos_op_qkv_rope_store(be, tq[1], tk[1], tq[1], tqw, tkw, 1e-5f, tc, ts, tkc[1], tvc[1], P),
                 COSMOS_ERR_INVALID_ARG, "v of q's shape");
    cr_expect_eq(cosmos_op_qkv_rope_store(be, tq[1], tk[1], tv, tqw, cosmos_tensor_1d(kw, COSMOS_BF16, DH - 1), 1e-5f, tc,
                                          ts, tkc[1], tvc[1], P),
                 COSMOS_ERR_INVALID_ARG, "a k-norm weight of the wrong size");
    cr_expect_eq(cosmos_op_qkv_rope_store(be, tq[1], tk[1], tv, tqw, tkw, 1e-5f, tc, ts, tkc[1],
                                          cosmos_tensor_3d(vc[1], COSMOS_F32, S - 1, HKV, DH), P),
                 COSMOS_ERR_INVALID_ARG, "caches of different sizes");
    cr_expect(!memcmp(q[0], q[1], sizeof q[0]), "a refused call changed q");
    cosmos_backend_free(be);
}

/* Row ops at a position, given directly or through the backend's position cell (COSMOS_POS_DEVICE,
 * what a recorded CUDA-graph step uses): store_rows writes exactly rows [pos, pos+T), add_rows adds
 * exactly the table rows [pos, pos+T); out-of-range positions and mismatched rows are refused. */
Test(kernels, row_ops_at_host_and_device_positions) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    enum { S = 10, R = 6, T = 2 };
    float cache[S * R], src[T * R], y[T * R], a[T * R], table[S * R];
    for (int i = 0; i < S * R; i++) cache[i] = -1.0f, table[i] = (float)i;
    for (int i = 0; i < T * R; i++) src[i] = 100.0f + (float)i, a[i] = 0.5f * (float)i;
    struct cosmos_tensor tc = cosmos_tensor_3d(cache, COSMOS_F32, S, 2, 3), ts = cosmos_tensor_3d(src, COSMOS_F32, T, 2, 3);
    cr_assert_eq(cosmos_op_store_rows(be, tc, ts, 3), COSMOS_OK);
    cr_assert_eq(cosmos_backend_set_pos(be, 7), COSMOS_OK);
    cr_assert_eq(cosmos_op_store_rows(be, tc, ts, COSMOS_POS_DEVICE), COSMOS_OK);
    for (int r = 0; r < S; r++)
        for (int j = 0; j < R; j++) {
            const int in = (r >= 3 && r < 5) || (r >= 7 && r < 9);
            const float want = in ? src[(r - (r >= 7 ? 7 : 3)) * R + j] : -1.0f;
            cr_expect_eq(cache[r * R + j], want, "row %d col %d", r, j);
        }
    struct cosmos_tensor ty = cosmos_tensor_2d(y, COSMOS_F32, T, R), ta = cosmos_tensor_2d(a, COSMOS_F32, T, R);
    struct cosmos_tensor tt = cosmos_tensor_2d(table, COSMOS_F32, S, R);
    cr_assert_eq(cosmos_op_add_rows(be, ty, ta, tt, COSMOS_POS_DEVICE), COSMOS_OK); /* rows 7, 8 */
    for (int i = 0; i < T * R; i++) cr_expect_eq(y[i], a[i] + table[7 * R + i]);
    cr_assert_eq(cosmos_op_add_rows(be, ty, ta, tt, 0), COSMOS_OK);
    for (int i = 0; i < T * R; i++) cr_expect_eq(y[i], a[i] + table[i]);
    cr_expect_eq(cosmos_op_store_rows(be, tc, ts, 9), COSMOS_ERR_INVALID_ARG, "rows past the end");
    cr_expect_eq(cosmos_op_store_rows(be, tc, cosmos_tensor_3d(src, COSMOS_F32, T, 3, 2), 0), COSMOS_ERR_INVALID_ARG,
                 "other row shape");
    cr_expect_eq(cosmos_op_add_rows(be, ty, ta, tt, -3), COSMOS_ERR_INVALID_ARG, "negative position");
    cr_expect_eq(cosmos_backend_set_pos(be, -1), COSMOS_ERR_INVALID_ARG, "negative cell");
    cr_assert_eq(cosmos_backend_set_pos(be, 9), COSMOS_OK); /* the op checks the cell when it runs */
    cr_expect_eq(cosmos_op_store_rows(be, tc, ts, COSMOS_POS_DEVICE), COSMOS_ERR_INVALID_ARG, "cell past the end");
    cr_expect(!cosmos_backend_has_graphs(be), "the cpu backend records no graphs");
    cosmos_graph_t *g = NULL;
    cr_expect_eq(cosmos_backend_graph_begin(be), COSMOS_ERR_UNSUPPORTED);
    cr_expect_eq(cosmos_backend_graph_end(be, &g), COSMOS_ERR_UNSUPPORTED);
    cosmos_backend_free(be);
}

/* cosmos_cpu_sgemm against a double-precision loop (close) and against one cblas_sgemm call of the
 * whole product on one thread (bit for bit: every element of C is one whole dot product); shapes
 * that split by columns, by rows, not at all (small), odd sizes, transposes, padded strides,
 * beta 0 and 1. */
static void check_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float beta) {
    const int64_t pad = 3, lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    const int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc;
    float *A = malloc(sizeof(float) * (size_t)na), *B = malloc(sizeof(float) * (size_t)nb);
    float *C = malloc(sizeof(float) * (size_t)nc), *R = malloc(sizeof(float) * (size_t)nc);
    fill(A, na, 11), fill(B, nb, 12), fill(C, nc, 13);
    memcpy(R, C, sizeof(float) * (size_t)nc);
    cosmos_cpu_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, beta, C, ldc);
    cosmos_cpu_blas_single_threaded();
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                0.5f, A, (int)lda, B, (int)ldb, beta, R, (int)ldc);
    int64_t differ = 0;
    double max_err = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double ref = 0;
            for (int64_t k = 0; k < K; k++)
                ref += (double)(ta ? A[k * lda + m] : A[m * lda + k]) * (double)(tb ? B[n * ldb + k] : B[k * ldb + n]);
            const int64_t i = m * ldc + n;
            differ += memcmp(&C[i], &R[i], sizeof(float)) != 0;
            const double want = 0.5 * ref + (beta != 0.0f ? (double)beta * cosmos_rng_normal(77, 13, (uint64_t)i) : 0.0);
            const double err = fabs(C[i] - want) / (1.0 + fabs(want));
            if (err > max_err) max_err = err;
        }
    for (int64_t m = 0; m < M; m++) /* the padding of C is untouched */
        for (int64_t n = N; n < ldc; n++)
            cr_expect_eq(C[m * ldc + n], cosmos_rng_normal(77, 13, (uint64_t)(m * ldc + n)), "padding at %lld,%lld",
                         (long long)m, (long long)n);
    cr_expect_eq(differ, 0, "sgemm ta %d tb %d %lldx%lldx%lld: %lld elements differ from one whole sgemm", ta, tb,
                 (long long)M, (long long)N, (long long)K, (long long)differ);
    cr_expect_lt(max_err, 1e-5, "sgemm ta %d tb %d %lldx%lldx%lld: error %g", ta, tb, (long long)M, (long long)N,
                 (long long)K, max_err);
    free(A), free(B), free(C), free(R);
}

Test(kernels, threaded_sgemm) {
    omp_set_num_threads(2);
    const int64_t shapes[][3] = {{300, 37, 129}, {37, 300, 129}, {1, 4096, 256},  {513, 513, 64}, {5, 7, 3},
                                 {64, 2000, 33}, {2000, 64, 33}, {129, 257, 1},   {600, 37, 129}, {37, 700, 129},
                                 {1, 9000, 300}, {3, 20000, 64}, {1000, 17, 200}, {256, 7168, 64},
                                 {4000, 37, 129}, {3001, 100, 64}, {5, 100000, 16}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int b = 0; b < 2; b++) check_sgemm(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], b ? 1.0f : 0.0f);
}
