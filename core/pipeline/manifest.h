/* Batch manifests (issue 7, "Batch generation"): a JSONL file, one clip per line:
 *   {"input": "in.mp4", "prompt": "...", "seed": 3, "name": "clip-a", "num_input_frames": 9,
 *    "num_frames": 57}
 * Only "input" is required ("visual_input", the official batch key, is accepted for it); "prompt"
 * is required by Video2World models (checked by the pipeline); "num_frames" (the output clip's
 * length, core/pipeline/v2w.h "Clip length") overrides the run's for that item and is checked by
 * the pipeline against the tokenizer (a bad one fails the clip). Blank lines and lines starting with
 * '#' are skipped. A bad line does not fail the manifest: its item carries the reason. "seed" is
 * an integer in [0, 2^63) or, for all of [0, 2^64), a string of decimal digits ("18446744073709551615").
 * Output names: "name" if given (letters, digits, '.', '_', '-'; no leading '.'; at most 100
 * characters: an output can never escape the output directory), otherwise "clip-" + 16 hex digits
 * of a 64-bit FNV-1a hash of the input path, prompt, seed, num_frames (when given) and settings,
 * so a rerun finds its own outputs. A name used twice fails the later items. */
#ifndef COSMOS_PIPELINE_MANIFEST_H
#define COSMOS_PIPELINE_MANIFEST_H

#include <stdint.h>

#include "core/status.h"

struct cosmos_manifest_item {
    int line;              /* 1-based line number in the manifest */
    char *input, *prompt;  /* malloc'd; prompt may be NULL */
    uint64_t seed;
    int num_input_frames;  /* 1 or 9 */
    int num_frames;        /* output frames; 0 = the run's */
    char name[128];        /* output base name ("" if the line is bad) */
    cosmos_status status;  /* OK, or why the line is unusable */
    char reason[256];
};

struct cosmos_manifest_defaults {
    uint64_t seed;
    int num_input_frames;
    const char *settings; /* other settings that change the output (temperature, top-p, model), hashed */
};

/* Reads the manifest (fails only when the file cannot be read or is empty of items). *items is
 * malloc'd: free with cosmos_manifest_free. */
cosmos_status cosmos_manifest_load(const char *path, const struct cosmos_manifest_defaults *d,
                                   struct cosmos_manifest_item **items, int *n);
void cosmos_manifest_free(struct cosmos_manifest_item *items, int n);
/* Is `name` a safe output base name (see above)? */
int cosmos_manifest_name_ok(const char *name);

#endif
