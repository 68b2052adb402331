/* CPU GELUs: the exact one of the DiT MLP (spec components.md 4.4 step 6, nn.GELU() default
 * approximate="none"): y = 0.5 x (1 + erf(x / sqrt(2))); and the tanh approximation of SigLIP's MLPs
 * (spec components.md 5.4, gelu_pytorch_tanh), in its sigmoid form (see cosmos_cpu_gelu_tanh). */
#include <math.h>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_ops_dit.h"
#include "kernels/cpu/vexpf.h"

void cosmos_cpu_gelu(float *y, const float *x, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    }
}

/* 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3). With t = e^(-2|u|) <= 1
 * (the vectorised exp), that is x / (1 + t) for u >= 0 and x t / (1 + t) below: no cancellation in
 * the negative tail, where 1 + tanhf(u) loses digits (x = -4: 5e-4 relative; x = -5: 0.3; from
 * about x = -5.5 on tanhf(u) is -1 and the product 0, against a true value under 1e-9). Elsewhere
 * within 4 (1 + 2|u|) ulp of the exact value, the 2|u| being e^(-2u)'s sensitivity to the float u
 * (test_kernels checks the bound). x = +-inf and NaN give what 0.5 x (1 + tanh(u)) gives: +inf,
 * NaN, NaN. Where tanhf is accurate the two forms agree to float rounding; SigLIP's outputs moved by
 * under 1e-7 against the reference fixture (tests/unit/test_content_filter.c). */
void cosmos_cpu_gelu_tanh(float *y, const float *x, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= 16384)
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i], u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        const float t = cosmos_vexpf_nonpos(-2.0f * fabsf(u));
        y[i] = v * ((u >= 0.0f ? 1.0f : t) / (1.0f + t));
    }
}
