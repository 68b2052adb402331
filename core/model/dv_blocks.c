/* Building blocks of the DV tokenizer (spec components.md 2.5): weight loading by official key
 * name (2.9), CausalConv3d, the factorized (1,3,3)+(3,1,1) conv, per-frame GroupNorm, ResBlock and
 * spatial / causal temporal attention, for the encoder (whole clip) and the decoder (whole clip or
 * streaming; see dv_blocks.h). Activations [C,T,H,W]: host f32 on a host backend, device memory
 * of the backend's activation dtype on a device (struct dv_act). Every step is a backend op: convs,
 * norms, swish, adds, the single-head attention (on the [C,T,H*W] layout, no transposes) and the
 * frame copies of the streaming caches; parameters are f32 on the host, bf16 on a device.
 * Streaming state: a temporal conv (time_pad = kt-1 = 2) reads [cached 2 frames ; new frames] with
 * no replication (the first call fills the cache with copies of its frame 0, which is exactly the
 * whole-clip replication), so a frame's output is computed from the same values by the same op in
 * either mode; temporal attention appends the new frames' K and V to its cache and lets query t
 * (at position cached + t) attend keys [0, cached + t]. */
#include "core/model/dv_blocks.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/log.h"

struct cosmos_tensor dv_tensor(const struct dv_act *a) {
    struct cosmos_tensor t = {a->d, a->dt, 4, {a->C, a->T, a->H, a->W}};
    return t;
}

/* be when its memory is not host memory (a device), else NULL; device_of: a context's. */
static cosmos_backend_t *device_be(cosmos_backend_t *be) { return be && !cosmos_backend_is_host(be) ? be : NULL; }
static cosmos_backend_t *device_of(const struct dv_ctx *c) { return c ? device_be(c->be) : NULL; }

/* dst (device memory of dev) = host f32 values [n] in dtype dt (bf16: rounded on the host first). */
static cosmos_status upload_f32_as(cosmos_backend_t *dev, void *dst, const float *host, size_t n,
                                   enum cosmos_dtype dt) {
    if (dt == COSMOS_F32) return cosmos_backend_upload(dev, dst, host, sizeof(float) * n);
    cosmos_status st = COSMOS_OK;
    cosmos_bf16 *h16 = malloc(sizeof(cosmos_bf16) * (n ? n : 1));
    CHECK_ALLOC(h16);
    cosmos_f32_to_bf16_n(h16, host, n);
    CHECK(cosmos_backend_upload(dev, dst, h16, sizeof(cosmos_bf16) * n));
    CHECK(cosmos_backend_sync(dev)); /* h16 is freed below */
fail:
    free(h16);
    return st;
}

/* ---- activations and their buffer pool ---- */

/* Removes slot i from the pool and returns its buffer. */
static void buf_release(cosmos_backend_t *dev, float *d) {
    if (dev)
        cosmos_backend_free_mem(dev, d);
    else
        free(d);
}

static float *pool_take(struct dv_pool *p, int i) {
    float *d = p->d[i];
    p->held -= p->n[i];
    memmove(&p->d[i], &p->d[i + 1], sizeof p->d[0] * (size_t)(p->count - i - 1));
    memmove(&p->n[i], &p->n[i + 1], sizeof p->n[0] * (size_t)(p->count - i - 1));
    p->count--;
    return d;
}

void dv_pool_free(struct dv_pool *p) {
    while (p && p->count) buf_release(device_be(p->be), pool_take(p, p->count - 1));
}

/* A buffer of n elements, contents undefined: the most recently released one of exactly n, else a
 * new one (host f32, or device memory of the backend's activation dtype). A miss means the shapes
 * changed: the pool's buffers (other shapes) are freed first, so that they do not sit beside the
 * new ones. */
static float *buf_get(const struct dv_ctx *c, int64_t n) {
    struct dv_pool *p = c ? c->pool : NULL;
    if (p) {
        if (n > p->largest) p->largest = n;
        for (int i = 0; i < p->count; i++)
            if (p->n[i] == n) return pool_take(p, i);
        dv_pool_free(p);
    }
    cosmos_backend_t *dev = device_of(c);
    if (dev) {
        void *d = NULL;
        const size_t bytes = cosmos_dtype_size(cosmos_backend_act_dtype(dev)) * (size_t)(n > 0 ? n : 1);
        return cosmos_backend_alloc(dev, bytes, &d) == COSMOS_OK ? d : NULL;
    }
    return malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
}

/* Gives d (n elements) to pool p as its most recent buffer, then trims the pool. */
static void buf_put(struct dv_pool *p, float *d, int64_t n) {
    if (!d) return;
    if (p->count == DV_POOL_SLOTS) buf_release(device_be(p->be), pool_take(p, p->count - 1));
    memmove(&p->d[1], &p->d[0], sizeof p->d[0] * (size_t)p->count);
    memmove(&p->n[1], &p->n[0], sizeof p->n[0] * (size_t)p->count);
    p->d[0] = d, p->n[0] = n;
    p->count++;
    p->held += n;
    while (p->count && p->held > 2 * p->largest) buf_release(device_be(p->be), pool_take(p, p->count - 1));
}

cosmos_status dv_act_new(const struct dv_ctx *c, struct dv_act *a, int64_t C, int64_t T, int64_t H, int64_t W) {
    a->C = C, a->T = T, a->H = H, a->W = W;
    a->dev = device_of(c);
    a->dt = a->dev ? cosmos_backend_act_dtype(a->dev) : COSMOS_F32;
    a->d = buf_get(c, C * T * H * W);
    if (!a->d) {
        LOG_ERROR("dv tokenizer: cannot allocate a [%lld,%lld,%lld,%lld] activation", (long long)C, (long long)T,
                  (long long)H, (long long)W);
        return COSMOS_ERR_NOMEM;
    }
    return COSMOS_OK;
}

cosmos_status dv_act_zeros(const struct dv_ctx *c, struct dv_act *a, int64_t C, int64_t T, int64_t H, int64_t W) {
    cosmos_backend_t *dev = device_of(c);
    if (dev) { /* fresh device memory is zeroed (cosmos_backend_alloc); it joins the pool when freed */
        a->C = C, a->T = T, a->H = H, a->W = W, a->dev = dev, a->dt = cosmos_backend_act_dtype(dev);
        void *d = NULL;
        cosmos_status st = cosmos_backend_alloc(dev, cosmos_dtype_size(a->dt) * (size_t)(C * T * H * W), &d);
        a->d = d;
        return st;
    }
    cosmos_status st = dv_act_new(c, a, C, T, H, W);
    if (st == COSMOS_OK) memset(a->d, 0, sizeof(float) * (size_t)(C * T * H * W));
    return st;
}

void dv_act_free(const struct dv_ctx *c, struct dv_act *a) {
    if (c && c->pool)
        buf_put(c->pool, a->d, a->C * a->T * a->H * a->W);
    else if (a->d)
        buf_release(a->dev, a->d); /* (a layer's cache, freed with the layer) */
    a->d = NULL;
}

void dv_act_move(const struct dv_ctx *c, struct dv_act *dst, struct dv_act *src) {
    dv_act_free(c, dst);
    *dst = *src;
    src->d = NULL;
}

cosmos_status dv_act_cat_time(const struct dv_ctx *c, struct dv_act *y, const struct dv_act *a,
                              const struct dv_act *b) {
    const int64_t Ta = a->d ? a->T : 0;
    if (a->d && (a->C != b->C || a->H != b->H || a->W != b->W)) {
        LOG_ERROR("dv tokenizer: cannot join [%lld,%lld,%lld,%lld] and [%lld,%lld,%lld,%lld] along time",
                  (long long)a->C, (long long)a->T, (long long)a->H, (long long)a->W, (long long)b->C,
                  (long long)b->T, (long long)b->H, (long long)b->W);
        return COSMOS_ERR_INTERNAL;
    }
    cosmos_status st = dv_act_new(c, y, b->C, Ta + b->T, b->H, b->W);
    if (st == COSMOS_OK && Ta) st = cosmos_op_copy_frames(c->be, dv_tensor(y), 0, dv_tensor(a), 0, Ta);
    if (st == COSMOS_OK) st = cosmos_op_copy_frames(c->be, dv_tensor(y), Ta, dv_tensor(b), 0, b->T);
    if (st != COSMOS_OK) dv_act_free(c, y);
    return st;
}

cosmos_status dv_act_frames(const struct dv_ctx *c, struct dv_act *y, const struct dv_act *a, int64_t t0, int64_t n) {
    cosmos_status st = dv_act_new(c, y, a->C, n, a->H, a->W);
    if (st == COSMOS_OK) st = cosmos_op_copy_frames(c->be, dv_tensor(y), 0, dv_tensor(a), t0, n);
    if (st != COSMOS_OK) dv_act_free(c, y);
    return st;
}

cosmos_status dv_load_weight(const struct dv_ctx *c, const char *name, int64_t numel, int64_t shape0, float **out) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_h5_info info;
    cosmos_bf16 *raw = NULL;
    float *p = NULL;
    *out = NULL;
    CHECK_ARG(cosmos_h5_has_dataset(c->h5, name), COSMOS_ERR_FORMAT,
              "%s: weight '%s' is missing from %s (hint: convert the official checkpoint with its state-dict key "
              "names, spec components.md 2.9)",
              c->who, name, cosmos_h5_path(c->h5));
    CHECK(cosmos_h5_info(c->h5, name, &info));
    int64_t n = 1;
    for (int i = 0; i < info.ndim; i++) n *= info.shape[i];
    CHECK_ARG(n == numel && (shape0 <= 0 || info.shape[0] == shape0), COSMOS_ERR_FORMAT,
              "%s: weight '%s' has %lld elements (first dim %lld); expected %lld (first dim %lld)", c->who, name,
              (long long)n, (long long)info.shape[0], (long long)numel, (long long)shape0);
    CHECK_ARG(info.dtype == COSMOS_F32 || info.dtype == COSMOS_BF16, COSMOS_ERR_FORMAT,
              "%s: weight '%s' is neither f32 nor bf16", c->who, name);
    p = malloc(sizeof(float) * (size_t)n);
    CHECK_ALLOC(p);
    if (info.dtype == COSMOS_BF16) {
        raw = malloc(sizeof(cosmos_bf16) * (size_t)n);
        CHECK_ALLOC(raw);
        CHECK(cosmos_h5_read(c->h5, name, COSMOS_BF16, raw));
        cosmos_bf16_to_f32_n(p, raw, (size_t)n);
    } else {
        CHECK(cosmos_h5_read(c->h5, name, COSMOS_F32, p));
    }
    *out = p;
    p = NULL;
fail:
    free(raw);
    free(p);
    return st;
}

cosmos_status dv_param_load(const struct dv_ctx *c, struct dv_param *p, const char *name, int64_t numel,
                            int64_t shape0) {
    cosmos_status st = COSMOS_OK;
    float *host = NULL;
    cosmos_backend_t *dev = device_of(c);
    memset(p, 0, sizeof *p);
    CHECK(dv_load_weight(c, name, numel, shape0, &host));
    if (!dev) {
        p->d = host, p->dt = COSMOS_F32;
        return COSMOS_OK;
    }
    p->dt = cosmos_backend_act_dtype(dev), p->dev = dev;
    CHECK(cosmos_backend_alloc(dev, cosmos_dtype_size(p->dt) * (size_t)numel, &p->d));
    CHECK(upload_f32_as(dev, p->d, host, (size_t)numel, p->dt));
fail:
    free(host);
    if (st != COSMOS_OK) dv_param_free(p);
    return st;
}

void dv_param_free(struct dv_param *p) {
    if (p->dev)
        cosmos_backend_free_mem(p->dev, p->d);
    else
        free(p->d);
    memset(p, 0, sizeof *p);
}

cosmos_status dv_act_upload(const struct dv_ctx *c, struct dv_act *a, const float *host, int64_t C, int64_t T,
                            int64_t H, int64_t W) {
    cosmos_status st = COSMOS_OK;
    const size_t n = (size_t)(C * T * H * W);
    CHECK(dv_act_new(c, a, C, T, H, W));
    if (a->dev)
        CHECK(upload_f32_as(a->dev, a->d, host, n, a->dt));
    else
        memcpy(a->d, host, sizeof(float) * n);
fail:
    if (st != COSMOS_OK) dv_act_free(c, a);
    return st;
}

cosmos_status dv_act_download(const struct dv_act *a, float *host) {
    cosmos_status st = COSMOS_OK;
    cosmos_bf16 *h16 = NULL;
    const size_t n = (size_t)(a->C * a->T * a->H * a->W);
    if (!a->dev) {
        memcpy(host, a->d, sizeof(float) * n);
        return COSMOS_OK;
    }
    if (a->dt == COSMOS_F32) {
        CHECK(cosmos_backend_download(a->dev, host, a->d, sizeof(float) * n));
        CHECK(cosmos_backend_sync(a->dev));
    } else {
        h16 = malloc(sizeof(cosmos_bf16) * (n ? n : 1));
        CHECK_ALLOC(h16);
        CHECK(cosmos_backend_download(a->dev, h16, a->d, sizeof(cosmos_bf16) * n));
        CHECK(cosmos_backend_sync(a->dev));
        cosmos_bf16_to_f32_n(host, h16, n);
    }
fail:
    free(h16);
    return st;
}

/* name = prefix followed by the formatted suffix; a key longer than the buffer is an error. */
#define KEY_MAX 320
static cosmos_status key(char name[KEY_MAX], const char *prefix, const char *suffix_fmt, ...) {
    va_list ap;
    int n = snprintf(name, KEY_MAX, "%s", prefix);
    if (n >= 0 && n < KEY_MAX) {
        va_start(ap, suffix_fmt);
        n += vsnprintf(name + n, (size_t)(KEY_MAX - n), suffix_fmt, ap);
        va_end(ap);
    }
    if (n < 0 || n >= KEY_MAX) {
        LOG_ERROR("dv tokenizer: weight key '%s...' is longer than %d characters", prefix, KEY_MAX - 1);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

/* ---- CausalConv3d ---- */

cosmos_status dv_conv_load(const struct dv_ctx *c, struct dv_conv *cv, const char *prefix, int64_t cin, int64_t cout,
                           struct cosmos_conv3d_params p) {
    cosmos_status st = COSMOS_OK;
    char name[KEY_MAX];
    cv->cin = cin, cv->cout = cout, cv->p = p;
    CHECK(key(name, prefix, ".conv3d.weight"));
    CHECK(dv_param_load(c, &cv->w, name, cout * cin * p.kt * p.kh * p.kw, cout));
    CHECK(key(name, prefix, ".conv3d.bias"));
    CHECK(dv_param_load(c, &cv->b, name, cout, 0));
fail:
    return st;
}

void dv_conv_free(struct dv_conv *cv) {
    dv_param_free(&cv->w);
    dv_param_free(&cv->b);
    dv_act_free(NULL, &cv->cache);
}

cosmos_status dv_conv_run(const struct dv_ctx *c, struct dv_conv *cv, struct dv_act *y, const struct dv_act *x) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_conv3d_params p = cv->p;
    struct dv_act cat = {0}, keep = {0};
    const struct dv_act *in = x;
    CHECK_ARG(x->C == cv->cin, COSMOS_ERR_INTERNAL, "%s: conv expects %lld input channels, got %lld", c->who,
              (long long)cv->cin, (long long)x->C);
    if (c->stream && p.time_pad > 0) {
        CHECK_ARG(p.stride_t == 1, COSMOS_ERR_INTERNAL, "%s: a streamed conv needs time stride 1", c->who);
        if (!cv->cache.d) { /* first frames of the stream: frame 0 replicated time_pad times */
            CHECK(dv_act_new(c, &cv->cache, x->C, p.time_pad, x->H, x->W));
            for (int64_t t = 0; t < p.time_pad; t++)
                CHECK(cosmos_op_copy_frames(c->be, dv_tensor(&cv->cache), t, dv_tensor(x), 0, 1));
        }
        CHECK(dv_act_cat_time(c, &cat, &cv->cache, x));
        in = &cat;
        p.time_pad = 0;
    }
    const int64_t To = (in->T + p.time_pad - p.kt) / p.stride_t + 1;
    const int64_t Ho = (in->H + p.pad_lo + p.pad_hi - p.kh) / p.stride_s + 1;
    const int64_t Wo = (in->W + p.pad_lo + p.pad_hi - p.kw) / p.stride_s + 1;
    const int64_t K = cv->cin * p.kt * p.kh * p.kw;
    CHECK(dv_act_new(c, y, cv->cout, To, Ho, Wo));
    CHECK(cosmos_op_causal_conv3d(c->be, dv_tensor(y), dv_tensor(in), cosmos_tensor_2d(cv->w.d, cv->w.dt, cv->cout, K),
                                  cosmos_tensor_1d(cv->b.d, cv->b.dt, cv->cout), &p));
    if (cat.d) {
        CHECK(dv_act_frames(c, &keep, &cat, cat.T - cv->p.time_pad, cv->p.time_pad));
        dv_act_move(c, &cv->cache, &keep);
    }
fail:
    if (st != COSMOS_OK) dv_act_free(c, y);
    dv_act_free(c, &cat);
    dv_act_free(c, &keep);
    return st;
}

cosmos_status dv_conv_apply(const struct dv_ctx *c, struct dv_conv *cv, struct dv_act *x) {
    struct dv_act y = {0};
    cosmos_status st = dv_conv_run(c, cv, &y, x);
    if (st == COSMOS_OK) dv_act_move(c, x, &y);
    return st;
}

cosmos_status dv_convfact_load(const struct dv_ctx *c, struct dv_conv cv[2], const char *prefix, int64_t cin,
                               int64_t cout) {
    cosmos_status st = COSMOS_OK;
    char name[KEY_MAX];
    CHECK(key(name, prefix, ".0"));
    CHECK(dv_conv_load(c, &cv[0], name, cin, cout, cosmos_conv3d_params_causal(1, 3, 3, 1, 1, 1)));
    CHECK(key(name, prefix, ".1"));
    CHECK(dv_conv_load(c, &cv[1], name, cout, cout, cosmos_conv3d_params_causal(3, 1, 1, 1, 1, 0)));
fail:
    return st;
}

cosmos_status dv_convfact_apply(const struct dv_ctx *c, struct dv_conv cv[2], struct dv_act *x) {
    cosmos_status st = dv_conv_apply(c, &cv[0], x);
    return st == COSMOS_OK ? dv_conv_apply(c, &cv[1], x) : st;
}

/* ---- CausalNormalize ---- */

cosmos_status dv_norm_load(const struct dv_ctx *c, struct dv_norm *n, const char *prefix, int64_t C) {
    cosmos_status st = COSMOS_OK;
    char name[KEY_MAX];
    n->C = C;
    CHECK(key(name, prefix, ".norm.weight"));
    CHECK(dv_param_load(c, &n->g, name, C, 0));
    CHECK(key(name, prefix, ".norm.bias"));
    CHECK(dv_param_load(c, &n->b, name, C, 0));
fail:
    return st;
}

void dv_norm_free(struct dv_norm *n) {
    dv_param_free(&n->g);
    dv_param_free(&n->b);
}

cosmos_status dv_norm_run(const struct dv_ctx *c, const struct dv_norm *n, struct dv_act *y, const struct dv_act *x) {
    return cosmos_op_groupnorm_frames(c->be, dv_tensor(y), dv_tensor(x), cosmos_tensor_1d(n->g.d, n->g.dt, n->C),
                                      cosmos_tensor_1d(n->b.d, n->b.dt, n->C), 1e-6f);
}

/* ---- ResBlock ---- */

cosmos_status dv_resblock_load(const struct dv_ctx *c, struct dv_resblock *r, const char *prefix, int64_t cin,
                               int64_t cout) {
    cosmos_status st = COSMOS_OK;
    char name[KEY_MAX];
    CHECK(key(name, prefix, ".norm1"));
    CHECK(dv_norm_load(c, &r->norm1, name, cin));
    CHECK(key(name, prefix, ".conv1"));
    CHECK(dv_convfact_load(c, r->conv1, name, cin, cout));
    CHECK(key(name, prefix, ".norm2"));
    CHECK(dv_norm_load(c, &r->norm2, name, cout));
    CHECK(key(name, prefix, ".conv2"));
    CHECK(dv_convfact_load(c, r->conv2, name, cout, cout));
    r->has_shortcut = cin != cout;
    if (r->has_shortcut) {
        CHECK(key(name, prefix, ".nin_shortcut"));
        CHECK(dv_conv_load(c, &r->nin_shortcut, name, cin, cout, cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0)));
    }
fail:
    return st;
}

void dv_resblock_free(struct dv_resblock *r) {
    dv_norm_free(&r->norm1);
    dv_norm_free(&r->norm2);
    for (int i = 0; i < 2; i++) dv_conv_free(&r->conv1[i]), dv_conv_free(&r->conv2[i]);
    dv_conv_free(&r->nin_shortcut);
}

/* h = conv2(swish(norm2(conv1(swish(norm1(x)))))); x = shortcut(x) + h */
cosmos_status dv_resblock_run(const struct dv_ctx *c, struct dv_resblock *r, struct dv_act *x) {
    cosmos_status st = COSMOS_OK;
    struct dv_act h = {0}, sc = {0};
    CHECK(dv_act_new(c, &h, x->C, x->T, x->H, x->W));
    CHECK(dv_norm_run(c, &r->norm1, &h, x));
    CHECK(cosmos_op_swish(c->be, dv_tensor(&h), dv_tensor(&h)));
    CHECK(dv_convfact_apply(c, r->conv1, &h));
    CHECK(dv_norm_run(c, &r->norm2, &h, &h));
    CHECK(cosmos_op_swish(c->be, dv_tensor(&h), dv_tensor(&h)));
    CHECK(dv_convfact_apply(c, r->conv2, &h));
    if (r->has_shortcut) {
        CHECK(dv_conv_run(c, &r->nin_shortcut, &sc, x));
        CHECK(cosmos_op_add(c->be, dv_tensor(&h), dv_tensor(&h), dv_tensor(&sc)));
    } else {
        CHECK(cosmos_op_add(c->be, dv_tensor(&h), dv_tensor(&h), dv_tensor(x)));
    }
    dv_act_move(c, x, &h);
fail:
    dv_act_free(c, &h);
    dv_act_free(c, &sc);
    return st;
}

/* ---- attention ---- */

static cosmos_status attn_load(const struct dv_ctx *c, struct dv_attn *a, const char *prefix, int64_t C,
                               int temporal) {
    cosmos_status st = COSMOS_OK;
    char name[KEY_MAX];
    static const char *const proj[4] = {"q", "k", "v", "proj_out"};
    struct dv_conv *conv[4] = {&a->q, &a->k, &a->v, &a->proj_out};
    a->temporal = temporal;
    CHECK(key(name, prefix, ".norm"));
    CHECK(dv_norm_load(c, &a->norm, name, C));
    for (int i = 0; i < 4; i++) {
        CHECK(key(name, prefix, ".%s", proj[i]));
        CHECK(dv_conv_load(c, conv[i], name, C, C, cosmos_conv3d_params_causal(1, 1, 1, 1, 1, 0)));
    }
fail:
    return st;
}

static void attn_free(struct dv_attn *a) {
    dv_norm_free(&a->norm);
    dv_conv_free(&a->q), dv_conv_free(&a->k), dv_conv_free(&a->v), dv_conv_free(&a->proj_out);
    dv_act_free(NULL, &a->kc), dv_act_free(NULL, &a->vc);
}

/* o [C,Tq,H,W] = attention of q [C,Tq,H,W] over k, v [C,S,H,W]. Spatial (S == Tq): one sequence
 * per frame, its H*W tokens attend each other. Temporal: one sequence per position; the Tq
 * queries are the last Tq of the S frames (query t attends keys [0, S-Tq+t]).
 * The backend op cosmos_op_attention_1h: on the CPU it reads the [C,T,H*W] layout in place,
 * spatial through sgemm, and computes each frame (spatial) and each (query frame, position)
 * (temporal) identically whatever Tq and S, which keeps the streamed decoder bitwise equal to the
 * whole-clip decode (attention_single_head.c). */
static cosmos_status attend(const struct dv_ctx *c, struct dv_act *o, const struct dv_act *q, const struct dv_act *k,
                            const struct dv_act *v, int temporal) {
    return cosmos_op_attention_1h(c->be, dv_tensor(o), dv_tensor(q), dv_tensor(k), dv_tensor(v), temporal);
}

static cosmos_status attn_run(const struct dv_ctx *c, struct dv_attn *a, struct dv_act *x) {
    cosmos_status st = COSMOS_OK;
    struct dv_act h = {0}, q = {0}, k = {0}, v = {0}, o = {0}, kall = {0}, vall = {0};
    const struct dv_act *keys = &k, *values = &v;
    CHECK(dv_act_new(c, &h, x->C, x->T, x->H, x->W));
    CHECK(dv_norm_run(c, &a->norm, &h, x));
    CHECK(dv_conv_run(c, &a->q, &q, &h));
    CHECK(dv_conv_run(c, &a->k, &k, &h));
    CHECK(dv_conv_run(c, &a->v, &v, &h));
    dv_act_free(c, &h);
    if (a->temporal && c->stream) { /* keys and values of all frames so far */
        CHECK(dv_act_cat_time(c, &kall, &a->kc, &k));
        CHECK(dv_act_cat_time(c, &vall, &a->vc, &v));
        dv_act_move(c, &a->kc, &kall);
        dv_act_move(c, &a->vc, &vall);
        keys = &a->kc, values = &a->vc;
    }
    CHECK(dv_act_new(c, &o, x->C, x->T, x->H, x->W));
    CHECK(attend(c, &o, &q, keys, values, a->temporal));
    CHECK(dv_conv_run(c, &a->proj_out, &h, &o));
    CHECK(cosmos_op_add(c->be, dv_tensor(x), dv_tensor(x), dv_tensor(&h)));
fail:
    dv_act_free(c, &h), dv_act_free(c, &q), dv_act_free(c, &k), dv_act_free(c, &v), dv_act_free(c, &o);
    dv_act_free(c, &kall), dv_act_free(c, &vall);
    return st;
}

cosmos_status dv_attn_pair_load(const struct dv_ctx *c, struct dv_attn_pair *ap, const char *prefix, int64_t C) {
    cosmos_status st = COSMOS_OK;
    char name[KEY_MAX];
    for (int i = 0; i < 2; i++) {
        CHECK(key(name, prefix, ".%d", i));
        CHECK(attn_load(c, &ap->a[i], name, C, i));
    }
fail:
    return st;
}

void dv_attn_pair_free(struct dv_attn_pair *ap) {
    attn_free(&ap->a[0]);
    attn_free(&ap->a[1]);
}

cosmos_status dv_attn_pair_run(const struct dv_ctx *c, struct dv_attn_pair *ap, struct dv_act *x) {
    cosmos_status st = attn_run(c, &ap->a[0], x);
    return st == COSMOS_OK ? attn_run(c, &ap->a[1], x) : st;
}

/* ---- load-run-free ---- */

cosmos_status dv_conv_named(const struct dv_ctx *c, struct dv_act *y, const struct dv_act *x, const char *prefix,
                            int64_t cout, struct cosmos_conv3d_params p) {
    struct dv_conv cv = {0};
    cosmos_status st = dv_conv_load(c, &cv, prefix, x->C, cout, p);
    if (st == COSMOS_OK) st = dv_conv_run(c, &cv, y, x);
    dv_conv_free(&cv);
    return st;
}

cosmos_status dv_conv_named_apply(const struct dv_ctx *c, struct dv_act *x, const char *prefix, int64_t cout,
                                  struct cosmos_conv3d_params p) {
    struct dv_act y = {0};
    cosmos_status st = dv_conv_named(c, &y, x, prefix, cout, p);
    if (st == COSMOS_OK) dv_act_move(c, x, &y);
    return st;
}

cosmos_status dv_convfact_named(const struct dv_ctx *c, struct dv_act *x, const char *prefix, int64_t cout) {
    struct dv_conv cv[2];
    memset(cv, 0, sizeof cv);
    cosmos_status st = dv_convfact_load(c, cv, prefix, x->C, cout);
    if (st == COSMOS_OK) st = dv_convfact_apply(c, cv, x);
    dv_conv_free(&cv[0]);
    dv_conv_free(&cv[1]);
    return st;
}

cosmos_status dv_norm_named(const struct dv_ctx *c, struct dv_act *x, const char *prefix) {
    struct dv_norm n = {0};
    cosmos_status st = dv_norm_load(c, &n, prefix, x->C);
    if (st == COSMOS_OK) st = dv_norm_run(c, &n, x, x);
    dv_norm_free(&n);
    return st;
}

cosmos_status dv_resblock_named(const struct dv_ctx *c, struct dv_act *x, const char *prefix, int64_t cout) {
    struct dv_resblock r = {0};
    cosmos_status st = dv_resblock_load(c, &r, prefix, x->C, cout);
    if (st == COSMOS_OK) st = dv_resblock_run(c, &r, x);
    dv_resblock_free(&r);
    return st;
}

cosmos_status dv_attn_pair_named(const struct dv_ctx *c, struct dv_act *x, const char *prefix) {
    struct dv_attn_pair ap = {0};
    cosmos_status st = dv_attn_pair_load(c, &ap, prefix, x->C);
    if (st == COSMOS_OK) st = dv_attn_pair_run(c, &ap, x);
    dv_attn_pair_free(&ap);
    return st;
}
