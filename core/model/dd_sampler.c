/* The diffusion decoder's sampling arithmetic (spec components.md 4.2-4.8): schedule, EDM
 * coefficients, the 2ab solver, chunking, blending, Gaussian noise. See dd_sampler.h. */
#include "core/model/dd_sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/log.h"
#include "core/philox.h"

void cosmos_dd_sigmas(int num_steps, double sigma_min, double sigma_max, double rho, double *sigmas) {
    const double a = pow(sigma_max, 1.0 / rho), b = pow(sigma_min, 1.0 / rho);
    for (int i = 0; i <= num_steps; i++) sigmas[i] = pow(a + (double)i / num_steps * (b - a), rho);
}

struct cosmos_dd_edm cosmos_dd_edm_scaling(double sigma, double sigma_data) {
    struct cosmos_dd_edm e;
    const float s = cosmos_round_bf16((float)sigma), sd = (float)sigma_data;
    const float d = s * s + sd * sd;
    e.sigma = s;
    e.c_skip = sd * sd / d;
    e.c_out = s * sd / sqrtf(d);
    e.c_in = 1.0f / sqrtf(d);
    e.c_noise = 0.25f * logf(s);
    return e;
}

struct cosmos_dd_sampler_params cosmos_dd_sampler_params_default(void) {
    struct cosmos_dd_sampler_params p = {.num_steps = 15, .sigma_min = 0.02, .sigma_max = 80.0, .rho = 7.0};
    return p;
}

void cosmos_dd_step_euler(double *x, const float *x0, int64_t n, double s, double t) {
    const double cx0 = (s - t) / s, cx = t / s;
    for (int64_t i = 0; i < n; i++) x[i] = cx0 * (double)x0[i] + cx * x[i];
}

void cosmos_dd_step_ab2(double *x, const float *x0, const float *x0_prev, int64_t n, double s, double t,
                        double s_prev) {
    const double ls = -log(s), lt = -log(t), lm = -log(s_prev);
    const double h = lt - ls, c2 = (lm - ls) / h;
    const double phi1 = expm1(-h) / (-h), phi2 = (phi1 - 1.0) / (-h);
    const double b1 = phi1 - phi2 / c2, b2 = phi2 / c2, decay = exp(-h);
    for (int64_t i = 0; i < n; i++) x[i] = decay * x[i] + h * (b1 * (double)x0[i] + b2 * (double)x0_prev[i]);
}

cosmos_status cosmos_dd_sample(const struct cosmos_dd_sampler_params *p, cosmos_dd_denoise_fn denoise, void *user,
                               const float *x_init, int64_t n, float *out) {
    if (p->num_steps < 1 || !(p->sigma_min > 0) || !(p->sigma_max > p->sigma_min) || !(p->rho > 0) || n < 1) {
        LOG_ERROR("diffusion sampler: need num_steps >= 1 (got %d), 0 < sigma_min (%g) < sigma_max (%g), rho > 0 "
                  "(%g) and a state (%lld values)",
                  p->num_steps, p->sigma_min, p->sigma_max, p->rho, (long long)n);
        return COSMOS_ERR_INVALID_ARG;
    }
    const int L = p->num_steps;
    double *sig = malloc((size_t)(L + 1) * sizeof *sig);
    double *x = malloc((size_t)n * sizeof *x);
    float *xf = malloc((size_t)n * sizeof *xf), *x0 = malloc((size_t)n * sizeof *x0);
    float *x0_prev = malloc((size_t)n * sizeof *x0_prev);
    cosmos_status st = COSMOS_OK;
    if (!sig || !x || !xf || !x0 || !x0_prev) {
        LOG_ERROR("diffusion sampler: out of memory for a state of %lld values", (long long)n);
        st = COSMOS_ERR_NOMEM;
        goto done;
    }
    cosmos_dd_sigmas(L, p->sigma_min, p->sigma_max, p->rho, sig);
    for (int64_t i = 0; i < n; i++) x[i] = x_init[i];
    for (int i = 0; i < L; i++) {
        for (int64_t k = 0; k < n; k++) xf[k] = (float)x[k];
        st = denoise(user, xf, sig[i], x0);
        if (st != COSMOS_OK) goto done;
        if (i == 0)
            cosmos_dd_step_euler(x, x0, n, sig[i], sig[i + 1]);
        else
            cosmos_dd_step_ab2(x, x0, x0_prev, n, sig[i], sig[i + 1], sig[i - 1]);
        float *tmp = x0_prev;
        x0_prev = x0;
        x0 = tmp;
    }
    for (int64_t k = 0; k < n; k++) xf[k] = (float)x[k];
    st = denoise(user, xf, sig[L], out); /* the clean-up call at sigma_min */
done:
    free(sig);
    free(x);
    free(xf);
    free(x0);
    free(x0_prev);
    return st;
}

int cosmos_dd_num_chunks(int64_t T, int chunk, int overlap) {
    if (T < 1 || chunk < 1 || overlap < 0 || overlap >= chunk) return 0;
    const int64_t step = chunk - overlap;
    int n = 0;
    for (int64_t start = 0; start < T - overlap; start += step) n++;
    return n; /* 0 when T <= overlap: the official loop yields no chunk either */
}

int64_t cosmos_dd_chunk_frame(int64_t T, int chunk, int overlap, int c, int j) {
    const int64_t start = (int64_t)c * (chunk - overlap), f = start + j;
    if (start >= T || j < 0 || j >= chunk) return -1;
    if (f < T) return f;
    /* F.pad(clip[start:T], reflect): the slice is mirrored about its last frame, which is not
     * repeated; PyTorch needs the padding shorter than the slice */
    if (start + chunk - T >= T - start) return -1;
    return 2 * (T - 1) - f;
}

cosmos_status cosmos_dd_blend(const float *const *chunks, int n_chunks, int64_t C, int64_t t, int64_t HW, int D,
                              int64_t T_out, float *out) {
    const int64_t total = n_chunks == 1 ? t : (int64_t)n_chunks * t - (int64_t)D * (n_chunks - 1);
    if (n_chunks < 1 || T_out < 1 || T_out > total || (n_chunks > 1 && (D < 1 || D >= t || (n_chunks > 2 && t < 2 * D)))) {
        LOG_ERROR("diffusion decoder blend: %d chunk(s) of %lld frames with overlap %d give %lld frames; %lld asked",
                  n_chunks, (long long)t, D, (long long)total, (long long)T_out);
        return COSMOS_ERR_INVALID_ARG;
    }
    /* src[f] = (chunk, frame, weight) pairs of output frame f, as linear_blend_video_list builds them */
    for (int64_t f = 0; f < T_out; f++) {
        int ca = 0, cb = -1;
        int64_t fa = f, fb = 0;
        double wa = 1.0, wb = 0.0;
        if (n_chunks > 1) {
            if (f < t - D) {
                ca = 0;
                fa = f;
            } else {
                const int64_t g = f - (t - D); /* frames after the first chunk's own part */
                const int64_t per = t - D;     /* each later chunk adds D blended + (t - 2D) own frames */
                int i = 1 + (int)(g / per);
                int64_t r = g % per;
                if (i >= n_chunks) { /* inside the last chunk's tail: frames D .. t-1 */
                    i = n_chunks - 1;
                    r = g - (int64_t)(n_chunks - 2) * per;
                }
                if (r < D) {
                    const double lin = D == 1 ? 0.0 : (double)r / (D - 1);
                    ca = i - 1;
                    fa = t - D + r;
                    wa = 1.0 - lin;
                    cb = i;
                    fb = r;
                    wb = lin;
                } else {
                    ca = i;
                    fa = r;
                }
            }
        }
        for (int64_t c = 0; c < C; c++) {
            float *o = out + (c * T_out + f) * HW;
            const float *a = chunks[ca] + (c * t + fa) * HW;
            if (cb < 0) {
                memcpy(o, a, (size_t)HW * sizeof *o);
            } else {
                const float *b = chunks[cb] + (c * t + fb) * HW;
                const float w1 = (float)wa, w2 = (float)wb;
                for (int64_t k = 0; k < HW; k++) o[k] = w1 * a[k] + w2 * b[k];
            }
        }
    }
    return COSMOS_OK;
}

void cosmos_dd_gaussian(uint64_t seed, uint64_t stream, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i += 2) {
        const uint64_t pair = (uint64_t)i / 2;
        const double u1 = 1.0 - cosmos_philox_uniform(seed, stream, 2 * pair); /* (0, 1] */
        const double u2 = cosmos_philox_uniform(seed, stream, 2 * pair + 1);
        const double r = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;
        out[i] = (float)(r * cos(a));
        if (i + 1 < n) out[i + 1] = (float)(r * sin(a));
    }
}
