/* SigLIP vision tower + safety classifier (spec components.md 5.4; see siglip.h): config parsing,
 * strict weight loading (float32 in host memory, classifier BatchNorm folded into the Linear before
 * it), the per-frame forward pass and the random-weight writer of `cosmos-ar init`.
 * Layouts: activations row-major [tokens, hidden]; Linear weights [out, in] as PyTorch; the patch
 * conv weight [D, 3, p, p] is used as a [D, 3*p*p] matrix against patches unrolled in (c, ky, kx)
 * order; patch tokens are in row-major (grid y, grid x) order, as conv output .flatten(2).
 * Threads: the GEMMs split themselves (kernels/cpu/sgemm.c); the row-wise steps (LayerNorm, GELU,
 * residual adds) run over rows in parallel and attention runs one head per thread, so every value is
 * computed by the same code whatever the thread count (bit-identical results, tested). */
#include "core/guardrail/siglip.h"

#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/config.h"
#include "core/dtype.h"
#include "core/guardrail/pil_resize.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/rng.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cpu/cpu_sgemm.h"
#include "kernels/cpu/vexpf.h"

/* ---- config ------------------------------------------------------------------------------------ */

static void config_defaults(struct cosmos_siglip_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "siglip-safety");
    c->num_channels = 3;
    c->layer_norm_eps = 1e-6;
    c->batch_norm_eps = 1e-5;
}

#define COSMOS_SIGLIP_MAX_DIM (1 << 24) /* bound of every size key */

static cosmos_status get_eps(json_t *v, const char *key, const char *src, double *out) {
    if (!json_is_number(v) || !(json_number_value(v) > 0 && json_number_value(v) < 1)) {
        LOG_ERROR("%s: '%s' must be a number in (0, 1)", src, key);
        return COSMOS_ERR_INVALID_ARG;
    }
    *out = json_number_value(v);
    return COSMOS_OK;
}

static cosmos_status validate(const struct cosmos_siglip_config *c, const char *src, int have_hidden,
                              int have_names) {
    cosmos_status st = COSMOS_OK;
    const struct {
        const char *key;
        int v;
    } req[] = {{"hidden_size", c->hidden_size},
               {"intermediate_size", c->intermediate_size},
               {"num_hidden_layers", c->num_hidden_layers},
               {"num_attention_heads", c->num_attention_heads},
               {"image_size", c->image_size},
               {"patch_size", c->patch_size},
               {"num_classes", c->num_classes}};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        CHECK_ARG(req[i].v > 0, COSMOS_ERR_INVALID_ARG, "%s: required key '%s' is missing", src, req[i].key);
    CHECK_ARG(have_hidden, COSMOS_ERR_INVALID_ARG, "%s: required key 'classifier_hidden_sizes' is missing", src);
    CHECK_ARG(have_names, COSMOS_ERR_INVALID_ARG, "%s: required key 'class_names' is missing", src);
    CHECK_ARG(c->num_channels == 3, COSMOS_ERR_INVALID_ARG, "%s: num_channels must be 3 (RGB frames)", src);
    CHECK_ARG(c->hidden_size % c->num_attention_heads == 0, COSMOS_ERR_INVALID_ARG,
              "%s: hidden_size %d is not a multiple of num_attention_heads %d", src, c->hidden_size,
              c->num_attention_heads);
    /* the patch conv has stride patch_size and no padding: a remainder (384 = 27*14 + 6) is dropped */
    CHECK_ARG(c->image_size >= c->patch_size, COSMOS_ERR_INVALID_ARG, "%s: image_size %d is smaller than patch_size %d",
              src, c->image_size, c->patch_size);
    CHECK_ARG(c->image_size <= 4096, COSMOS_ERR_INVALID_ARG, "%s: image_size must be <= 4096 (official: 384)", src);
    CHECK_ARG(c->num_classes >= 2 && c->num_classes <= COSMOS_SIGLIP_MAX_CLASSES, COSMOS_ERR_INVALID_ARG,
              "%s: num_classes must be in [2, %d] (official: 7)", src, COSMOS_SIGLIP_MAX_CLASSES);
fail:
    return st;
}

cosmos_status cosmos_siglip_config_parse(const char *text, const char *src, struct cosmos_siglip_config *c) {
    cosmos_status st = COSMOS_OK;
    int have_hidden = 0, have_names = 0, n_names = 0;
    config_defaults(c);
    json_t *root = NULL;
    CHECK(cosmos_config_json_object(text, src, "a SigLIP safety config", &root));
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "model_type")) {
            CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), COSMOS_SIGLIP_MODEL_TYPE),
                      COSMOS_ERR_INVALID_ARG, "%s: model_type must be \"%s\"", src, COSMOS_SIGLIP_MODEL_TYPE);
        } else if (!strcmp(key, "name")) {
            CHECK_ARG(json_is_string(v), COSMOS_ERR_INVALID_ARG, "%s: 'name' must be a string", src);
            snprintf(c->name, sizeof c->name, "%s", json_string_value(v));
        } else if (!strcmp(key, "hidden_act")) {
            CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), "gelu_pytorch_tanh"), COSMOS_ERR_UNSUPPORTED,
                      "%s: hidden_act must be \"gelu_pytorch_tanh\" (SigLIP so400m); others are not supported", src);
        } else if (!strcmp(key, "layer_norm_eps")) {
            CHECK(get_eps(v, key, src, &c->layer_norm_eps));
        } else if (!strcmp(key, "batch_norm_eps")) {
            CHECK(get_eps(v, key, src, &c->batch_norm_eps));
        } else if (!strcmp(key, "classifier_hidden_sizes")) {
            const size_t n = json_is_array(v) ? json_array_size(v) : 0;
            CHECK_ARG(n >= 1 && n <= COSMOS_SIGLIP_MAX_HIDDEN, COSMOS_ERR_INVALID_ARG,
                      "%s: 'classifier_hidden_sizes' must be an array of 1 to %d sizes (official: [512, 256])", src,
                      COSMOS_SIGLIP_MAX_HIDDEN);
            for (size_t i = 0; i < n; i++)
                CHECK(cosmos_config_json_int(json_array_get(v, i), "classifier_hidden_sizes[]", src, 1,
                                             COSMOS_SIGLIP_MAX_DIM, &c->classifier_hidden_sizes[i]));
            c->n_classifier_hidden = (int)n;
            have_hidden = 1;
        } else if (!strcmp(key, "class_names")) {
            const size_t n = json_is_array(v) ? json_array_size(v) : 0;
            CHECK_ARG(n >= 1 && n <= COSMOS_SIGLIP_MAX_CLASSES, COSMOS_ERR_INVALID_ARG,
                      "%s: 'class_names' must be an array of 1 to %d strings", src, COSMOS_SIGLIP_MAX_CLASSES);
            for (size_t i = 0; i < n; i++) {
                json_t *s = json_array_get(v, i);
                CHECK_ARG(json_is_string(s) && json_string_length(s) > 0 &&
                              json_string_length(s) < COSMOS_SIGLIP_CLASS_NAME,
                          COSMOS_ERR_INVALID_ARG, "%s: class_names[%zu] must be a string of 1 to %d bytes", src, i,
                          COSMOS_SIGLIP_CLASS_NAME - 1);
                snprintf(c->class_names[i], COSMOS_SIGLIP_CLASS_NAME, "%s", json_string_value(s));
            }
            n_names = (int)n;
            have_names = 1;
        } else {
            int *dst = !strcmp(key, "hidden_size")           ? &c->hidden_size
                       : !strcmp(key, "intermediate_size")   ? &c->intermediate_size
                       : !strcmp(key, "num_hidden_layers")   ? &c->num_hidden_layers
                       : !strcmp(key, "num_attention_heads") ? &c->num_attention_heads
                       : !strcmp(key, "num_channels")        ? &c->num_channels
                       : !strcmp(key, "image_size")          ? &c->image_size
                       : !strcmp(key, "patch_size")          ? &c->patch_size
                       : !strcmp(key, "num_classes")         ? &c->num_classes
                                                             : NULL;
            CHECK_ARG(dst, COSMOS_ERR_INVALID_ARG, "%s: unknown key '%s' in a SigLIP safety config", src, key);
            CHECK(cosmos_config_json_int(v, key, src, 1, COSMOS_SIGLIP_MAX_DIM, dst));
        }
    }
    CHECK(validate(c, src, have_hidden, have_names));
    CHECK_ARG(n_names == c->num_classes, COSMOS_ERR_INVALID_ARG,
              "%s: class_names has %d entries, num_classes is %d", src, n_names, c->num_classes);
fail:
    json_decref(root);
    return st;
}

double cosmos_siglip_flops(const struct cosmos_siglip_config *c) {
    const double g = c->image_size / c->patch_size, N = g * g, D = c->hidden_size, F = c->intermediate_size;
    double f = 2.0 * N * D * 3.0 * c->patch_size * c->patch_size;     /* patch convolution */
    f += c->num_hidden_layers * (2.0 * N * D * (4.0 * D + 2.0 * F)   /* q, k, v, out, MLP */
                                 + 4.0 * N * N * D);                 /* QK^T, PV */
    f += 2.0 * D * D * 2.0 + 2.0 * N * D * 2.0 * D + 4.0 * N * D + 4.0 * D * F; /* pooling head */
    double in = D;
    for (int j = 0; j <= c->n_classifier_hidden; j++) {
        const double out = j < c->n_classifier_hidden ? c->classifier_hidden_sizes[j] : c->num_classes;
        f += 2.0 * in * out;
        in = out;
    }
    return f;
}

cosmos_status cosmos_siglip_config_load(const char *path, struct cosmos_siglip_config *c) {
    cosmos_status st = COSMOS_OK;
    char *text = NULL;
    CHECK(cosmos_config_file_text(path, &text));
    CHECK(cosmos_siglip_config_parse(text, path, c));
fail:
    free(text);
    return st;
}

char *cosmos_siglip_config_to_json(const struct cosmos_siglip_config *c) {
    json_t *o = json_object(), *hs = json_array(), *names = json_array();
    char *s = NULL;
    if (!o || !hs || !names) goto done;
    for (int i = 0; i < c->n_classifier_hidden; i++)
        json_array_append_new(hs, json_integer(c->classifier_hidden_sizes[i]));
    for (int i = 0; i < c->num_classes; i++) json_array_append_new(names, json_string(c->class_names[i]));
    json_object_set_new(o, "model_type", json_string(COSMOS_SIGLIP_MODEL_TYPE));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->num_hidden_layers));
    json_object_set_new(o, "num_attention_heads", json_integer(c->num_attention_heads));
    json_object_set_new(o, "num_channels", json_integer(c->num_channels));
    json_object_set_new(o, "image_size", json_integer(c->image_size));
    json_object_set_new(o, "patch_size", json_integer(c->patch_size));
    json_object_set_new(o, "layer_norm_eps", json_real(c->layer_norm_eps));
    json_object_set_new(o, "hidden_act", json_string("gelu_pytorch_tanh"));
    json_object_set(o, "classifier_hidden_sizes", hs);
    json_object_set_new(o, "num_classes", json_integer(c->num_classes));
    json_object_set_new(o, "batch_norm_eps", json_real(c->batch_norm_eps));
    json_object_set(o, "class_names", names);
    s = json_dumps(o, JSON_PRESERVE_ORDER);
done:
    json_decref(o);
    json_decref(hs);
    json_decref(names);
    return s;
}

int cosmos_config_file_is_siglip(const char *path) {
    return cosmos_config_file_has_model_type(path, COSMOS_SIGLIP_MODEL_TYPE);
}

/* ---- weight specs ------------------------------------------------------------------------------ */

struct spec {
    char name[96];
    int ndim;
    int64_t shape[4];
    char kind; /* 'w' linear/conv weight, 'b' bias, 'g' norm scale, 'm' BN mean, 'v' BN var, 'p' pos, 'q' probe */
};

static int64_t spec_numel(const struct spec *s) {
    int64_t n = 1;
    for (int d = 0; d < s->ndim; d++) n *= s->shape[d];
    return n;
}

static void add_spec(struct spec *s, int *n, char kind, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                     const char *fmt, ...) {
    struct spec *p = &s[(*n)++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    va_end(ap);
    p->ndim = ndim, p->kind = kind;
    p->shape[0] = d0, p->shape[1] = d1, p->shape[2] = d2, p->shape[3] = d3;
}

/* File order, as tools/cosmos_siglip_h5.py expected_tensors; the loader binds in this order. */
static cosmos_status weight_specs(const struct cosmos_siglip_config *c, struct spec **out, int *n_out) {
    cosmos_status st = COSMOS_OK;
    const int64_t D = c->hidden_size, F = c->intermediate_size, P = c->patch_size, C = c->num_channels;
    const int64_t G = c->image_size / c->patch_size;
    const int cap = 3 + 16 * c->num_hidden_layers + 2 + 9 + 4 + 6 * (c->n_classifier_hidden + 1);
    struct spec *s = calloc((size_t)cap, sizeof *s);
    int n = 0;
    CHECK_ALLOC(s);
    add_spec(s, &n, 'w', 4, D, C, P, P, "vision_model.embeddings.patch_embedding.weight");
    add_spec(s, &n, 'b', 1, D, 0, 0, 0, "vision_model.embeddings.patch_embedding.bias");
    add_spec(s, &n, 'p', 2, G * G, D, 0, 0, "vision_model.embeddings.position_embedding.weight");
    for (int i = 0; i < c->num_hidden_layers; i++) {
        const char *pre = "vision_model.encoder.layers";
        add_spec(s, &n, 'g', 1, D, 0, 0, 0, "%s.%d.layer_norm1.weight", pre, i);
        add_spec(s, &n, 'b', 1, D, 0, 0, 0, "%s.%d.layer_norm1.bias", pre, i);
        static const char *proj[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int k = 0; k < 4; k++) {
            add_spec(s, &n, 'w', 2, D, D, 0, 0, "%s.%d.self_attn.%s.weight", pre, i, proj[k]);
            add_spec(s, &n, 'b', 1, D, 0, 0, 0, "%s.%d.self_attn.%s.bias", pre, i, proj[k]);
        }
        add_spec(s, &n, 'g', 1, D, 0, 0, 0, "%s.%d.layer_norm2.weight", pre, i);
        add_spec(s, &n, 'b', 1, D, 0, 0, 0, "%s.%d.layer_norm2.bias", pre, i);
        add_spec(s, &n, 'w', 2, F, D, 0, 0, "%s.%d.mlp.fc1.weight", pre, i);
        add_spec(s, &n, 'b', 1, F, 0, 0, 0, "%s.%d.mlp.fc1.bias", pre, i);
        add_spec(s, &n, 'w', 2, D, F, 0, 0, "%s.%d.mlp.fc2.weight", pre, i);
        add_spec(s, &n, 'b', 1, D, 0, 0, 0, "%s.%d.mlp.fc2.bias", pre, i);
    }
    add_spec(s, &n, 'g', 1, D, 0, 0, 0, "vision_model.post_layernorm.weight");
    add_spec(s, &n, 'b', 1, D, 0, 0, 0, "vision_model.post_layernorm.bias");
    add_spec(s, &n, 'q', 3, 1, 1, D, 0, "vision_model.head.probe");
    add_spec(s, &n, 'w', 2, 3 * D, D, 0, 0, "vision_model.head.attention.in_proj_weight");
    add_spec(s, &n, 'b', 1, 3 * D, 0, 0, 0, "vision_model.head.attention.in_proj_bias");
    add_spec(s, &n, 'w', 2, D, D, 0, 0, "vision_model.head.attention.out_proj.weight");
    add_spec(s, &n, 'b', 1, D, 0, 0, 0, "vision_model.head.attention.out_proj.bias");
    add_spec(s, &n, 'g', 1, D, 0, 0, 0, "vision_model.head.layernorm.weight");
    add_spec(s, &n, 'b', 1, D, 0, 0, 0, "vision_model.head.layernorm.bias");
    add_spec(s, &n, 'w', 2, F, D, 0, 0, "vision_model.head.mlp.fc1.weight");
    add_spec(s, &n, 'b', 1, F, 0, 0, 0, "vision_model.head.mlp.fc1.bias");
    add_spec(s, &n, 'w', 2, D, F, 0, 0, "vision_model.head.mlp.fc2.weight");
    add_spec(s, &n, 'b', 1, D, 0, 0, 0, "vision_model.head.mlp.fc2.bias");
    int64_t fin = D;
    for (int j = 0; j <= c->n_classifier_hidden; j++) {
        const int li = 3 * j; /* network.layers = [Linear, BatchNorm1d, ReLU] * hidden + [Linear] */
        const int64_t fout = j < c->n_classifier_hidden ? c->classifier_hidden_sizes[j] : c->num_classes;
        add_spec(s, &n, 'w', 2, fout, fin, 0, 0, "network.layers.%d.weight", li);
        add_spec(s, &n, 'b', 1, fout, 0, 0, 0, "network.layers.%d.bias", li);
        if (j < c->n_classifier_hidden) {
            add_spec(s, &n, 'g', 1, fout, 0, 0, 0, "network.layers.%d.weight", li + 1);
            add_spec(s, &n, 'b', 1, fout, 0, 0, 0, "network.layers.%d.bias", li + 1);
            add_spec(s, &n, 'm', 1, fout, 0, 0, 0, "network.layers.%d.running_mean", li + 1);
            add_spec(s, &n, 'v', 1, fout, 0, 0, 0, "network.layers.%d.running_var", li + 1);
        }
        fin = fout;
    }
    *out = s, *n_out = n;
    s = NULL;
fail:
    free(s);
    return st;
}

int64_t cosmos_siglip_config_num_params(const struct cosmos_siglip_config *c) {
    struct spec *s = NULL;
    int n = 0;
    int64_t total = 0;
    if (weight_specs(c, &s, &n) != COSMOS_OK) return -1;
    for (int j = 0; j < n; j++) total += spec_numel(&s[j]);
    free(s);
    return total;
}

/* ---- model ------------------------------------------------------------------------------------- */

struct sg_linear {
    const float *w, *b; /* [out, in], [out] */
    int n_in, n_out;
};

struct sg_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    struct sg_linear q, k, v, o, fc1, fc2;
};

/* The tower on a device backend (cosmos_siglip_use_backend): the arena's copy, the zero position
 * bias the attention op takes, a frame's working buffers. */
struct sg_device {
    cosmos_backend_t *be;
    float *arena;                          /* the host arena's first n_arena floats, same offsets */
    size_t n_arena;
    float *zero_bias;                      /* [heads, 2N-1] zeros */
    float *patches, *x, *h, *q, *k, *v, *a, *big, *vec; /* [N,K], 6 x [N,D], [N,F], [4D + F] */
};

struct cosmos_siglip {
    struct cosmos_siglip_config cfg;
    float *arena; /* every tensor, in spec order */
    int64_t n_tower; /* floats of the arena up to the classifier (the tower and the pooling head) */
    struct sg_device *dev; /* NULL: the tower runs on the host */
    struct sg_linear patch; /* conv as [D, 3*p*p] */
    const float *pos;       /* [N, D] */
    struct sg_layer *layers;
    const float *post_w, *post_b, *probe;
    struct sg_linear head_q, head_k, head_v, head_o, head_fc1, head_fc2;
    const float *head_ln_w, *head_ln_b;
    struct sg_linear cls[COSMOS_SIGLIP_MAX_HIDDEN + 1]; /* BatchNorm folded in */
};

const struct cosmos_siglip_config *cosmos_siglip_get_config(const cosmos_siglip_t *m) { return &m->cfg; }

static void device_free(struct sg_device *d) {
    if (!d) return;
    float *bufs[] = {d->arena, d->zero_bias, d->patches, d->x, d->h, d->q, d->k, d->v, d->a, d->big, d->vec};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) cosmos_backend_free_mem(d->be, bufs[i]);
    free(d);
}

void cosmos_siglip_free(cosmos_siglip_t *m) {
    if (!m) return;
    device_free(m->dev);
    free(m->arena);
    free(m->layers);
    free(m);
}

static cosmos_status read_tensor(cosmos_h5_t *h5, const struct spec *sp, float *dst) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_h5_info info;
    void *owned = NULL;
    const char *path = cosmos_h5_path(h5);
    CHECK(cosmos_h5_expect_shape(h5, "dataset", sp->name, sp->ndim, sp->shape,
                                 " (hint: convert with tools/convert_checkpoint.py or write with `cosmos-ar init`)",
                                 " (hint: wrong config?)", &info));
    const size_t numel = (size_t)spec_numel(sp);
    if (info.dtype == COSMOS_F32 && !info.is_int64) {
        CHECK(cosmos_h5_read(h5, sp->name, COSMOS_F32, dst));
    } else {
        CHECK_ARG(info.dtype == COSMOS_BF16, COSMOS_ERR_FORMAT, "%s: dataset '%s' must be float32 or bf16", path,
                  sp->name);
        const cosmos_bf16 *p = NULL;
        CHECK(cosmos_h5_map_bf16(h5, sp->name, &p, &owned));
        cosmos_bf16_to_f32_n(dst, p, numel);
    }
    for (size_t i = 0; i < numel; i++)
        CHECK_ARG(isfinite(dst[i]), COSMOS_ERR_FORMAT, "%s: dataset '%s' holds a non-finite value at flat index %zu",
                  path, sp->name, i);
    if (sp->kind == 'v')
        for (size_t i = 0; i < numel; i++)
            CHECK_ARG(dst[i] >= 0.0f, COSMOS_ERR_FORMAT, "%s: dataset '%s' (a variance) is negative at index %zu",
                      path, sp->name, i);
fail:
    free(owned);
    return st;
}

/* Bind pointers into the arena, walking the specs in weight_specs order. */
static void bind(cosmos_siglip_t *m, const int64_t *off) {
    const struct cosmos_siglip_config *c = &m->cfg;
    const int D = c->hidden_size, F = c->intermediate_size;
    int j = 0;
#define NEXT() (m->arena + off[j++])
#define LIN(dst, nin, nout) (dst).w = NEXT(), (dst).b = NEXT(), (dst).n_in = (nin), (dst).n_out = (nout)
    LIN(m->patch, c->num_channels * c->patch_size * c->patch_size, D);
    m->pos = NEXT();
    for (int i = 0; i < c->num_hidden_layers; i++) {
        struct sg_layer *L = &m->layers[i];
        L->ln1_w = NEXT(), L->ln1_b = NEXT();
        LIN(L->q, D, D);
        LIN(L->k, D, D);
        LIN(L->v, D, D);
        LIN(L->o, D, D);
        L->ln2_w = NEXT(), L->ln2_b = NEXT();
        LIN(L->fc1, D, F);
        LIN(L->fc2, F, D);
    }
    m->post_w = NEXT(), m->post_b = NEXT(), m->probe = NEXT();
    const float *in_w = NEXT(), *in_b = NEXT();
    m->head_q = (struct sg_linear){in_w, in_b, D, D};
    m->head_k = (struct sg_linear){in_w + (size_t)D * D, in_b + D, D, D};
    m->head_v = (struct sg_linear){in_w + (size_t)2 * D * D, in_b + 2 * D, D, D};
    LIN(m->head_o, D, D);
    m->head_ln_w = NEXT(), m->head_ln_b = NEXT();
    LIN(m->head_fc1, D, F);
    LIN(m->head_fc2, F, D);
    int fin = D;
    for (int k = 0; k <= c->n_classifier_hidden; k++) {
        const int fout = k < c->n_classifier_hidden ? c->classifier_hidden_sizes[k] : c->num_classes;
        LIN(m->cls[k], fin, fout);
        if (k < c->n_classifier_hidden) {
            /* fold BatchNorm1d (eval) into this Linear: y = s*(Wx + b - mean) + beta, s = g/sqrt(var+eps) */
            const float *g = NEXT(), *beta = NEXT(), *mean = NEXT(), *var = NEXT();
            float *w = (float *)m->cls[k].w, *b = (float *)m->cls[k].b;
            for (int o = 0; o < fout; o++) {
                const double sc = (double)g[o] / sqrt((double)var[o] + c->batch_norm_eps);
                for (int i = 0; i < fin; i++) w[(size_t)o * fin + i] = (float)(sc * w[(size_t)o * fin + i]);
                b[o] = (float)(sc * ((double)b[o] - mean[o]) + beta[o]);
            }
        }
        fin = fout;
    }
#undef LIN
#undef NEXT
}

cosmos_status cosmos_siglip_load(const char *path, cosmos_siglip_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_siglip_t *m = NULL;
    cosmos_h5_t *h5 = NULL;
    char *json = NULL, **names = NULL;
    struct spec *specs = NULL;
    int64_t *off = NULL;
    int n_specs = 0, n_names = 0;
    CHECK_ARG(path && out, COSMOS_ERR_INVALID_ARG, "cosmos_siglip_load: NULL argument");
    *out = NULL;
    m = calloc(1, sizeof *m);
    CHECK_ALLOC(m);
    CHECK(cosmos_h5_open(path, &h5));
    CHECK(cosmos_h5_check_model_header(h5, COSMOS_SIGLIP_MODEL_TYPE,
                                       "the video content filter needs a SigLIP safety file from "
                                       "tools/convert_checkpoint.py or `cosmos-ar init` with a siglip config",
                                       &json));
    CHECK(cosmos_siglip_config_parse(json, path, &m->cfg));
    CHECK(weight_specs(&m->cfg, &specs, &n_specs));
    CHECK(cosmos_h5_list(h5, &names, &n_names));
    for (int i = 0; i < n_names; i++) {
        int known = 0;
        for (int j = 0; j < n_specs && !known; j++) known = !strcmp(names[i], specs[j].name);
        CHECK_ARG(known, COSMOS_ERR_FORMAT, "%s: unknown dataset '%s' in a SigLIP safety file (%s)", path, names[i],
                  m->cfg.name);
    }
    off = malloc(sizeof(int64_t) * (size_t)n_specs);
    CHECK_ALLOC(off);
    int64_t total = 0;
    for (int j = 0; j < n_specs; j++) {
        off[j] = total;
        total += spec_numel(&specs[j]);
    }
    m->arena = malloc(sizeof(float) * (size_t)total);
    m->layers = calloc((size_t)m->cfg.num_hidden_layers, sizeof *m->layers);
    CHECK_ALLOC(m->arena);
    CHECK_ALLOC(m->layers);
    for (int j = 0; j < n_specs; j++) CHECK(read_tensor(h5, &specs[j], m->arena + off[j]));
    for (int j = 0; j < n_specs && !m->n_tower; j++) /* the classifier's datasets come last */
        if (!strncmp(specs[j].name, "network.", 8)) m->n_tower = off[j];
    bind(m, off);
    LOG_DEBUG("%s: %s, %lld parameters", path, m->cfg.name, (long long)total);
    *out = m;
    m = NULL;
fail:
    cosmos_siglip_free(m);
    cosmos_h5_close(h5);
    cosmos_h5_free_names(names, n_names);
    free(specs);
    free(off);
    free(json);
    return st;
}

/* ---- forward ----------------------------------------------------------------------------------- */

/* y [M, out] = x [M, in] W^T + b */
static void linear(const struct sg_linear *L, const float *x, int M, float *y) {
#pragma omp parallel for schedule(static) if (M >= 64)
    for (int r = 0; r < M; r++) memcpy(y + (size_t)r * L->n_out, L->b, sizeof(float) * (size_t)L->n_out);
    cosmos_cpu_sgemm(0, 1, M, L->n_out, L->n_in, 1.0f, x, L->n_in, L->w, L->n_in, 1.0f,
                y, L->n_out);
}

/* nn.LayerNorm (kernels/cpu/layernorm.c: statistics in double) */
static void layer_norm(const float *x, int M, int D, const float *w, const float *b, double eps, float *y) {
    cosmos_cpu_layernorm(y, x, w, b, M, D, eps);
}

/* Threads the forward uses (its scratch holds one score matrix per thread). */
static int forward_threads(void) { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

/* out [Tq, D] = per head softmax(q_h k_h^T / sqrt(Dh)) v_h; q [Tq, D], k, v [Tk, D]; s scratch
 * [n_threads, Tq, Tk]: one head per thread, each with its own score block (the GEMMs inside run
 * single-threaded, as one whole sgemm: the same bits as a split one, see kernels/cpu/sgemm.c). */
static void attention(const float *q, const float *k, const float *v, int Tq, int Tk, int D, int H, float *scratch,
                      int n_threads, float *out) {
    const int Dh = D / H;
    const float scale = 1.0f / sqrtf((float)Dh);
#pragma omp parallel for schedule(dynamic, 1) num_threads(n_threads) if (n_threads > 1 && H > 1)
    for (int h = 0; h < H; h++) {
        float *s = scratch + (size_t)omp_get_thread_num() * Tq * Tk;
        cosmos_cpu_sgemm(0, 1, Tq, Tk, Dh, scale, q + h * Dh, D, k + h * Dh, D, 0.0f, s,
                    Tk);
        for (int r = 0; r < Tq; r++) {
            float *sr = s + (size_t)r * Tk, mx;
            cosmos_softmax_numerators(sr, Tk, &mx); /* its float sum unused: summed in double below */
            double sum = 0;
            for (int j = 0; j < Tk; j++) sum += sr[j];
            const float inv = (float)(1.0 / sum);
            for (int j = 0; j < Tk; j++) sr[j] *= inv;
        }
        cosmos_cpu_sgemm(0, 0, Tq, Dh, Tk, 1.0f, s, Tk, v + h * Dh, D, 0.0f,
                    out + h * Dh, D);
    }
}

static void add_inplace(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* ---- the tower on a backend ------------------------------------------------------------------ */

struct cosmos_backend *cosmos_siglip_backend(const cosmos_siglip_t *m) { return m->dev ? m->dev->be : NULL; }

cosmos_status cosmos_siglip_use_backend(cosmos_siglip_t *m, cosmos_backend_t *be) {
    cosmos_status st = COSMOS_OK;
    struct sg_device *d = NULL;
    CHECK_ARG(m, COSMOS_ERR_INVALID_ARG, "cosmos_siglip_use_backend: NULL model");
    device_free(m->dev);
    m->dev = NULL;
    if (!be || cosmos_backend_is_host(be)) return COSMOS_OK;
    const struct cosmos_siglip_config *c = &m->cfg;
    const int64_t G = c->image_size / c->patch_size, N = G * G, D = c->hidden_size, F = c->intermediate_size;
    const int64_t K = (int64_t)c->num_channels * c->patch_size * c->patch_size;
    d = calloc(1, sizeof *d);
    CHECK_ALLOC(d);
    d->be = be;
    d->n_arena = (size_t)m->n_tower;
    const size_t fs = sizeof(float);
    CHECK(cosmos_backend_alloc(be, fs * d->n_arena, (void **)&d->arena));
    CHECK(cosmos_backend_upload(be, d->arena, m->arena, fs * d->n_arena));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(c->num_attention_heads * (2 * N - 1)), (void **)&d->zero_bias));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(N * K), (void **)&d->patches));
    float **nd[] = {&d->x, &d->h, &d->q, &d->k, &d->v, &d->a};
    for (size_t i = 0; i < sizeof nd / sizeof nd[0]; i++) CHECK(cosmos_backend_alloc(be, fs * (size_t)(N * D), (void **)nd[i]));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(N * F), (void **)&d->big));
    CHECK(cosmos_backend_alloc(be, fs * (size_t)(4 * D + F), (void **)&d->vec));
    CHECK(cosmos_backend_sync(be));
    LOG_INFO("video content filter: SigLIP tower '%s' on %s (f32, %.1f MB of weights)", c->name,
             cosmos_backend_name(be), (double)(fs * d->n_arena) * 1e-6);
    m->dev = d;
    d = NULL;
fail:
    device_free(d);
    return st;
}

/* The device copy of a host arena pointer, as a tensor. */
static struct cosmos_tensor dev_t2(const cosmos_siglip_t *m, const float *host, int64_t r, int64_t cols) {
    return cosmos_tensor_2d(m->dev->arena + (host - m->arena), COSMOS_F32, r, cols);
}
static struct cosmos_tensor f2(float *p, int64_t r, int64_t cols) { return cosmos_tensor_2d(p, COSMOS_F32, r, cols); }

/* y [M, out] = x [M, in] W^T + b on the device */
static cosmos_status linear_dev(const cosmos_siglip_t *m, const struct sg_linear *L, float *x, int64_t M, float *y) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = m->dev->be;
    CHECK(cosmos_op_matmul_f32w(be, f2(y, M, L->n_out), f2(x, M, L->n_in), dev_t2(m, L->w, L->n_out, L->n_in)));
    CHECK(cosmos_op_add_bias(be, f2(y, M, L->n_out), cosmos_tensor_1d(m->dev->arena + (L->b - m->arena), COSMOS_F32,
                                                                      L->n_out)));
fail:
    return st;
}

static cosmos_status layer_norm_dev(const cosmos_siglip_t *m, float *x, int64_t M, const float *w, const float *b,
                                    float *y) {
    const int64_t D = m->cfg.hidden_size;
    return cosmos_op_layernorm(m->dev->be, f2(y, M, D), f2(x, M, D), dev_t2(m, w, 1, D), dev_t2(m, b, 1, D),
                               (float)m->cfg.layer_norm_eps);
}

/* out [Tq, D] = per head softmax(q k^T / sqrt(Dh)) v: the relative-bias attention op with a zero bias */
static cosmos_status attention_dev(const cosmos_siglip_t *m, float *q, float *k, float *v, int64_t Tq, int64_t Tk,
                                   float *out) {
    const int64_t H = m->cfg.num_attention_heads, Dh = m->cfg.hidden_size / H;
    return cosmos_op_attention_relbias(m->dev->be, cosmos_tensor_3d(out, COSMOS_F32, Tq, H, Dh),
                                       cosmos_tensor_3d(q, COSMOS_F32, Tq, H, Dh),
                                       cosmos_tensor_3d(k, COSMOS_F32, Tk, H, Dh),
                                       cosmos_tensor_3d(v, COSMOS_F32, Tk, H, Dh),
                                       f2(m->dev->zero_bias, H, Tq + Tk - 1), 1.0f / sqrtf((float)Dh));
}

/* The tower on m->dev: host patches [N, K] -> host pooled features [D] (forward's steps, op by op). */
static cosmos_status tower_device(const cosmos_siglip_t *m, const float *patches, float *pooled) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_siglip_config *c = &m->cfg;
    struct sg_device *d = m->dev;
    cosmos_backend_t *be = d->be;
    const int64_t G = c->image_size / c->patch_size, N = G * G, D = c->hidden_size, F = c->intermediate_size;
    const int64_t K = (int64_t)c->num_channels * c->patch_size * c->patch_size;
    CHECK(cosmos_backend_upload(be, d->patches, patches, sizeof(float) * (size_t)(N * K)));
    CHECK(linear_dev(m, &m->patch, d->patches, N, d->x));
    CHECK(cosmos_op_add(be, f2(d->x, N, D), f2(d->x, N, D), dev_t2(m, m->pos, N, D)));
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const struct sg_layer *L = &m->layers[l];
        CHECK(layer_norm_dev(m, d->x, N, L->ln1_w, L->ln1_b, d->h));
        CHECK(linear_dev(m, &L->q, d->h, N, d->q));
        CHECK(linear_dev(m, &L->k, d->h, N, d->k));
        CHECK(linear_dev(m, &L->v, d->h, N, d->v));
        CHECK(attention_dev(m, d->q, d->k, d->v, N, N, d->a));
        CHECK(linear_dev(m, &L->o, d->a, N, d->h));
        CHECK(cosmos_op_add(be, f2(d->x, N, D), f2(d->x, N, D), f2(d->h, N, D)));
        CHECK(layer_norm_dev(m, d->x, N, L->ln2_w, L->ln2_b, d->h));
        CHECK(linear_dev(m, &L->fc1, d->h, N, d->big));
        CHECK(cosmos_op_gelu_tanh(be, f2(d->big, N, F), f2(d->big, N, F)));
        CHECK(linear_dev(m, &L->fc2, d->big, N, d->h));
        CHECK(cosmos_op_add(be, f2(d->x, N, D), f2(d->x, N, D), f2(d->h, N, D)));
    }
    CHECK(layer_norm_dev(m, d->x, N, m->post_w, m->post_b, d->h));
    /* attention-pooling head: the probe is the only query */
    float *pq = d->vec, *pa = pq + D, *po = pa + D, *pn = po + D, *pf = pn + D;
    float *probe = d->arena + (m->probe - m->arena);
    CHECK(linear_dev(m, &m->head_q, probe, 1, pq));
    CHECK(linear_dev(m, &m->head_k, d->h, N, d->k));
    CHECK(linear_dev(m, &m->head_v, d->h, N, d->v));
    CHECK(attention_dev(m, pq, d->k, d->v, 1, N, pa));
    CHECK(linear_dev(m, &m->head_o, pa, 1, po));
    CHECK(layer_norm_dev(m, po, 1, m->head_ln_w, m->head_ln_b, pn));
    CHECK(linear_dev(m, &m->head_fc1, pn, 1, pf));
    CHECK(cosmos_op_gelu_tanh(be, f2(pf, 1, F), f2(pf, 1, F)));
    CHECK(linear_dev(m, &m->head_fc2, pf, 1, pn));
    CHECK(cosmos_op_add(be, f2(po, 1, D), f2(po, 1, D), f2(pn, 1, D)));
    CHECK(cosmos_backend_download(be, pooled, po, sizeof(float) * (size_t)D));
    CHECK(cosmos_backend_sync(be));
fail:
    return st;
}

cosmos_status cosmos_siglip_forward(const cosmos_siglip_t *m, const uint8_t *frame, int64_t H, int64_t W,
                                    uint8_t *resized, float *features, float *embedding, float *logits) {
    cosmos_status st = COSMOS_OK;
    uint8_t *img = NULL;
    float *buf = NULL;
    CHECK_ARG(m && frame && H > 0 && W > 0, COSMOS_ERR_INVALID_ARG,
              "siglip: bad frame argument (frame %p, %lldx%lld)", (const void *)frame, (long long)H, (long long)W);
    const struct cosmos_siglip_config *c = &m->cfg;
    const int S = c->image_size, P = c->patch_size, G = S / P, N = G * G, D = c->hidden_size;
    const int F = c->intermediate_size, NH = c->num_attention_heads, K = 3 * P * P;
    const size_t ND = (size_t)N * D;
    img = malloc((size_t)S * S * 3);
    CHECK_ALLOC(img);
    CHECK(cosmos_pil_resize_bicubic_u8(frame, H, W, 3, img, S, S));
    if (resized) memcpy(resized, img, (size_t)S * S * 3);

    const int FK = F > K ? F : K;
    int CW = c->num_classes; /* widest classifier layer */
    for (int j = 0; j < c->n_classifier_hidden; j++)
        if (c->classifier_hidden_sizes[j] > CW) CW = c->classifier_hidden_sizes[j];
    const int nt = forward_threads();
    /* the host tower's buffers; with the tower on a device only the patches, the pooled vectors and
     * the classifier's are needed on the host */
    const size_t nd = m->dev ? 0 : ND, nbig = m->dev ? (size_t)N * K : (size_t)N * FK;
    const size_t nsc = m->dev ? 0 : (size_t)nt * N * N;
    const size_t n_buf = 6 * nd + nbig + nsc + 8 * (size_t)(D > F ? D : F) + 2 * (size_t)CW;
    buf = malloc(sizeof(float) * n_buf);
    CHECK_ALLOC(buf);
    float *x = buf, *h = x + nd, *q = h + nd, *k = q + nd, *v = k + nd, *a = v + nd, *big = a + nd;
    float *sc = big + nbig, *vec = sc + nsc, *cls_a = vec + 8 * (size_t)(D > F ? D : F);
    float *cls_b = cls_a + CW;

    /* patches [N, 3*P*P] of (x/255 - 0.5)/0.5, in (c, ky, kx) order; x/255 in double then float as
     * SiglipImageProcessor.rescale does */
    for (int gy = 0; gy < G; gy++)
        for (int gx = 0; gx < G; gx++) {
            float *row = big + (size_t)(gy * G + gx) * K;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < P; ky++)
                    for (int kx = 0; kx < P; kx++) {
                        const uint8_t u = img[((size_t)(gy * P + ky) * S + (gx * P + kx)) * 3 + ch];
                        const float r = (float)((double)u * (1.0 / 255.0));
                        row[(ch * P + ky) * P + kx] = (r - 0.5f) / 0.5f;
                    }
        }
    float *pq = vec, *pa = pq + D, *po = pa + D, *pn = po + D, *pf = pn + D; /* pf: [F] */
    if (m->dev) {
        CHECK(tower_device(m, big, po));
        goto pooled;
    }
    linear(&m->patch, big, N, x);
    add_inplace(x, m->pos, ND);

    for (int l = 0; l < c->num_hidden_layers; l++) {
        const struct sg_layer *L = &m->layers[l];
        layer_norm(x, N, D, L->ln1_w, L->ln1_b, c->layer_norm_eps, h);
        linear(&L->q, h, N, q);
        linear(&L->k, h, N, k);
        linear(&L->v, h, N, v);
        attention(q, k, v, N, N, D, NH, sc, nt, a);
        linear(&L->o, a, N, h);
        add_inplace(x, h, ND);
        layer_norm(x, N, D, L->ln2_w, L->ln2_b, c->layer_norm_eps, h);
        linear(&L->fc1, h, N, big);
        cosmos_cpu_gelu_tanh(big, big, (int64_t)N * F);
        linear(&L->fc2, big, N, h);
        add_inplace(x, h, ND);
    }
    layer_norm(x, N, D, m->post_w, m->post_b, c->layer_norm_eps, h);

    /* attention-pooling head: the probe is the only query (nn.MultiheadAttention in_proj/out_proj) */
    linear(&m->head_q, m->probe, 1, pq);
    linear(&m->head_k, h, N, k);
    linear(&m->head_v, h, N, v);
    attention(pq, k, v, 1, N, D, NH, sc, nt, pa);
    linear(&m->head_o, pa, 1, po);
    layer_norm(po, 1, D, m->head_ln_w, m->head_ln_b, c->layer_norm_eps, pn);
    linear(&m->head_fc1, pn, 1, pf);
    cosmos_cpu_gelu_tanh(pf, pf, F);
    linear(&m->head_fc2, pf, 1, pn);
    add_inplace(po, pn, (size_t)D); /* po = pooled features */
pooled:
    if (features) memcpy(features, po, sizeof(float) * (size_t)D);

    /* image_features / image_features.norm(dim=-1): no epsilon, as the official code */
    double ss = 0;
    for (int i = 0; i < D; i++) ss += (double)po[i] * po[i];
    const float norm = (float)sqrt(ss);
    CHECK_ARG(norm > 0.0f && isfinite(norm), COSMOS_ERR_INTERNAL, "siglip: pooled features have norm %g", norm);
    float *e = pn;
    for (int i = 0; i < D; i++) e[i] = po[i] / norm;
    if (embedding) memcpy(embedding, e, sizeof(float) * (size_t)D);

    /* classifier (BatchNorm folded): Linear -> ReLU for each hidden size, then Linear */
    if (logits) {
        float *cur = e, *nxt = cls_a;
        for (int j = 0; j <= c->n_classifier_hidden; j++) {
            const struct sg_linear *Lc = &m->cls[j];
            float *y = j == c->n_classifier_hidden ? logits : nxt;
            for (int o = 0; o < Lc->n_out; o++) {
                double acc = Lc->b[o];
                const float *w = Lc->w + (size_t)o * Lc->n_in;
                for (int i = 0; i < Lc->n_in; i++) acc += (double)w[i] * cur[i];
                y[o] = j < c->n_classifier_hidden && acc < 0 ? 0.0f : (float)acc;
            }
            cur = y;
            nxt = cur == cls_a ? cls_b : cls_a;
        }
    }
fail:
    free(img);
    free(buf);
    return st;
}

/* ---- random weights ---------------------------------------------------------------------------- */

cosmos_status cosmos_siglip_init_random(const struct cosmos_siglip_config *c, uint64_t seed, const char *out_path) {
    cosmos_status st = COSMOS_OK;
    struct spec *specs = NULL;
    cosmos_bf16 *buf = NULL;
    float *f32 = NULL;
    cosmos_h5_t *h5 = NULL;
    char *json = NULL, tmp[1100], last_bias[64];
    int n = 0;
    CHECK_ARG(c && out_path, COSMOS_ERR_INVALID_ARG, "cosmos_siglip_init_random: NULL argument");
    snprintf(last_bias, sizeof last_bias, "network.layers.%d.bias", 3 * c->n_classifier_hidden);
    cosmos_tmp_path(out_path, tmp, sizeof tmp);
    CHECK(weight_specs(c, &specs, &n));
    int64_t max_numel = 0;
    for (int j = 0; j < n; j++) max_numel = spec_numel(&specs[j]) > max_numel ? spec_numel(&specs[j]) : max_numel;
    buf = malloc(sizeof(cosmos_bf16) * (size_t)max_numel);
    f32 = malloc(sizeof(float) * (size_t)max_numel);
    CHECK_ALLOC(buf);
    CHECK_ALLOC(f32);
    json = cosmos_siglip_config_to_json(c);
    CHECK_ALLOC(json);
    CHECK(cosmos_h5_create(tmp, &h5));
    CHECK(cosmos_h5_write_model_header(h5, COSMOS_SIGLIP_MODEL_TYPE, json));
    CHECK(cosmos_h5_write_attr_int(h5, "hidden_size", c->hidden_size));
    CHECK(cosmos_h5_write_attr_int(h5, "num_hidden_layers", c->num_hidden_layers));
    CHECK(cosmos_h5_write_attr_int(h5, "num_classes", c->num_classes));
    for (int j = 0; j < n; j++) {
        const struct spec *sp = &specs[j];
        const int64_t numel = spec_numel(sp);
        float mean = 0.0f, std = 0.02f;
        switch (sp->kind) {
        case 'w': std = 1.0f / sqrtf((float)(numel / sp->shape[0])); break;
        case 'g': mean = 1.0f, std = 0.1f; break;
        case 'v': mean = 1.0f, std = 0.1f; break;
        case 'm': std = 0.1f; break;
        case 'p': std = 1.0f / sqrtf((float)c->hidden_size); break;
        case 'q': std = 1.0f; break;
        default: break;
        }
        cosmos_rng_fill_normal_bf16(buf, numel, seed, (uint64_t)j, mean, std);
        if (sp->kind == 'v')
            for (int64_t i = 0; i < numel; i++) buf[i] &= 0x7fff; /* a variance: |.| */
        cosmos_bf16_to_f32_n(f32, buf, (size_t)numel);
        if (!strcmp(sp->name, last_bias)) f32[0] += COSMOS_SIGLIP_RANDOM_SAFE_BIAS;
        CHECK(cosmos_h5_write(h5, sp->name, COSMOS_F32, sp->ndim, sp->shape, f32));
    }
    cosmos_h5_close(h5);
    h5 = NULL;
    CHECK(cosmos_commit_tmp(tmp, out_path));
fail:
    if (h5) cosmos_h5_close(h5);
    if (st != COSMOS_OK && out_path) remove(tmp);
    free(json);
    free(specs);
    free(buf);
    free(f32);
    return st;
}
