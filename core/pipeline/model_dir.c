/* Model directory manifest (see model_dir.h): read with jansson, strict about keys and files. */
#include "core/json_file.h"
#include "core/pipeline/model_dir.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/ar_init.h"
#include "core/model/dv_config.h"
#include "core/model/dv_init.h"
#include "core/context_file.h"
#include "core/guardrail/aegis.h"
#include "core/guardrail/retinaface.h"
#include "core/guardrail/siglip.h"
#include "core/model/dd_sampler.h"
#include "core/model/dit_config.h"
#include "core/model/dit_init.h"
#include "core/model/t5_config.h"
#include "core/model/t5_model.h"

static cosmos_status resolve(const char *dir, const char *manifest, json_t *root, const char *key, int required,
                             char *out) {
    cosmos_status st = COSMOS_OK;
    json_t *v = json_object_get(root, key);
    out[0] = '\0';
    if (!v) {
        CHECK_ARG(!required, COSMOS_ERR_FORMAT, "%s: key '%s' (the %s weight file) is missing", manifest, key, key);
        return COSMOS_OK;
    }
    CHECK_ARG(json_is_string(v) && json_string_length(v) > 0, COSMOS_ERR_FORMAT, "%s: key '%s' must be a file name",
              manifest, key);
    const char *f = json_string_value(v);
    int n = f[0] == '/' ? snprintf(out, COSMOS_MODEL_DIR_PATH, "%s", f)
                        : snprintf(out, COSMOS_MODEL_DIR_PATH, "%s/%s", dir, f);
    CHECK_ARG(n > 0 && n < COSMOS_MODEL_DIR_PATH, COSMOS_ERR_INVALID_ARG, "%s: path of '%s' is too long", manifest,
              key);
    CHECK_ARG(access(out, R_OK) == 0, COSMOS_ERR_IO, "%s: the %s file '%s' does not exist or is not readable", manifest,
              key, out);
fail:
    return st;
}

cosmos_status cosmos_model_dir_load(const char *dir, struct cosmos_model_dir *out) {
    cosmos_status st = COSMOS_OK;
    char manifest[COSMOS_MODEL_DIR_PATH];
    json_t *root = NULL;
    json_error_t err;
    memset(out, 0, sizeof *out);
    CHECK_ARG(dir && dir[0], COSMOS_ERR_INVALID_ARG, "no model directory given");
    CHECK_ARG(snprintf(manifest, sizeof manifest, "%s/%s", dir, COSMOS_MODEL_DIR_MANIFEST) < (int)sizeof manifest,
              COSMOS_ERR_INVALID_ARG, "model directory path too long");
    CHECK_ARG(access(manifest, R_OK) == 0, COSMOS_ERR_IO,
              "model directory '%s' has no %s (make one with `cosmos-ar init --config configs/pipelines/....json "
              "--out DIR` or tools/convert_checkpoint.py model-dir)",
              dir, COSMOS_MODEL_DIR_MANIFEST);
    root = json_load_file(manifest, 0, &err);
    CHECK_ARG(root && json_is_object(root), COSMOS_ERR_FORMAT, "%s: not a JSON object (%s, line %d)", manifest,
              root ? "wrong type" : err.text, root ? 0 : err.line);
    static const char *const known[] = {"format",       "format_version", "name",      "ar",
                                        "tokenizer",    "t5",             "diffusion_decoder",
                                        "cv_tokenizer", "dd_context",     "comment",   "face_blur",
                                        "video_content_filter",           "aegis"};
    const char *unknown = cosmos_config_json_unknown_key(root, known, sizeof known / sizeof known[0]);
    CHECK_ARG(!unknown, COSMOS_ERR_FORMAT, "%s: unknown key '%s'", manifest, unknown);
    json_t *v = json_object_get(root, "format");
    CHECK_ARG(json_is_string(v) && !strcmp(json_string_value(v), "cosmos-ar-model-dir"), COSMOS_ERR_FORMAT,
              "%s: 'format' must be \"cosmos-ar-model-dir\"", manifest);
    v = json_object_get(root, "format_version");
    CHECK_ARG(json_is_integer(v) && json_integer_value(v) == 1, COSMOS_ERR_FORMAT,
              "%s: 'format_version' must be 1 (this build reads version 1)", manifest);
    v = json_object_get(root, "name");
    snprintf(out->name, sizeof out->name, "%s", json_is_string(v) ? json_string_value(v) : dir);
    CHECK(resolve(dir, manifest, root, "ar", 1, out->ar));
    CHECK(resolve(dir, manifest, root, "tokenizer", 1, out->tokenizer));
    CHECK(resolve(dir, manifest, root, "t5", 0, out->t5));
    CHECK(resolve(dir, manifest, root, "diffusion_decoder", 0, out->diffusion_decoder));
    CHECK(resolve(dir, manifest, root, "cv_tokenizer", 0, out->cv_tokenizer));
    CHECK(resolve(dir, manifest, root, "dd_context", 0, out->dd_context));
    CHECK_ARG(!out->diffusion_decoder[0] == !out->cv_tokenizer[0], COSMOS_ERR_FORMAT,
              "%s: 'diffusion_decoder' and 'cv_tokenizer' come together (the CV8x8x8 decoder turns the diffusion "
              "decoder's latents into pixels)",
              manifest);
    CHECK_ARG(!out->dd_context[0] || out->diffusion_decoder[0], COSMOS_ERR_FORMAT,
              "%s: 'dd_context' without a 'diffusion_decoder'", manifest);
    CHECK(resolve(dir, manifest, root, "face_blur", 0, out->face_blur));
    CHECK(resolve(dir, manifest, root, "video_content_filter", 0, out->video_content_filter));
    CHECK(resolve(dir, manifest, root, "aegis", 0, out->aegis));
    CHECK_ARG(!out->face_blur[0] == !out->video_content_filter[0], COSMOS_ERR_FORMAT,
              "%s: 'face_blur' and 'video_content_filter' come together (the video guardrail runs both)", manifest);
fail:
    json_decref(root);
    return st;
}

cosmos_status cosmos_model_dir_write(const char *dir, const struct cosmos_model_dir_names *n) {
    cosmos_status st = COSMOS_OK;
    char path[COSMOS_MODEL_DIR_PATH];
    json_t *root = json_pack("{s:s, s:i, s:s, s:s, s:s}", "format", "cosmos-ar-model-dir", "format_version", 1,
                             "name", n->name, "ar", n->ar, "tokenizer", n->tokenizer);
    CHECK_ALLOC(root);
    const char *opt_keys[7] = {"t5",        "diffusion_decoder",    "cv_tokenizer", "dd_context",
                               "face_blur", "video_content_filter", "aegis"};
    const char *opt[7] = {n->t5,        n->diffusion_decoder,    n->cv_tokenizer, n->dd_context,
                          n->face_blur, n->video_content_filter, n->aegis};
    for (int i = 0; i < 7; i++)
        if (opt[i]) json_object_set_new(root, opt_keys[i], json_string(opt[i]));
    CHECK_ARG(snprintf(path, sizeof path, "%s/%s", dir, COSMOS_MODEL_DIR_MANIFEST) < (int)sizeof path,
              COSMOS_ERR_INVALID_ARG, "model directory path too long");
    CHECK(cosmos_json_write(root, path, JSON_INDENT(2) | JSON_SORT_KEYS));
fail:
    json_decref(root);
    return st;
}

int cosmos_config_file_is_pipeline(const char *path) { return cosmos_config_file_has_model_type(path, "pipeline"); }

cosmos_status cosmos_model_dir_init_random(const char *pipeline_config, uint64_t seed, const char *dir) {
    cosmos_status st = COSMOS_OK;
    json_error_t err;
    json_t *root = json_load_file(pipeline_config, 0, &err);
    enum { N_PARTS = 8 };
    char base[COSMOS_MODEL_DIR_PATH], cfg_path[N_PARTS][COSMOS_MODEL_DIR_PATH], out[COSMOS_MODEL_DIR_PATH];
    static const char *keys[N_PARTS] = {"ar",           "tokenizer", "t5", "diffusion_decoder",
                                        "cv_tokenizer", "face_blur", "video_content_filter", "aegis"};
    int base_model = 0;
    float *dd_ctx = NULL;
    CHECK_ARG(root && json_is_object(root), COSMOS_ERR_FORMAT, "%s: not a JSON object (%s)", pipeline_config,
              root ? "wrong type" : err.text);
    {
        static const char *const known[] = {"model_type",        "name",         "comment",   "ar",
                                            "tokenizer",         "t5",           "diffusion_decoder",
                                            "cv_tokenizer",      "face_blur",    "video_content_filter",
                                            "aegis"};
        const char *unknown = cosmos_config_json_unknown_key(root, known, sizeof known / sizeof known[0]);
        CHECK_ARG(!unknown, COSMOS_ERR_FORMAT, "%s: unknown key '%s'", pipeline_config, unknown);
    }
    snprintf(base, sizeof base, "%s", pipeline_config);
    const char *bdir = dirname(base);
    for (int i = 0; i < N_PARTS; i++) {
        json_t *v = json_object_get(root, keys[i]);
        cfg_path[i][0] = '\0';
        if (!v && i >= 2) continue;
        CHECK_ARG(json_is_string(v), COSMOS_ERR_FORMAT, "%s: '%s' must name a component config", pipeline_config,
                  keys[i]);
        const char *f = json_string_value(v);
        snprintf(cfg_path[i], sizeof cfg_path[i], f[0] == '/' ? "%s%s" : "%s/%s", f[0] == '/' ? "" : bdir, f);
    }
    CHECK_ARG(!cfg_path[3][0] == !cfg_path[4][0], COSMOS_ERR_FORMAT,
              "%s: 'diffusion_decoder' and 'cv_tokenizer' come together", pipeline_config);
    CHECK_ARG(!cfg_path[5][0] == !cfg_path[6][0], COSMOS_ERR_FORMAT,
              "%s: 'face_blur' and 'video_content_filter' come together (the video guardrail)", pipeline_config);
    const json_t *name = json_object_get(root, "name");
    char parent[COSMOS_MODEL_DIR_PATH];
    snprintf(parent, sizeof parent, "%s", dir);
    for (char *q = parent + 1; *q; q++) { /* mkdir -p */
        if (*q != '/') continue;
        *q = '\0';
        mkdir(parent, 0777);
        *q = '/';
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        LOG_ERROR("init: cannot create the model directory '%s' (%s)", dir, strerror(errno));
        st = COSMOS_ERR_IO;
        goto fail;
    }
    {
        struct cosmos_ar_config ar;
        CHECK(cosmos_ar_config_load(cfg_path[0], &ar));
        snprintf(out, sizeof out, "%s/ar.h5", dir);
        LOG_INFO0("init: %s -> %s", ar.name, out);
        CHECK(cosmos_ar_init_random(&ar, seed, out));
        CHECK_ARG(!ar.insert_cross_attn || cfg_path[2][0], COSMOS_ERR_FORMAT,
                  "%s: '%s' is a Video2World model: the pipeline needs a \"t5\" config", pipeline_config, ar.name);
        base_model = !ar.insert_cross_attn;
    }
    {
        struct cosmos_dv_config dv;
        CHECK(cosmos_dv_config_load(cfg_path[1], &dv));
        CHECK_ARG(!dv.continuous, COSMOS_ERR_INVALID_ARG,
                  "%s: the \"tokenizer\" config '%s' is a cv_tokenizer; the AR pipeline needs a dv_tokenizer",
                  pipeline_config, cfg_path[1]);
        snprintf(out, sizeof out, "%s/tokenizer.h5", dir);
        LOG_INFO0("init: %s -> %s", dv.name, out);
        CHECK(cosmos_dv_init_random(&dv, seed + 1, COSMOS_DV_BOTH, out));
    }
    if (cfg_path[2][0]) {
        struct cosmos_t5_config t5;
        CHECK(cosmos_t5_config_load(cfg_path[2], &t5));
        snprintf(out, sizeof out, "%s/t5.h5", dir);
        LOG_INFO0("init: %s -> %s", t5.name, out);
        CHECK(cosmos_t5_init_random(&t5, seed + 2, t5.spiece_model, out));
    }
    if (cfg_path[3][0]) {
        struct cosmos_dit_config dc;
        struct cosmos_dv_config cv;
        CHECK(cosmos_dit_config_load(cfg_path[3], &dc));
        CHECK(cosmos_dv_config_load(cfg_path[4], &cv));
        CHECK_ARG(cv.continuous, COSMOS_ERR_INVALID_ARG,
                  "%s: the \"cv_tokenizer\" config '%s' is not a cv_tokenizer", pipeline_config, cfg_path[4]);
        snprintf(out, sizeof out, "%s/dd.h5", dir);
        LOG_INFO0("init: %s -> %s", dc.name, out);
        CHECK(cosmos_dit_init_random(&dc, seed + 3, out));
        snprintf(out, sizeof out, "%s/cv.h5", dir);
        LOG_INFO0("init: %s -> %s", cv.name, out);
        CHECK(cosmos_dv_init_random(&cv, seed + 4, COSMOS_DV_DECODER, out));
        if (base_model) { /* a random stand-in for the T5 embedding of the generic prompt (aux_vars.pt) */
            const int64_t rows = 16, cols = dc.crossattn_emb_channels;
            dd_ctx = malloc(sizeof(float) * (size_t)(rows * cols));
            CHECK_ALLOC(dd_ctx);
            cosmos_dd_gaussian(seed + 5, 0, dd_ctx, rows * cols);
            for (int64_t i = 0; i < rows * cols; i++) dd_ctx[i] *= 0.1f;
            snprintf(out, sizeof out, "%s/dd_context.h5", dir);
            LOG_INFO0("init: random generic-prompt context [%lld, %lld] -> %s", (long long)rows, (long long)cols, out);
            CHECK(cosmos_context_write(out, dd_ctx, rows, cols));
        }
    }
    if (cfg_path[5][0]) {
        struct cosmos_retinaface_config rf;
        struct cosmos_siglip_config sg;
        CHECK(cosmos_retinaface_config_load(cfg_path[5], &rf));
        CHECK(cosmos_siglip_config_load(cfg_path[6], &sg));
        snprintf(out, sizeof out, "%s/face_blur.h5", dir);
        LOG_INFO0("init: %s -> %s", rf.name, out);
        CHECK(cosmos_retinaface_init_random(&rf, seed + 6, out));
        snprintf(out, sizeof out, "%s/video_content_filter.h5", dir);
        LOG_INFO0("init: %s -> %s", sg.name, out);
        CHECK(cosmos_siglip_init_random(&sg, seed + 7, out));
    }
    if (cfg_path[7][0]) {
        CHECK_ARG(!base_model, COSMOS_ERR_FORMAT,
                  "%s: 'aegis' checks prompts, and this is a base (no-text) model: leave it out", pipeline_config);
        snprintf(out, sizeof out, "%s/aegis.h5", dir);
        LOG_INFO0("init: %s -> %s", cfg_path[7], out);
        CHECK(cosmos_aegis_init_random(cfg_path[7], seed + 8, out));
    }
    {
        const int dd = cfg_path[3][0] != '\0', guard = cfg_path[5][0] != '\0';
        const struct cosmos_model_dir_names names = {
            .name = json_is_string(name) ? json_string_value(name) : "pipeline",
            .ar = "ar.h5",
            .tokenizer = "tokenizer.h5",
            .t5 = cfg_path[2][0] ? "t5.h5" : NULL,
            .diffusion_decoder = dd ? "dd.h5" : NULL,
            .cv_tokenizer = dd ? "cv.h5" : NULL,
            .dd_context = dd && base_model ? "dd_context.h5" : NULL,
            .face_blur = guard ? "face_blur.h5" : NULL,
            .video_content_filter = guard ? "video_content_filter.h5" : NULL,
            .aegis = cfg_path[7][0] ? "aegis.h5" : NULL,
        };
        CHECK(cosmos_model_dir_write(dir, &names));
    }
fail:
    free(dd_ctx);
    json_decref(root);
    return st;
}
