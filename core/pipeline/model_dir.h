/* A model directory (issue 7: "--model-dir points at a folder of converted HDF5 files with a small
 * JSON manifest written by the converter, so one flag is all a user needs").
 * DIR/cosmos-model.json:
 *   {"format": "cosmos-ar-model-dir", "format_version": 1, "name": "...",
 *    "ar": "ar.h5", "tokenizer": "tokenizer.h5", "t5": "t5.h5"}
 * Paths are relative to DIR unless absolute. "t5" is needed by Video2World models only (the
 * pipeline checks that against the AR config). Written by `cosmos-ar init` for a pipeline config
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
};

/* Reads DIR's manifest; every named file must exist (errors name the manifest and the key). */
cosmos_status cosmos_model_dir_load(const char *dir, struct cosmos_model_dir *out);
/* Writes DIR's manifest (temp name + rename); file names are stored as given (relative to DIR);
 * t5 may be NULL. */
cosmos_status cosmos_model_dir_write(const char *dir, const char *name, const char *ar, const char *tokenizer,
                                     const char *t5);

/* Is this JSON file a pipeline config ("model_type": "pipeline", configs/pipelines/)? */
int cosmos_config_file_is_pipeline(const char *path);
/* `cosmos-ar init` for a pipeline config {"model_type": "pipeline", "name", "ar", "tokenizer",
 * "t5"?} whose entries name component configs (relative to the pipeline config's folder): creates
 * DIR (if needed) with random-weight ar.h5 (seed), tokenizer.h5 (seed+1), t5.h5 (seed+2, when
 * given) and the manifest. */
cosmos_status cosmos_model_dir_init_random(const char *pipeline_config, uint64_t seed, const char *dir);

#endif
