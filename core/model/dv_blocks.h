/* Building blocks shared by the DV tokenizer encoder and decoder (spec components.md 2.5, 2.9);
 * an internal header of core/model (not part of the public API). Batch 1; host f32 on a host
 * backend, the backend's activation dtype in its memory on a device (CUDA: bf16).
 * Layouts: activations struct dv_act [C,T,H,W] row-major f32 (PyTorch's NCDHW without N); conv
 * weights [Cout, Cin*kt*kh*kw] (the 5-D PyTorch weight flattened) and every parameter read by its
 * official state-dict key (spec 2.9) from an HDF5 file of f32 or bf16 datasets, widened to f32.
 * Layers are structs holding their weights (loaded once) and, for the streaming decoder, their
 * causal state: temporal convs keep their last kt-1 input frames, temporal attention the K and V
 * of every frame seen so far (struct dv_ctx.stream). Without stream the blocks act on a whole clip
 * (first-frame replication, attention within the clip), as the encoder needs. */
#ifndef COSMOS_DV_BLOCKS_H
#define COSMOS_DV_BLOCKS_H

#include <stdint.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/status.h"

/* An activation [C,T,H,W]; d is owned, NULL when empty. On a host backend d is host f32 (dt
 * COSMOS_F32, 0: a zero-initialised dv_act is a host one); on a device backend (the whole-clip
 * blocks the encoder uses, docs/cuda.md) d is an opaque device pointer of the backend's activation
 * dtype dt, never dereferenced here. */
struct dv_act {
    float *d;
    int64_t C, T, H, W;
    enum cosmos_dtype dt;
    cosmos_backend_t *dev; /* the device backend whose memory d is; NULL: host */
};

/* Free activation buffers kept for reuse. A layer's output is hundreds of MB at full size; a fresh
 * malloc of that size is a fresh mmap whose every page the kernel zeroes on its first touch (page
 * faults took 7-13% of a full clip's time), while a buffer an earlier layer released is already
 * mapped. A request takes the most recently released buffer of exactly its size; when there is
 * none, the shapes have changed (a new level, a channel change) and the pool is emptied before the
 * malloc, so buffers of the old shapes never sit beside the new ones. It keeps at most
 * DV_POOL_SLOTS buffers and 2x the largest request so far (the least recently released go first).
 * The owner empties it (dv_pool_free) at the end of each call: the encoder after the clip, the
 * decoder after each chunk. Reuse changes no value: every op writes its whole output (dv_act_new). */
#define DV_POOL_SLOTS 8
struct dv_pool {
    cosmos_backend_t *be;    /* a device backend: buffers from its alloc/free_mem; NULL or host: malloc */
    float *d[DV_POOL_SLOTS]; /* [0] the most recently released */
    int64_t n[DV_POOL_SLOTS]; /* elements of d[i] */
    int count;
    int64_t held, largest; /* floats held; the largest request so far */
};
void dv_pool_free(struct dv_pool *p); /* frees every held buffer; the pool stays usable */

/* What the blocks run with. */
struct dv_ctx {
    cosmos_backend_t *be;
    cosmos_h5_t *h5; /* weight file for the loaders (unused by the run functions) */
    const char *who; /* message prefix: "dv encoder", "dv decoder" */
    int stream;      /* 1: temporal convs and temporal attention continue the frames of earlier calls */
    struct dv_pool *pool; /* activation buffers for reuse; NULL: plain malloc and free */
};

struct cosmos_tensor dv_tensor(const struct dv_act *a);
/* Activations come from and go back to c's pool (c or c->pool NULL: plain malloc and free).
 * dv_act_new: contents undefined (a reused buffer, not zeroed): for outputs an op writes in full,
 * which every op of the blocks does. dv_act_zeros: zero-filled. */
cosmos_status dv_act_new(const struct dv_ctx *c, struct dv_act *a, int64_t C, int64_t T, int64_t H, int64_t W);
cosmos_status dv_act_zeros(const struct dv_ctx *c, struct dv_act *a, int64_t C, int64_t T, int64_t H, int64_t W);
void dv_act_free(const struct dv_ctx *c, struct dv_act *a); /* NULL-safe; the buffer goes to c's pool */
/* dst takes src's buffer (dst's own is freed) */
void dv_act_move(const struct dv_ctx *c, struct dv_act *dst, struct dv_act *src);
/* y (new) = a and b concatenated along T (same C, H, W); a may be empty (a->d == NULL). */
cosmos_status dv_act_cat_time(const struct dv_ctx *c, struct dv_act *y, const struct dv_act *a,
                              const struct dv_act *b);
/* y (new) = frames [t0, t0+n) of a. */
cosmos_status dv_act_frames(const struct dv_ctx *c, struct dv_act *y, const struct dv_act *a, int64_t t0, int64_t n);

/* Reads weight `name` as f32 (f32 or bf16 dataset) with exactly `numel` elements and, when
 * shape0 > 0, that first dimension; *out is malloc'd (caller frees). Missing or misshaped:
 * COSMOS_ERR_FORMAT with the key named. */
cosmos_status dv_load_weight(const struct dv_ctx *c, const char *name, int64_t numel, int64_t shape0, float **out);
/* A layer parameter where c's backend computes: host f32 (malloc) on a host backend; on a device
 * backend uploaded in its activation dtype (CUDA: rounded to bf16, as the official tokenizers run;
 * cpu-staged: f32, exact). */
struct dv_param {
    void *d;
    enum cosmos_dtype dt;
    cosmos_backend_t *dev; /* the device backend holding d; NULL: host memory */
};
cosmos_status dv_param_load(const struct dv_ctx *c, struct dv_param *p, const char *name, int64_t numel,
                            int64_t shape0);
void dv_param_free(struct dv_param *p);
/* A host f32 [C,T,H,W] into a new activation of c's backend (on the host: a copy), and back. */
cosmos_status dv_act_upload(const struct dv_ctx *c, struct dv_act *a, const float *host, int64_t C, int64_t T,
                            int64_t H, int64_t W);
cosmos_status dv_act_download(const struct dv_act *a, float *host);

/* CausalConv3d: prefix.conv3d.{weight,bias}. */
struct dv_conv {
    struct dv_param w, b; /* [cout, cin*kt*kh*kw], [cout] */
    int64_t cin, cout;
    struct cosmos_conv3d_params p;
    struct dv_act cache; /* stream: the last p.time_pad input frames */
};
cosmos_status dv_conv_load(const struct dv_ctx *c, struct dv_conv *cv, const char *prefix, int64_t cin, int64_t cout,
                           struct cosmos_conv3d_params p);
void dv_conv_free(struct dv_conv *cv);
/* y (new) = conv(x). With c->stream and time_pad > 0 (stride_t 1 only), x continues the frames of
 * earlier calls: the first call replicates its frame 0, later calls read the cached frames. */
cosmos_status dv_conv_run(const struct dv_ctx *c, struct dv_conv *cv, struct dv_act *y, const struct dv_act *x);
/* x = conv(x) (x's buffer replaced). */
cosmos_status dv_conv_apply(const struct dv_ctx *c, struct dv_conv *cv, struct dv_act *x);

/* Factorized conv (2.5): prefix.0 (1,3,3) pad 1, then prefix.1 (3,1,1) causal. */
cosmos_status dv_convfact_load(const struct dv_ctx *c, struct dv_conv cv[2], const char *prefix, int64_t cin,
                               int64_t cout);
cosmos_status dv_convfact_apply(const struct dv_ctx *c, struct dv_conv cv[2], struct dv_act *x);

/* CausalNormalize (GroupNorm with one group, per frame, eps 1e-6): prefix.norm.{weight,bias}. */
struct dv_norm {
    struct dv_param g, b; /* [C] */
    int64_t C;
};
cosmos_status dv_norm_load(const struct dv_ctx *c, struct dv_norm *n, const char *prefix, int64_t C);
void dv_norm_free(struct dv_norm *n);
cosmos_status dv_norm_run(const struct dv_ctx *c, const struct dv_norm *n, struct dv_act *y, const struct dv_act *x);

/* CausalResnetBlockFactorized3d (2.5). */
struct dv_resblock {
    struct dv_norm norm1, norm2;
    struct dv_conv conv1[2], conv2[2], nin_shortcut;
    int has_shortcut; /* cin != cout */
};
cosmos_status dv_resblock_load(const struct dv_ctx *c, struct dv_resblock *r, const char *prefix, int64_t cin,
                               int64_t cout);
void dv_resblock_free(struct dv_resblock *r);
cosmos_status dv_resblock_run(const struct dv_ctx *c, struct dv_resblock *r, struct dv_act *x); /* x replaced */

/* Attention (2.5): spatial (per frame over H*W tokens) or temporal (per position over frames,
 * causal); single head of width C, scale 1/sqrt(C); x += proj_out(attn(norm(x))). */
struct dv_attn {
    struct dv_norm norm;
    struct dv_conv q, k, v, proj_out;
    int temporal;
    struct dv_act kc, vc; /* stream, temporal: K and V [C, frames so far, H, W] */
};
/* The pair of the mid block and of attention levels: prefix.0 spatial, prefix.1 temporal. */
struct dv_attn_pair {
    struct dv_attn a[2];
};
cosmos_status dv_attn_pair_load(const struct dv_ctx *c, struct dv_attn_pair *ap, const char *prefix, int64_t C);
void dv_attn_pair_free(struct dv_attn_pair *ap);
cosmos_status dv_attn_pair_run(const struct dv_ctx *c, struct dv_attn_pair *ap, struct dv_act *x);

/* Load-run-free in one call, for a forward that keeps no weights (the encoder). */
cosmos_status dv_conv_named(const struct dv_ctx *c, struct dv_act *y, const struct dv_act *x, const char *prefix,
                            int64_t cout, struct cosmos_conv3d_params p);
cosmos_status dv_conv_named_apply(const struct dv_ctx *c, struct dv_act *x, const char *prefix, int64_t cout,
                                  struct cosmos_conv3d_params p);
cosmos_status dv_convfact_named(const struct dv_ctx *c, struct dv_act *x, const char *prefix, int64_t cout);
cosmos_status dv_norm_named(const struct dv_ctx *c, struct dv_act *x, const char *prefix); /* in place */
cosmos_status dv_resblock_named(const struct dv_ctx *c, struct dv_act *x, const char *prefix, int64_t cout);
cosmos_status dv_attn_pair_named(const struct dv_ctx *c, struct dv_act *x, const char *prefix);

#endif
