/* Plain-C reference ops of the CPU backend used by the diffusion-decoder DiT (spec components.md
 * 4.4): LayerNorm without affine followed by the AdaLN modulation, exact GELU, and the gated
 * residual. Raw row-major f32 pointers; rows [R, D] with per-channel vectors [D]. Synchronous and
 * OpenMP-parallel over rows; no allocation. */
#ifndef COSMOS_CPU_OPS_DIT_H
#define COSMOS_CPU_OPS_DIT_H

#include <stdint.h>

/* y[r,i] = (x[r,i] - mean_r) / sqrt(var_r + eps) * (1 + scale[i]) + shift[i]; biased variance.
 * y may equal x. */
void cosmos_cpu_layernorm_modulate(float *y, const float *x, const float *shift, const float *scale, int64_t rows,
                                   int64_t D, float eps);
/* y = 0.5 x (1 + erf(x / sqrt(2))); y may equal x. */
void cosmos_cpu_gelu(float *y, const float *x, int64_t n);
/* y[r,i] = a[r,i] + gate[i] * b[r,i]; y may equal a. */
void cosmos_cpu_add_gated(float *y, const float *a, const float *b, const float *gate, int64_t rows, int64_t D);

#endif
