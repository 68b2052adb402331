/* The diffusion decoder's sampling arithmetic (spec components.md 4.2, 4.3, 4.5, 4.6, 4.8), apart
 * from the network: the Karras noise schedule, the EDM preconditioning coefficients, the "2ab"
 * multistep solver (first-order exponential Euler step, then Adams-Bashforth-2 steps of the RES
 * exponential integrator, a final clean-up denoise at sigma_min), the token chunking with overlap
 * and reflect padding, the pixel-frame blend of decoded chunks, and a seeded Gaussian noise source.
 *
 * Data: a latent state is a flat host array of n values (layout [C, T, H, W], irrelevant here).
 * The solver keeps its state in double between steps as the official code does (its x0 function
 * converts to the network dtype and back to float64); the denoiser sees and returns f32.
 *
 * Numerics decisions (docs/diffusion-decoder.md): sigma is rounded to bf16 before the EDM
 * coefficients are computed (the official sampler hands sigma to the denoiser in the state dtype,
 * bf16); the coefficients and everything else are f32 / f64, activations are not rounded to bf16.
 * The initial noise is ours (Philox + Box-Muller): PyTorch's CUDA randn stream is not reproduced
 * (spec 4.6: UNVERIFIED whether anyone needs that). */
#ifndef COSMOS_DD_SAMPLER_H
#define COSMOS_DD_SAMPLER_H

#include <stdint.h>

#include "core/status.h"

/* sigmas[i] = (smax^(1/rho) + i/num_steps * (smin^(1/rho) - smax^(1/rho)))^rho, i = 0..num_steps,
 * in double (spec 4.6: rho 7; 80 .. 0.02 in 16 values for num_steps 15). */
void cosmos_dd_sigmas(int num_steps, double sigma_min, double sigma_max, double rho, double *sigmas);

/* EDM preconditioning (spec 4.5) at sigma rounded to bf16:
 * c_skip = sd^2/(s^2+sd^2), c_out = s*sd/sqrt(s^2+sd^2), c_in = 1/sqrt(s^2+sd^2), c_noise = ln(s)/4. */
struct cosmos_dd_edm {
    float sigma; /* the bf16-rounded sigma the coefficients were computed from */
    float c_skip, c_out, c_in, c_noise;
};
struct cosmos_dd_edm cosmos_dd_edm_scaling(double sigma, double sigma_data);

/* The denoiser D(x_t, sigma) -> x0 the solver calls: x_t and x0 are host f32 [n]; sigma is the
 * schedule value (the callee applies cosmos_dd_edm_scaling). Returns a status; any error stops the
 * solver. */
typedef cosmos_status (*cosmos_dd_denoise_fn)(void *user, const float *x_t, double sigma, float *x0);

struct cosmos_dd_sampler_params {
    int num_steps;     /* 15 */
    double sigma_min;  /* 0.02 */
    double sigma_max;  /* 80 */
    double rho;        /* 7 */
};
struct cosmos_dd_sampler_params cosmos_dd_sampler_params_default(void);

/* Runs the 2ab solver from x_init (host f32 [n], the noise already scaled by sigma_max) over the
 * schedule of p, then the clean-up call D(x, sigma_min); writes the result to out (host f32 [n],
 * may alias x_init). num_steps + 1 denoiser calls. Synchronous; allocates 4 state arrays of n
 * values (NOMEM on failure). INVALID_ARG for num_steps < 1 or sigmas not 0 < sigma_min < sigma_max. */
cosmos_status cosmos_dd_sample(const struct cosmos_dd_sampler_params *p, cosmos_dd_denoise_fn denoise, void *user,
                               const float *x_init, int64_t n, float *out);

/* The two solver updates, exposed for tests (double state x [n] updated in place):
 * Euler (first step, sigma s -> t): x = ((s - t)/s) x0 + (t/s) x;
 * AB2 (spec 4.6; x0_prev was predicted at s_prev): lambda = -ln sigma, h = lt - ls,
 *   c2 = (lm - ls)/h, phi1 = expm1(-h)/(-h), phi2 = (phi1 - 1)/(-h), b1 = phi1 - phi2/c2,
 *   b2 = phi2/c2, x = e^{-h} x + h (b1 x0 + b2 x0_prev). */
void cosmos_dd_step_euler(double *x, const float *x0, int64_t n, double s, double t);
void cosmos_dd_step_ab2(double *x, const float *x0, const float *x0_prev, int64_t n, double s, double t,
                        double s_prev);

/* Token chunking (spec 4.2, the official split_with_overlap): chunks of `chunk` latent frames,
 * starts 0, step, 2*step, ... < T - overlap with step = chunk - overlap. Returns the number of
 * chunks: 0 when T <= overlap (the official loop yields none) or the arguments are invalid
 * (chunk < 1, overlap < 0, overlap >= chunk, T < 1). */
int cosmos_dd_num_chunks(int64_t T, int chunk, int overlap);
/* The source latent frame of frame j (0 <= j < chunk) of chunk c: start + j inside the clip, past
 * the end reflected (PyTorch "reflect" padding: T, T+1, ... map to T-2, T-3, ...). -1 when c or j
 * is out of range or the padding is not shorter than the chunk's part inside the clip (T - start),
 * which PyTorch's reflect padding refuses too. */
int64_t cosmos_dd_chunk_frame(int64_t T, int chunk, int overlap, int c, int j);

/* Joins decoded chunks (spec 4.8, the official linear_blend_video_list with D = overlap pixel
 * frames and weights linspace(0, 1, D)): chunks[i] is host f32 [C, t, HW] (t pixel frames each);
 * out is [C, T_out, HW] and receives the first T_out frames of the blend (T_out <= N*t - D*(N-1)).
 * One chunk: its first T_out frames. INVALID_ARG when T_out is too long or D >= t (N >= 2). */
cosmos_status cosmos_dd_blend(const float *const *chunks, int n_chunks, int64_t C, int64_t t, int64_t HW, int D,
                              int64_t T_out, float *out);

/* n standard normal f32 values from Philox4x32-10 at (seed, stream) through Box-Muller: the same
 * values for the same (seed, stream, n prefix) on every machine. */
void cosmos_dd_gaussian(uint64_t seed, uint64_t stream, float *out, int64_t n);

#endif
