/* CPU causal 3D convolution of the DV tokenizer (spec components.md 2.5, CausalConv3d; the
 * factorized blocks are a (1,3,3) call followed by a (3,1,1) call). x [Cin,T,H,W] f32; weight
 * [Cout, Cin*kt*kh*kw] (PyTorch's [Cout,Cin,kt,kh,kw] flattened) f32 or bf16; bias [Cout].
 * The input is read as if time_pad copies of frame 0 stood in front of it (first-frame
 * replication) and H, W were zero-padded by pad_lo before and pad_hi after; then a plain
 * cross-correlation with strides (stride_t, stride_s, stride_s):
 *   To = (T + time_pad - kt) / stride_t + 1, Ho = (H + pad_lo + pad_hi - kh) / stride_s + 1 (same W).
 * Per output frame and time tap: an im2col of the input frame (skipped for a pointwise tap,
 * which reads the frame in place) and one OpenBLAS sgemm accumulating into y, in row chunks that
 * keep the column buffer under ~64 MB. Allocates the column buffer and, for bf16 weights or kt > 1,
 * an f32 copy of the weights in [kt][Cout][Cin*kh*kw] order: f32 weights with kt == 1 are already in
 * that order (the PyTorch [Cout,Cin,1,kh,kw] flattened) and are read in place, the same values, so
 * a stream push no longer re-packs the (1,3,3) and 1x1x1 convs' weights (most of the decoder's). */
#include <stdlib.h>
#include <string.h>


#include "core/log.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_sgemm.h"

#define COLS_BUDGET_FLOATS ((int64_t)16 << 20)

cosmos_status cosmos_cpu_causal_conv3d(float *y, const float *x, const void *w, const void *bias,
                                       enum cosmos_dtype w_dtype, const struct cosmos_cpu_conv3d_shape *s) {
    const int64_t Cin = s->c_in, Cout = s->c_out, T = s->t, H = s->h, W = s->w;
    const int64_t kt = s->kt, kh = s->kh, kw = s->kw, st = s->stride_t, ss = s->stride_s;
    const int64_t To = (T + s->time_pad - kt) / st + 1;
    const int64_t Ho = (H + s->pad_lo + s->pad_hi - kh) / ss + 1, Wo = (W + s->pad_lo + s->pad_hi - kw) / ss + 1;
    const int64_t Ks = Cin * kh * kw; /* rows of one time tap's column matrix */
    const int pointwise = kh == 1 && kw == 1 && ss == 1 && s->pad_lo == 0 && s->pad_hi == 0;
    float *wr = NULL, *cols = NULL;
    const float *wf = w; /* weights [kt][Cout][Cin*kh*kw] f32 */
    cosmos_status st_ = COSMOS_OK;

    if (w_dtype != COSMOS_F32 || kt > 1) { /* reorder (and widen) into wr */
        wr = malloc(sizeof(float) * (size_t)(kt * Cout * Ks));
        if (!wr) goto nomem;
        for (int64_t co = 0; co < Cout; co++)
            for (int64_t ci = 0; ci < Cin; ci++)
                for (int64_t dt = 0; dt < kt; dt++)
                    for (int64_t k = 0; k < kh * kw; k++) {
                        int64_t src = ((co * Cin + ci) * kt + dt) * kh * kw + k;
                        float v = w_dtype == COSMOS_BF16 ? cosmos_bf16_to_f32(((const cosmos_bf16 *)w)[src])
                                                         : ((const float *)w)[src];
                        wr[(dt * Cout + co) * Ks + ci * kh * kw + k] = v;
                    }
        wf = wr;
    }

    int64_t rows_per_chunk = Ho;
    if (!pointwise) {
        rows_per_chunk = COLS_BUDGET_FLOATS / (Ks * Wo);
        if (rows_per_chunk < 1) rows_per_chunk = 1;
        if (rows_per_chunk > Ho) rows_per_chunk = Ho;
        cols = malloc(sizeof(float) * (size_t)(Ks * rows_per_chunk * Wo));
        if (!cols) goto nomem;
    }

    /* y = bias */
    for (int64_t co = 0; co < Cout; co++) {
        float b = w_dtype == COSMOS_BF16 ? cosmos_bf16_to_f32(((const cosmos_bf16 *)bias)[co]) : ((const float *)bias)[co];
        float *yc = y + co * To * Ho * Wo;
        for (int64_t i = 0; i < To * Ho * Wo; i++) yc[i] = b;
    }

    for (int64_t to = 0; to < To; to++) {
        for (int64_t dt = 0; dt < kt; dt++) {
            int64_t ti = to * st + dt - s->time_pad;
            if (ti < 0) ti = 0; /* first-frame replication */
            const float *xf = x + ti * H * W;
            const float *wt = wf + dt * Cout * Ks;
            if (pointwise) {
                cosmos_cpu_sgemm(0, 0, (int)Cout, (int)(Ho * Wo), (int)Cin, 1.0f, wt,
                            (int)Ks, xf, (int)(T * H * W), 1.0f, y + to * Ho * Wo, (int)(To * Ho * Wo));
                continue;
            }
            for (int64_t r0 = 0; r0 < Ho; r0 += rows_per_chunk) {
                const int64_t nr = (Ho - r0 < rows_per_chunk) ? Ho - r0 : rows_per_chunk, N = nr * Wo;
#pragma omp parallel for schedule(static)
                for (int64_t row = 0; row < Ks; row++) {
                    const int64_t ci = row / (kh * kw), dh = (row / kw) % kh, dw = row % kw;
                    const float *xc = xf + ci * T * H * W;
                    float *cr = cols + row * N;
                    for (int64_t r = 0; r < nr; r++) {
                        const int64_t hi = (r0 + r) * ss + dh - s->pad_lo;
                        for (int64_t c = 0; c < Wo; c++) {
                            const int64_t wi = c * ss + dw - s->pad_lo;
                            cr[r * Wo + c] = (hi >= 0 && hi < H && wi >= 0 && wi < W) ? xc[hi * W + wi] : 0.0f;
                        }
                    }
                }
                cosmos_cpu_sgemm(0, 0, (int)Cout, (int)N, (int)Ks, 1.0f, wt, (int)Ks,
                            cols, (int)N, 1.0f, y + to * Ho * Wo + r0 * Wo, (int)(To * Ho * Wo));
            }
        }
    }
    goto done;
nomem:
    LOG_ERROR("causal_conv3d: cannot allocate scratch (Cin %lld, Cout %lld, k %lldx%lldx%lld)", (long long)Cin,
              (long long)Cout, (long long)kt, (long long)kh, (long long)kw);
    st_ = COSMOS_ERR_NOMEM;
done:
    free(wr);
    free(cols);
    return st_;
}
