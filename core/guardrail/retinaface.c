/* RetinaFace detector (spec components.md 5.5; see retinaface.h for the architecture and layouts):
 * config parsing, weight-file specs / strict load with BatchNorm folding, the f32 forward pass
 * (convolutions as im2col + sgemm, activations [C, H, W]), priors, box decoding, NMS and the
 * random-weight writer. Decoding and NMS follow the official f32 numpy/torch arithmetic step by
 * step; this file is compiled with -ffp-contract=off (CMakeLists.txt) so no FMA changes a rounding. */
#include "core/guardrail/retinaface.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/config.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/rng.h"
#include "kernels/cpu/cpu_ops_vision.h"

#define RF_BN_EPS 1e-5
#define RF_MAX_DIM 16384

/* ------------------------------------------------------------------------------------------------
 * Config */

static void config_defaults(struct cosmos_retinaface_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "retinaface");
    c->steps[0] = 8, c->steps[1] = 16, c->steps[2] = 32;
    c->variances[0] = 0.1f, c->variances[1] = 0.2f;
    c->confidence_threshold = 0.7f;
    c->nms_threshold = 0.4f;
    c->top_k = 5000;
    c->keep_top_k = 750;
    c->min_face_size = 20;
    c->pixelate_blocks = 5;
}

static cosmos_status get_prob(json_t *v, const char *key, const char *src, int open_low, float *out) {
    double x = json_is_number(v) ? json_number_value(v) : -1.0;
    if (!json_is_number(v) || !(open_low ? x > 0.0 : x >= 0.0) || !(x < 1.0)) {
        LOG_ERROR("%s: '%s' must be a number in %s0, 1)", src, key, open_low ? "(" : "[");
        return COSMOS_ERR_INVALID_ARG;
    }
    *out = (float)x;
    return COSMOS_OK;
}

static cosmos_status parse_min_sizes(json_t *v, const char *src, struct cosmos_retinaface_config *c) {
    if (!json_is_array(v) || json_array_size(v) != COSMOS_RETINAFACE_LEVELS) {
        LOG_ERROR("%s: 'min_sizes' must be a list of %d lists (one per level, official [[16, 32], [64, 128], "
                  "[256, 512]])",
                  src, COSMOS_RETINAFACE_LEVELS);
        return COSMOS_ERR_INVALID_ARG;
    }
    for (int l = 0; l < COSMOS_RETINAFACE_LEVELS; l++) {
        json_t *row = json_array_get(v, (size_t)l);
        int n = json_is_array(row) ? (int)json_array_size(row) : 0;
        if (n < 1 || n > COSMOS_RETINAFACE_MAX_ANCHORS || (l > 0 && n != c->num_anchors)) {
            LOG_ERROR("%s: 'min_sizes'[%d] must be a list of 1 to %d sizes, the same count on every level", src, l,
                      COSMOS_RETINAFACE_MAX_ANCHORS);
            return COSMOS_ERR_INVALID_ARG;
        }
        c->num_anchors = n;
        char key[32];
        snprintf(key, sizeof key, "min_sizes[%d]", l);
        cosmos_status st = cosmos_config_json_int_list(row, key, src, n, 1, 1 << 20, c->min_sizes[l]);
        if (st != COSMOS_OK) return st;
    }
    return COSMOS_OK;
}

static cosmos_status validate(const struct cosmos_retinaface_config *c, const char *src) {
    const struct {
        const char *key;
        int v;
    } req[] = {{"stem_width", c->stem_width}, {"base_width", c->base_width},   {"expansion", c->expansion},
               {"blocks", c->blocks[0]},      {"out_channel", c->out_channel}, {"min_sizes", c->num_anchors}};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (req[i].v <= 0) {
            LOG_ERROR("%s: required key '%s' is missing", src, req[i].key);
            return COSMOS_ERR_INVALID_ARG;
        }
    }
    if (c->out_channel % 4) {
        LOG_ERROR("%s: 'out_channel' %d must be a multiple of 4 (SSH splits it 2:1:1)", src, c->out_channel);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (c->steps[0] != 8 || c->steps[1] != 16 || c->steps[2] != 32) {
        LOG_ERROR("%s: 'steps' must be [8, 16, 32]: the strides of ResNet layers 2-4 are fixed by the "
                  "architecture",
                  src);
        return COSMOS_ERR_INVALID_ARG;
    }
    if ((int64_t)c->base_width * 8 * c->expansion > (1 << 16)) {
        LOG_ERROR("%s: base_width * 8 * expansion exceeds 65536 channels", src);
        return COSMOS_ERR_INVALID_ARG;
    }
    if (c->keep_top_k > c->top_k) {
        LOG_ERROR("%s: 'keep_top_k' %d exceeds 'top_k' %d", src, c->keep_top_k, c->top_k);
        return COSMOS_ERR_INVALID_ARG;
    }
    return COSMOS_OK;
}

cosmos_status cosmos_retinaface_config_parse(const char *text, const char *src, struct cosmos_retinaface_config *c) {
    cosmos_status st = COSMOS_OK;
    config_defaults(c);
    json_t *root = NULL;
    CHECK(cosmos_config_json_object(text, src, "a RetinaFace config", &root));
    json_t *type = json_object_get(root, "model_type");
    CHECK_ARG(json_is_string(type) && !strcmp(json_string_value(type), "retinaface"), COSMOS_ERR_INVALID_ARG,
              "%s: model_type must be \"retinaface\"", src);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "model_type")) {
            continue;
        } else if (!strcmp(key, "name")) {
            CHECK_ARG(json_is_string(v), COSMOS_ERR_INVALID_ARG, "%s: 'name' must be a string", src);
            snprintf(c->name, sizeof c->name, "%s", json_string_value(v));
        } else if (!strcmp(key, "stem_width")) {
            CHECK(cosmos_config_json_int(v, key, src, 1, 1 << 16, &c->stem_width));
        } else if (!strcmp(key, "base_width")) {
            CHECK(cosmos_config_json_int(v, key, src, 1, 1 << 13, &c->base_width));
        } else if (!strcmp(key, "expansion")) {
            CHECK(cosmos_config_json_int(v, key, src, 1, 64, &c->expansion));
        } else if (!strcmp(key, "out_channel")) {
            CHECK(cosmos_config_json_int(v, key, src, 1, 1 << 16, &c->out_channel));
        } else if (!strcmp(key, "blocks")) {
            CHECK(cosmos_config_json_int_list(v, key, src, 4, 1, 256, c->blocks));
        } else if (!strcmp(key, "min_sizes")) {
            CHECK(parse_min_sizes(v, src, c));
        } else if (!strcmp(key, "steps")) {
            CHECK(cosmos_config_json_int_list(v, key, src, 3, 1, 1 << 10, c->steps));
        } else if (!strcmp(key, "variances")) {
            CHECK_ARG(json_is_array(v) && json_array_size(v) == 2 && json_is_number(json_array_get(v, 0)) &&
                          json_is_number(json_array_get(v, 1)) && json_number_value(json_array_get(v, 0)) > 0 &&
                          json_number_value(json_array_get(v, 1)) > 0,
                      COSMOS_ERR_INVALID_ARG, "%s: 'variances' must be a list of 2 positive numbers", src);
            c->variances[0] = (float)json_number_value(json_array_get(v, 0));
            c->variances[1] = (float)json_number_value(json_array_get(v, 1));
        } else if (!strcmp(key, "confidence_threshold")) {
            CHECK(get_prob(v, key, src, 0, &c->confidence_threshold));
        } else if (!strcmp(key, "nms_threshold")) {
            CHECK(get_prob(v, key, src, 1, &c->nms_threshold));
        } else if (!strcmp(key, "top_k")) {
            CHECK(cosmos_config_json_int(v, key, src, 1, 1 << 24, &c->top_k));
        } else if (!strcmp(key, "keep_top_k")) {
            CHECK(cosmos_config_json_int(v, key, src, 1, 1 << 24, &c->keep_top_k));
        } else if (!strcmp(key, "min_face_size")) {
            CHECK(cosmos_config_json_int(v, key, src, 0, 1 << 16, &c->min_face_size));
        } else if (!strcmp(key, "pixelate_blocks")) {
            CHECK(cosmos_config_json_int(v, key, src, 1, 1024, &c->pixelate_blocks));
        } else {
            CHECK_ARG(0, COSMOS_ERR_INVALID_ARG, "%s: unknown key '%s' in a RetinaFace config", src, key);
        }
    }
    CHECK(validate(c, src));
fail:
    json_decref(root);
    return st;
}

cosmos_status cosmos_retinaface_config_load(const char *path, struct cosmos_retinaface_config *c) {
    cosmos_status st = COSMOS_OK;
    char *text = NULL;
    CHECK(cosmos_config_file_text(path, &text));
    CHECK(cosmos_retinaface_config_parse(text, path, c));
fail:
    free(text);
    return st;
}

static json_t *int_array(const int *v, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, json_integer(v[i]));
    return a;
}

char *cosmos_retinaface_config_to_json(const struct cosmos_retinaface_config *c) {
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "model_type", json_string("retinaface"));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "stem_width", json_integer(c->stem_width));
    json_object_set_new(o, "base_width", json_integer(c->base_width));
    json_object_set_new(o, "expansion", json_integer(c->expansion));
    json_object_set_new(o, "blocks", int_array(c->blocks, 4));
    json_object_set_new(o, "out_channel", json_integer(c->out_channel));
    json_t *ms = json_array();
    for (int l = 0; ms && l < COSMOS_RETINAFACE_LEVELS; l++)
        json_array_append_new(ms, int_array(c->min_sizes[l], c->num_anchors));
    json_object_set_new(o, "min_sizes", ms);
    json_object_set_new(o, "steps", int_array(c->steps, COSMOS_RETINAFACE_LEVELS));
    json_t *var = json_array();
    if (var) {
        json_array_append_new(var, json_real((double)c->variances[0]));
        json_array_append_new(var, json_real((double)c->variances[1]));
    }
    json_object_set_new(o, "variances", var);
    json_object_set_new(o, "confidence_threshold", json_real((double)c->confidence_threshold));
    json_object_set_new(o, "nms_threshold", json_real((double)c->nms_threshold));
    json_object_set_new(o, "top_k", json_integer(c->top_k));
    json_object_set_new(o, "keep_top_k", json_integer(c->keep_top_k));
    json_object_set_new(o, "min_face_size", json_integer(c->min_face_size));
    json_object_set_new(o, "pixelate_blocks", json_integer(c->pixelate_blocks));
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return s;
}

int cosmos_config_file_is_retinaface(const char *path) { return cosmos_config_file_has_model_type(path, "retinaface"); }

float cosmos_retinaface_leaky(const struct cosmos_retinaface_config *c) { return c->out_channel <= 64 ? 0.1f : 0.0f; }

/* ------------------------------------------------------------------------------------------------
 * Layer table: every convolution in state-dict order, with its BatchNorm (or bias) and geometry.
 * The weight specs and the loader both walk it. */

struct rf_layer {
    char conv[80]; /* "<prefix>" of <prefix>.weight */
    char bn[80];   /* BN prefix, or "" when the conv has its own bias */
    int cout, cin, k, stride, pad;
    int level; /* output resolution: ceil(H / 2^level) x ceil(W / 2^level) */
};

struct rf_table {
    struct rf_layer *l;
    int n, cap;
    int n_body, fpn, ssh, cls, box, ldm; /* first index of each part */
};

static cosmos_status table_add(struct rf_table *t, const char *conv, const char *bn, int cout, int cin, int k,
                               int stride, int level) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        struct rf_layer *p = realloc(t->l, sizeof *p * (size_t)cap);
        if (!p) {
            LOG_ERROR("out of memory building the RetinaFace layer table");
            return COSMOS_ERR_NOMEM;
        }
        t->l = p, t->cap = cap;
    }
    struct rf_layer *L = &t->l[t->n++];
    snprintf(L->conv, sizeof L->conv, "%s", conv);
    snprintf(L->bn, sizeof L->bn, "%s", bn);
    L->cout = cout, L->cin = cin, L->k = k, L->stride = stride, L->pad = k / 2, L->level = level;
    return COSMOS_OK;
}

static int layer_out(const struct cosmos_retinaface_config *c, int i) { return (c->base_width << i) * c->expansion; }

static cosmos_status build_table(const struct cosmos_retinaface_config *c, struct rf_table *t) {
    cosmos_status st = COSMOS_OK;
    char a[80], b[80];
    memset(t, 0, sizeof *t);
    CHECK(table_add(t, "body.conv1", "body.bn1", c->stem_width, 3, 7, 2, 1));
    int inpl = c->stem_width;
    for (int li = 0; li < 4; li++) {
        const int w = c->base_width << li, out = w * c->expansion, stride = li == 0 ? 1 : 2;
        for (int bi = 0; bi < c->blocks[li]; bi++) {
            const char *P = "body.layer";
            for (int j = 1; j <= 3; j++) {
                snprintf(a, sizeof a, "%s%d.%d.conv%d", P, li + 1, bi, j);
                snprintf(b, sizeof b, "%s%d.%d.bn%d", P, li + 1, bi, j);
                CHECK(table_add(t, a, b, j == 3 ? out : w, j == 1 ? inpl : w, j == 2 ? 3 : 1,
                                j == 2 && bi == 0 ? stride : 1, j == 1 && bi == 0 && li > 0 ? li + 1 : li + 2));
            }
            if (bi == 0 && (stride != 1 || inpl != out)) {
                snprintf(a, sizeof a, "%s%d.0.downsample.0", P, li + 1);
                snprintf(b, sizeof b, "%s%d.0.downsample.1", P, li + 1);
                CHECK(table_add(t, a, b, out, inpl, 1, stride, li + 2));
            }
            inpl = out;
        }
    }
    t->n_body = t->n;
    const int oc = c->out_channel;
    t->fpn = t->n;
    for (int i = 1; i <= 3; i++) {
        snprintf(a, sizeof a, "fpn.output%d.0", i);
        snprintf(b, sizeof b, "fpn.output%d.1", i);
        CHECK(table_add(t, a, b, oc, layer_out(c, i), 1, 1, i + 2));
    }
    for (int i = 1; i <= 2; i++) {
        snprintf(a, sizeof a, "fpn.merge%d.0", i);
        snprintf(b, sizeof b, "fpn.merge%d.1", i);
        CHECK(table_add(t, a, b, oc, oc, 3, 1, i + 2));
    }
    t->ssh = t->n;
    static const char *ssh_names[5] = {"conv3X3", "conv5X5_1", "conv5X5_2", "conv7X7_2", "conv7x7_3"};
    for (int s = 1; s <= 3; s++) {
        for (int j = 0; j < 5; j++) {
            snprintf(a, sizeof a, "ssh%d.%s.0", s, ssh_names[j]);
            snprintf(b, sizeof b, "ssh%d.%s.1", s, ssh_names[j]);
            CHECK(table_add(t, a, b, j == 0 ? oc / 2 : oc / 4, j <= 1 ? oc : oc / 4, 3, 1, s + 2));
        }
    }
    static const char *heads[3] = {"ClassHead", "BboxHead", "LandmarkHead"};
    static const int per_anchor[3] = {2, 4, 10};
    for (int h = 0; h < 3; h++) {
        if (h == 0) t->cls = t->n;
        if (h == 1) t->box = t->n;
        if (h == 2) t->ldm = t->n;
        for (int i = 0; i < 3; i++) {
            snprintf(a, sizeof a, "%s.%d.conv1x1", heads[h], i);
            CHECK(table_add(t, a, "", c->num_anchors * per_anchor[h], oc, 1, 1, i + 3));
        }
    }
fail:
    if (st != COSMOS_OK) free(t->l), t->l = NULL;
    return st;
}

double cosmos_retinaface_flops(const struct cosmos_retinaface_config *c, int H, int W) {
    struct rf_table t;
    double f = 0;
    if (H < 1 || W < 1 || build_table(c, &t) != COSMOS_OK) return 0;
    for (int i = 0; i < t.ldm; i++) { /* the landmark head is never computed */
        const struct rf_layer *L = &t.l[i];
        const int64_t d = (int64_t)1 << L->level, h = (H + d - 1) / d, w = (W + d - 1) / d;
        f += 2.0 * L->cout * L->cin * L->k * L->k * (double)(h * w);
    }
    free(t.l);
    return f;
}

cosmos_status cosmos_retinaface_weight_specs(const struct cosmos_retinaface_config *c,
                                             struct cosmos_retinaface_tensor_spec **specs, int *n) {
    cosmos_status st = COSMOS_OK;
    struct rf_table t;
    struct cosmos_retinaface_tensor_spec *s = NULL;
    CHECK(build_table(c, &t));
    s = calloc((size_t)t.n * 5, sizeof *s);
    CHECK_ALLOC(s);
    int k = 0;
    for (int i = 0; i < t.n; i++) {
        const struct rf_layer *L = &t.l[i];
        snprintf(s[k].name, sizeof s[k].name, "%s.weight", L->conv);
        s[k].ndim = 4;
        s[k].shape[0] = L->cout, s[k].shape[1] = L->cin, s[k].shape[2] = L->k, s[k].shape[3] = L->k;
        k++;
        static const char *bn_keys[4] = {"weight", "bias", "running_mean", "running_var"};
        for (int j = 0; j < (L->bn[0] ? 4 : 1); j++, k++) {
            if (L->bn[0])
                snprintf(s[k].name, sizeof s[k].name, "%s.%s", L->bn, bn_keys[j]);
            else
                snprintf(s[k].name, sizeof s[k].name, "%s.bias", L->conv);
            s[k].ndim = 1;
            s[k].shape[0] = L->cout;
        }
    }
    *specs = s, *n = k;
    s = NULL;
fail:
    free(s);
    free(t.l);
    return st;
}

/* ------------------------------------------------------------------------------------------------
 * Model and loading */

struct rf_conv {
    int cout, cin, k, stride, pad;
    float *w; /* [cout, cin * k * k], BN folded */
    float *b; /* [cout] */
};

/* The network on a device backend (cosmos_retinaface_use_backend): every kept conv's folded w and b
 * in one allocation, at w_off[i] / b_off[i] floats; and the feature maps released by a forward,
 * kept for the next request of exactly their size (the frames of a clip have one size, so from the
 * second frame on a forward allocates nothing: a device's free synchronises its stream). */
#define RF_POOL 64
struct rf_device {
    cosmos_backend_t *be;
    float *arena;
    int64_t *w_off, *b_off; /* [t.n]; -1 for the convs not kept */
    float *pool[RF_POOL];   /* [0] the most recently released */
    size_t pool_n[RF_POOL]; /* floats of pool[i] */
    int n_pool;
    int64_t n_allocs;       /* fresh device allocations of feature maps so far */
};

struct cosmos_retinaface {
    struct cosmos_retinaface_config cfg;
    struct rf_table t;
    struct rf_conv *convs; /* t.n, in table order; landmark heads are not kept (w = NULL) */
    struct rf_device *dev; /* NULL: the host path */
};

static void device_free(struct rf_device *d) {
    if (!d) return;
    for (int i = 0; i < d->n_pool; i++) cosmos_backend_free_mem(d->be, d->pool[i]);
    cosmos_backend_free_mem(d->be, d->arena);
    free(d->w_off), free(d->b_off);
    free(d);
}

const struct cosmos_retinaface_config *cosmos_retinaface_get_config(const cosmos_retinaface_t *m) { return &m->cfg; }

void cosmos_retinaface_free(cosmos_retinaface_t *m) {
    if (!m) return;
    device_free(m->dev);
    for (int i = 0; m->convs && i < m->t.n; i++) free(m->convs[i].w), free(m->convs[i].b);
    free(m->convs);
    free(m->t.l);
    free(m);
}

/* Read dataset `name` (f32, exact shape) into dst. */
static cosmos_status read_tensor(cosmos_h5_t *h, const char *name, int ndim, const int64_t *shape, float *dst) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_h5_info info;
    CHECK(cosmos_h5_expect_shape(h, "dataset", name, ndim, shape, "",
                                 " for this config (hint: the weights and the config attribute disagree)", &info));
    CHECK_ARG(info.dtype == COSMOS_F32, COSMOS_ERR_FORMAT,
              "%s: dataset '%s' must be float32 (RetinaFace weights are "
              "stored f32)",
              cosmos_h5_path(h), name);
    CHECK(cosmos_h5_read(h, name, COSMOS_F32, dst));
fail:
    return st;
}

static cosmos_status load_conv(cosmos_h5_t *h, const struct rf_layer *L, struct rf_conv *c) {
    cosmos_status st = COSMOS_OK;
    float *bn = NULL;
    char name[128];
    const int64_t K = (int64_t)L->cin * L->k * L->k;
    c->cout = L->cout, c->cin = L->cin, c->k = L->k, c->stride = L->stride, c->pad = L->pad;
    c->w = malloc(sizeof(float) * (size_t)(L->cout * K));
    c->b = calloc((size_t)L->cout, sizeof(float));
    CHECK_ALLOC(c->w);
    CHECK_ALLOC(c->b);
    const int64_t wshape[4] = {L->cout, L->cin, L->k, L->k}, vshape[1] = {L->cout};
    snprintf(name, sizeof name, "%s.weight", L->conv);
    CHECK(read_tensor(h, name, 4, wshape, c->w));
    if (!L->bn[0]) {
        snprintf(name, sizeof name, "%s.bias", L->conv);
        CHECK(read_tensor(h, name, 1, vshape, c->b));
        goto fail;
    }
    bn = malloc(sizeof(float) * 4 * (size_t)L->cout);
    CHECK_ALLOC(bn);
    static const char *keys[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int j = 0; j < 4; j++) {
        snprintf(name, sizeof name, "%s.%s", L->bn, keys[j]);
        CHECK(read_tensor(h, name, 1, vshape, bn + (size_t)j * L->cout));
    }
    const float *g = bn, *beta = bn + L->cout, *mean = bn + 2 * L->cout, *var = bn + 3 * L->cout;
    for (int o = 0; o < L->cout; o++) {
        CHECK_ARG(var[o] >= 0 && isfinite(var[o]), COSMOS_ERR_FORMAT, "%s: '%s.running_var'[%d] = %g is not a variance",
                  cosmos_h5_path(h), L->bn, o, (double)var[o]);
        const double s = (double)g[o] / sqrt((double)var[o] + RF_BN_EPS);
        for (int64_t i = 0; i < K; i++) c->w[o * K + i] = (float)(c->w[o * K + i] * s);
        c->b[o] = (float)((double)beta[o] - (double)mean[o] * s);
    }
fail:
    free(bn);
    return st;
}

cosmos_status cosmos_retinaface_write_header(cosmos_h5_t *h5, const struct cosmos_retinaface_config *c) {
    cosmos_status st = COSMOS_OK;
    char *json = cosmos_retinaface_config_to_json(c);
    CHECK_ALLOC(json);
    CHECK(cosmos_h5_write_model_header(h5, "retinaface", json));
fail:
    free(json);
    return st;
}

cosmos_status cosmos_retinaface_load(const char *path, cosmos_retinaface_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h = NULL;
    char *json = NULL, **names = NULL;
    int n_names = 0, n_specs = 0;
    struct cosmos_retinaface_tensor_spec *specs = NULL;
    cosmos_retinaface_t *m = NULL;
    *out = NULL;
    CHECK_ARG(path && path[0], COSMOS_ERR_INVALID_ARG, "RetinaFace: no weight file given");
    CHECK(cosmos_h5_open(path, &h));
    CHECK(cosmos_h5_check_model_header(h, "retinaface",
                                       "write one with `cosmos-ar init` on a retinaface config or convert "
                                       "Resnet50_Final.pth with tools/convert_checkpoint.py",
                                       &json));
    m = calloc(1, sizeof *m);
    CHECK_ALLOC(m);
    {
        char src[1100];
        snprintf(src, sizeof src, "%s (config attribute)", path);
        CHECK(cosmos_retinaface_config_parse(json, src, &m->cfg));
    }
    CHECK(cosmos_retinaface_weight_specs(&m->cfg, &specs, &n_specs));
    CHECK(cosmos_h5_list(h, &names, &n_names));
    for (int i = 0; i < n_names; i++) {
        int known = 0;
        for (int j = 0; j < n_specs && !known; j++) known = !strcmp(names[i], specs[j].name);
        CHECK_ARG(known, COSMOS_ERR_FORMAT, "%s: unexpected dataset '%s' (not a key of RetinaFace config '%s')", path,
                  names[i], m->cfg.name);
    }
    CHECK(build_table(&m->cfg, &m->t));
    m->convs = calloc((size_t)m->t.n, sizeof *m->convs);
    CHECK_ALLOC(m->convs);
    for (int i = 0; i < m->t.n; i++) CHECK(load_conv(h, &m->t.l[i], &m->convs[i]));
    /* The landmark heads are validated above but never computed. */
    for (int i = m->t.ldm; i < m->t.ldm + 3; i++) {
        free(m->convs[i].w), free(m->convs[i].b);
        m->convs[i].w = m->convs[i].b = NULL;
    }
    *out = m;
    m = NULL;
fail:
    cosmos_retinaface_free(m);
    cosmos_h5_free_names(names, n_names);
    free(specs);
    free(json);
    cosmos_h5_close(h);
    return st;
}

/* ------------------------------------------------------------------------------------------------
 * Forward pass. Activations are f32 [C, H, W]. */

enum { ACT_NONE, ACT_LEAKY }; /* ACT_LEAKY with slope 0 is ReLU */

/* The im2col matrix, kept from one convolution of a forward pass to the next and grown as needed.
 * A fresh buffer of this size (up to 96 MB at 1024x640) is an mmap whose pages the kernel zero-fills
 * on first touch: allocating one per convolution cost about a fifth of the forward's time. */
struct rf_ws {
    float *col;
    size_t col_n;
};

static int conv_out(int n, int k, int s, int p) { return cosmos_conv_out(n, k, s, p); }

/* out [cout, Ho, Wo] = act(conv(in [cin, H, W]) + b) (kernels/cpu/conv2d.c). */
static cosmos_status conv2d(struct rf_ws *ws, const struct rf_conv *c, const float *in, int H, int W, float *out,
                            int act, float slope) {
    return cosmos_cpu_conv2d(out, in, c->w, c->b, c->cin, H, W, c->cout, c->k, c->stride, c->pad, act == ACT_LEAKY,
                             slope, &ws->col, &ws->col_n);
}

static void relu_inplace(float *x, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        if (x[i] < 0) x[i] = 0;
}

/* Max-pool 3x3, stride 2, padding 1 (padding never wins). */
static void maxpool3x3s2(const float *in, int C, int H, int W, float *out) {
    cosmos_cpu_maxpool2d(out, in, C, H, W, 3, 2, 1);
}

/* dst [C, Hd, Wd] += nearest-upsampled src [C, Hs, Ws] (F.interpolate(size=..., mode="nearest")). */
static void add_upsampled(float *dst, int C, int Hd, int Wd, const float *src, int Hs, int Ws) {
    cosmos_cpu_add_upsampled_nearest(dst, C, Hd, Wd, src, Hs, Ws);
}

struct fmap {
    float *d;
    int C, H, W;
};

static size_t fmap_numel(const struct fmap *f) { return (size_t)f->C * (size_t)f->H * (size_t)f->W; }

static cosmos_status fmap_alloc(struct fmap *f, int C, int H, int W) {
    f->C = C, f->H = H, f->W = W;
    f->d = malloc(sizeof(float) * fmap_numel(f));
    if (!f->d) {
        LOG_ERROR("RetinaFace: out of memory for a [%d, %d, %d] feature map", C, H, W);
        return COSMOS_ERR_NOMEM;
    }
    return COSMOS_OK;
}

static void fmap_release(struct fmap *f) {
    free(f->d);
    f->d = NULL;
}

/* out = act(conv(in)), allocating out. */
static cosmos_status conv_new(struct rf_ws *ws, const struct rf_conv *c, const struct fmap *in, struct fmap *out,
                              int act, float slope) {
    cosmos_status st = COSMOS_OK;
    CHECK(fmap_alloc(out, c->cout, conv_out(in->H, c->k, c->stride, c->pad),
                     conv_out(in->W, c->k, c->stride, c->pad)));
    CHECK(conv2d(ws, c, in->d, in->H, in->W, out->d, act, slope));
fail:
    return st;
}

/* torchvision Bottleneck: relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1 x))))))) + downsample(x)). */
static cosmos_status bottleneck(struct rf_ws *ws, const struct rf_conv *cv, int has_ds, struct fmap *x) {
    cosmos_status st = COSMOS_OK;
    struct fmap t1 = {0}, t2 = {0}, t3 = {0}, id = {0};
    CHECK(conv_new(ws, &cv[0], x, &t1, ACT_LEAKY, 0.0f));
    CHECK(conv_new(ws, &cv[1], &t1, &t2, ACT_LEAKY, 0.0f));
    fmap_release(&t1);
    CHECK(conv_new(ws, &cv[2], &t2, &t3, ACT_NONE, 0.0f));
    fmap_release(&t2);
    if (has_ds) CHECK(conv_new(ws, &cv[3], x, &id, ACT_NONE, 0.0f));
    const float *r = has_ds ? id.d : x->d;
    const int64_t n = (int64_t)t3.C * t3.H * t3.W;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float v = t3.d[i] + r[i];
        t3.d[i] = v > 0 ? v : 0;
    }
    fmap_release(x);
    *x = t3;
    t3.d = NULL;
fail:
    fmap_release(&t1), fmap_release(&t2), fmap_release(&t3), fmap_release(&id);
    return st;
}

/* SSH: relu(cat(conv3X3(x), conv5X5_2(a), conv7x7_3(act(conv7X7_2(a))))), a = act(conv5X5_1(x)). */
static cosmos_status ssh(struct rf_ws *ws, const struct rf_conv *cv, const struct fmap *x, float slope,
                         struct fmap *out) {
    cosmos_status st = COSMOS_OK;
    struct fmap a = {0}, b = {0};
    const int64_t HW = (int64_t)x->H * x->W;
    CHECK(fmap_alloc(out, cv[0].cout + cv[2].cout + cv[4].cout, x->H, x->W));
    CHECK(conv2d(ws, &cv[0], x->d, x->H, x->W, out->d, ACT_NONE, 0.0f));
    CHECK(conv_new(ws, &cv[1], x, &a, ACT_LEAKY, slope));
    CHECK(conv2d(ws, &cv[2], a.d, a.H, a.W, out->d + cv[0].cout * HW, ACT_NONE, 0.0f));
    CHECK(conv_new(ws, &cv[3], &a, &b, ACT_LEAKY, slope));
    CHECK(conv2d(ws, &cv[4], b.d, b.H, b.W, out->d + (int64_t)(cv[0].cout + cv[2].cout) * HW, ACT_NONE, 0.0f));
    relu_inplace(out->d, (int64_t)out->C * HW);
fail:
    fmap_release(&a), fmap_release(&b);
    return st;
}

int64_t cosmos_retinaface_num_priors(const struct cosmos_retinaface_config *c, int H, int W) {
    int64_t n = 0;
    for (int l = 0; l < COSMOS_RETINAFACE_LEVELS; l++) {
        const int64_t fh = (H + c->steps[l] - 1) / c->steps[l], fw = (W + c->steps[l] - 1) / c->steps[l];
        n += fh * fw * c->num_anchors;
    }
    return n;
}

/* ------------------------------------------------------------------------------------------------
 * The network on a device backend: the host forward's steps as backend ops (f32) */

struct cosmos_backend *cosmos_retinaface_backend(const cosmos_retinaface_t *m) { return m->dev ? m->dev->be : NULL; }

cosmos_status cosmos_retinaface_use_backend(cosmos_retinaface_t *m, cosmos_backend_t *be) {
    cosmos_status st = COSMOS_OK;
    struct rf_device *d = NULL;
    float *host = NULL;
    CHECK_ARG(m, COSMOS_ERR_INVALID_ARG, "cosmos_retinaface_use_backend: NULL model");
    device_free(m->dev);
    m->dev = NULL;
    if (!be || cosmos_backend_is_host(be)) return COSMOS_OK;
    d = calloc(1, sizeof *d);
    CHECK_ALLOC(d);
    d->be = be;
    d->w_off = malloc(sizeof(int64_t) * (size_t)m->t.n);
    d->b_off = malloc(sizeof(int64_t) * (size_t)m->t.n);
    CHECK_ALLOC(d->w_off);
    CHECK_ALLOC(d->b_off);
    int64_t total = 0;
    for (int i = 0; i < m->t.n; i++) {
        const struct rf_conv *c = &m->convs[i];
        d->w_off[i] = d->b_off[i] = -1;
        if (!c->w) continue;
        d->w_off[i] = total, total += (int64_t)c->cout * c->cin * c->k * c->k;
        d->b_off[i] = total, total += c->cout;
    }
    host = malloc(sizeof(float) * (size_t)total);
    CHECK_ALLOC(host);
    for (int i = 0; i < m->t.n; i++) {
        const struct rf_conv *c = &m->convs[i];
        if (!c->w) continue;
        memcpy(host + d->w_off[i], c->w, sizeof(float) * (size_t)((int64_t)c->cout * c->cin * c->k * c->k));
        memcpy(host + d->b_off[i], c->b, sizeof(float) * (size_t)c->cout);
    }
    CHECK(cosmos_backend_alloc(be, sizeof(float) * (size_t)total, (void **)&d->arena));
    CHECK(cosmos_backend_upload(be, d->arena, host, sizeof(float) * (size_t)total));
    CHECK(cosmos_backend_sync(be));
    LOG_INFO("face blur: RetinaFace '%s' on %s (f32, %.1f MB of weights)", m->cfg.name, cosmos_backend_name(be),
             (double)total * 4e-6);
    m->dev = d;
    d = NULL;
fail:
    free(host);
    device_free(d);
    return st;
}

struct dmap {
    float *d;
    int C, H, W;
};

static struct cosmos_tensor dmap_t(const struct dmap *f) { return cosmos_tensor_3d(f->d, COSMOS_F32, f->C, f->H, f->W); }

/* A feature map from the pool (contents undefined: every op writes its whole output) or fresh. */
static cosmos_status dmap_alloc(struct rf_device *d, struct dmap *f, int C, int H, int W) {
    const size_t n = (size_t)C * (size_t)H * (size_t)W;
    f->C = C, f->H = H, f->W = W;
    for (int i = 0; i < d->n_pool; i++)
        if (d->pool_n[i] == n) {
            f->d = d->pool[i];
            memmove(&d->pool[i], &d->pool[i + 1], sizeof d->pool[0] * (size_t)(d->n_pool - i - 1));
            memmove(&d->pool_n[i], &d->pool_n[i + 1], sizeof d->pool_n[0] * (size_t)(d->n_pool - i - 1));
            d->n_pool--;
            return COSMOS_OK;
        }
    d->n_allocs++;
    return cosmos_backend_alloc(d->be, sizeof(float) * n, (void **)&f->d);
}

/* back to the pool (the least recently released buffer freed when it is full) */
static void dmap_release(struct rf_device *d, struct dmap *f) {
    if (!f->d) return;
    if (d->n_pool == RF_POOL) cosmos_backend_free_mem(d->be, d->pool[--d->n_pool]);
    memmove(&d->pool[1], &d->pool[0], sizeof d->pool[0] * (size_t)d->n_pool);
    memmove(&d->pool_n[1], &d->pool_n[0], sizeof d->pool_n[0] * (size_t)d->n_pool);
    d->pool[0] = f->d;
    d->pool_n[0] = (size_t)f->C * (size_t)f->H * (size_t)f->W;
    d->n_pool++;
    f->d = NULL;
}

int64_t cosmos_retinaface_device_allocs(const cosmos_retinaface_t *m) { return m->dev ? m->dev->n_allocs : 0; }

/* out (a view of the caller's memory, the conv's size) = act(conv_i(in)) */
static cosmos_status dconv_into(const cosmos_retinaface_t *m, int i, const struct dmap *in, struct dmap *out, int act,
                                float slope) {
    cosmos_status st = COSMOS_OK;
    const struct rf_conv *c = &m->convs[i];
    const struct rf_device *d = m->dev;
    const struct cosmos_tensor w = cosmos_tensor_2d(d->arena + d->w_off[i], COSMOS_F32, c->cout,
                                                    (int64_t)c->cin * c->k * c->k);
    const struct cosmos_tensor b = cosmos_tensor_1d(d->arena + d->b_off[i], COSMOS_F32, c->cout);
    CHECK(cosmos_op_conv2d(d->be, dmap_t(out), dmap_t(in), w, b, c->k, c->stride, c->pad));
    if (act == ACT_LEAKY) CHECK(cosmos_op_leaky_relu(d->be, dmap_t(out), dmap_t(out), slope));
fail:
    return st;
}

static cosmos_status dconv_new(const cosmos_retinaface_t *m, int i, const struct dmap *in, struct dmap *out, int act,
                               float slope) {
    cosmos_status st = COSMOS_OK;
    const struct rf_conv *c = &m->convs[i];
    CHECK(dmap_alloc(m->dev, out, c->cout, conv_out(in->H, c->k, c->stride, c->pad),
                     conv_out(in->W, c->k, c->stride, c->pad)));
    CHECK(dconv_into(m, i, in, out, act, slope));
fail:
    return st;
}

/* the torchvision Bottleneck of the host path (bottleneck), on the device */
static cosmos_status dbottleneck(const cosmos_retinaface_t *m, int i, int has_ds, struct dmap *x) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = m->dev->be;
    struct dmap t1 = {0}, t2 = {0}, t3 = {0}, id = {0};
    CHECK(dconv_new(m, i, x, &t1, ACT_LEAKY, 0.0f));
    CHECK(dconv_new(m, i + 1, &t1, &t2, ACT_LEAKY, 0.0f));
    dmap_release(m->dev, &t1);
    CHECK(dconv_new(m, i + 2, &t2, &t3, ACT_NONE, 0.0f));
    dmap_release(m->dev, &t2);
    if (has_ds) CHECK(dconv_new(m, i + 3, x, &id, ACT_NONE, 0.0f));
    CHECK(cosmos_op_add(be, dmap_t(&t3), dmap_t(&t3), dmap_t(has_ds ? &id : x)));
    CHECK(cosmos_op_relu(be, dmap_t(&t3), dmap_t(&t3)));
    dmap_release(m->dev, x);
    *x = t3;
    t3.d = NULL;
fail:
    dmap_release(m->dev, &t1), dmap_release(m->dev, &t2), dmap_release(m->dev, &t3), dmap_release(m->dev, &id);
    return st;
}

/* SSH (ssh), on the device: the three branches write their channel ranges of out */
static cosmos_status dssh(const cosmos_retinaface_t *m, int i, const struct dmap *x, float slope, struct dmap *out) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = m->dev->be;
    const struct rf_conv *cv = &m->convs[i];
    const int64_t HW = (int64_t)x->H * x->W;
    struct dmap a = {0}, b = {0};
    CHECK(dmap_alloc(m->dev, out, cv[0].cout + cv[2].cout + cv[4].cout, x->H, x->W));
    struct dmap s0 = {out->d, cv[0].cout, x->H, x->W}, s1 = {out->d + cv[0].cout * HW, cv[2].cout, x->H, x->W};
    struct dmap s2 = {out->d + (int64_t)(cv[0].cout + cv[2].cout) * HW, cv[4].cout, x->H, x->W};
    CHECK(dconv_into(m, i, x, &s0, ACT_NONE, 0.0f));
    CHECK(dconv_new(m, i + 1, x, &a, ACT_LEAKY, slope));
    CHECK(dconv_into(m, i + 2, &a, &s1, ACT_NONE, 0.0f));
    CHECK(dconv_new(m, i + 3, &a, &b, ACT_LEAKY, slope));
    CHECK(dconv_into(m, i + 4, &b, &s2, ACT_NONE, 0.0f));
    CHECK(cosmos_op_relu(be, dmap_t(out), dmap_t(out)));
fail:
    dmap_release(m->dev, &a), dmap_release(m->dev, &b);
    return st;
}

/* cosmos_retinaface_forward's network on m->dev: x0 host [3, H, W] (BGR minus the means) -> the
 * heads' outputs, downloaded into the host maps cls [L][2A, HW_l] and box [L][4A, HW_l]. */
static cosmos_status forward_device(const cosmos_retinaface_t *m, const float *x0, int H, int W, float **cls,
                                    float **box) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_retinaface_config *c = &m->cfg;
    const struct rf_table *t = &m->t;
    cosmos_backend_t *be = m->dev->be;
    const float slope = cosmos_retinaface_leaky(c);
    struct dmap x = {0}, y = {0}, C[3] = {{0}}, P[3] = {{0}}, F[3] = {{0}}, hd = {0};
    CHECK(dmap_alloc(m->dev, &x, 3, H, W));
    CHECK(cosmos_backend_upload(be, x.d, x0, sizeof(float) * 3 * (size_t)H * (size_t)W));
    CHECK(dconv_new(m, 0, &x, &y, ACT_LEAKY, 0.0f));
    dmap_release(m->dev, &x);
    CHECK(dmap_alloc(m->dev, &x, y.C, conv_out(y.H, 3, 2, 1), conv_out(y.W, 3, 2, 1)));
    CHECK(cosmos_op_maxpool2d(be, dmap_t(&x), dmap_t(&y), 3, 2, 1));
    dmap_release(m->dev, &y);
    int li = 1;
    for (int l = 0; l < 4; l++) {
        for (int b = 0; b < c->blocks[l]; b++) {
            const int has_ds = li + 3 < t->n_body && strstr(t->l[li + 3].conv, "downsample") != NULL;
            CHECK(dbottleneck(m, li, has_ds, &x));
            li += 3 + has_ds;
        }
        if (l >= 1) {
            CHECK(dmap_alloc(m->dev, &C[l - 1], x.C, x.H, x.W));
            CHECK(cosmos_op_copy(be, dmap_t(&C[l - 1]), dmap_t(&x)));
        }
    }
    dmap_release(m->dev, &x);
    for (int l = 0; l < 3; l++) {
        CHECK(dconv_new(m, t->fpn + l, &C[l], &P[l], ACT_LEAKY, slope));
        dmap_release(m->dev, &C[l]);
    }
    for (int l = 1; l >= 0; l--) {
        CHECK(cosmos_op_add_upsampled_nearest(be, dmap_t(&P[l]), dmap_t(&P[l + 1])));
        struct dmap merged = {0};
        CHECK(dconv_new(m, t->fpn + 3 + l, &P[l], &merged, ACT_LEAKY, slope));
        dmap_release(m->dev, &P[l]);
        P[l] = merged;
    }
    for (int l = 0; l < 3; l++) {
        CHECK(dssh(m, t->ssh + 5 * l, &P[l], slope, &F[l]));
        const int64_t fh = (H + c->steps[l] - 1) / c->steps[l], fw = (W + c->steps[l] - 1) / c->steps[l];
        CHECK_ARG(F[l].H == fh && F[l].W == fw, COSMOS_ERR_INTERNAL,
                  "RetinaFace: level %d feature map %dx%d does not match the %lldx%lld priors", l, F[l].W, F[l].H,
                  (long long)fw, (long long)fh);
        const int ids[2] = {t->cls + l, t->box + l};
        float *dst[2] = {cls[l], box[l]};
        for (int h = 0; h < 2; h++) {
            CHECK(dconv_new(m, ids[h], &F[l], &hd, ACT_NONE, 0.0f));
            CHECK(cosmos_backend_download(be, dst[h], hd.d, sizeof(float) * (size_t)hd.C * hd.H * hd.W));
            dmap_release(m->dev, &hd);
        }
    }
    CHECK(cosmos_backend_sync(be));
fail:
    dmap_release(m->dev, &x), dmap_release(m->dev, &y), dmap_release(m->dev, &hd);
    for (int l = 0; l < 3; l++) dmap_release(m->dev, &C[l]), dmap_release(m->dev, &P[l]), dmap_release(m->dev, &F[l]);
    if (COSMOS_LOG_DEBUG <= cosmos_log_get_level()) {
        size_t held = 0;
        for (int i = 0; i < m->dev->n_pool; i++) held += m->dev->pool_n[i];
        LOG_DEBUG("RetinaFace %dx%d: %d feature maps pooled on %s, %.1f MB (%lld allocated so far)", W, H,
                  m->dev->n_pool, cosmos_backend_name(be), (double)held * 4e-6, (long long)m->dev->n_allocs);
    }
    return st;
}

/* A level's class head [2A, HW] -> conf rows off.. (softmax per anchor); box head [4A, HW] -> loc. */
static void store_conf(const float *hd, int64_t HW, int A, int64_t off, float *conf) {
    for (int64_t p = 0; p < HW; p++)
        for (int a = 0; a < A; a++) {
            const float z0 = hd[(int64_t)(a * 2) * HW + p], z1 = hd[(int64_t)(a * 2 + 1) * HW + p];
            const float mx = z0 > z1 ? z0 : z1;
            const float e0 = expf(z0 - mx), e1 = expf(z1 - mx), s = e0 + e1;
            float *dst = conf + ((off + p) * A + a) * 2;
            dst[0] = e0 / s, dst[1] = e1 / s;
        }
}
static void store_loc(const float *hd, int64_t HW, int A, int64_t off, float *loc) {
    for (int64_t p = 0; p < HW; p++)
        for (int a = 0; a < A; a++)
            for (int k = 0; k < 4; k++) loc[((off + p) * A + a) * 4 + k] = hd[(int64_t)(a * 4 + k) * HW + p];
}

/* the network on m->dev, then the heads' outputs stored as the host path stores them */
static cosmos_status forward_on_device(const cosmos_retinaface_t *m, const float *x0, int H, int W, float *loc,
                                       float *conf) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_retinaface_config *c = &m->cfg;
    const int A = c->num_anchors;
    float *cls[3] = {NULL}, *box[3] = {NULL};
    int64_t hw[3];
    for (int l = 0; l < 3; l++) {
        hw[l] = (int64_t)((H + c->steps[l] - 1) / c->steps[l]) * ((W + c->steps[l] - 1) / c->steps[l]);
        cls[l] = malloc(sizeof(float) * (size_t)(2 * A * hw[l]));
        box[l] = malloc(sizeof(float) * (size_t)(4 * A * hw[l]));
        CHECK_ALLOC(cls[l]);
        CHECK_ALLOC(box[l]);
    }
    CHECK(forward_device(m, x0, H, W, cls, box));
    int64_t off = 0;
    for (int l = 0; l < 3; l++) {
        store_conf(cls[l], hw[l], A, off, conf);
        store_loc(box[l], hw[l], A, off, loc);
        off += hw[l];
    }
fail:
    for (int l = 0; l < 3; l++) free(cls[l]), free(box[l]);
    return st;
}

cosmos_status cosmos_retinaface_forward(const cosmos_retinaface_t *m, const uint8_t *rgb, int H, int W, float *loc,
                                        float *conf) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_retinaface_config *c = &m->cfg;
    const struct rf_table *t = &m->t;
    const struct rf_conv *cv = m->convs;
    const float slope = cosmos_retinaface_leaky(c);
    struct fmap x = {0}, y = {0}, C[3] = {{0}}, P[3] = {{0}}, F[3] = {{0}}, hd = {0};
    struct rf_ws ws = {0};
    CHECK_ARG(rgb && loc && conf, COSMOS_ERR_INVALID_ARG, "RetinaFace forward: NULL buffer");
    CHECK_ARG(H >= 1 && W >= 1 && H <= RF_MAX_DIM && W <= RF_MAX_DIM, COSMOS_ERR_INVALID_ARG,
              "RetinaFace forward: frame size %dx%d out of range [1, %d]", W, H, RF_MAX_DIM);
    /* uint8 RGB [H, W, 3] -> f32 BGR [3, H, W] minus the BGR means (spec 5.5 preprocess) */
    CHECK(fmap_alloc(&x, 3, H, W));
    static const float mean_bgr[3] = {104.0f, 117.0f, 123.0f};
    for (int ch = 0; ch < 3; ch++)
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < (int64_t)H * W; i++)
            x.d[ch * (int64_t)H * W + i] = (float)rgb[i * 3 + (2 - ch)] - mean_bgr[ch];
    if (m->dev) { /* the network on the device backend */
        st = forward_on_device(m, x.d, H, W, loc, conf);
        goto fail;
    }
    /* stem */
    CHECK(conv_new(&ws, &cv[0], &x, &y, ACT_LEAKY, 0.0f));
    fmap_release(&x);
    CHECK(fmap_alloc(&x, y.C, conv_out(y.H, 3, 2, 1), conv_out(y.W, 3, 2, 1)));
    maxpool3x3s2(y.d, y.C, y.H, y.W, x.d);
    fmap_release(&y);
    /* ResNet layers; keep the outputs of layers 2, 3, 4 */
    int li = 1;
    for (int l = 0; l < 4; l++) {
        for (int b = 0; b < c->blocks[l]; b++) {
            const int has_ds = li + 3 < t->n_body && strstr(t->l[li + 3].conv, "downsample") != NULL;
            CHECK(bottleneck(&ws, &cv[li], has_ds, &x));
            li += 3 + has_ds;
        }
        if (l >= 1) {
            CHECK(fmap_alloc(&C[l - 1], x.C, x.H, x.W));
            memcpy(C[l - 1].d, x.d, sizeof(float) * (size_t)x.C * x.H * x.W);
        }
    }
    fmap_release(&x);
    /* FPN */
    for (int l = 0; l < 3; l++) {
        CHECK(conv_new(&ws, &cv[t->fpn + l], &C[l], &P[l], ACT_LEAKY, slope));
        fmap_release(&C[l]);
    }
    for (int l = 1; l >= 0; l--) { /* merge2 on P4 (index 1), then merge1 on P3 (index 0) */
        add_upsampled(P[l].d, P[l].C, P[l].H, P[l].W, P[l + 1].d, P[l + 1].H, P[l + 1].W);
        struct fmap merged = {0};
        CHECK(conv_new(&ws, &cv[t->fpn + 3 + l], &P[l], &merged, ACT_LEAKY, slope));
        fmap_release(&P[l]);
        P[l] = merged;
    }
    /* SSH + heads */
    int64_t off = 0;
    const int A = c->num_anchors;
    for (int l = 0; l < 3; l++) {
        CHECK(ssh(&ws, &cv[t->ssh + 5 * l], &P[l], slope, &F[l]));
        const int64_t HW = (int64_t)F[l].H * F[l].W;
        const int64_t fh = (H + c->steps[l] - 1) / c->steps[l], fw = (W + c->steps[l] - 1) / c->steps[l];
        CHECK_ARG(F[l].H == fh && F[l].W == fw, COSMOS_ERR_INTERNAL,
                  "RetinaFace: level %d feature map %dx%d does not match the %lldx%lld priors", l, F[l].W, F[l].H,
                  (long long)fw, (long long)fh);
        CHECK(conv_new(&ws, &cv[t->cls + l], &F[l], &hd, ACT_NONE, 0.0f));
        store_conf(hd.d, HW, A, off, conf);
        fmap_release(&hd);
        CHECK(conv_new(&ws, &cv[t->box + l], &F[l], &hd, ACT_NONE, 0.0f));
        store_loc(hd.d, HW, A, off, loc);
        fmap_release(&hd);
        off += HW;
    }
fail:
    free(x.d), free(y.d), free(hd.d);
    for (int l = 0; l < 3; l++) free(C[l].d), free(P[l].d), free(F[l].d);
    free(ws.col);
    return st;
}

/* ------------------------------------------------------------------------------------------------
 * Priors, decoding, NMS */

void cosmos_retinaface_priors(const struct cosmos_retinaface_config *c, int H, int W, float *pr) {
    int64_t q = 0;
    for (int l = 0; l < COSMOS_RETINAFACE_LEVELS; l++) {
        const int step = c->steps[l], fh = (H + step - 1) / step, fw = (W + step - 1) / step;
        for (int i = 0; i < fh; i++)
            for (int j = 0; j < fw; j++)
                for (int a = 0; a < c->num_anchors; a++) {
                    pr[q++] = (float)((j + 0.5) * step / W);
                    pr[q++] = (float)((i + 0.5) * step / H);
                    pr[q++] = (float)((double)c->min_sizes[l][a] / W);
                    pr[q++] = (float)((double)c->min_sizes[l][a] / H);
                }
    }
}

int cosmos_retinaface_nms(struct cosmos_retinaface_box *d, int n, float thresh) {
    int kept = 0;
    char *dead = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!dead) return -1;
    for (int i = 0; i < n; i++) {
        if (dead[i]) continue;
        const struct cosmos_retinaface_box bi = d[i];
        const float area_i = (bi.x2 - bi.x1 + 1.0f) * (bi.y2 - bi.y1 + 1.0f);
        for (int j = i + 1; j < n; j++) {
            if (dead[j]) continue;
            const struct cosmos_retinaface_box *bj = &d[j];
            const float xx1 = bi.x1 > bj->x1 ? bi.x1 : bj->x1, yy1 = bi.y1 > bj->y1 ? bi.y1 : bj->y1;
            const float xx2 = bi.x2 < bj->x2 ? bi.x2 : bj->x2, yy2 = bi.y2 < bj->y2 ? bi.y2 : bj->y2;
            const float w0 = xx2 - xx1 + 1.0f, h0 = yy2 - yy1 + 1.0f;
            const float w = w0 > 0.0f ? w0 : 0.0f, h = h0 > 0.0f ? h0 : 0.0f;
            const float inter = w * h;
            const float area_j = (bj->x2 - bj->x1 + 1.0f) * (bj->y2 - bj->y1 + 1.0f);
            const float ovr = inter / (area_i + area_j - inter);
            if (!(ovr <= thresh)) dead[j] = 1; /* numpy keeps only ovr <= thresh (NaN is dropped) */
        }
        d[kept++] = bi;
    }
    free(dead);
    return kept;
}

struct scored {
    float s;
    int i;
};

/* Descending score; ties: higher index first (numpy argsort()[::-1] of an ascending stable sort). */
static int cmp_scored(const void *a, const void *b) {
    const struct scored *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i > y->i ? -1 : (x->i < y->i);
}

cosmos_status cosmos_retinaface_postprocess(const struct cosmos_retinaface_config *c, int H, int W, const float *loc,
                                            const float *conf, struct cosmos_retinaface_box **boxes, int *n_out) {
    cosmos_status st = COSMOS_OK;
    const int64_t P = cosmos_retinaface_num_priors(c, H, W);
    float *pr = NULL;
    struct scored *cand = NULL;
    struct cosmos_retinaface_box *d = NULL;
    *boxes = NULL, *n_out = 0;
    pr = malloc(sizeof(float) * 4 * (size_t)P);
    cand = malloc(sizeof *cand * (size_t)(P > 0 ? P : 1));
    CHECK_ALLOC(pr);
    CHECK_ALLOC(cand);
    cosmos_retinaface_priors(c, H, W, pr);
    int64_t nc = 0;
    for (int64_t p = 0; p < P; p++)
        if (conf[p * 2 + 1] > c->confidence_threshold) cand[nc].s = conf[p * 2 + 1], cand[nc].i = (int)p, nc++;
    qsort(cand, (size_t)nc, sizeof *cand, cmp_scored);
    if (nc > c->top_k) nc = c->top_k;
    d = malloc(sizeof *d * (size_t)(nc > 0 ? nc : 1));
    CHECK_ALLOC(d);
    const float v0 = c->variances[0], v1 = c->variances[1], fW = (float)W, fH = (float)H;
    for (int64_t k = 0; k < nc; k++) {
        const float *p = pr + (int64_t)cand[k].i * 4, *l = loc + (int64_t)cand[k].i * 4;
        /* decode_batch, op by op in f32 */
        const float t0 = l[0] * v0, t1 = l[1] * v0;
        const float cx = p[0] + t0 * p[2], cy = p[1] + t1 * p[3];
        const float e2 = l[2] * v1, e3 = l[3] * v1;
        const float w = p[2] * expf(e2), h = p[3] * expf(e3);
        const float x1 = cx - w / 2.0f, y1 = cy - h / 2.0f;
        const float x2 = w + x1, y2 = h + y1;
        d[k].x1 = x1 * fW, d[k].y1 = y1 * fH, d[k].x2 = x2 * fW, d[k].y2 = y2 * fH;
        d[k].score = cand[k].s;
    }
    int kept = cosmos_retinaface_nms(d, (int)nc, c->nms_threshold);
    CHECK_ARG(kept >= 0, COSMOS_ERR_NOMEM, "RetinaFace NMS: out of memory");
    if (kept > c->keep_top_k) kept = c->keep_top_k;
    if (kept > 0) {
        *boxes = d, *n_out = kept;
        d = NULL;
    }
fail:
    free(pr), free(cand), free(d);
    return st;
}

cosmos_status cosmos_retinaface_detect(const cosmos_retinaface_t *m, const uint8_t *rgb, int H, int W,
                                       struct cosmos_retinaface_box **boxes, int *n) {
    cosmos_status st = COSMOS_OK;
    float *loc = NULL, *conf = NULL;
    *boxes = NULL, *n = 0;
    CHECK_ARG(H >= 1 && W >= 1 && H <= RF_MAX_DIM && W <= RF_MAX_DIM, COSMOS_ERR_INVALID_ARG,
              "RetinaFace: frame size %dx%d out of range [1, %d]", W, H, RF_MAX_DIM);
    const int64_t P = cosmos_retinaface_num_priors(&m->cfg, H, W);
    loc = malloc(sizeof(float) * 4 * (size_t)P);
    conf = malloc(sizeof(float) * 2 * (size_t)P);
    CHECK_ALLOC(loc);
    CHECK_ALLOC(conf);
    CHECK(cosmos_retinaface_forward(m, rgb, H, W, loc, conf));
    CHECK(cosmos_retinaface_postprocess(&m->cfg, H, W, loc, conf, boxes, n));
fail:
    free(loc), free(conf);
    return st;
}

/* ------------------------------------------------------------------------------------------------
 * Random weights */

cosmos_status cosmos_retinaface_init_random(const struct cosmos_retinaface_config *c, uint64_t seed,
                                            const char *out_path) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_retinaface_tensor_spec *s = NULL;
    cosmos_h5_t *h5 = NULL;
    float *buf = NULL;
    int n = 0;
    char tmp[1100];
    cosmos_tmp_path(out_path, tmp, sizeof tmp);
    CHECK(cosmos_retinaface_weight_specs(c, &s, &n));
    int64_t max_numel = 0;
    for (int j = 0; j < n; j++) {
        int64_t numel = 1;
        for (int d = 0; d < s[j].ndim; d++) numel *= s[j].shape[d];
        if (numel > max_numel) max_numel = numel;
    }
    buf = malloc(sizeof(float) * (size_t)max_numel);
    CHECK_ALLOC(buf);
    CHECK(cosmos_h5_create(tmp, &h5));
    CHECK(cosmos_retinaface_write_header(h5, c));
    for (int j = 0; j < n; j++) {
        const char *name = s[j].name;
        int64_t numel = 1;
        for (int d = 0; d < s[j].ndim; d++) numel *= s[j].shape[d];
        const size_t len = strlen(name);
#define ENDS(suf) (len >= strlen(suf) && !strcmp(name + len - strlen(suf), suf))
        const int is_stem_bn = !strncmp(name, "body.bn1.", 9);
        const int last_bn = strstr(name, ".bn3.") != NULL;
        for (int64_t i = 0; i < numel; i++) {
            const float z = cosmos_rng_normal(seed, (uint64_t)j, (uint64_t)i);
            float v;
            if (s[j].ndim == 4) {
                v = z * sqrtf(2.0f / (float)(s[j].shape[1] * s[j].shape[2] * s[j].shape[3]));
                if (strstr(name, "Head")) v *= 0.05f; /* head outputs O(1) on random features */
            } else if (ENDS(".running_var")) {
                v = is_stem_bn ? 3600.0f : (float)(0.5 + cosmos_rng_uniform(seed, (uint64_t)j, (uint64_t)i));
            } else if (ENDS(".running_mean") || (ENDS(".bias") && !strstr(name, "Head"))) {
                v = 0.1f * z;
            } else if (ENDS(".bias")) { /* head biases: 0, but background over face in ClassHead */
                v = strstr(name, "ClassHead") ? (i % 2 ? -1.0f : 1.0f) * COSMOS_RETINAFACE_RANDOM_BACKGROUND_BIAS : 0.0f;
            } else {
                v = (last_bn ? 0.25f : 1.0f) + 0.1f * z; /* BN gamma */
            }
            buf[i] = v;
        }
#undef ENDS
        CHECK(cosmos_h5_write(h5, name, COSMOS_F32, s[j].ndim, s[j].shape, buf));
    }
    cosmos_h5_close(h5);
    h5 = NULL;
    CHECK(cosmos_commit_tmp(tmp, out_path));
fail:
    if (h5) cosmos_h5_close(h5);
    if (st != COSMOS_OK) remove(tmp);
    free(buf);
    free(s);
    return st;
}
