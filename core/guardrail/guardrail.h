/* Content-safety guardrails (spec components.md 5.1): one runner over an ordered list of checks.
 * A check looks at the prompt (pre-guard, before T5), at the generated frames (post-guard), or
 * rewrites the frames (post-processing, e.g. face blur). Checks run in list order and the first
 * "unsafe" stops the run, as the official GuardrailRunner does. Checks: "blocklist" (spec 5.2) and
 * "aegis" (5.3, LlamaGuard) on the prompt; "video_content_filter" (5.4, SigLIP) and "face_blur"
 * (5.5, RetinaFace) on the frames (docs/guardrail.md).
 * Frames are uint8 RGB [T,H,W,3], row-major, as the pipeline's final output. */
#ifndef COSMOS_GUARDRAIL_H
#define COSMOS_GUARDRAIL_H

#include <stdint.h>

#include "core/status.h"

typedef struct cosmos_guardrail cosmos_guardrail_t;

#define COSMOS_GUARDRAIL_MAX_CHECKS 8

struct cosmos_guardrail_params {
    /* Names of the checks, in run order ("blocklist"). Borrowed: read during load only. */
    const char *checks[COSMOS_GUARDRAIL_MAX_CHECKS];
    int n_checks;
    /* Word-list directory of the blocklist check: either the flat layout the engine ships
     * (configs/guardrail/{blocklist,whitelist,exact_match}.txt) or the official checkpoint's
     * blocklist/ folder ({custom,whitelist,exact_match}/ sub-folders). Required by "blocklist". */
    const char *blocklist_dir;
    /* Weight files (HDF5, written by `cosmos-ar init` or tools/convert_checkpoint.py) of the model
     * checks: the RetinaFace detector of "face_blur" (spec 5.5) and the SigLIP encoder + safety
     * classifier of "video_content_filter" (spec 5.4). Each is required by its check. */
    const char *face_blur_weights;
    const char *content_filter_weights;
    /* The Aegis file (LlamaGuard-7b + the Aegis LoRA, its tokenizer and moderation prompt; spec
     * 5.3), required by "aegis", and the backend its language model runs on (borrowed; NULL: a CPU
     * backend of the check's own). A device backend here also runs the content filter's SigLIP
     * tower and face blur's RetinaFace network (cosmos_siglip_use_backend,
     * cosmos_retinaface_use_backend; f32); NULL or a host one: they run on the host. */
    const char *aegis_weights;
    struct cosmos_backend *backend;
};

/* checks = {"blocklist"}, blocklist_dir = NULL (the caller must set it). */
struct cosmos_guardrail_params cosmos_guardrail_params_default(void);

/* Outcome of one check run. POD, owned by the caller; strings are always NUL-terminated. */
struct cosmos_guardrail_verdict {
    int safe;          /* 1: every applicable check passed; 0: blocked */
    int n_checks_run;  /* checks that actually examined the input (0: nothing looked at it) */
    char check[32];    /* name of the check that blocked ("blocklist"); "" when safe */
    char reason[512];  /* what tripped it, for the log (the word or entry); "" when safe */
};

/* Build the guardrail: create every check of p->checks in order (the blocklist reads its word
 * lists here). Errors: INVALID_ARG (no checks, unknown name, missing blocklist_dir), UNSUPPORTED
 * (a known check not implemented yet), IO / FORMAT (word lists; the message names file and line).
 * The caller owns *out (cosmos_guardrail_free). */
cosmos_status cosmos_guardrail_load(const struct cosmos_guardrail_params *p, cosmos_guardrail_t **out);
void cosmos_guardrail_free(cosmos_guardrail_t *g); /* NULL is a no-op */

int cosmos_guardrail_n_checks(const cosmos_guardrail_t *g);
const char *cosmos_guardrail_check_name(const cosmos_guardrail_t *g, int i); /* owned by g */

/* Pre-guard: run the text checks on a NUL-terminated prompt (any bytes; UTF-8 expected). Writes
 * the verdict; the return status is an error only when a check could not run (NOMEM, ...), never
 * for an unsafe prompt. Synchronous. One call at a time per g: model checks (aegis) keep their
 * model's state in g (a blocklist-only g may be shared between threads). */
cosmos_status cosmos_guardrail_check_text(const cosmos_guardrail_t *g, const char *prompt,
                                          struct cosmos_guardrail_verdict *v);

/* Post-guard: run the video safety checks on frames [T,H,W,3] uint8 RGB (borrowed). Checks with
 * no video hook (the blocklist) are skipped; with none at all the verdict is safe with
 * n_checks_run = 0, and the caller decides whether to warn. */
cosmos_status cosmos_guardrail_check_video(const cosmos_guardrail_t *g, const uint8_t *frames, int64_t T,
                                           int64_t H, int64_t W, struct cosmos_guardrail_verdict *v);

/* Post-processing: let each check with a frame filter (face blur) rewrite frames in place, in
 * order. Checks without one are skipped; with none this is a no-op. */
cosmos_status cosmos_guardrail_filter_video(const cosmos_guardrail_t *g, uint8_t *frames, int64_t T, int64_t H,
                                            int64_t W);

#endif
