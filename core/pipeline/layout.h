/* Rank layout of the Video2World pipeline (issue 7, "Roles and layout"): which MPI ranks play which
 * role. Roles: ar (the transformer, over its own tp x pp ranks), t5 (text encoder), tokenizer (DV
 * encode of the input clip), decoder (the diffusion decoder, or the DV decoder), decoder-cfg
 * (optional: a second rank for the diffusion decoder, which then runs the unconditional half of
 * each guided denoiser call there, CFG parallelism; idle without a diffusion decoder) and
 * guardrail (the prompt checks; where clips start) and video-guardrail (the video checks, content
 * filter and face blur, on the decoded frames, and the mp4 writer: by default the decoder rank
 * itself, which then checks and writes inline; on a rank of its own the decoder streams it the
 * frames). Roles may share ranks, except that decoder-cfg must be a rank of its own, and that a
 * video-guardrail rank other than the decoder's must not be an ar or decoder-cfg rank (those run
 * while the decoder streams frames: sharing would deadlock); a rank with no role is allowed (it
 * idles) and shown as idle in the layout table.
 *
 * Sources of a layout, in order: a JSON file (a file in configs/layouts/, --layout), otherwise the
 * default for the world size, adjusted by --tp / --pp:
 *   ar = ranks [0, tp*pp); the remaining r ranks take, in order, {t5+guardrail, tokenizer, decoder}:
 *   r = 0 -> every other role on rank 0; r = 1 -> all on rank tp*pp; r = 2 -> t5+guardrail, then
 *   tokenizer+decoder; r >= 3 -> one each; r >= 4 -> decoder-cfg on rank tp*pp+3; r >= 5 ->
 *   video-guardrail on rank tp*pp+4 (else on the decoder rank; ranks beyond tp*pp+5 idle).
 *   Default tp*pp (pp 1) by world size: 1 -> 1, 2 -> 1, 3 -> 1, 4 -> 2, 8 -> 4, otherwise 1 with a
 *   warning.
 * JSON layout file:
 *   {"name": "...", "ranks": 4, "ar": {"ranks": [0, 1], "tp": 2, "pp": 1},
 *    "t5": 2, "tokenizer": 3, "decoder": 3, "guardrail": 2, "decoder_cfg": 4 (optional),
 *    "video_guardrail": 5 (optional; default: the decoder rank)}
 * AR ranks are listed in (stage, tp rank) order: ar.ranks[s * tp + t]. */
#ifndef COSMOS_PIPELINE_LAYOUT_H
#define COSMOS_PIPELINE_LAYOUT_H

#include <stddef.h>

#include "core/status.h"

#define COSMOS_LAYOUT_MAX_AR 1024

enum cosmos_role {
    COSMOS_ROLE_AR,
    COSMOS_ROLE_T5,
    COSMOS_ROLE_TOKENIZER,
    COSMOS_ROLE_DECODER,
    COSMOS_ROLE_GUARDRAIL,
    COSMOS_ROLE_DECODER_CFG,
    COSMOS_ROLE_VIDEO_GUARDRAIL,
};

struct cosmos_layout {
    char name[64];
    int n_ranks;                          /* world size the layout is for */
    int tp, pp;                           /* AR parallelism */
    int ar_ranks[COSMOS_LAYOUT_MAX_AR];   /* [tp*pp] world ranks, stage-major */
    int t5, tokenizer, decoder, guardrail; /* world rank of each single-rank role */
    int decoder_cfg;                      /* the diffusion decoder's second (CFG) rank, or -1 */
    int video_guardrail;                  /* video checks + mp4 writer (== decoder: inline) */
};

/* Default layout for n_ranks; tp/pp <= 0 means "choose". Invalid requests (tp*pp > n_ranks) are
 * INVALID_ARG with a message. */
cosmos_status cosmos_layout_default(int n_ranks, int tp, int pp, struct cosmos_layout *out);
/* Reads a layout file; its "ranks" must equal n_ranks (the world size). */
cosmos_status cosmos_layout_load(const char *path, int n_ranks, struct cosmos_layout *out);
/* Structural checks: every rank in [0, n_ranks), AR ranks distinct, tp*pp entries. */
cosmos_status cosmos_layout_validate(const struct cosmos_layout *l);

/* Does world rank `rank` play `role`? */
int cosmos_layout_has_role(const struct cosmos_layout *l, int rank, enum cosmos_role role);
int cosmos_layout_ar_index(const struct cosmos_layout *l, int rank); /* index in ar_ranks or -1 */
const char *cosmos_role_name(enum cosmos_role r);
/* One rank's roles, e.g. "ar(stage 0, tp 1) t5 guardrail", or "(idle)"; writes into buf. */
void cosmos_layout_rank_roles(const struct cosmos_layout *l, int rank, char *buf, size_t size);
/* Human-readable table (one line per rank: its roles), for rank 0's log; writes into buf. */
void cosmos_layout_describe(const struct cosmos_layout *l, char *buf, size_t size);

#endif
