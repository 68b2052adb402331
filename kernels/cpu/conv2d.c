/* CPU kernels of the face detector's feature maps (spec components.md 5.5; see cpu_ops_vision.h):
 * conv2d as im2col + sgemm (cosmos_cpu_sgemm) with the bias and an optional leaky ReLU fused in the
 * store, max-pooling, and the nearest upsample-and-add of the FPN. Moved from the RetinaFace host
 * forward, whose numbers they keep bit for bit (compiled with -ffp-contract=off like it). */
#include <math.h>
#include <stdlib.h>

#include "core/log.h"
#include "kernels/cpu/cpu_ops_vision.h"
#include "kernels/cpu/cpu_sgemm.h"

cosmos_status cosmos_cpu_conv2d(float *out, const float *in, const float *w, const float *b, int cin, int H, int W,
                                int cout, int k, int stride, int pad, int leaky, float slope, float **col,
                                size_t *col_n) {
    const int Ho = cosmos_conv_out(H, k, stride, pad), Wo = cosmos_conv_out(W, k, stride, pad);
    const int64_t N = (int64_t)Ho * Wo, K = (int64_t)cin * k * k;
    const float *B = in;
    if (!(k == 1 && stride == 1 && pad == 0)) {
        if (*col_n < (size_t)(K * N)) {
            free(*col);
            *col_n = 0;
            *col = malloc(sizeof(float) * (size_t)(K * N));
            if (!*col) {
                LOG_ERROR("conv2d: out of memory for a %lld x %lld im2col matrix", (long long)K, (long long)N);
                return COSMOS_ERR_NOMEM;
            }
            *col_n = (size_t)(K * N);
        }
        float *cm = *col;
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < K; r++) {
            const int ci = (int)(r / (k * k)), ky = (int)(r / k % k), kx = (int)(r % k);
            float *dst = cm + r * N;
            const float *src = in + (int64_t)ci * H * W;
            for (int oy = 0; oy < Ho; oy++) {
                const int iy = oy * stride - pad + ky;
                for (int ox = 0; ox < Wo; ox++) {
                    const int ix = ox * stride - pad + kx;
                    dst[(int64_t)oy * Wo + ox] =
                        (iy >= 0 && iy < H && ix >= 0 && ix < W) ? src[(int64_t)iy * W + ix] : 0.0f;
                }
            }
        }
        B = cm;
    }
    cosmos_cpu_sgemm(0, 0, cout, (int)N, (int)K, 1.0f, w, (int)K, B, (int)N, 0.0f, out, (int)N);
#pragma omp parallel for schedule(static)
    for (int o = 0; o < cout; o++) {
        float *y = out + (int64_t)o * N;
        const float bo = b[o];
        for (int64_t i = 0; i < N; i++) {
            float v = y[i] + bo;
            if (leaky && v < 0) v *= slope;
            y[i] = v;
        }
    }
    return COSMOS_OK;
}

void cosmos_cpu_leaky_relu(float *y, const float *x, int64_t n, float slope) {
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (v < 0) v *= slope;
        y[i] = v;
    }
}

void cosmos_cpu_maxpool2d(float *out, const float *in, int C, int H, int W, int k, int stride, int pad) {
    const int Ho = cosmos_conv_out(H, k, stride, pad), Wo = cosmos_conv_out(W, k, stride, pad);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                float m = -INFINITY;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        const int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W) {
                            const float v = in[((int64_t)c * H + iy) * W + ix];
                            if (v > m) m = v;
                        }
                    }
                out[((int64_t)c * Ho + oy) * Wo + ox] = m;
            }
}

int cosmos_cpu_nearest_idx(int o, int in, int out) {
    if (in == out) return o;
    if (out == 2 * in) return o >> 1;
    const float scale = (float)in / (float)out;
    const int i = (int)floorf((float)o * scale);
    return i < in - 1 ? i : in - 1;
}

void cosmos_cpu_add_upsampled_nearest(float *dst, int C, int Hd, int Wd, const float *src, int Hs, int Ws) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int y = 0; y < Hd; y++) {
            const int sy = cosmos_cpu_nearest_idx(y, Hs, Hd);
            for (int x = 0; x < Wd; x++)
                dst[((int64_t)c * Hd + y) * Wd + x] +=
                    src[((int64_t)c * Hs + sy) * Ws + cosmos_cpu_nearest_idx(x, Ws, Wd)];
        }
}
