/* Position tables (see pos_tables.h). The f32 arithmetic mirrors the official expression order so
 * that bf16 rounding of the results lands on the same values (spec section 10.1). */
#include "core/model/pos_tables.h"

#include <math.h>
#include <string.h>

static void inv_freq_1axis(float *inv, int d, float theta) {
    for (int k = 0; k < d / 2; k++) {
        float r = (float)(2 * k) / (float)d;
        inv[k] = 1.0f / powf(theta, r);
    }
}

/* YaRN ramp (spec 2.2): f' = f * ((1-m)/scale + m), m = clamp((f-lo)/(hi-lo), 0, 1),
 * hi = 2 pi beta_fast / L, lo = 2 pi beta_slow / L. */
static void yarn_scale(float *inv, int n, int L, const struct cosmos_ar_config *c) {
    const double hi = 2.0 * 3.14159265358979323846 * c->yarn_beta_fast / L;
    const double lo = 2.0 * 3.14159265358979323846 * c->yarn_beta_slow / L;
    const float lo_f = (float)lo, span = (float)(hi - lo), scale = (float)c->yarn_scale;
    for (int k = 0; k < n; k++) {
        float m = (inv[k] - lo_f) / span;
        m = m < 0.0f ? 0.0f : m > 1.0f ? 1.0f : m;
        inv[k] = inv[k] * ((1.0f - m) / scale + m);
    }
}

void cosmos_rope_inv_freq(const struct cosmos_ar_config *c, float *inv_t, float *inv_s) {
    const int dh = cosmos_split3d_hw(c->head_dim), dt = cosmos_split3d_t(c->head_dim);
    inv_freq_1axis(inv_s, dh, (float)c->rope_theta);
    inv_freq_1axis(inv_t, dt, (float)c->rope_theta);
    if (c->apply_yarn) {
        yarn_scale(inv_s, dh / 2, c->original_latent_shape[1], c);
        yarn_scale(inv_t, dt / 2, c->original_latent_shape[0], c);
    }
}

/* Latent coordinates of table row p, or 0 when the row is BOV or padding. */
static int row_coords(const struct cosmos_ar_config *c, int p, int *t, int *h, int *w) {
    const int H = c->video_latent_shape[1], W = c->video_latent_shape[2];
    const int n = p - (c->training_type == COSMOS_TEXT_TO_VIDEO ? 1 : 0);
    if (n < 0 || n >= cosmos_ar_num_video_tokens(c)) return 0;
    *t = n / (H * W);
    *h = (n / W) % H;
    *w = n % W;
    return 1;
}

void cosmos_rope_tables(const struct cosmos_ar_config *c, float *cos_tab, float *sin_tab) {
    const int half = c->head_dim / 2;
    const int nh = cosmos_split3d_hw(c->head_dim) / 2, nt = cosmos_split3d_t(c->head_dim) / 2;
    float inv_t[64], inv_s[64], ang[128];
    cosmos_rope_inv_freq(c, inv_t, inv_s);
    for (int p = 0; p < c->max_seq_len; p++) {
        int t, h, w;
        float *cr = cos_tab + (size_t)p * half, *sr = sin_tab + (size_t)p * half;
        if (!row_coords(c, p, &t, &h, &w)) {
            for (int i = 0; i < half; i++) {
                cr[i] = 1.0f;
                sr[i] = 0.0f;
            }
            continue;
        }
        for (int k = 0; k < nt; k++) ang[k] = (float)t * inv_t[k];
        for (int k = 0; k < nh; k++) ang[nt + k] = (float)h * inv_s[k];
        for (int k = 0; k < nh; k++) ang[nt + nh + k] = (float)w * inv_s[k];
        for (int i = 0; i < half; i++) {
            cr[i] = cosmos_round_bf16(cosf(ang[i]));
            sr[i] = cosmos_round_bf16(sinf(ang[i]));
        }
    }
}

/* One 1-D sin/cos row of width d at integer position pos, f64 as numpy, cast f64 -> f32 -> bf16. */
static void sincos_row(cosmos_bf16 *out, int d, int pos) {
    const int half = d / 2;
    for (int i = 0; i < half; i++) {
        double omega = 1.0 / pow(10000.0, (double)i / (d / 2.0));
        double x = (double)pos * omega;
        out[i] = cosmos_f32_to_bf16((float)sin(x));
        out[half + i] = cosmos_f32_to_bf16((float)cos(x));
    }
}

void cosmos_ape_table(const struct cosmos_ar_config *c, cosmos_bf16 *ape) {
    const int D = c->dim, dh = cosmos_split3d_hw(D), dt = cosmos_split3d_t(D);
    for (int p = 0; p < c->max_seq_len; p++) {
        cosmos_bf16 *row = ape + (size_t)p * D;
        int t, h, w;
        if (!row_coords(c, p, &t, &h, &w)) {
            memset(row, 0, sizeof(cosmos_bf16) * (size_t)D);
            continue;
        }
        sincos_row(row, dt, t);
        sincos_row(row + dt, dh, h);
        sincos_row(row + dt + dh, dh, w);
    }
}
