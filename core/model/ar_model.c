/* AR transformer forward pass (spec ar-model.md 1.3 block order, 11 pseudocode):
 *   h = E[x]; per layer: [h += APE[p]]; h += SelfAttn(RMSNorm(h)); [h += CrossAttn(RMSNorm(h), ctx)];
 *   h += FFN(RMSNorm(h)); logits = RMSNorm(h) W_out^T.
 * Every op goes through the backend interface. The only direct use of tensor memory is handing
 * activations to a communicator for tensor / pipeline parallelism (the row-parallel all-reduces and
 * the stage-to-stage send/recv), by one of three paths:
 *   - host backend (cpu): the MPI communicator reads and writes the tensors in place;
 *   - device backend with a NCCL communicator (created at load on the backend's stream, when the
 *     backend has a CUDA device and the build has NCCL): in place on the device, in the activation
 *     dtype (bf16 all-reduce on GPUs);
 *   - any other device backend (cpu-staged; a GPU when NCCL cannot start): through a host staging
 *     buffer (download, MPI in the activation dtype, upload).
 * Logits, tokens and control messages always travel on the host over the MPI communicators. */
#define _POSIX_C_SOURCE 200809L
#include "core/process.h"
#include "core/model/ar_model.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/h5file.h"
#include "core/log.h"
#include "core/model/ar_weights.h"
#include "core/model/sampler.h"
#include "core/model/pos_tables.h"
#include "parallel/comm_nccl.h"
#include "parallel/shard.h"

struct cosmos_ar_model {
    struct cosmos_ar_config cfg;
    cosmos_backend_t *be;
    cosmos_h5_t *h5; /* kept open: weights may live in its mapping */
    struct cosmos_ar_weights w;
    int max_chunk;
    /* tensor parallelism: this rank's share */
    cosmos_comm_t *tp_comm; /* borrowed; NULL without TP */
    int tp, tp_rank;
    int64_t Hl, Hkvl, Vl, vin0; /* local query heads, KV heads, LM-head rows; first embedding row */
    int32_t *ids_host;          /* [max_chunk] token ids shifted into the local embedding rows */
    /* pipeline parallelism: this rank's stage */
    cosmos_comm_t *pp_comm; /* borrowed; NULL with one stage */
    int pp, stage;
    /* activation exchange (see the file comment) */
    cosmos_comm_t *tp_dev, *pp_dev; /* owned NCCL communicators over tp_comm / pp_comm, or NULL */
    void *stage_buf;                /* host staging of one activation [max_chunk, dim] (staged path) */
    int act_ready;                  /* the above are set up (at the first forward) */
    /* decode steps through the device-position path (CUDA graphs; see decode_devpos) */
    int devpos_decode, use_graphs;
    cosmos_graph_t **graphs;                     /* [n_seq] recorded decode step per sequence slot */
    struct cosmos_sampler_params *graph_params;  /* [n_seq] the sampler params each was recorded with */
    struct cosmos_ar_part part; /* layers [layer0, layer1), first / last stage, tp shard */
    float *gather;              /* [tp, max_chunk, Vl] logits of every rank (tp > 1) */
    /* backend buffers */
    void **bufs;
    int n_bufs;
    struct cosmos_tensor rope_cos, rope_sin, ape;
    int n_seq, seq;                          /* sequences held (own KV cache and context), the one in use */
    struct cosmos_tensor *k_cache, *v_cache; /* [S, Hkv, Dh] per (sequence, layer): [seq * n_layers + l] */
    struct cosmos_tensor *ctx_k, *ctx_v;     /* [n_ctx, Hkv, Dh] per (sequence, cross layer) */
    struct cosmos_tensor ctx_in;             /* [n_ctx, context_dim] */
    int *has_context;                        /* [n_seq] */
    double comm_s;                           /* seconds spent in communication (and waiting for it) */
    struct cosmos_tensor x, xn, q, att, tmp, h1, h3, logits, ids; /* scratch, max_chunk rows */
    struct cosmos_tensor knew, vnew;                              /* this chunk's K and V [max_chunk, Hkv*Dh] */
    struct cosmos_tensor qkv1, h13; /* one token's q|k|v [Q + 2 Hkv*Dh] and h1|h3 [2F]: the fused decode products */
    struct cosmos_tensor logits_f32, ctx_f32; /* f32 staging when activations are not f32 (GPU) */
    int unfused;                              /* unfused_decode: every op on its own (tests) */
    struct cosmos_ar_memory mem;
};

struct cosmos_ar_load_params cosmos_ar_load_params_default(void) {
    struct cosmos_ar_load_params p = {NULL, NULL, NULL, 256, 1, 0, 0, 0, 0};
    const char *g = getenv("COSMOS_CUDA_GRAPHS"); /* docs/cuda.md: off until verified on a GPU */
    p.decode_graphs = g && strcmp(g, "1") == 0;
    return p;
}

const struct cosmos_ar_config *cosmos_ar_model_config(const cosmos_ar_model_t *m) { return &m->cfg; }
struct cosmos_ar_memory cosmos_ar_model_memory(const cosmos_ar_model_t *m) { return m->mem; }
int cosmos_ar_model_fused_layers(const cosmos_ar_model_t *m) {
    int n = 0;
    for (int l = m->part.layer0; l < m->part.layer1; l++)
        n += m->w.layers[l].wqkv.data && m->w.layers[l].w13.data;
    return n;
}

static cosmos_status model_alloc(cosmos_ar_model_t *m, struct cosmos_tensor *t, enum cosmos_dtype dt, int ndim,
                                 int64_t d0, int64_t d1, int64_t d2, size_t *counter) {
    struct cosmos_tensor v = {NULL, dt, ndim, {d0, d1, d2, 1}};
    size_t bytes = cosmos_tensor_bytes(&v);
    void **nb = realloc(m->bufs, sizeof(void *) * (size_t)(m->n_bufs + 1));
    if (!nb) return COSMOS_ERR_NOMEM;
    m->bufs = nb;
    cosmos_status st = cosmos_backend_alloc(m->be, bytes, &v.data);
    if (st != COSMOS_OK) return st;
    m->bufs[m->n_bufs++] = v.data;
    *counter += bytes;
    *t = v;
    return COSMOS_OK;
}

/* A NCCL communicator over the MPI group `boot` on the backend's device and stream, or NULL (with
 * the reason logged) when the backend has no CUDA device or NCCL does not start; the group agrees
 * (cosmos_comm_nccl_create ends with an all_ok over boot), so its ranks take the same path. */
static cosmos_comm_t *open_nccl(cosmos_ar_model_t *m, cosmos_comm_t *boot, const char *what) {
    if (!boot || cosmos_comm_size(boot) == 1) return NULL;
    const int dev = cosmos_backend_device(m->be);
    if (dev < 0) {
        LOG_INFO0("%s activations: backend %s has no CUDA device, exchanged through host staging buffers over %s",
                  what, cosmos_backend_name(m->be), cosmos_comm_kind(boot));
        return NULL;
    }
    cosmos_comm_t *nc = NULL;
    if (cosmos_comm_nccl_create(boot, dev, cosmos_backend_stream(m->be), &nc) != COSMOS_OK) {
        LOG_WARN("%s activations: NCCL did not start (see above); falling back to host staging over %s", what,
                  cosmos_comm_kind(boot));
        return NULL;
    }
    LOG_INFO0("%s activations: NCCL on the device (%d ranks)", what, cosmos_comm_size(boot));
    return nc;
}

/* Device backend under TP/PP: NCCL communicators where possible, else a host staging buffer.
 * Collective over the TP group, then the PP group: it runs at the first forward, which every rank
 * of the model reaches (not at load, where a rank that failed earlier would leave the others
 * waiting here instead of in the caller's all_ok). */
static cosmos_status open_act_comms(cosmos_ar_model_t *m, int64_t Tc) {
    m->act_ready = 1;
    if (cosmos_backend_is_host(m->be) || (m->tp == 1 && m->pp == 1)) return COSMOS_OK;
    m->tp_dev = m->tp > 1 ? open_nccl(m, m->tp_comm, "tensor-parallel") : NULL;
    m->pp_dev = m->pp > 1 ? open_nccl(m, m->pp_comm, "pipeline") : NULL;
    if ((m->tp > 1 && !m->tp_dev) || (m->pp > 1 && !m->pp_dev)) {
        const size_t bytes = (size_t)Tc * (size_t)m->cfg.dim * cosmos_dtype_size(cosmos_backend_act_dtype(m->be));
        m->stage_buf = malloc(bytes);
        if (!m->stage_buf) return COSMOS_ERR_NOMEM;
    }
    return COSMOS_OK;
}

/* Root attributes: format marker, version, kind, embedded config and its architecture numbers. */
static cosmos_status read_header(cosmos_h5_t *h5, struct cosmos_ar_config *cfg) {
    cosmos_status st = COSMOS_OK;
    char *json = NULL;
    const char *path = cosmos_h5_path(h5);
    CHECK(cosmos_h5_check_model_header(h5, "ar", "this command needs an AR transformer", &json));
    char src[1100];
    snprintf(src, sizeof src, "%s (attribute 'config')", path);
    CHECK(cosmos_ar_config_parse(json, src, cfg));
    static const char *keys[] = {"dim", "n_layers", "n_heads", "n_kv_heads", "head_dim", "ffn_hidden_size",
                                 "vocab_size", "input_vocab_size"};
    const int vals[] = {cfg->dim,        cfg->n_layers,        cfg->n_heads,    cfg->n_kv_heads,
                        cfg->head_dim,   cfg->ffn_hidden_size, cfg->vocab_size, cfg->input_vocab_size};
    for (int i = 0; i < 8; i++) {
        if (!cosmos_h5_has_attr(h5, keys[i])) continue;
        int64_t v;
        CHECK(cosmos_h5_attr_int(h5, keys[i], &v));
        CHECK_ARG(v == vals[i], COSMOS_ERR_FORMAT, "%s: attribute %s=%lld disagrees with the embedded config (%d)",
                  path, keys[i], (long long)v, vals[i]);
    }
fail:
    free(json);
    return st;
}

cosmos_status cosmos_ar_memory_plan(const struct cosmos_ar_config *c, const struct cosmos_ar_part *part, int n_seq,
                                    int max_chunk, enum cosmos_dtype act, struct cosmos_ar_memory *out) {
    cosmos_status st = COSMOS_OK;
    memset(out, 0, sizeof *out);
    CHECK(cosmos_tp_check(c, part->tp));
    CHECK_ARG(n_seq >= 1 && n_seq <= 4096, COSMOS_ERR_INVALID_ARG, "n_seq must be in [1, 4096] (got %d)", n_seq);
    CHECK(cosmos_ar_weights_bytes(c, part, &out->weight_bytes));
    /* the shapes of cosmos_ar_model_load's allocations, in its order */
    const size_t a = cosmos_dtype_size(act), f = sizeof(float);
    const size_t S = (size_t)c->max_seq_len, D = (size_t)c->dim, Dh = (size_t)c->head_dim;
    const size_t H = (size_t)(c->n_heads / part->tp), Hkv = (size_t)(c->n_kv_heads / part->tp), Q = H * Dh;
    const size_t F = (size_t)(c->ffn_hidden_size / part->tp), Vl = (size_t)(c->vocab_size / part->tp);
    const size_t Tc = (size_t)(max_chunk > 0 ? max_chunk : 256), L = (size_t)c->context_len;
    out->table_bytes = 2 * S * (Dh / 2) * f + (c->apply_abs_pos_emb ? S * D * sizeof(cosmos_bf16) : 0);
    for (int l = part->layer0; l < part->layer1; l++) {
        out->kv_bytes += (size_t)n_seq * 2 * S * Hkv * Dh * a;
        if (cosmos_ar_layer_has_cross(c, l)) out->context_bytes += (size_t)n_seq * 2 * L * Hkv * Dh * a;
    }
    if (c->insert_cross_attn) out->context_bytes += L * (size_t)c->context_dim * a;
    const size_t rows = Tc > L ? Tc : L;
    out->scratch_bytes = (2 * Tc * D + 2 * Tc * Q + 2 * Tc * Hkv * Dh + rows * (D > Q ? D : Q) + 2 * Tc * F +
                          (Q + 2 * Hkv * Dh + 2 * F) + Tc * Vl) * a;
    if (act != COSMOS_F32) {
        out->scratch_bytes += Tc * Vl * f;
        if (c->insert_cross_attn) out->scratch_bytes += L * (size_t)c->context_dim * f;
    }
    out->scratch_bytes += (Tc > 1 ? Tc : 2) * sizeof(int32_t);
fail:
    return st;
}

cosmos_status cosmos_ar_model_load(const char *path, cosmos_backend_t *be, const struct cosmos_ar_load_params *p,
                                   cosmos_ar_model_t **out) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_ar_load_params def = cosmos_ar_load_params_default();
    if (!p) p = &def;
    *out = NULL;
    cosmos_ar_model_t *m = calloc(1, sizeof *m);
    float *cos_h = NULL, *sin_h = NULL;
    cosmos_bf16 *ape_h = NULL;
    CHECK_ALLOC(m);
    m->be = be;
    m->max_chunk = p->max_chunk > 0 ? p->max_chunk : 256;
    CHECK(cosmos_h5_open(path, &m->h5));
    CHECK(read_header(m->h5, &m->cfg));
    const struct cosmos_ar_config *c = &m->cfg;
    m->w.n_layers = c->n_layers;
    m->w.layers = calloc((size_t)c->n_layers, sizeof *m->w.layers);
    CHECK_ALLOC(m->w.layers);
    m->tp_comm = p->tp_comm;
    m->tp = p->tp_comm ? cosmos_comm_size(p->tp_comm) : 1;
    m->tp_rank = p->tp_comm ? cosmos_comm_rank(p->tp_comm) : 0;
    CHECK(cosmos_tp_check(c, m->tp));
    m->Hl = c->n_heads / m->tp;
    m->Hkvl = c->n_kv_heads / m->tp;
    m->Vl = c->vocab_size / m->tp;
    m->vin0 = (int64_t)c->input_vocab_size / m->tp * m->tp_rank;
    m->pp_comm = p->pp_comm;
    m->pp = p->pp_comm ? cosmos_comm_size(p->pp_comm) : 1;
    m->stage = p->pp_comm ? cosmos_comm_rank(p->pp_comm) : 0;
    CHECK(cosmos_pp_stage_layers(c, m->pp, p->stage_layers, m->stage, &m->part.layer0, &m->part.layer1));
    m->part.tp = m->tp;
    m->part.tp_rank = m->tp_rank;
    m->part.first_stage = m->stage == 0;
    m->part.last_stage = m->stage == m->pp - 1;
    CHECK(cosmos_ar_weights_bind(m->h5, c, &m->part, be, &m->w));
    m->mem.weight_bytes = m->w.bytes;
    m->mem.weight_mapped_bytes = m->w.mapped_bytes;
    if (p->unfused_decode)
        for (int l = 0; l < c->n_layers; l++) m->w.layers[l].wqkv.data = m->w.layers[l].w13.data = NULL;
    m->unfused = p->unfused_decode;
    if (p->weights_only) {
        *out = m;
        return COSMOS_OK;
    }

    const enum cosmos_dtype act = cosmos_backend_act_dtype(be);
    const int64_t S = c->max_seq_len, D = c->dim, Dh = c->head_dim, H = m->Hl, Hkv = m->Hkvl;
    const int64_t Q = H * Dh, F = c->ffn_hidden_size / m->tp, Tc = m->max_chunk;
    m->ids_host = malloc(sizeof(int32_t) * (size_t)Tc);
    CHECK_ALLOC(m->ids_host);
    if (m->tp > 1) {
        m->gather = malloc(sizeof(float) * (size_t)(m->tp * Tc * m->Vl));
        CHECK_ALLOC(m->gather);
    }
    /* position tables */
    cos_h = malloc(sizeof(float) * (size_t)(S * Dh / 2));
    sin_h = malloc(sizeof(float) * (size_t)(S * Dh / 2));
    CHECK_ALLOC(cos_h);
    CHECK_ALLOC(sin_h);
    cosmos_rope_tables(c, cos_h, sin_h);
    CHECK(model_alloc(m, &m->rope_cos, COSMOS_F32, 2, S, Dh / 2, 1, &m->mem.table_bytes));
    CHECK(model_alloc(m, &m->rope_sin, COSMOS_F32, 2, S, Dh / 2, 1, &m->mem.table_bytes));
    CHECK(cosmos_backend_upload(be, m->rope_cos.data, cos_h, cosmos_tensor_bytes(&m->rope_cos)));
    CHECK(cosmos_backend_upload(be, m->rope_sin.data, sin_h, cosmos_tensor_bytes(&m->rope_sin)));
    if (c->apply_abs_pos_emb) {
        ape_h = malloc(sizeof(cosmos_bf16) * (size_t)(S * D));
        CHECK_ALLOC(ape_h);
        cosmos_ape_table(c, ape_h);
        CHECK(model_alloc(m, &m->ape, COSMOS_BF16, 2, S, D, 1, &m->mem.table_bytes));
        CHECK(cosmos_backend_upload(be, m->ape.data, ape_h, cosmos_tensor_bytes(&m->ape)));
    }
    /* KV cache and context K/V of every sequence, for this stage's layers */
    CHECK_ARG(p->n_seq >= 1 && p->n_seq <= 4096, COSMOS_ERR_INVALID_ARG, "n_seq must be in [1, 4096] (got %d)",
              p->n_seq);
    m->n_seq = p->n_seq;
    const size_t n_slots = (size_t)m->n_seq * (size_t)c->n_layers;
    m->k_cache = calloc(n_slots, sizeof *m->k_cache);
    m->v_cache = calloc(n_slots, sizeof *m->v_cache);
    m->ctx_k = calloc(n_slots, sizeof *m->ctx_k);
    m->ctx_v = calloc(n_slots, sizeof *m->ctx_v);
    m->has_context = calloc((size_t)m->n_seq, sizeof *m->has_context);
    CHECK_ALLOC(m->k_cache);
    CHECK_ALLOC(m->v_cache);
    CHECK_ALLOC(m->ctx_k);
    CHECK_ALLOC(m->ctx_v);
    CHECK_ALLOC(m->has_context);
    for (int sq = 0; sq < m->n_seq; sq++) {
        for (int l = m->part.layer0; l < m->part.layer1; l++) {
            const size_t i = (size_t)sq * (size_t)c->n_layers + (size_t)l;
            CHECK(model_alloc(m, &m->k_cache[i], act, 3, S, Hkv, Dh, &m->mem.kv_bytes));
            CHECK(model_alloc(m, &m->v_cache[i], act, 3, S, Hkv, Dh, &m->mem.kv_bytes));
            if (cosmos_ar_layer_has_cross(c, l)) {
                CHECK(model_alloc(m, &m->ctx_k[i], act, 3, c->context_len, Hkv, Dh, &m->mem.context_bytes));
                CHECK(model_alloc(m, &m->ctx_v[i], act, 3, c->context_len, Hkv, Dh, &m->mem.context_bytes));
            }
        }
    }
    if (c->insert_cross_attn)
        CHECK(model_alloc(m, &m->ctx_in, act, 2, c->context_len, c->context_dim, 1, &m->mem.context_bytes));
    /* scratch */
    size_t *sc = &m->mem.scratch_bytes;
    const int64_t rows = Tc > c->context_len ? Tc : c->context_len;
    CHECK(model_alloc(m, &m->x, act, 2, Tc, D, 1, sc));
    CHECK(model_alloc(m, &m->xn, act, 2, Tc, D, 1, sc));
    CHECK(model_alloc(m, &m->q, act, 2, Tc, Q, 1, sc));
    CHECK(model_alloc(m, &m->knew, act, 2, Tc, Hkv * Dh, 1, sc));
    CHECK(model_alloc(m, &m->vnew, act, 2, Tc, Hkv * Dh, 1, sc));
    CHECK(model_alloc(m, &m->att, act, 2, Tc, Q, 1, sc));
    CHECK(model_alloc(m, &m->tmp, act, 2, rows, D > Q ? D : Q, 1, sc));
    CHECK(model_alloc(m, &m->h1, act, 2, Tc, F, 1, sc));
    CHECK(model_alloc(m, &m->h3, act, 2, Tc, F, 1, sc));
    CHECK(model_alloc(m, &m->qkv1, act, 2, 1, Q + 2 * Hkv * Dh, 1, sc));
    CHECK(model_alloc(m, &m->h13, act, 2, 1, 2 * F, 1, sc));
    CHECK(model_alloc(m, &m->logits, act, 2, Tc, m->Vl, 1, sc));
    if (act != COSMOS_F32) {
        CHECK(model_alloc(m, &m->logits_f32, COSMOS_F32, 2, Tc, m->Vl, 1, sc));
        if (c->insert_cross_attn)
            CHECK(model_alloc(m, &m->ctx_f32, COSMOS_F32, 2, c->context_len, c->context_dim, 1, sc));
    }
    /* a chunk's tokens; after a sample, [0] the token and [1] the non-finite flag (cosmos_op_sample) */
    CHECK(model_alloc(m, &m->ids, COSMOS_I32, 1, Tc > 1 ? Tc : 2, 1, 1, sc));
    /* the backend's own memory for this model's attention and sampling calls, now rather than at
     * the first step (a device too small fails here; the workspace logged after the load is final) */
    st = cosmos_backend_reserve_attention(be, Tc, H, Hkv, Dh, S, 1);
    for (int l = m->part.layer0; l < m->part.layer1 && st == COSMOS_OK; l++)
        if (cosmos_ar_layer_has_cross(c, l)) {
            st = cosmos_backend_reserve_attention(be, Tc, H, Hkv, Dh, c->context_len, 0);
            break;
        }
    if (st == COSMOS_OK && cosmos_ar_samples_on_backend(m)) st = cosmos_backend_reserve_sampler(be, m->Vl);
    CHECK_ARG(st == COSMOS_OK, st, "model '%s' on %s: cannot reserve the backend's attention / sampling workspace",
              c->name, cosmos_backend_name(be));
    /* decode through the device-position path: with CUDA graphs where the backend has them (and
     * the whole model is on this rank: no communication inside a step), or when asked (tests) */
    m->use_graphs = p->decode_graphs && cosmos_backend_has_graphs(be) && m->tp == 1 && m->pp == 1;
    m->devpos_decode = (m->use_graphs || p->devpos_decode) && m->tp == 1 && m->pp == 1;
    m->graphs = calloc((size_t)m->n_seq, sizeof *m->graphs);
    m->graph_params = calloc((size_t)m->n_seq, sizeof *m->graph_params);
    CHECK_ALLOC(m->graphs);
    CHECK_ALLOC(m->graph_params);
    if (m->use_graphs) LOG_INFO0("decode steps replay CUDA graphs (one per sequence slot)");
    LOG_DEBUG("decode: q|k|v and w1|w3 by one product each in %d of this rank's %d layers",
              cosmos_ar_model_fused_layers(m), m->part.layer1 - m->part.layer0);
    *out = m;
    m = NULL;
fail:
    free(cos_h);
    free(sin_h);
    free(ape_h);
    cosmos_ar_model_free(m);
    return st;
}

void cosmos_ar_model_free(cosmos_ar_model_t *m) {
    if (!m) return;
    if (m->graphs)
        for (int i = 0; i < m->n_seq; i++) cosmos_backend_graph_free(m->be, m->graphs[i]);
    free(m->graphs);
    free(m->graph_params);
    cosmos_comm_free(m->tp_dev);
    cosmos_comm_free(m->pp_dev);
    free(m->stage_buf);
    if (m->be) {
        for (int i = 0; i < m->n_bufs; i++) cosmos_backend_free_mem(m->be, m->bufs[i]);
        cosmos_ar_weights_release(&m->w, m->be);
    }
    free(m->bufs);
    free(m->ids_host);
    free(m->gather);
    free(m->k_cache);
    free(m->v_cache);
    free(m->ctx_k);
    free(m->ctx_v);
    free(m->has_context);
    cosmos_h5_close(m->h5);
    free(m);
}

/* Cache slot of layer l for the sequence in use. */
static size_t slot(const cosmos_ar_model_t *m, int l) { return (size_t)m->seq * (size_t)m->cfg.n_layers + (size_t)l; }

cosmos_status cosmos_ar_use_seq(cosmos_ar_model_t *m, int seq) {
    if (seq < 0 || seq >= m->n_seq) {
        LOG_ERROR("sequence %d does not exist: the model holds %d (load param n_seq)", seq, m->n_seq);
        return COSMOS_ERR_INVALID_ARG;
    }
    m->seq = seq;
    return COSMOS_OK;
}
int cosmos_ar_model_n_seq(const cosmos_ar_model_t *m) { return m->n_seq; }
void cosmos_ar_model_stage(const cosmos_ar_model_t *m, int *stage, int *pp) {
    *stage = m->stage;
    *pp = m->pp;
}
cosmos_comm_t *cosmos_ar_model_pp_comm(const cosmos_ar_model_t *m) { return m->pp_comm; }
double cosmos_ar_model_comm_seconds(const cosmos_ar_model_t *m) { return m->comm_s; }


/* View [T, n, Dh] of a [T, n*Dh] activation. */
static struct cosmos_tensor heads(struct cosmos_tensor t, int64_t T, int64_t n, int64_t Dh) {
    return cosmos_tensor_3d(t.data, t.dtype, T, n, Dh);
}
static struct cosmos_tensor rows2(struct cosmos_tensor t, int64_t T, int64_t cols) {
    return cosmos_tensor_2d(t.data, t.dtype, T, cols);
}
/* Columns [c0, c0 + n) of a one-row activation [1, cols], as a [1, n] tensor. */
static struct cosmos_tensor row_view(struct cosmos_tensor t, int64_t c0, int64_t n) {
    return cosmos_tensor_2d((char *)t.data + (size_t)c0 * cosmos_dtype_size(t.dtype), t.dtype, 1, n);
}

cosmos_status cosmos_ar_set_context(cosmos_ar_model_t *m, const float *ctx, int n_ctx, int ctx_dim) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_ar_config *c = &m->cfg;
    cosmos_backend_t *be = m->be;
    CHECK_ARG(m->k_cache, COSMOS_ERR_INVALID_ARG, "set_context: model was loaded with weights_only");
    CHECK_ARG(c->insert_cross_attn, COSMOS_ERR_INVALID_ARG,
              "model '%s' has no cross-attention: it takes no text context", c->name);
    CHECK_ARG(n_ctx == c->context_len && ctx_dim == c->context_dim, COSMOS_ERR_INVALID_ARG,
              "context has shape [%d, %d], model '%s' expects [%d, %d] (context_len x context_dim)", n_ctx,
              ctx_dim, c->name, c->context_len, c->context_dim);
    const int64_t Hkv = m->Hkvl, Dh = c->head_dim, N = n_ctx;
    if (m->ctx_in.dtype == COSMOS_F32) {
        /* the model casts the f32 T5 output to bf16 (spec 3, 10.1): the oracle keeps that rounding */
        float *rounded = malloc(sizeof(float) * (size_t)(N * ctx_dim));
        CHECK_ALLOC(rounded);
        for (int64_t i = 0; i < N * ctx_dim; i++) rounded[i] = cosmos_round_bf16(ctx[i]);
        st = cosmos_backend_upload(be, m->ctx_in.data, rounded, sizeof(float) * (size_t)(N * ctx_dim));
        free(rounded);
        CHECK(st);
    } else {
        /* upload f32, then cast on the device (the cast is the model's bf16 rounding) */
        CHECK(cosmos_backend_upload(be, m->ctx_f32.data, ctx, cosmos_tensor_bytes(&m->ctx_f32)));
        CHECK(cosmos_op_copy(be, m->ctx_in, m->ctx_f32));
    }
    for (int l = m->part.layer0; l < m->part.layer1; l++) {
        if (!cosmos_ar_layer_has_cross(c, l)) continue;
        const struct cosmos_ar_layer_weights *L = &m->w.layers[l];
        struct cosmos_tensor ck = m->ctx_k[slot(m, l)], cv = m->ctx_v[slot(m, l)];
        CHECK(cosmos_op_matmul(be, rows2(ck, N, Hkv * Dh), m->ctx_in, L->xwk));
        CHECK(cosmos_op_matmul(be, rows2(cv, N, Hkv * Dh), m->ctx_in, L->xwv));
        if (c->use_qk_normalization) CHECK(cosmos_op_rmsnorm(be, ck, ck, L->xk_norm, (float)c->norm_eps));
    }
    CHECK(cosmos_backend_sync(be));
    m->has_context[m->seq] = 1;
fail:
    return st;
}

cosmos_status cosmos_ar_check_logits(const cosmos_ar_model_t *m, const float *logits, int64_t position) {
    const struct cosmos_ar_config *c = &m->cfg;
    int64_t n_bad = 0, first = -1;
    for (int i = 0; i < c->vocab_size; i++)
        if (!isfinite(logits[i]) && n_bad++ == 0) first = i;
    if (n_bad == 0) return COSMOS_OK;
    LOG_ERROR("model '%s': the logits for position %lld hold %lld non-finite value(s) of %d (the first: %g at "
              "token %lld); the weights or the configuration are broken (e.g. a checkpoint converted with the wrong "
              "config or dtype), and sampling would only make noise",
              c->name, (long long)position, (long long)n_bad, c->vocab_size, (double)logits[first], (long long)first);
    return COSMOS_ERR_FORMAT;
}

cosmos_status cosmos_ar_check_token(const cosmos_ar_model_t *m, int64_t id, int64_t index) {
    const struct cosmos_ar_config *c = &m->cfg;
    if (id >= 0 && id < c->vocab_size) return COSMOS_OK;
    if (id == c->bov_token_id && c->bov_token_id >= 0) return COSMOS_OK;
    if (c->bov_token_id >= 0)
        LOG_ERROR("token %lld at index %lld is invalid for model '%s': ids are video codes in [0, %d) or the BOV "
                  "token %d",
                  (long long)id, (long long)index, c->name, c->vocab_size, c->bov_token_id);
    else
        LOG_ERROR("token %lld at index %lld is invalid for model '%s': ids are video codes in [0, %d)",
                  (long long)id, (long long)index, c->name, c->vocab_size);
    return COSMOS_ERR_INVALID_ARG;
}

#define PP_TAG_ACT 17

/* The ids of T tokens into m->ids, shifted into this rank's embedding rows (vocab-parallel lookup:
 * ids outside them give zero rows, which the all-reduce sums away). */
static cosmos_status upload_ids(cosmos_ar_model_t *m, const int32_t *tokens, int64_t T) {
    for (int64_t t = 0; t < T; t++) m->ids_host[t] = (int32_t)(tokens[t] - m->vin0);
    return cosmos_backend_upload(m->be, m->ids.data, m->ids_host, sizeof(int32_t) * (size_t)T);
}

/* Row-parallel outputs (wo, w2, the embedding) are partial sums: add them over the TP group, in
 * the activation dtype, by the path of the file comment. */
static cosmos_status tp_allreduce(cosmos_ar_model_t *m, struct cosmos_tensor t) {
    if (m->tp == 1) return COSMOS_OK;
    cosmos_status st = COSMOS_OK;
    const double t0 = cosmos_now_s();
    const size_t n = (size_t)cosmos_tensor_numel(&t), bytes = cosmos_tensor_bytes(&t);
    if (m->tp_dev) {
        CHECK(cosmos_comm_allreduce(m->tp_dev, t.data, n, t.dtype));
    } else if (cosmos_backend_is_host(m->be)) {
        CHECK(cosmos_comm_allreduce(m->tp_comm, t.data, n, t.dtype));
    } else {
        CHECK(cosmos_backend_download(m->be, m->stage_buf, t.data, bytes)); /* waits for the queued ops */
        CHECK(cosmos_comm_allreduce(m->tp_comm, m->stage_buf, n, t.dtype));
        CHECK(cosmos_backend_upload(m->be, t.data, m->stage_buf, bytes));
    }
fail:
    m->comm_s += cosmos_now_s() - t0;
    return st;
}

/* The activation x to the next / from the previous pipeline stage. */
static cosmos_status pp_send_act(cosmos_ar_model_t *m, struct cosmos_tensor x) {
    cosmos_status st = COSMOS_OK;
    const double t0 = cosmos_now_s();
    const size_t bytes = cosmos_tensor_bytes(&x);
    if (m->pp_dev) {
        CHECK(cosmos_comm_send(m->pp_dev, x.data, bytes, m->stage + 1, PP_TAG_ACT));
    } else if (cosmos_backend_is_host(m->be)) {
        CHECK(cosmos_comm_send(m->pp_comm, x.data, bytes, m->stage + 1, PP_TAG_ACT));
    } else {
        CHECK(cosmos_backend_download(m->be, m->stage_buf, x.data, bytes));
        CHECK(cosmos_comm_send(m->pp_comm, m->stage_buf, bytes, m->stage + 1, PP_TAG_ACT));
    }
fail:
    m->comm_s += cosmos_now_s() - t0;
    return st;
}
static cosmos_status pp_recv_act(cosmos_ar_model_t *m, struct cosmos_tensor x) {
    cosmos_status st = COSMOS_OK;
    const double t0 = cosmos_now_s();
    const size_t bytes = cosmos_tensor_bytes(&x);
    if (m->pp_dev) {
        CHECK(cosmos_comm_recv(m->pp_dev, x.data, bytes, m->stage - 1, PP_TAG_ACT));
    } else if (cosmos_backend_is_host(m->be)) {
        CHECK(cosmos_comm_recv(m->pp_comm, x.data, bytes, m->stage - 1, PP_TAG_ACT));
    } else {
        CHECK(cosmos_comm_recv(m->pp_comm, m->stage_buf, bytes, m->stage - 1, PP_TAG_ACT));
        CHECK(cosmos_backend_upload(m->be, x.data, m->stage_buf, bytes));
    }
fail:
    m->comm_s += cosmos_now_s() - t0;
    return st;
}

/* Local logits [nr, Vl] (host) -> full logits dst [nr, V] on every rank (tp > 1). */
static cosmos_status tp_gather_logits(cosmos_ar_model_t *m, const float *local, int64_t nr, float *dst) {
    const int64_t Vl = m->Vl;
    const double t0 = cosmos_now_s();
    cosmos_status st = cosmos_comm_allgather(m->tp_comm, local, m->gather, sizeof(float) * (size_t)(nr * Vl));
    m->comm_s += cosmos_now_s() - t0;
    if (st != COSMOS_OK) return st;
    for (int r = 0; r < m->tp; r++)
        for (int64_t t = 0; t < nr; t++)
            memcpy(dst + t * Vl * m->tp + r * Vl, m->gather + ((int64_t)r * nr + t) * Vl, sizeof(float) * (size_t)Vl);
    return COSMOS_OK;
}

/* x += a . w^T (an output projection or w2; tmp [T, D] scratch): the ranks' partial products are
 * summed first under tp > 1; with one rank the add goes with the product (one launch on a GPU at
 * decode). */
static cosmos_status residual_matmul(cosmos_ar_model_t *m, struct cosmos_tensor x, struct cosmos_tensor a,
                                     struct cosmos_tensor w, struct cosmos_tensor tmp) {
    cosmos_status st = COSMOS_OK;
    if (m->tp == 1 && !m->unfused) return cosmos_op_matmul_add(m->be, x, x, a, w, tmp);
    CHECK(cosmos_op_matmul(m->be, tmp, a, w));
    CHECK(tp_allreduce(m, tmp));
    CHECK(cosmos_op_add(m->be, x, x, tmp));
fail:
    return st;
}

/* One chunk of T <= max_chunk tokens at positions pos0.. through every layer; leaves the final
 * hidden state in m->x. pos0 may be COSMOS_POS_DEVICE (the backend's position cell, set by the
 * caller); tokens NULL: the ids are already in m->ids (both for the CUDA-graph decode step, whose
 * ops must not depend on host values). */
static cosmos_status forward_chunk(cosmos_ar_model_t *m, const int32_t *tokens, int64_t T, int pos0) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_ar_config *c = &m->cfg;
    cosmos_backend_t *be = m->be;
    const int64_t D = c->dim, H = m->Hl, Hkv = m->Hkvl, Dh = c->head_dim, F = c->ffn_hidden_size / m->tp;
    const float eps = (float)c->norm_eps;
    struct cosmos_tensor ids = cosmos_tensor_1d(m->ids.data, COSMOS_I32, T);
    struct cosmos_tensor x = rows2(m->x, T, D), xn = rows2(m->xn, T, D), tmp = rows2(m->tmp, T, D);
    struct cosmos_tensor q_rows = rows2(m->q, T, H * Dh), att = rows2(m->att, T, H * Dh);
    struct cosmos_tensor h1_rows = rows2(m->h1, T, F), h3_rows = rows2(m->h3, T, F);
    struct cosmos_tensor k_rows = rows2(m->knew, T, Hkv * Dh), v_rows = rows2(m->vnew, T, Hkv * Dh);
    if (m->part.first_stage) {
        if (tokens) CHECK(upload_ids(m, tokens, T));
        CHECK(cosmos_op_embedding(be, x, m->w.tok_embeddings, ids));
        CHECK(tp_allreduce(m, x));
    } else {
        CHECK(pp_recv_act(m, x));
    }
    for (int l = m->part.layer0; l < m->part.layer1; l++) {
        const struct cosmos_ar_layer_weights *L = &m->w.layers[l];
        /* self-attention: this chunk's K and V (post-norm, post-RoPE K) go to the cache rows of
         * their positions, then the queries attend the cache over [0, pos] */
        const struct cosmos_tensor kcache = m->k_cache[slot(m, l)], vcache = m->v_cache[slot(m, l)];
        if (c->apply_abs_pos_emb && !m->unfused) { /* APE before every layer, then its norm: one launch on a GPU */
            CHECK(cosmos_op_add_rows_rmsnorm(be, x, m->ape, pos0, xn, L->attention_norm, eps));
        } else {
            if (c->apply_abs_pos_emb) CHECK(cosmos_op_add_rows(be, x, x, m->ape, pos0));
            CHECK(cosmos_op_rmsnorm(be, xn, x, L->attention_norm, eps));
        }
        struct cosmos_tensor q = q_rows, knew = k_rows, vnew = v_rows;
        if (T == 1 && L->wqkv.data) { /* one token: q, k and v by one product, then three views of it */
            CHECK(cosmos_op_matmul(be, m->qkv1, xn, L->wqkv));
            q = row_view(m->qkv1, 0, H * Dh);
            knew = row_view(m->qkv1, H * Dh, Hkv * Dh);
            vnew = row_view(m->qkv1, (H + Hkv) * Dh, Hkv * Dh);
        } else {
            CHECK(cosmos_op_matmul(be, q, xn, L->wq));
            CHECK(cosmos_op_matmul(be, knew, xn, L->wk));
            CHECK(cosmos_op_matmul(be, vnew, xn, L->wv));
        }
        struct cosmos_tensor kh = heads(knew, T, Hkv, Dh);
        if (c->use_qk_normalization && !m->unfused) { /* QK-norm, RoPE, the cache rows: one launch on a GPU */
            CHECK(cosmos_op_qkv_rope_store(be, heads(q, T, H, Dh), kh, heads(vnew, T, Hkv, Dh), L->q_norm, L->k_norm,
                                           eps, m->rope_cos, m->rope_sin, kcache, vcache, pos0));
        } else {
            if (c->use_qk_normalization) {
                CHECK(cosmos_op_qk_norm_rope(be, heads(q, T, H, Dh), L->q_norm, eps, m->rope_cos, m->rope_sin, pos0));
                CHECK(cosmos_op_qk_norm_rope(be, kh, L->k_norm, eps, m->rope_cos, m->rope_sin, pos0));
            } else {
                CHECK(cosmos_op_rope(be, heads(q, T, H, Dh), m->rope_cos, m->rope_sin, pos0));
                CHECK(cosmos_op_rope(be, kh, m->rope_cos, m->rope_sin, pos0));
            }
            CHECK(cosmos_op_store_rows(be, kcache, kh, pos0));
            CHECK(cosmos_op_store_rows(be, vcache, heads(vnew, T, Hkv, Dh), pos0));
        }
        CHECK(cosmos_op_attention(be, heads(att, T, H, Dh), heads(q, T, H, Dh), kcache, vcache, pos0, 1));
        CHECK(residual_matmul(m, x, att, L->wo, tmp));
        if (cosmos_ar_layer_has_cross(c, l)) {
            CHECK(cosmos_op_rmsnorm(be, xn, x, L->cross_attention_norm, eps));
            CHECK(cosmos_op_matmul(be, q, xn, L->xwq));
            if (c->use_qk_normalization)
                CHECK(cosmos_op_rmsnorm(be, heads(q, T, H, Dh), heads(q, T, H, Dh), L->xq_norm, eps));
            CHECK(cosmos_op_attention(be, heads(att, T, H, Dh), heads(q, T, H, Dh), m->ctx_k[slot(m, l)],
                                      m->ctx_v[slot(m, l)], 0, 0));
            CHECK(residual_matmul(m, x, att, L->xwo, tmp));
        }
        CHECK(cosmos_op_rmsnorm(be, xn, x, L->ffn_norm, eps));
        if (T == 1 && L->w13.data) { /* one token: silu(h1) * h3 by one op over w1|w3 (one launch on a GPU) */
            CHECK(cosmos_op_matmul_swiglu(be, h1_rows, xn, L->w13, m->h13));
        } else {
            CHECK(cosmos_op_matmul(be, h1_rows, xn, L->w1));
            CHECK(cosmos_op_matmul(be, h3_rows, xn, L->w3));
            CHECK(cosmos_op_silu_mul(be, h1_rows, h1_rows, h3_rows));
        }
        CHECK(residual_matmul(m, x, h1_rows, L->w2, tmp));
    }
    if (!m->part.last_stage) CHECK(pp_send_act(m, x));
fail:
    return st;
}

static cosmos_status pp_broadcast(cosmos_ar_model_t *m, float *buf, int64_t n) {
    const double t0 = cosmos_now_s();
    cosmos_status st = cosmos_comm_broadcast(m->pp_comm, buf, sizeof(float) * (size_t)n, m->pp - 1);
    m->comm_s += cosmos_now_s() - t0;
    return st;
}

/* f32 logits [nr, Vl] on the backend of the final hidden state rows [r0, r0+nr) of the last chunk
 * (rows2(m->x, n, D)): the final RMSNorm, the LM head, and a cast where activations are not f32. */
static cosmos_status logits_rows(cosmos_ar_model_t *m, int64_t n, int64_t r0, int64_t nr, struct cosmos_tensor *out) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_ar_config *c = &m->cfg;
    cosmos_backend_t *be = m->be;
    const int64_t D = c->dim;
    struct cosmos_tensor xr = cosmos_tensor_rows(rows2(m->x, n, D), r0, nr);
    struct cosmos_tensor xn = rows2(m->xn, nr, D), lg = rows2(m->logits, nr, m->Vl);
    CHECK(cosmos_op_rmsnorm(be, xn, xr, m->w.norm, (float)c->norm_eps));
    CHECK(cosmos_op_matmul(be, lg, xn, m->w.output));
    *out = lg;
    if (lg.dtype != COSMOS_F32) {
        *out = rows2(m->logits_f32, nr, m->Vl);
        CHECK(cosmos_op_copy(be, *out, lg));
    }
fail:
    return st;
}

/* What every forward checks first (and the one-time setup of the activation exchange). */
static cosmos_status check_step(cosmos_ar_model_t *m, const int32_t *tokens, int T, int pos0, int check_tokens) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_ar_config *c = &m->cfg;
    CHECK_ARG(T > 0, COSMOS_ERR_INVALID_ARG, "forward: no tokens");
    CHECK_ARG(m->k_cache, COSMOS_ERR_INVALID_ARG, "forward: model was loaded with weights_only");
    CHECK_ARG(pos0 >= 0 && (int64_t)pos0 + T <= c->max_seq_len, COSMOS_ERR_INVALID_ARG,
              "forward: positions [%d, %d) exceed the model's max_seq_len %d", pos0, pos0 + T, c->max_seq_len);
    CHECK_ARG(!c->insert_cross_attn || m->has_context[m->seq], COSMOS_ERR_INVALID_ARG,
              "model '%s' cross-attends to a text context: set one first (--context)", c->name);
    if (!m->act_ready) CHECK(open_act_comms(m, m->max_chunk));
    if (check_tokens)
        for (int t = 0; t < T; t++) CHECK(cosmos_ar_check_token(m, tokens[t], t));
fail:
    return st;
}

static cosmos_status forward(cosmos_ar_model_t *m, const int32_t *tokens, int T, int pos0,
                             enum cosmos_logits_mode mode, float *logits, int broadcast) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_ar_config *c = &m->cfg;
    cosmos_backend_t *be = m->be;
    const int64_t V = c->vocab_size;
    CHECK(check_step(m, tokens, T, pos0, broadcast || m->part.first_stage));
    for (int t0 = 0; t0 < T; t0 += m->max_chunk) {
        const int64_t n = T - t0 < m->max_chunk ? T - t0 : m->max_chunk;
        CHECK(forward_chunk(m, tokens + t0, n, pos0 + t0));
        const int last_chunk = t0 + n == T;
        if (mode == COSMOS_LOGITS_ALL || (mode == COSMOS_LOGITS_LAST && last_chunk)) {
            const int64_t r0 = mode == COSMOS_LOGITS_ALL ? 0 : n - 1, nr = mode == COSMOS_LOGITS_ALL ? n : 1;
            float *dst = mode == COSMOS_LOGITS_ALL ? logits + (size_t)t0 * (size_t)V : logits;
            if (!m->part.last_stage) { /* the last stage computes them (and broadcasts them) */
                if (broadcast) CHECK(pp_broadcast(m, dst, nr * V));
                continue;
            }
            /* stage this rank's [nr, Vl] f32 logits on the host (in the front of dst), then gather */
            struct cosmos_tensor lf;
            CHECK(logits_rows(m, n, r0, nr, &lf));
            CHECK(cosmos_backend_download(be, dst, lf.data, cosmos_tensor_bytes(&lf)));
            if (m->tp > 1) CHECK(tp_gather_logits(m, dst, nr, dst));
            if (m->pp > 1 && broadcast) CHECK(pp_broadcast(m, dst, nr * V));
        }
    }
    CHECK(cosmos_backend_sync(be));
fail:
    return st;
}

cosmos_status cosmos_ar_forward(cosmos_ar_model_t *m, const int32_t *tokens, int T, int pos0,
                                enum cosmos_logits_mode mode, float *logits) {
    return forward(m, tokens, T, pos0, mode, logits, 1);
}

cosmos_status cosmos_ar_forward_stage(cosmos_ar_model_t *m, const int32_t *tokens, int T, int pos0,
                                      enum cosmos_logits_mode mode, float *logits) {
    return forward(m, tokens, T, pos0, mode, logits, 0);
}

int cosmos_ar_samples_on_backend(const cosmos_ar_model_t *m) { return m->tp == 1 && m->part.last_stage; }

/* From the final hidden state row r0 of the last chunk: logits (f32 on the backend) and the token
 * drawn at `position` (COSMOS_POS_DEVICE: the position cell + 1) into m->ids[0]. */
static cosmos_status sample_row(cosmos_ar_model_t *m, int64_t r0, const struct cosmos_sampler_params *p,
                                int64_t position) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_tensor lf;
    CHECK(logits_rows(m, r0 + 1, r0, 1, &lf));
    /* host logits are checked here (the message names the first bad value); a device's by the
     * sample op itself, whose flag in m->ids[1] cosmos_ar_forward_sample reads with the token */
    if (cosmos_backend_is_host(m->be)) CHECK(cosmos_ar_check_logits(m, lf.data, position));
    CHECK(cosmos_op_sample(m->be, cosmos_tensor_1d(m->ids.data, COSMOS_I32, 2),
                           cosmos_tensor_1d(lf.data, COSMOS_F32, m->Vl), p, position));
fail:
    return st;
}

/* The device-position decode step: every op reads the position from the backend's cell and the
 * token from m->ids, so the same op sequence serves every step (what a CUDA graph records). */
static cosmos_status devpos_step(cosmos_ar_model_t *m, const struct cosmos_sampler_params *p) {
    cosmos_status st = forward_chunk(m, NULL, 1, COSMOS_POS_DEVICE);
    return st != COSMOS_OK ? st : sample_row(m, 0, p, COSMOS_POS_DEVICE);
}

static int same_params(const struct cosmos_sampler_params *a, const struct cosmos_sampler_params *b) {
    return a->temperature == b->temperature && a->top_p == b->top_p && a->top_k == b->top_k && a->seed == b->seed;
}

/* One decode step through the device-position path, replayed from the sequence slot's CUDA graph
 * when graphs are on: the first step of a slot (or one with other sampler params) runs eagerly,
 * which also sizes every workspace and makes the GPU sampler, then is recorded. */
static cosmos_status decode_devpos(cosmos_ar_model_t *m, const struct cosmos_sampler_params *p) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = m->be;
    if (!m->use_graphs) return devpos_step(m, p);
    cosmos_graph_t **g = &m->graphs[m->seq];
    if (*g && !same_params(&m->graph_params[m->seq], p)) {
        cosmos_backend_graph_free(be, *g);
        *g = NULL;
    }
    if (*g) return cosmos_backend_graph_launch(be, *g);
    CHECK(devpos_step(m, p));
    CHECK(cosmos_backend_sync(be)); /* the eager step is complete before anything is recorded */
    CHECK(cosmos_backend_graph_begin(be));
    st = devpos_step(m, p); /* recorded, not run */
    cosmos_graph_t *ng = NULL;
    const cosmos_status end = cosmos_backend_graph_end(be, &ng);
    if (st == COSMOS_OK) st = end;
    if (st != COSMOS_OK) {
        cosmos_backend_graph_free(be, ng);
        LOG_ERROR("decode: recording the CUDA graph failed; run with COSMOS_CUDA_GRAPHS=0 to decode without graphs");
        goto fail;
    }
    *g = ng;
    m->graph_params[m->seq] = *p;
fail:
    return st;
}

cosmos_status cosmos_ar_forward_sample(cosmos_ar_model_t *m, const int32_t *tokens, int T, int pos0,
                                       const struct cosmos_sampler_params *p, int32_t *token) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = m->be;
    CHECK_ARG(cosmos_ar_samples_on_backend(m), COSMOS_ERR_UNSUPPORTED,
              "forward_sample: only the last pipeline stage without tensor parallelism samples on the backend");
    if (T == 1 && m->devpos_decode) { /* (devpos_decode implies one rank: tp = pp = 1) */
        CHECK(check_step(m, tokens, T, pos0, 1));
        CHECK(upload_ids(m, tokens, 1));
        CHECK(cosmos_backend_set_pos(be, pos0));
        CHECK(decode_devpos(m, p));
    } else {
        CHECK(forward(m, tokens, T, pos0, COSMOS_LOGITS_NONE, NULL, 0));
        /* the hidden state of token T-1 is row (T-1) % max_chunk of the last chunk */
        CHECK(sample_row(m, (int64_t)(T - 1) % m->max_chunk, p, (int64_t)pos0 + T));
    }
    int32_t got[2];
    CHECK(cosmos_backend_download(be, got, m->ids.data, sizeof got)); /* waits for the step */
    CHECK_ARG(!got[1], COSMOS_ERR_FORMAT,
              "model '%s': the logits for position %lld hold non-finite values (NaN or Inf, found by the %s backend's "
              "sampler); the weights or the configuration are broken (e.g. a checkpoint converted with the wrong "
              "config or dtype), and sampling would only make noise",
              m->cfg.name, (long long)pos0 + T, cosmos_backend_name(be));
    *token = got[0];
fail:
    return st;
}
