/* A model directory (issue 7: "--model-dir points at a folder of converted HDF5 files with a small
 * JSON manifest written by the converter, so one flag is all a user needs").
 * DIR/cosmos-model.json:
 *   {"format": "cosmos-ar-model-dir", "format_version": 1, "name": "...",
 *    "ar": "ar.h5", "tokenizer": "tokenizer.h5", "t5": "t5.h5",
 *    "diffusion_decoder": "dd.h5", "cv_tokenizer": "cv.h5", "dd_context": "dd_context.h5",
 *    "face_blur": "face_blur.h5", "video_content_filter": "video_content_filter.h5", "aegis": "aegis.h5"}
 * Paths are relative to DIR unless absolute. "t5" is needed by Video2World models only (the
 * pipeline checks that against the AR config). The diffusion decoder (spec components.md 4) is
 * optional: "diffusion_decoder" (the DiT) and "cv_tokenizer" (the CV8x8x8 decoder + mean_std) come
 * together; "dd_context" (an HDF5 context file, /context f32 [L, crossattn_emb_channels]: the T5
 * embedding of the generic prompt, the official aux_vars.pt) only with them, and is what base
 * (no-text) models condition the diffusion decoder on. "face_blur" (RetinaFace, spec components.md
 * 5.5) and "video_content_filter" (SigLIP + safety classifier, 5.4) are the video guardrail's
 * models; they come together, and the pipeline needs them unless the guardrail is disabled; "aegis"
 * (LlamaGuard + the Aegis LoRA, 5.3) is the prompt check's model, needed by Video2World models under
 * the same rule. Written by `cosmos-ar init` for a pipeline config
 * (a pipeline config in configs/pipelines/) and by tools/convert_checkpoint.py `model-dir`. */
#ifndef COSMOS_PIPELINE_MODEL_DIR_H
#define COSMOS_PIPELINE_MODEL_DIR_H

#include <stdint.h>

#include "core/status.h"

#define COSMOS_MODEL_DIR_MANIFEST "cosmos-model.json"
#define COSMOS_MODEL_DIR_PATH 4096

struct cosmos_model_dir {
    char name[128];
    char ar[COSMOS_MODEL_DIR_PATH];        /* resolved paths; "" when absent */
    char tokenizer[COSMOS_MODEL_DIR_PATH];
    char t5[COSMOS_MODEL_DIR_PATH];
    char diffusion_decoder[COSMOS_MODEL_DIR_PATH];
    char cv_tokenizer[COSMOS_MODEL_DIR_PATH];
    char dd_context[COSMOS_MODEL_DIR_PATH];
    char face_blur[COSMOS_MODEL_DIR_PATH];            /* video guardrail (both or neither) */
    char video_content_filter[COSMOS_MODEL_DIR_PATH];
    char aegis[COSMOS_MODEL_DIR_PATH];
};

/* File names of a manifest, as stored (relative to DIR); NULL = absent (name, ar, tokenizer required). */
struct cosmos_model_dir_names {
    const char *name, *ar, *tokenizer, *t5, *diffusion_decoder, *cv_tokenizer, *dd_context;
    const char *face_blur, *video_content_filter, *aegis;
};

/* Reads DIR's manifest; every named file must exist (errors name the manifest and the key). */
cosmos_status cosmos_model_dir_load(const char *dir, struct cosmos_model_dir *out);
/* Writes DIR's manifest (temp name + rename); file names are stored as given (relative to DIR). */
cosmos_status cosmos_model_dir_write(const char *dir, const struct cosmos_model_dir_names *names);

/* Is this JSON file a pipeline config ("model_type": "pipeline", configs/pipelines/)? */
int cosmos_config_file_is_pipeline(const char *path);
/* `cosmos-ar init` for a pipeline config {"model_type": "pipeline", "name", "ar", "tokenizer",
 * "t5"?, "diffusion_decoder"?, "cv_tokenizer"?, "face_blur"?, "video_content_filter"?, "aegis"?} whose
 * entries name component configs (relative to
 * the pipeline config's folder): creates DIR (if needed) with random-weight ar.h5 (seed),
 * tokenizer.h5 (seed+1), t5.h5 (seed+2, when given), dd.h5 + cv.h5 (seed+3, seed+4, both or
 * neither) and, for a base model with a diffusion decoder, dd_context.h5 (a random stand-in for the
 * generic prompt's T5 embedding, seed+5, [16, crossattn_emb_channels]), face_blur.h5 +
 * video_content_filter.h5 (seed+6, seed+7, both or neither), aegis.h5 (seed+8, an Aegis config), and
 * the manifest. */
cosmos_status cosmos_model_dir_init_random(const char *pipeline_config, uint64_t seed, const char *dir);

#endif
