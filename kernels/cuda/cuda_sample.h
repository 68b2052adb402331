/* GPU next-token sampler (kernels/cuda/sample.cu; spec ar-model.md section 5), the counterpart of
 * core/model/sampler.c: same rules, same arithmetic, so that for the same f32 logits[V], params and
 * position it returns the token cosmos_sampler_sample returns, and the decode loop never copies
 * logits to the host. A private header of kernels/cuda: plain C, launchers extern "C", pointers
 * are device pointers. Where the two can differ: the GPU sums the f32 probabilities in double in a
 * fixed tree order (the CPU sums sequentially), and exp is CUDA's double exp() rounded to f32 (the
 * CPU rounds glibc's double exp() the same way; the two doubles differ by an ulp at most, so the f32
 * values agree except on a rounding boundary); either can move a probability by one f32 ulp,
 * which changes the token only when the draw lands on that last bit of a boundary. */
#ifndef COSMOS_CUDA_SAMPLE_H
#define COSMOS_CUDA_SAMPLE_H

#include <stdint.h>

#include <cuda_runtime_api.h>

#include "core/model/sampler.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Device buffers for vocab size n_vocab: probabilities and ids [V] before and after the sort,
 * double prefix sums [V], CUB sort temporaries; all allocated here (on the current device,
 * synchronous), so a sampling call allocates nothing. Owned by the caller; one stream at a time. */
typedef struct cosmos_cuda_sampler cosmos_cuda_sampler_t;
cosmos_status cosmos_cuda_sampler_init(int n_vocab, cosmos_cuda_sampler_t **out);
void cosmos_cuda_sampler_free(cosmos_cuda_sampler_t *s); /* NULL is a no-op; synchronous */
size_t cosmos_cuda_sampler_bytes(const cosmos_cuda_sampler_t *s); /* device bytes it holds; 0 for NULL */

/* token[0] (int32, device) = the token cosmos_sampler_sample draws from logits[V] (f32, device)
 * with params p at sequence position `position` (the RNG counter); *nonfinite (int32, device; NULL:
 * not reported) = 1 when any logit is NaN or infinite, else 0 (the token is unchanged by it: NaNs
 * are skipped as the CPU sampler skips them). Stream-ordered on `stream`: no host sync, no
 * allocation, so it can be captured in a CUDA graph (the params and the position are then baked
 * into the graph). Invalid params: logged, COSMOS_ERR_INVALID_ARG, nothing enqueued. */
cosmos_status cosmos_cuda_sample(cosmos_cuda_sampler_t *s, int32_t *token, int32_t *nonfinite, const float *logits,
                                 const struct cosmos_sampler_params *p, int64_t position, cudaStream_t stream);
/* The same with the position read from device memory (*position, int64) when the kernel runs, so
 * a captured graph replays with whatever position was last written there. */
cosmos_status cosmos_cuda_sample_devpos(cosmos_cuda_sampler_t *s, int32_t *token, int32_t *nonfinite,
                                        const float *logits, const struct cosmos_sampler_params *p,
                                        const int64_t *position, cudaStream_t stream);

/* Tests only: out[i] = cosmos_rng_uniform(seed[i], rng_stream, index[i]) computed on the device,
 * for i < n (all device arrays). Stream-ordered. */
cosmos_status cosmos_cuda_rng_uniform_test(double *out, const uint64_t *seed, const uint64_t *index, int64_t n,
                                           uint64_t rng_stream, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
