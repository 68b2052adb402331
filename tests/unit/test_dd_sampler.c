/* The diffusion decoder's sampling arithmetic (core/model/dd_sampler.h; spec components.md 4.2,
 * 4.5, 4.6, 4.8): schedule values, EDM coefficients, exactness of the two solver updates on
 * problems they solve exactly, the solver's call sequence, chunking with reflect padding, the
 * pixel blend against a transcription of the official loop, and the Gaussian noise source. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/model/dd_sampler.h"

Test(dd_sampler, karras_schedule_matches_spec_values) {
    /* spec 4.6 (derived values, 6 significant digits) */
    const double want[16] = {80,       57.4161,  40.5331,  28.0975,  19.0868,  12.6758,  8.20685,  5.16263,
                             3.14256,  1.84176,  1.03275,  0.549679, 0.274842, 0.127332, 0.053639, 0.02};
    double s[16];
    cosmos_dd_sigmas(15, 0.02, 80.0, 7.0, s);
    for (int i = 0; i < 16; i++) cr_expect(fabs(s[i] - want[i]) <= 6e-6 * want[i], "sigma %d: %.8g vs %.8g", i, s[i], want[i]);
    cr_expect_eq(s[0], 80.0);
    cr_expect(fabs(s[15] - 0.02) < 1e-15);
}

Test(dd_sampler, edm_coefficients_use_bf16_sigma) {
    const struct cosmos_dd_edm e = cosmos_dd_edm_scaling(57.4161, 0.5);
    cr_expect_eq(e.sigma, cosmos_round_bf16(57.4161f));
    cr_expect_neq(e.sigma, 57.4161f);
    const double s = e.sigma, d = s * s + 0.25;
    cr_expect(fabs(e.c_skip - 0.25 / d) < 1e-7 * (0.25 / d) + 1e-12);
    cr_expect(fabs(e.c_out - 0.5 * s / sqrt(d)) < 1e-6);
    cr_expect(fabs(e.c_in - 1.0 / sqrt(d)) < 1e-8);
    cr_expect(fabs(e.c_noise - 0.25 * log(s)) < 1e-6);
    /* at sigma = sigma_data: c_skip 1/2, c_out = c_in * 0.25 */
    const struct cosmos_dd_edm h = cosmos_dd_edm_scaling(0.5, 0.5);
    cr_expect_float_eq(h.c_skip, 0.5f, 1e-7);
    cr_expect_float_eq(h.c_out, 0.25f * h.c_in, 1e-6);
}

/* x0 = al - be*ln(sigma), independent of x: the data-prediction ODE has the closed form below and
 * the AB2 update (linear in lambda = -ln sigma) is exact for it. */
static const double AL = 0.3, BE = 0.7;
static double lin_x0(double s) { return AL - BE * log(s); }
static double lin_exact(double s, double s0, double x_s0) {
    const double l0 = -log(s0), l = -log(s);
    const double F = exp(l) * (AL + BE * l - BE), F0 = exp(l0) * (AL + BE * l0 - BE);
    return exp(-l) * (exp(l0) * x_s0 + F - F0);
}

Test(dd_sampler, ab2_step_is_exact_for_x0_linear_in_lambda) {
    const double sp[4][3] = {{57.4161, 40.5331, 28.0975}, {40.0, 28.0, 19.0}, {1.03275, 0.549679, 0.274842},
                             {0.127332, 0.053639, 0.02}};
    for (int k = 0; k < 4; k++) {
        const double s_prev = sp[k][0], s = sp[k][1], t = sp[k][2];
        double x[2] = {lin_exact(s, 80.0, 5.0), lin_exact(s, 80.0, -3.0)};
        /* x0 values rounded to f32 as the solver sees them: compare with the same inputs */
        const float x0[2] = {(float)lin_x0(s), (float)lin_x0(s)}, x0p[2] = {(float)lin_x0(s_prev), (float)lin_x0(s_prev)};
        cosmos_dd_step_ab2(x, x0, x0p, 2, s, t, s_prev);
        const double w0 = lin_exact(t, 80.0, 5.0), w1 = lin_exact(t, 80.0, -3.0);
        cr_expect(fabs(x[0] - w0) < 1e-6 * (1 + fabs(w0)), "case %d: %.12g vs %.12g", k, x[0], w0);
        cr_expect(fabs(x[1] - w1) < 1e-6 * (1 + fabs(w1)), "case %d: %.12g vs %.12g", k, x[1], w1);
    }
}

Test(dd_sampler, euler_step_is_exact_for_constant_x0) {
    double x[1] = {7.0};
    const float c[1] = {0.25f};
    cosmos_dd_step_euler(x, c, 1, 80.0, 57.4161);
    cr_expect(fabs(x[0] - (0.25 + (7.0 - 0.25) * 57.4161 / 80.0)) < 1e-12);
}

/* A denoiser returning the constant c: the exact trajectory is x(sigma) = c + (x_T - c) sigma/sigma_max;
 * both updates are exact for it, so every call sees that state. Records sigmas and states. */
struct rec {
    int calls;
    double sig[32];
    float x[32][3];
    int fail_at;
};
static cosmos_status const_denoiser(void *user, const float *x_t, double sigma, float *x0) {
    struct rec *r = user;
    if (r->calls == r->fail_at) return COSMOS_ERR_INTERNAL;
    r->sig[r->calls] = sigma;
    memcpy(r->x[r->calls], x_t, sizeof r->x[0]);
    r->calls++;
    for (int i = 0; i < 3; i++) x0[i] = 0.5f * (float)(i - 1);
    return COSMOS_OK;
}

Test(dd_sampler, solver_calls_denoiser_at_each_sigma_and_the_clean_up) {
    struct cosmos_dd_sampler_params p = cosmos_dd_sampler_params_default();
    struct rec r = {.fail_at = -1};
    const float xT[3] = {80.0f, -40.0f, 8.0f};
    float out[3];
    cr_assert_eq(cosmos_dd_sample(&p, const_denoiser, &r, xT, 3, out), COSMOS_OK);
    cr_assert_eq(r.calls, 16);
    double s[16];
    cosmos_dd_sigmas(15, 0.02, 80.0, 7.0, s);
    for (int i = 0; i < 16; i++) {
        cr_expect_eq(r.sig[i], s[i]);
        for (int k = 0; k < 3; k++) {
            const double c = 0.5 * (k - 1), want = c + (xT[k] - c) * s[i] / 80.0;
            cr_expect(fabs(r.x[i][k] - want) < 1e-5 * (1 + fabs(want)), "call %d value %d: %g vs %g", i, k, r.x[i][k], want);
        }
    }
    for (int k = 0; k < 3; k++) cr_expect_eq(out[k], 0.5f * (float)(k - 1));
    /* a failing denoiser stops the solver with its status */
    struct rec bad = {.fail_at = 4};
    cr_expect_eq(cosmos_dd_sample(&p, const_denoiser, &bad, xT, 3, out), COSMOS_ERR_INTERNAL);
    cr_expect_eq(bad.calls, 4);
    p.num_steps = 0;
    cr_expect_eq(cosmos_dd_sample(&p, const_denoiser, &r, xT, 3, out), COSMOS_ERR_INVALID_ARG);
    p = cosmos_dd_sampler_params_default();
    p.sigma_min = 100;
    cr_expect_eq(cosmos_dd_sample(&p, const_denoiser, &r, xT, 3, out), COSMOS_ERR_INVALID_ARG);
}

/* Gaussian data N(0, sd^2): D(x, s) = sd^2/(s^2+sd^2) x; the ODE solution scales x_T by
 * sqrt(s^2+sd^2)/sqrt(smax^2+sd^2). 15 steps of 2ab land within 10% (9% measured with the
 * reference formulas; swapping b1 and b2 gives 40%, Euler steps only 15%). */
static cosmos_status gauss_denoiser(void *user, const float *x_t, double sigma, float *x0) {
    (void)user;
    x0[0] = (float)(0.25 / (sigma * sigma + 0.25)) * x_t[0];
    return COSMOS_OK;
}
Test(dd_sampler, solver_follows_the_gaussian_ode) {
    struct cosmos_dd_sampler_params p = cosmos_dd_sampler_params_default();
    const float xT[1] = {80.0f};
    float out[1];
    cr_assert_eq(cosmos_dd_sample(&p, gauss_denoiser, NULL, xT, 1, out), COSMOS_OK);
    const double sl = 0.02, xl = 80.0 * sqrt(sl * sl + 0.25) / sqrt(6400.25), x0 = 0.25 / (sl * sl + 0.25) * xl;
    cr_expect(fabs(out[0] - x0) < 0.10 * x0, "%g vs %g", out[0], x0);
    cr_expect(fabs(out[0] - x0) > 0.01 * x0, "suspiciously exact: %g vs %g", out[0], x0);
}

Test(dd_sampler, chunks_follow_split_with_overlap) {
    /* spec 4.2: 5 latent frames, chunks of 8, overlap 2: one chunk [0 1 2 3 4 3 2 1] */
    cr_expect_eq(cosmos_dd_num_chunks(5, 8, 2), 1);
    const int64_t want[8] = {0, 1, 2, 3, 4, 3, 2, 1};
    for (int j = 0; j < 8; j++) cr_expect_eq(cosmos_dd_chunk_frame(5, 8, 2, 0, j), want[j], "frame %d", j);
    /* 20 frames: starts 0, 6, 12 (< 18); the last chunk 12..19 exactly */
    cr_expect_eq(cosmos_dd_num_chunks(20, 8, 2), 3);
    cr_expect_eq(cosmos_dd_chunk_frame(20, 8, 2, 2, 7), 19);
    /* 16 frames: starts 0, 6, 12; the last has 4 frames and needs 4 of padding: refused */
    cr_expect_eq(cosmos_dd_num_chunks(16, 8, 2), 3);
    cr_expect_eq(cosmos_dd_chunk_frame(16, 8, 2, 1, 7), 13);
    cr_expect_eq(cosmos_dd_chunk_frame(16, 8, 2, 2, 4), -1);
    /* 17 frames: last chunk 12..16 + 3 reflected: 15 14 13 */
    cr_expect_eq(cosmos_dd_chunk_frame(17, 8, 2, 2, 5), 15);
    cr_expect_eq(cosmos_dd_chunk_frame(17, 8, 2, 2, 7), 13);
    /* tiny pipeline: 3 latent frames, chunks of 3 */
    cr_expect_eq(cosmos_dd_num_chunks(3, 3, 2), 1);
    cr_expect_eq(cosmos_dd_num_chunks(2, 8, 2), 0);
    cr_expect_eq(cosmos_dd_num_chunks(5, 2, 2), 0);
    cr_expect_eq(cosmos_dd_chunk_frame(5, 8, 2, 1, 0), -1);
    cr_expect_eq(cosmos_dd_chunk_frame(5, 8, 2, 0, 8), -1);
}

/* The official linear_blend_video_list, transcribed loop by loop (C = HW = 1). */
static int64_t official_blend(const float *const *v, int N, int64_t t, int D, float *out) {
    int64_t o = 0;
    for (int i = 0; i < N; i++) {
        if (i == 0) {
            for (int64_t f = 0; f < t - D; f++) out[o++] = v[0][f];
        } else {
            for (int j = 0; j < D; j++) {
                const float w2 = D == 1 ? 0.0f : (float)j / (float)(D - 1), w1 = 1.0f - w2;
                out[o++] = w1 * v[i - 1][t - D + j] + w2 * v[i][j];
            }
            if (i < N - 1)
                for (int64_t f = D; f < t - D; f++) out[o++] = v[i][f];
            else
                for (int64_t f = D; f < t; f++) out[o++] = v[i][f];
        }
    }
    return o;
}

Test(dd_sampler, blend_matches_the_official_loop) {
    const int64_t t = 7;
    float a[7], b[7], c[7], d[7];
    for (int k = 0; k < 7; k++) a[k] = 10 + k, b[k] = 20 + k, c[k] = 30 + k, d[k] = 40 + k;
    const float *v[4] = {a, b, c, d};
    for (int N = 2; N <= 4; N++) {
        for (int D = 1; D <= 3; D++) {
            float want[32], got[32];
            const int64_t L = official_blend(v, N, t, D, want);
            cr_assert_eq(L, N * t - (int64_t)D * (N - 1));
            cr_assert_eq(cosmos_dd_blend(v, N, 1, t, 1, D, L, got), COSMOS_OK);
            for (int64_t f = 0; f < L; f++) cr_expect_eq(got[f], want[f], "N %d D %d frame %lld", N, D, (long long)f);
            cr_expect_eq(cosmos_dd_blend(v, N, 1, t, 1, D, L + 1, got), COSMOS_ERR_INVALID_ARG);
        }
    }
    /* one chunk: a prefix; two channels and two pixels keep their layout */
    float two[2 * 3 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, got[8];
    const float *one[1] = {two};
    cr_assert_eq(cosmos_dd_blend(one, 1, 2, 3, 2, 2, 2, got), COSMOS_OK);
    const float want2[8] = {1, 2, 3, 4, 7, 8, 9, 10};
    for (int k = 0; k < 8; k++) cr_expect_eq(got[k], want2[k]);
    cr_expect_eq(cosmos_dd_blend(one, 1, 2, 3, 2, 2, 4, got), COSMOS_ERR_INVALID_ARG);
}

Test(dd_sampler, gaussian_noise_is_seeded_and_standard) {
    const int64_t n = 200001;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    cr_assert(x && y);
    cosmos_dd_gaussian(1, 0, x, n);
    cosmos_dd_gaussian(1, 0, y, 1001);
    cr_expect_eq(memcmp(x, y, 1001 * sizeof *x), 0, "a prefix is the same values");
    double m = 0, v = 0, k4 = 0;
    for (int64_t i = 0; i < n; i++) m += x[i];
    m /= n;
    for (int64_t i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m), k4 += pow(x[i] - m, 4);
    v /= n;
    k4 /= n * v * v;
    cr_expect(fabs(m) < 0.01, "mean %g", m);
    cr_expect(fabs(v - 1) < 0.01, "variance %g", v);
    cr_expect(fabs(k4 - 3) < 0.05, "kurtosis %g", k4);
    cosmos_dd_gaussian(2, 0, y, 1001);
    cr_expect_neq(memcmp(x, y, 1001 * sizeof *x), 0, "another seed, other values");
    cosmos_dd_gaussian(1, 1, y, 1001);
    cr_expect_neq(memcmp(x, y, 1001 * sizeof *x), 0, "another stream, other values");
    free(x);
    free(y);
}
