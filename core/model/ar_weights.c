/* Strict weight binding for the AR transformer (see ar_weights.h; docs/weights.md). */
#include "core/model/ar_weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "parallel/shard.h"

/* Shard kinds of add_spec: REP replicated, ROW rows split, COL columns split. */
enum { REP = -1, ROW = 0, COL = 1 };

struct spec_list {
    struct cosmos_ar_tensor_spec *s;
    int n;
    const struct cosmos_ar_part *part;
    int used; /* applies to the specs added next */
};

struct cosmos_ar_part cosmos_ar_part_whole(const struct cosmos_ar_config *cfg) {
    struct cosmos_ar_part p = {1, 0, 0, cfg->n_layers, 1, 1};
    return p;
}

static void add_spec(struct spec_list *b, int shard, struct cosmos_tensor *dst, int64_t d0, int64_t d1,
                     const char *fmt, int layer) {
    struct cosmos_ar_tensor_spec *e = &b->s[b->n++];
    snprintf(e->name, sizeof e->name, fmt, layer);
    e->ndim = d1 > 0 ? 2 : 1;
    e->shape[0] = d0;
    e->shape[1] = d1 > 0 ? d1 : 0;
    e->used = b->used;
    e->shard_dim = b->part->tp > 1 ? shard : REP;
    if (e->shard_dim != REP) {
        struct cosmos_range r = cosmos_shard_even(e->shape[e->shard_dim], b->part->tp, b->part->tp_rank);
        e->shard_start = r.start;
        e->shard_count = r.count;
    }
    e->dst = dst;
}

cosmos_status cosmos_ar_weight_specs(const struct cosmos_ar_config *c, const struct cosmos_ar_part *part,
                                     struct cosmos_ar_weights *w, struct cosmos_ar_tensor_spec **specs, int *n) {
    const int64_t D = c->dim, Q = (int64_t)c->n_heads * c->head_dim, KV = (int64_t)c->n_kv_heads * c->head_dim;
    const int64_t F = c->ffn_hidden_size, Dh = c->head_dim, C = c->context_dim;
    struct spec_list b = {calloc((size_t)(3 + 18 * c->n_layers), sizeof *b.s), 0, part, part->first_stage};
    if (!b.s) return COSMOS_ERR_NOMEM;
    add_spec(&b, ROW, &w->tok_embeddings, c->input_vocab_size, D, "tok_embeddings.weight", 0);
    for (int l = 0; l < c->n_layers; l++) {
        struct cosmos_ar_layer_weights *L = &w->layers[l];
        b.used = l >= part->layer0 && l < part->layer1;
        add_spec(&b, REP, &L->attention_norm, D, 0, "layers.%d.attention_norm.weight", l);
        add_spec(&b, ROW, &L->wq, Q, D, "layers.%d.attention.wq.weight", l);
        add_spec(&b, ROW, &L->wk, KV, D, "layers.%d.attention.wk.weight", l);
        add_spec(&b, ROW, &L->wv, KV, D, "layers.%d.attention.wv.weight", l);
        add_spec(&b, COL, &L->wo, D, Q, "layers.%d.attention.wo.weight", l);
        if (c->use_qk_normalization) {
            add_spec(&b, REP, &L->q_norm, Dh, 0, "layers.%d.attention.q_norm.weight", l);
            add_spec(&b, REP, &L->k_norm, Dh, 0, "layers.%d.attention.k_norm.weight", l);
        }
        if (cosmos_ar_layer_has_cross(c, l)) {
            add_spec(&b, REP, &L->cross_attention_norm, D, 0, "layers.%d.cross_attention_norm.weight", l);
            add_spec(&b, ROW, &L->xwq, Q, D, "layers.%d.cross_attention.wq.weight", l);
            add_spec(&b, ROW, &L->xwk, KV, C, "layers.%d.cross_attention.wk.weight", l);
            add_spec(&b, ROW, &L->xwv, KV, C, "layers.%d.cross_attention.wv.weight", l);
            add_spec(&b, COL, &L->xwo, D, Q, "layers.%d.cross_attention.wo.weight", l);
            if (c->use_qk_normalization) {
                add_spec(&b, REP, &L->xq_norm, Dh, 0, "layers.%d.cross_attention.q_norm.weight", l);
                add_spec(&b, REP, &L->xk_norm, Dh, 0, "layers.%d.cross_attention.k_norm.weight", l);
            }
        }
        add_spec(&b, REP, &L->ffn_norm, D, 0, "layers.%d.ffn_norm.weight", l);
        add_spec(&b, ROW, &L->w1, F, D, "layers.%d.feed_forward.w1.weight", l);
        add_spec(&b, ROW, &L->w3, F, D, "layers.%d.feed_forward.w3.weight", l);
        add_spec(&b, COL, &L->w2, D, F, "layers.%d.feed_forward.w2.weight", l);
    }
    b.used = part->last_stage;
    add_spec(&b, REP, &w->norm, D, 0, "norm.weight", 0);
    add_spec(&b, ROW, &w->output, c->vocab_size, D, "output.weight", 0);
    *specs = b.s;
    *n = b.n;
    return COSMOS_OK;
}

static cosmos_status push(void ***list, int *n, void *p) {
    void **nl = realloc(*list, sizeof(void *) * (size_t)(*n + 1));
    if (!nl) return COSMOS_ERR_NOMEM;
    nl[(*n)++] = p;
    *list = nl;
    return COSMOS_OK;
}

/* Bytes of this rank's part of a tensor (its rows or columns under TP, or all of it). */
static size_t local_bytes(const struct cosmos_ar_tensor_spec *sp) {
    int64_t local[2] = {sp->shape[0], sp->shape[1]};
    if (sp->shard_dim >= 0) local[sp->shard_dim] = sp->shard_count;
    return sizeof(cosmos_bf16) * (size_t)local[0] * (size_t)(sp->ndim == 2 ? local[1] : 1);
}
cosmos_status cosmos_ar_weights_bytes(const struct cosmos_ar_config *cfg, const struct cosmos_ar_part *part,
                                      size_t *bytes) {
    struct cosmos_ar_weights w = {0};
    struct cosmos_ar_tensor_spec *specs = NULL;
    int n = 0;
    *bytes = 0;
    w.layers = calloc((size_t)cfg->n_layers, sizeof *w.layers);
    if (!w.layers) return COSMOS_ERR_NOMEM;
    cosmos_status st = cosmos_ar_weight_specs(cfg, part, &w, &specs, &n);
    for (int j = 0; j < n; j++)
        if (specs[j].used) *bytes += local_bytes(&specs[j]);
    free(specs);
    free(w.layers);
    return st;
}

/* The n bf16 matrices [rows_i, K] as one [sum rows_i, K] tensor when each starts where the one before
 * it ends (same K); a tensor with data NULL otherwise. */
static struct cosmos_tensor back_to_back(const struct cosmos_tensor *t, int n) {
    struct cosmos_tensor none = {0};
    int64_t rows = 0;
    for (int i = 0; i < n; i++) {
        if (!t[i].data || t[i].ndim != 2 || t[i].dtype != COSMOS_BF16 || t[i].shape[1] != t[0].shape[1]) return none;
        if (i && (const char *)t[i].data != (const char *)t[i - 1].data + cosmos_tensor_bytes(&t[i - 1])) return none;
        rows += t[i].shape[0];
    }
    return cosmos_tensor_2d(t[0].data, COSMOS_BF16, rows, t[0].shape[1]);
}

#define ARENA_ALIGN ((size_t)256) /* every weight of the device arena starts on a 256-byte boundary */

cosmos_status cosmos_ar_weights_bind(cosmos_h5_t *h5, const struct cosmos_ar_config *cfg,
                                     const struct cosmos_ar_part *part, cosmos_backend_t *be,
                                     struct cosmos_ar_weights *w) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_ar_tensor_spec *specs = NULL;
    char **names = NULL;
    int n_specs = 0, n_names = 0;
    const char *path = cosmos_h5_path(h5);
    CHECK(cosmos_ar_weight_specs(cfg, part, w, &specs, &n_specs));
    CHECK(cosmos_h5_list(h5, &names, &n_names));
    for (int i = 0; i < n_names; i++) {
        int known = 0;
        for (int j = 0; j < n_specs && !known; j++) known = strcmp(names[i], specs[j].name) == 0;
        CHECK_ARG(known, COSMOS_ERR_FORMAT,
                  "%s: unexpected tensor '%s' for config '%s' (hint: the file was made for another architecture, "
                  "e.g. a Video2World checkpoint loaded with a base config, or n_layers differs)",
                  path, names[i], cfg->name);
    }
    /* a device backend gets one allocation for all of this rank's weights (the arena), carved in spec
     * order: no per-tensor allocations, and one free */
    char *arena = NULL;
    size_t arena_off = 0, arena_bytes = 0;
    if (!cosmos_backend_is_host(be)) {
        for (int j = 0; j < n_specs; j++)
            if (specs[j].used) arena_bytes += (local_bytes(&specs[j]) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
        void *a = NULL;
        CHECK(cosmos_backend_alloc(be, arena_bytes ? arena_bytes : ARENA_ALIGN, &a));
        st = push(&w->owned_dev, &w->n_owned_dev, a);
        if (st != COSMOS_OK) {
            cosmos_backend_free_mem(be, a);
            goto fail;
        }
        arena = a;
    }
    for (int j = 0; j < n_specs; j++) {
        const struct cosmos_ar_tensor_spec *sp = &specs[j];
        struct cosmos_h5_info info;
        CHECK(cosmos_h5_expect_shape(h5, "tensor", sp->name, sp->ndim, sp->shape,
                                     " (hint: truncated conversion, or the config does not match this checkpoint)",
                                     " (hint: the config's dim/n_heads/head_dim/ffn_hidden_size/vocab_size do not "
                                     "match this checkpoint)",
                                     &info));
        CHECK_ARG(info.dtype == COSMOS_BF16, COSMOS_ERR_FORMAT,
                  "%s: tensor '%s' is %s, expected bfloat16 (uint16 with attribute dtype=\"bfloat16\")", path,
                  sp->name, cosmos_dtype_name(info.dtype));
        if (!sp->used) continue; /* another pipeline stage's tensor: checked, not read */
        /* the local part: rows or columns of this rank, or all of it */
        int64_t local[2] = {sp->shape[0], sp->shape[1]};
        if (sp->shard_dim >= 0) local[sp->shard_dim] = sp->shard_count;
        const size_t bytes = local_bytes(sp);
        const cosmos_bf16 *host = NULL;
        void *owned = NULL;
        if (sp->shard_dim == 1) {
            owned = malloc(bytes ? bytes : 2);
            CHECK_ALLOC(owned);
            st = cosmos_h5_read_slice(h5, sp->name, 1, sp->shard_start, sp->shard_count, COSMOS_BF16, owned);
            if (st != COSMOS_OK) {
                free(owned);
                goto fail;
            }
            host = owned;
        } else {
            const int64_t r0 = sp->shard_dim == 0 ? sp->shard_start : 0;
            CHECK(cosmos_h5_map_bf16_rows(h5, sp->name, r0, local[0], &host, &owned));
        }
        void *data = (void *)host;
        if (!cosmos_backend_is_host(be)) {
            void *dev = arena + arena_off;
            arena_off += (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
            st = cosmos_backend_upload(be, dev, host, bytes);
            free(owned);
            owned = NULL;
            if (st != COSMOS_OK) goto fail;
            data = dev;
        } else if (owned) {
            st = push(&w->owned_host, &w->n_owned_host, owned);
            if (st != COSMOS_OK) {
                free(owned);
                goto fail;
            }
        } else {
            w->mapped_bytes += bytes;
        }
        w->bytes += bytes;
        *sp->dst = sp->ndim == 2 ? cosmos_tensor_2d(data, COSMOS_BF16, local[0], local[1])
                                 : cosmos_tensor_1d(data, COSMOS_BF16, local[0]);
    }
    for (int l = part->layer0; l < part->layer1; l++) {
        struct cosmos_ar_layer_weights *L = &w->layers[l];
        const struct cosmos_tensor qkv[3] = {L->wq, L->wk, L->wv}, ffn[2] = {L->w1, L->w3};
        L->wqkv = back_to_back(qkv, 3);
        L->w13 = back_to_back(ffn, 2);
    }
fail:
    cosmos_h5_free_names(names, n_names);
    free(specs);
    return st;
}

void cosmos_ar_weights_release(struct cosmos_ar_weights *w, cosmos_backend_t *be) {
    for (int i = 0; i < w->n_owned_dev; i++) cosmos_backend_free_mem(be, w->owned_dev[i]);
    for (int i = 0; i < w->n_owned_host; i++) free(w->owned_host[i]);
    free(w->owned_dev);
    free(w->owned_host);
    free(w->layers);
    memset(w, 0, sizeof *w);
}
