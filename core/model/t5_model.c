/* T5 v1.0 encoder: weight loading and the f32 forward pass (spec components.md 3.4; see
 * t5_model.h). Per block: h += SelfAttn(RMSNorm(h)); h += wo(relu(wi(RMSNorm(h)))); then the final
 * RMSNorm. Attention has no 1/sqrt(d) scale and adds the relative-position bias of block 0 in every
 * block. Activations are f32 on every backend (the official encoder runs in fp32, 3.1): on the CPU
 * matmul weights stay in their stored dtype (bf16 or f32); on a backend whose own activations are
 * bf16 (CUDA) they are widened to f32 at load (its bf16 matmul takes bf16 activations only). Norm
 * and position-bias weights, being tiny, are widened to f32 everywhere; the embedding table keeps its
 * dtype (rows are converted as they are gathered). */
#include "core/model/t5_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/h5bytes.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/t5_tokenize.h"

struct t5_layer {
    struct cosmos_tensor q, k, v, o, wi, wo; /* [out, in], bf16 or f32 */
    struct cosmos_tensor ln_attn, ln_ffn;    /* f32 [D] */
};

struct cosmos_t5 {
    cosmos_backend_t *be;
    struct cosmos_t5_config cfg;
    cosmos_h5_t *h5;
    cosmos_spm_t *spm;
    struct cosmos_tensor embed; /* [V, D] bf16 or f32 */
    float *rel_table;           /* host [buckets, H] (block 0's relative_attention_bias) */
    struct t5_layer *layers;
    struct cosmos_tensor final_ln; /* f32 [D] */
    void **host_owned, **dev_owned;
    int n_host_owned, n_dev_owned, cap_owned;
};

#define LAYER_NAME(buf, i, rest) snprintf((buf), sizeof(buf), "encoder.block.%d.%s", (i), (rest))

cosmos_status cosmos_t5_weight_specs(const struct cosmos_t5_config *c, struct cosmos_t5_tensor_spec **specs_out,
                                     int *n_out) {
    const int64_t D = c->d_model, I = (int64_t)c->num_heads * c->d_kv, F = c->d_ff;
    const int n = 3 + 8 * c->num_layers;
    struct cosmos_t5_tensor_spec *s = calloc((size_t)n, sizeof *s);
    if (!s) return COSMOS_ERR_NOMEM;
    int j = 0;
#define ADD(nd, s0, s1, ...)                                              \
    do {                                                                  \
        snprintf(s[j].name, sizeof s[j].name, __VA_ARGS__);               \
        s[j].ndim = (nd);                                                 \
        s[j].shape[0] = (s0);                                             \
        s[j].shape[1] = (s1);                                             \
        j++;                                                              \
    } while (0)
    ADD(2, c->vocab_size, D, "shared.weight");
    ADD(2, c->relative_attention_num_buckets, c->num_heads,
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight");
    for (int i = 0; i < c->num_layers; i++) {
        ADD(1, D, 1, "encoder.block.%d.layer.0.layer_norm.weight", i);
        ADD(2, I, D, "encoder.block.%d.layer.0.SelfAttention.q.weight", i);
        ADD(2, I, D, "encoder.block.%d.layer.0.SelfAttention.k.weight", i);
        ADD(2, I, D, "encoder.block.%d.layer.0.SelfAttention.v.weight", i);
        ADD(2, D, I, "encoder.block.%d.layer.0.SelfAttention.o.weight", i);
        ADD(1, D, 1, "encoder.block.%d.layer.1.layer_norm.weight", i);
        ADD(2, F, D, "encoder.block.%d.layer.1.DenseReluDense.wi.weight", i);
        ADD(2, D, F, "encoder.block.%d.layer.1.DenseReluDense.wo.weight", i);
    }
    ADD(1, D, 1, "encoder.final_layer_norm.weight");
#undef ADD
    *specs_out = s;
    *n_out = j;
    return COSMOS_OK;
}

/* Whether cosmos_t5_load holds tensor j of the specs (not the position bias, j = 1, which it keeps
 * on the host in f32) widened to f32 on a backend of activation dtype act: the norms (1-D) always;
 * the matmul weights where the activations are not f32 (the bf16 matmul cannot take f32 ones); the
 * embedding (j = 0) never (its rows are converted as they are gathered). */
static int widened(const struct cosmos_t5_tensor_spec *sp, int j, enum cosmos_dtype act) {
    if (j == 0) return 0;
    return sp->ndim == 1 || act != COSMOS_F32;
}

static void track(void **arr, int *n, void *p) {
    if (p) arr[(*n)++] = p;
}

/* Bind one tensor: checked against its spec; kept in its stored dtype unless want_f32. */
static cosmos_status bind(cosmos_t5_t *m, const struct cosmos_t5_tensor_spec *sp, int want_f32,
                          struct cosmos_tensor *t) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_h5_info info;
    void *owned = NULL;
    const char *path = cosmos_h5_path(m->h5);
    CHECK_ARG(cosmos_h5_has_dataset(m->h5, sp->name), COSMOS_ERR_FORMAT,
              "%s: tensor '%s' is missing (hint: convert with tools/convert_checkpoint.py t5)", path, sp->name);
    CHECK(cosmos_h5_info(m->h5, sp->name, &info));
    int shape_ok = info.ndim == sp->ndim && info.shape[0] == sp->shape[0] && (sp->ndim == 1 || info.shape[1] == sp->shape[1]);
    CHECK_ARG(shape_ok, COSMOS_ERR_FORMAT, "%s: tensor '%s' has shape [%lld%s%lld], the config wants [%lld%s%lld]",
              path, sp->name, (long long)info.shape[0], info.ndim > 1 ? "," : "",
              info.ndim > 1 ? (long long)info.shape[1] : 0LL, (long long)sp->shape[0], sp->ndim > 1 ? "," : "",
              sp->ndim > 1 ? (long long)sp->shape[1] : 0LL);
    CHECK_ARG(info.dtype == COSMOS_BF16 || info.dtype == COSMOS_F32, COSMOS_ERR_FORMAT,
              "%s: tensor '%s' must be bf16 or float32", path, sp->name);
    const size_t numel = (size_t)sp->shape[0] * (size_t)(sp->ndim == 2 ? sp->shape[1] : 1);
    void *host = NULL;
    enum cosmos_dtype dt = info.dtype;
    if (info.dtype == COSMOS_BF16) {
        const cosmos_bf16 *p = NULL;
        CHECK(cosmos_h5_map_bf16(m->h5, sp->name, &p, &owned));
        if (want_f32) {
            float *f = malloc(sizeof(float) * numel);
            CHECK_ALLOC(f);
            cosmos_bf16_to_f32_n(f, p, numel);
            free(owned);
            owned = f;
            host = f;
            dt = COSMOS_F32;
        } else {
            host = (void *)p;
        }
    } else {
        owned = malloc(sizeof(float) * numel);
        CHECK_ALLOC(owned);
        CHECK(cosmos_h5_read(m->h5, sp->name, COSMOS_F32, owned));
        host = owned;
    }
    if (cosmos_backend_is_host(m->be)) {
        track(m->host_owned, &m->n_host_owned, owned);
        owned = NULL;
    } else {
        void *dev = NULL;
        CHECK(cosmos_backend_alloc(m->be, numel * cosmos_dtype_size(dt), &dev));
        track(m->dev_owned, &m->n_dev_owned, dev);
        CHECK(cosmos_backend_upload(m->be, dev, host, numel * cosmos_dtype_size(dt)));
        host = dev;
    }
    *t = sp->ndim == 2 ? cosmos_tensor_2d(host, dt, sp->shape[0], sp->shape[1]) : cosmos_tensor_1d(host, dt, sp->shape[0]);
fail:
    free(owned);
    return st;
}

cosmos_status cosmos_t5_load(cosmos_backend_t *be, const char *path, cosmos_t5_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_t5_t *m = NULL;
    char *json = NULL, **names = NULL;
    uint8_t *blob = NULL;
    size_t blob_n = 0;
    struct cosmos_t5_tensor_spec *specs = NULL;
    int n_specs = 0, n_names = 0;
    *out = NULL;
    m = calloc(1, sizeof *m);
    CHECK_ALLOC(m);
    m->be = be;
    CHECK(cosmos_h5_open(path, &m->h5));
    CHECK(cosmos_h5_check_model_header(m->h5, "t5",
                                       "encode-text needs a T5 encoder file from `tools/convert_checkpoint.py t5` "
                                       "or `cosmos-ar init` with a T5 config",
                                       &json));
    CHECK(cosmos_t5_config_parse(json, path, NULL, &m->cfg));
    const struct cosmos_t5_config *c = &m->cfg;
    CHECK(cosmos_t5_weight_specs(c, &specs, &n_specs));

    /* strict: no unknown datasets */
    CHECK(cosmos_h5_list(m->h5, &names, &n_names));
    for (int i = 0; i < n_names; i++) {
        int known = !strcmp(names[i], COSMOS_T5_SPIECE_DATASET);
        for (int j = 0; j < n_specs && !known; j++) known = !strcmp(names[i], specs[j].name);
        CHECK_ARG(known, COSMOS_ERR_FORMAT, "%s: unknown tensor '%s' in a T5 encoder file (%s)", path, names[i],
                  c->name);
    }

    m->cap_owned = n_specs + 4;
    m->host_owned = calloc((size_t)m->cap_owned, sizeof(void *));
    m->dev_owned = calloc((size_t)m->cap_owned, sizeof(void *));
    m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    CHECK_ALLOC(m->host_owned);
    CHECK_ALLOC(m->dev_owned);
    CHECK_ALLOC(m->layers);
    int j = 0;
    /* the activations are f32 on every backend (widened: which tensors that widens) */
    const enum cosmos_dtype act = cosmos_backend_act_dtype(be);
#define BIND(dst) (j++, bind(m, &specs[j - 1], widened(&specs[j - 1], j - 1, act), (dst)))
    CHECK(BIND(&m->embed));
    /* the position-bias table is used on the host (it becomes a [H, 2T-1] table per call) */
    {
        const struct cosmos_t5_tensor_spec *sp = &specs[j++];
        struct cosmos_h5_info info;
        CHECK_ARG(cosmos_h5_has_dataset(m->h5, sp->name), COSMOS_ERR_FORMAT, "%s: tensor '%s' is missing", path,
                  sp->name);
        CHECK(cosmos_h5_info(m->h5, sp->name, &info));
        CHECK_ARG(info.ndim == 2 && info.shape[0] == sp->shape[0] && info.shape[1] == sp->shape[1], COSMOS_ERR_FORMAT,
                  "%s: tensor '%s' must be [%lld,%lld] (buckets, heads)", path, sp->name, (long long)sp->shape[0],
                  (long long)sp->shape[1]);
        const size_t numel = (size_t)(sp->shape[0] * sp->shape[1]);
        m->rel_table = malloc(sizeof(float) * numel);
        CHECK_ALLOC(m->rel_table);
        if (info.dtype == COSMOS_F32) {
            CHECK(cosmos_h5_read(m->h5, sp->name, COSMOS_F32, m->rel_table));
        } else {
            CHECK_ARG(info.dtype == COSMOS_BF16, COSMOS_ERR_FORMAT, "%s: '%s' must be bf16 or float32", path,
                      sp->name);
            const cosmos_bf16 *p = NULL;
            void *owned = NULL;
            CHECK(cosmos_h5_map_bf16(m->h5, sp->name, &p, &owned));
            cosmos_bf16_to_f32_n(m->rel_table, p, numel);
            free(owned);
        }
    }
    for (int i = 0; i < c->num_layers; i++) {
        struct t5_layer *L = &m->layers[i];
        CHECK(BIND(&L->ln_attn));
        CHECK(BIND(&L->q));
        CHECK(BIND(&L->k));
        CHECK(BIND(&L->v));
        CHECK(BIND(&L->o));
        CHECK(BIND(&L->ln_ffn));
        CHECK(BIND(&L->wi));
        CHECK(BIND(&L->wo));
    }
    CHECK(BIND(&m->final_ln));
#undef BIND

    CHECK(cosmos_h5_read_bytes(path, COSMOS_T5_SPIECE_DATASET, &blob, &blob_n));
    char source[1100];
    snprintf(source, sizeof source, "%s:/%s", path, COSMOS_T5_SPIECE_DATASET);
    CHECK(cosmos_spm_load(blob, blob_n, source, &m->spm));
    CHECK_ARG(cosmos_spm_piece_size(m->spm) <= c->vocab_size, COSMOS_ERR_FORMAT,
              "%s: the tokenizer has %d pieces, more than the %d embedding rows", path, cosmos_spm_piece_size(m->spm),
              c->vocab_size);
    *out = m;
    m = NULL;
fail:
    cosmos_t5_free(m);
    cosmos_h5_free_names(names, n_names);
    free(specs);
    free(json);
    free(blob);
    return st;
}

cosmos_status cosmos_t5_weight_bytes(const char *path, enum cosmos_dtype act, int64_t *out) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h5 = NULL;
    char *json = NULL;
    struct cosmos_t5_config c;
    struct cosmos_t5_tensor_spec *specs = NULL;
    int n = 0;
    int64_t bytes = 0;
    *out = 0;
    CHECK(cosmos_h5_open(path, &h5));
    CHECK(cosmos_h5_check_model_header(h5, "t5", "a T5 encoder file comes from `tools/convert_checkpoint.py t5`", &json));
    CHECK(cosmos_t5_config_parse(json, path, NULL, &c));
    CHECK(cosmos_t5_weight_specs(&c, &specs, &n));
    for (int j = 0; j < n; j++) {
        struct cosmos_h5_info info;
        CHECK_ARG(cosmos_h5_has_dataset(h5, specs[j].name), COSMOS_ERR_FORMAT, "%s: tensor '%s' is missing", path,
                  specs[j].name);
        CHECK(cosmos_h5_info(h5, specs[j].name, &info));
        const int64_t numel = specs[j].shape[0] * (specs[j].ndim == 2 ? specs[j].shape[1] : 1);
        /* as cosmos_t5_load holds them: the position bias (1) in f32, the rest widened or as stored */
        const size_t es = j == 1 || widened(&specs[j], j, act) ? 4 : cosmos_dtype_size(info.dtype);
        bytes += numel * (int64_t)es;
    }
    *out = bytes;
fail:
    free(specs);
    free(json);
    cosmos_h5_close(h5);
    return st;
}

void cosmos_t5_free(cosmos_t5_t *m) {
    if (!m) return;
    for (int i = 0; i < m->n_dev_owned; i++) cosmos_backend_free_mem(m->be, m->dev_owned[i]);
    for (int i = 0; i < m->n_host_owned; i++) free(m->host_owned[i]);
    free(m->dev_owned);
    free(m->host_owned);
    free(m->layers);
    free(m->rel_table);
    cosmos_spm_free(m->spm);
    cosmos_h5_close(m->h5);
    free(m);
}

const struct cosmos_t5_config *cosmos_t5_get_config(const cosmos_t5_t *m) { return &m->cfg; }
const cosmos_spm_t *cosmos_t5_tokenizer(const cosmos_t5_t *m) { return m->spm; }

int cosmos_t5_rel_bucket(int rel, int num_buckets, int max_distance) {
    const int n = num_buckets / 2, exact = n / 2;
    int b = rel > 0 ? n : 0;
    int a = rel < 0 ? -rel : rel;
    if (a < exact) return b + a;
    /* log-spaced buckets from `exact` to max_distance, in f32 like the reference (HF T5Attention) */
    const float denom = (float)log((double)max_distance / (double)exact);
    float lf = logf((float)a / (float)exact) / denom * (float)(n - exact);
    int v = exact + (int)lf;
    return b + (v < n - 1 ? v : n - 1);
}

static cosmos_status linear(cosmos_backend_t *be, struct cosmos_tensor y, struct cosmos_tensor x,
                            struct cosmos_tensor w) {
    return w.dtype == COSMOS_F32 ? cosmos_op_matmul_f32w(be, y, x, w) : cosmos_op_matmul(be, y, x, w);
}

cosmos_status cosmos_t5_forward(cosmos_t5_t *m, const int32_t *ids, int len, float *out) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = m->be;
    const struct cosmos_t5_config *c = &m->cfg;
    const int64_t T = len, D = c->d_model, H = c->num_heads, Dk = c->d_kv, I = H * Dk, F = c->d_ff;
    const float eps = (float)c->layer_norm_epsilon;
    float *bias_host = NULL;
    void *bx = NULL, *bh = NULL, *bq = NULL, *bk = NULL, *bv = NULL, *ba = NULL, *bf = NULL, *bias = NULL;
    CHECK_ARG(len >= 1 && len <= c->max_length, COSMOS_ERR_INVALID_ARG, "t5 forward: %d tokens, must be in [1, %d]",
              len, c->max_length);
    for (int t = 0; t < len; t++)
        CHECK_ARG(ids[t] >= 0 && ids[t] < c->vocab_size, COSMOS_ERR_INVALID_ARG,
                  "t5 forward: token id %d at index %d is outside [0, %d)", ids[t], t, c->vocab_size);
    const size_t fs = sizeof(float);
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(T * D), &bx));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(T * D), &bh));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(T * I), &bq));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(T * I), &bk));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(T * I), &bv));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(T * I), &ba));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(T * F), &bf));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(H * (2 * T - 1)), &bias));
    struct cosmos_tensor x = cosmos_tensor_2d(bx, COSMOS_F32, T, D), h = cosmos_tensor_2d(bh, COSMOS_F32, T, D);
    struct cosmos_tensor q = cosmos_tensor_2d(bq, COSMOS_F32, T, I), k = cosmos_tensor_2d(bk, COSMOS_F32, T, I);
    struct cosmos_tensor v = cosmos_tensor_2d(bv, COSMOS_F32, T, I), a = cosmos_tensor_2d(ba, COSMOS_F32, T, I);
    struct cosmos_tensor f = cosmos_tensor_2d(bf, COSMOS_F32, T, F);
    struct cosmos_tensor rb = cosmos_tensor_2d(bias, COSMOS_F32, H, 2 * T - 1);

    /* h0 = Emb[ids] (no sqrt(d) scaling) */
    for (int64_t t = 0; t < T; t++)
        CHECK(cosmos_op_copy(be, cosmos_tensor_rows(x, t, 1), cosmos_tensor_rows(m->embed, ids[t], 1)));
    /* rel_bias[h, d] = E[bucket(d - (T-1)), h]: the bias of key - query = d - (T-1) */
    bias_host = malloc(fs * (size_t)(H * (2 * T - 1)));
    CHECK_ALLOC(bias_host);
    for (int64_t d = 0; d < 2 * T - 1; d++) {
        const int bkt = cosmos_t5_rel_bucket((int)(d - (T - 1)), c->relative_attention_num_buckets,
                                             c->relative_attention_max_distance);
        for (int64_t hh = 0; hh < H; hh++) bias_host[hh * (2 * T - 1) + d] = m->rel_table[bkt * H + hh];
    }
    CHECK(cosmos_backend_upload(be, bias, bias_host, fs * (size_t)(H * (2 * T - 1))));

    struct cosmos_tensor q3 = cosmos_tensor_3d(bq, COSMOS_F32, T, H, Dk), k3 = cosmos_tensor_3d(bk, COSMOS_F32, T, H, Dk);
    struct cosmos_tensor v3 = cosmos_tensor_3d(bv, COSMOS_F32, T, H, Dk), a3 = cosmos_tensor_3d(ba, COSMOS_F32, T, H, Dk);
    for (int i = 0; i < c->num_layers; i++) {
        const struct t5_layer *L = &m->layers[i];
        CHECK(cosmos_op_rmsnorm_f32w(be, h, x, L->ln_attn, eps));
        CHECK(linear(be, q, h, L->q));
        CHECK(linear(be, k, h, L->k));
        CHECK(linear(be, v, h, L->v));
        CHECK(cosmos_op_attention_relbias(be, a3, q3, k3, v3, rb, 1.0f));
        CHECK(linear(be, h, a, L->o));
        CHECK(cosmos_op_add(be, x, x, h));
        CHECK(cosmos_op_rmsnorm_f32w(be, h, x, L->ln_ffn, eps));
        CHECK(linear(be, f, h, L->wi));
        CHECK(cosmos_op_relu(be, f, f));
        CHECK(linear(be, h, f, L->wo));
        CHECK(cosmos_op_add(be, x, x, h));
    }
    CHECK(cosmos_op_rmsnorm_f32w(be, h, x, m->final_ln, eps));
    CHECK(cosmos_backend_download(be, out, bh, fs * (size_t)(T * D)));
    CHECK(cosmos_backend_sync(be));
    memset(out + T * D, 0, fs * (size_t)((c->max_length - T) * D));
fail:
    free(bias_host);
    void *bufs[] = {bx, bh, bq, bk, bv, ba, bf, bias};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cosmos_backend_free_mem(be, bufs[i]);
    return st;
}

cosmos_status cosmos_t5_encode_prompt(cosmos_t5_t *m, const char *prompt, float *out, int32_t *ids_out, int *len_out) {
    cosmos_status st = COSMOS_OK;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)m->cfg.max_length);
    int len = 0;
    CHECK_ALLOC(ids);
    CHECK(cosmos_t5_tokenize(m->spm, prompt, m->cfg.max_length, ids, &len));
    LOG_INFO0("t5: prompt is %d tokens (EOS included), padded to %d", len, m->cfg.max_length);
    CHECK(cosmos_t5_forward(m, ids, len, out));
    if (ids_out) memcpy(ids_out, ids, sizeof(int32_t) * (size_t)m->cfg.max_length);
    if (len_out) *len_out = len;
fail:
    free(ids);
    return st;
}
