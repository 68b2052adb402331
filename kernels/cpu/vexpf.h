/* A vectorisable e^x for x <= 0 and the softmax step built on it (the CPU attention kernels,
 * SigLIP's GELU and softmax), shared so that the kernels using them round alike. Plain C: the
 * compiler vectorises a loop that calls it, where glibc's expf is a scalar call per element.
 * Checked in tests/unit/test_kernels.c (cosmos_cpu_attn_expf, and the kernels' own tests). */
#ifndef COSMOS_KERNELS_CPU_VEXPF_H
#define COSMOS_KERNELS_CPU_VEXPF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x for finite arguments x <= 0 (callers send NaN and infinities to expf, or accept what this
 * gives: NaN for a NaN with the sign bit clear, 0 for one with it set and for -inf), in a form
 * the compiler vectorises (glibc's expf is a scalar call per element): x = n ln2 + r with
 * n = round(x / ln2) (adding and subtracting 1.5 * 2^23 rounds to an integer) and |r| <= ln2/2 (ln2
 * in two parts, so n ln2 is exact), e^r by Cephes' expf polynomial, 2^n from the exponent bits.
 * Within 1.01 ulp of e^x wherever e^x is a normal float (every float in [-87.3, 0] checked; glibc's
 * expf: 0.5 ulp); 0 below about -87.7, where e^x < 2^-126 (subnormal in expf, and nothing beside the
 * softmax's largest term, which is exactly 1). Branch-free: x below -100 is clamped on its bit
 * pattern, which grows with |x| for negative floats (a float compare-and-select here keeps GCC from
 * vectorising the loop). */
static inline float cosmos_vexpf_nonpos(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = u < 0xC2C80000u ? u : 0xC2C80000u; /* -100.0f */
    float xc;
    memcpy(&xc, &u, sizeof xc);
    const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    int32_t ni = (int32_t)n;
    ni = ni > -127 ? ni : -127; /* 2^-127 has the bits of 0.0f: e^x = 0 */
    const int32_t bits = (ni + 127) * (1 << 23);
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return y * two_n;
}

/* A softmax's numerators in place: p[j] = e^(p[j] - max) for j < n; returns their float sum and
 * stores the max in *max_out. The vectorised exp when every score is finite; expf, whose NaN and
 * infinity rules the naive softmax has, once one is NaN or infinite. */
static inline float cosmos_softmax_numerators(float *p, int64_t n, float *max_out) {
    float mx = -INFINITY, nonfinite = 0.0f, sum = 0.0f;
#pragma omp simd reduction(max : mx) reduction(+ : nonfinite)
    for (int64_t j = 0; j < n; j++) {
        mx = p[j] > mx ? p[j] : mx;
        nonfinite += p[j] - p[j]; /* NaN once a score is NaN or infinite */
    }
    if (nonfinite == 0.0f) {
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < n; j++) {
            p[j] = cosmos_vexpf_nonpos(p[j] - mx);
            sum += p[j];
        }
    } else {
        for (int64_t j = 0; j < n; j++) {
            p[j] = expf(p[j] - mx);
            sum += p[j];
        }
    }
    *max_out = mx;
    return sum;
}

#endif
