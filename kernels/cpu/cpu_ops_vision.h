/* Plain-C reference ops of the CPU backend for the guardrail's face detector (RetinaFace, spec
 * components.md 5.5): 2-D convolution as im2col + sgemm, leaky ReLU, max-pooling and the FPN's
 * nearest-neighbour upsample-and-add. f32 feature maps [C, H, W] row-major; synchronous,
 * OpenMP-parallel. RetinaFace's host forward calls these too (core/guardrail/retinaface.c). */
#ifndef COSMOS_CPU_OPS_VISION_H
#define COSMOS_CPU_OPS_VISION_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Output size of a conv or pool along one axis: (n + 2 pad - k) / stride + 1. */
static inline int cosmos_conv_out(int n, int k, int stride, int pad) { return (n + 2 * pad - k) / stride + 1; }

/* out [cout, Ho, Wo] = conv(in [cin, H, W], w [cout, cin*k*k]) + b [cout], zero padding `pad` on
 * every side, stride `stride`; then, when leaky, v < 0 ? v * slope : v (slope 0: ReLU). *col / *col_n:
 * the im2col workspace, grown as needed and kept by the caller (free(*col) at the end); a 1x1
 * stride-1 unpadded conv needs none. NOMEM when it cannot grow. */
cosmos_status cosmos_cpu_conv2d(float *out, const float *in, const float *w, const float *b, int cin, int H, int W,
                                int cout, int k, int stride, int pad, int leaky, float slope, float **col,
                                size_t *col_n);
/* y = x < 0 ? x * slope : x over n values; y may equal x. */
void cosmos_cpu_leaky_relu(float *y, const float *x, int64_t n, float slope);
/* out [C, Ho, Wo] = max over each k x k window (stride, padding `pad` that never wins) of in [C, H, W]. */
void cosmos_cpu_maxpool2d(float *out, const float *in, int C, int H, int W, int k, int stride, int pad);
/* PyTorch's nearest source index for output o of `out` from `in` (aten UpSample.h nearest_idx, no
 * scale factor given). */
int cosmos_cpu_nearest_idx(int o, int in, int out);
/* dst [C, Hd, Wd] += src [C, Hs, Ws] upsampled to Hd x Wd (F.interpolate(size=..., mode="nearest")). */
void cosmos_cpu_add_upsampled_nearest(float *dst, int C, int Hd, int Wd, const float *src, int Hs, int Ws);

#endif
