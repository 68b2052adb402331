/* Rank layouts of the Video2World pipeline (see layout.h): defaults by world size, JSON layout
 * files (jansson), checks and the table rank 0 prints. */
#include "core/pipeline/layout.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"

const char *cosmos_role_name(enum cosmos_role r) {
    switch (r) {
    case COSMOS_ROLE_AR: return "ar";
    case COSMOS_ROLE_T5: return "t5";
    case COSMOS_ROLE_TOKENIZER: return "tokenizer";
    case COSMOS_ROLE_DECODER: return "decoder";
    case COSMOS_ROLE_GUARDRAIL: return "guardrail";
    case COSMOS_ROLE_DECODER_CFG: return "decoder-cfg";
    case COSMOS_ROLE_VIDEO_GUARDRAIL: return "video-guardrail";
    }
    return "?";
}

cosmos_status cosmos_layout_validate(const struct cosmos_layout *l) {
    cosmos_status st = COSMOS_OK;
    const int n = l->n_ranks;
    CHECK_ARG(n >= 1, COSMOS_ERR_INVALID_ARG, "layout '%s': %d ranks", l->name, n);
    CHECK_ARG(l->tp >= 1 && l->pp >= 1 && (long)l->tp * l->pp <= COSMOS_LAYOUT_MAX_AR, COSMOS_ERR_INVALID_ARG,
              "layout '%s': ar tp %d x pp %d is not a usable size", l->name, l->tp, l->pp);
    CHECK_ARG(l->tp * l->pp <= n, COSMOS_ERR_INVALID_ARG,
              "layout '%s': ar needs tp %d x pp %d = %d ranks, but the job has %d (mpirun -np)", l->name, l->tp, l->pp,
              l->tp * l->pp, n);
    for (int i = 0; i < l->tp * l->pp; i++) {
        CHECK_ARG(l->ar_ranks[i] >= 0 && l->ar_ranks[i] < n, COSMOS_ERR_INVALID_ARG,
                  "layout '%s': ar rank %d is outside the job's ranks 0..%d", l->name, l->ar_ranks[i], n - 1);
        for (int j = 0; j < i; j++)
            CHECK_ARG(l->ar_ranks[i] != l->ar_ranks[j], COSMOS_ERR_INVALID_ARG,
                      "layout '%s': rank %d appears twice among the ar ranks", l->name, l->ar_ranks[i]);
    }
    const struct {
        const char *name;
        int rank;
    } single[] = {{"t5", l->t5}, {"tokenizer", l->tokenizer}, {"decoder", l->decoder}, {"guardrail", l->guardrail}};
    for (size_t i = 0; i < sizeof single / sizeof single[0]; i++)
        CHECK_ARG(single[i].rank >= 0 && single[i].rank < n, COSMOS_ERR_INVALID_ARG,
                  "layout '%s': the %s role's rank %d is outside the job's ranks 0..%d", l->name, single[i].name,
                  single[i].rank, n - 1);
    CHECK_ARG(l->video_guardrail >= 0 && l->video_guardrail < n, COSMOS_ERR_INVALID_ARG,
              "layout '%s': the video_guardrail role's rank %d is outside the job's ranks 0..%d", l->name,
              l->video_guardrail, n - 1);
    CHECK_ARG(l->video_guardrail == l->decoder ||
                  (cosmos_layout_ar_index(l, l->video_guardrail) < 0 && l->video_guardrail != l->decoder_cfg),
              COSMOS_ERR_INVALID_ARG,
              "layout '%s': video_guardrail rank %d is an %s rank: the decoder streams frames to it while those "
              "roles run, so it must be the decoder rank itself (%d) or a rank without the ar and decoder_cfg roles",
              l->name, l->video_guardrail, l->video_guardrail == l->decoder_cfg ? "decoder_cfg" : "ar", l->decoder);
    if (l->decoder_cfg != -1) {
        CHECK_ARG(l->decoder_cfg >= 0 && l->decoder_cfg < n, COSMOS_ERR_INVALID_ARG,
                  "layout '%s': the decoder_cfg rank %d is outside the job's ranks 0..%d", l->name, l->decoder_cfg,
                  n - 1);
        int shared = cosmos_layout_ar_index(l, l->decoder_cfg) >= 0;
        for (size_t i = 0; i < sizeof single / sizeof single[0]; i++) shared |= single[i].rank == l->decoder_cfg;
        CHECK_ARG(!shared, COSMOS_ERR_INVALID_ARG,
                  "layout '%s': decoder_cfg rank %d must be a rank of its own (it runs the diffusion decoder's "
                  "unconditional half next to the decoder rank)",
                  l->name, l->decoder_cfg);
    }
fail:
    return st;
}

cosmos_status cosmos_layout_default(int n_ranks, int tp, int pp, struct cosmos_layout *out) {
    cosmos_status st = COSMOS_OK;
    memset(out, 0, sizeof *out);
    CHECK_ARG(n_ranks >= 1, COSMOS_ERR_INVALID_ARG, "layout: %d ranks", n_ranks);
    if (pp <= 0) pp = 1;
    if (tp <= 0) {
        const int ar_default = n_ranks == 4 ? 2 : n_ranks == 8 ? 4 : 1;
        if (n_ranks > 3 && n_ranks != 4 && n_ranks != 8 && cosmos_log_is_rank0())
            LOG_WARN("layout: no default for %d ranks: the transformer runs on %d rank(s) (set --tp/--pp or --layout)",
                      n_ranks, pp);
        tp = ar_default % pp == 0 && ar_default >= pp ? ar_default / pp : 1;
    }
    CHECK_ARG((long)tp * pp <= n_ranks, COSMOS_ERR_INVALID_ARG,
              "layout: --tp %d x --pp %d = %d ranks for the transformer, but the job has %d", tp, pp, tp * pp,
              n_ranks);
    snprintf(out->name, sizeof out->name, "default-%d", n_ranks);
    out->n_ranks = n_ranks, out->tp = tp, out->pp = pp;
    const int n_ar = tp * pp, r = n_ranks - n_ar;
    for (int i = 0; i < n_ar; i++) out->ar_ranks[i] = i;
    out->decoder_cfg = r >= 4 ? n_ar + 3 : -1;
    out->video_guardrail = r >= 5 ? n_ar + 4 : -1; /* -1: the decoder's, below */
    if (r == 0) {
        out->t5 = out->guardrail = out->tokenizer = out->decoder = 0;
    } else if (r == 1) {
        out->t5 = out->guardrail = out->tokenizer = out->decoder = n_ar;
    } else if (r == 2) {
        out->t5 = out->guardrail = n_ar;
        out->tokenizer = out->decoder = n_ar + 1;
    } else {
        out->t5 = out->guardrail = n_ar;
        out->tokenizer = n_ar + 1;
        out->decoder = n_ar + 2;
    }
    if (out->video_guardrail < 0) out->video_guardrail = out->decoder;
    CHECK(cosmos_layout_validate(out));
fail:
    return st;
}

static cosmos_status json_rank(json_t *root, const char *key, const char *path, int *out) {
    json_t *v = json_object_get(root, key);
    if (!v || !json_is_integer(v)) {
        LOG_ERROR("layout %s: key '%s' must be a rank number", path, key);
        return COSMOS_ERR_FORMAT;
    }
    *out = (int)json_integer_value(v);
    return COSMOS_OK;
}

cosmos_status cosmos_layout_load(const char *path, int n_ranks, struct cosmos_layout *out) {
    cosmos_status st = COSMOS_OK;
    json_error_t err;
    memset(out, 0, sizeof *out);
    json_t *root = json_load_file(path, 0, &err);
    CHECK_ARG(root, COSMOS_ERR_FORMAT, "layout %s: %s (line %d)", path, err.text, err.line);
    CHECK_ARG(json_is_object(root), COSMOS_ERR_FORMAT, "layout %s: not a JSON object", path);
    {
        static const char *const known[] = {"name",      "ranks",       "ar",
                                            "t5",        "tokenizer",   "decoder",
                                            "guardrail", "decoder_cfg", "video_guardrail",
                                            "comment"};
        const char *unknown = cosmos_config_json_unknown_key(root, known, sizeof known / sizeof known[0]);
        CHECK_ARG(!unknown, COSMOS_ERR_FORMAT,
                  "layout %s: unknown key '%s' (keys: name, ranks, ar, t5, tokenizer, decoder, guardrail, decoder_cfg, "
                  "video_guardrail)",
                  path, unknown);
    }
    json_t *v = json_object_get(root, "name");
    snprintf(out->name, sizeof out->name, "%s", json_is_string(v) ? json_string_value(v) : path);
    CHECK(json_rank(root, "ranks", path, &out->n_ranks));
    CHECK_ARG(out->n_ranks == n_ranks, COSMOS_ERR_INVALID_ARG,
              "layout %s is for %d ranks, but the job has %d (mpirun -np %d)", path, out->n_ranks, n_ranks,
              out->n_ranks);
    json_t *ar = json_object_get(root, "ar");
    CHECK_ARG(json_is_object(ar), COSMOS_ERR_FORMAT,
              "layout %s: 'ar' must be an object {\"ranks\": [...], \"tp\": T, \"pp\": P}", path);
    CHECK(json_rank(ar, "tp", path, &out->tp));
    out->pp = 1;
    if (json_object_get(ar, "pp")) CHECK(json_rank(ar, "pp", path, &out->pp));
    json_t *ranks = json_object_get(ar, "ranks");
    CHECK_ARG(out->tp >= 1 && out->pp >= 1 && (long)out->tp * out->pp <= COSMOS_LAYOUT_MAX_AR, COSMOS_ERR_FORMAT,
              "layout %s: ar tp %d x pp %d is not a usable size", path, out->tp, out->pp);
    CHECK_ARG(json_is_array(ranks) && json_array_size(ranks) == (size_t)(out->tp * out->pp), COSMOS_ERR_FORMAT,
              "layout %s: ar.ranks must list tp x pp = %d ranks (stage-major)", path, out->tp * out->pp);
    for (size_t i = 0; i < json_array_size(ranks); i++) {
        json_t *e = json_array_get(ranks, i);
        CHECK_ARG(json_is_integer(e), COSMOS_ERR_FORMAT, "layout %s: ar.ranks[%zu] is not a rank number", path, i);
        out->ar_ranks[i] = (int)json_integer_value(e);
    }
    CHECK(json_rank(root, "t5", path, &out->t5));
    CHECK(json_rank(root, "tokenizer", path, &out->tokenizer));
    CHECK(json_rank(root, "decoder", path, &out->decoder));
    CHECK(json_rank(root, "guardrail", path, &out->guardrail));
    out->decoder_cfg = -1;
    if (json_object_get(root, "decoder_cfg")) CHECK(json_rank(root, "decoder_cfg", path, &out->decoder_cfg));
    out->video_guardrail = out->decoder;
    if (json_object_get(root, "video_guardrail"))
        CHECK(json_rank(root, "video_guardrail", path, &out->video_guardrail));
    CHECK(cosmos_layout_validate(out));
fail:
    json_decref(root);
    return st;
}

int cosmos_layout_ar_index(const struct cosmos_layout *l, int rank) {
    for (int i = 0; i < l->tp * l->pp; i++)
        if (l->ar_ranks[i] == rank) return i;
    return -1;
}

int cosmos_layout_has_role(const struct cosmos_layout *l, int rank, enum cosmos_role role) {
    switch (role) {
    case COSMOS_ROLE_AR: return cosmos_layout_ar_index(l, rank) >= 0;
    case COSMOS_ROLE_T5: return l->t5 == rank;
    case COSMOS_ROLE_TOKENIZER: return l->tokenizer == rank;
    case COSMOS_ROLE_DECODER: return l->decoder == rank;
    case COSMOS_ROLE_GUARDRAIL: return l->guardrail == rank;
    case COSMOS_ROLE_DECODER_CFG: return l->decoder_cfg >= 0 && l->decoder_cfg == rank;
    case COSMOS_ROLE_VIDEO_GUARDRAIL: return l->video_guardrail == rank;
    }
    return 0;
}

/* snprintf appended at buf + *n, clamped to size (a full buffer keeps its terminator) */
#define PUT(...)                                                                     \
    do {                                                                             \
        int w_ = snprintf(buf + n, n < size ? size - n : 0, __VA_ARGS__);           \
        if (w_ > 0) n = n + (size_t)w_ < size ? n + (size_t)w_ : size - 1;          \
    } while (0)

void cosmos_layout_rank_roles(const struct cosmos_layout *l, int rank, char *buf, size_t size) {
    size_t n = 0;
    if (size == 0) return;
    buf[0] = '\0';
    const int a = cosmos_layout_ar_index(l, rank);
    if (a >= 0) PUT("ar(stage %d, tp %d)", a / l->tp, a % l->tp);
    for (int role = COSMOS_ROLE_T5; role <= COSMOS_ROLE_VIDEO_GUARDRAIL; role++)
        if (cosmos_layout_has_role(l, rank, (enum cosmos_role)role))
            PUT("%s%s", n ? " " : "", cosmos_role_name((enum cosmos_role)role));
    if (n == 0) PUT("(idle)");
}

void cosmos_layout_describe(const struct cosmos_layout *l, char *buf, size_t size) {
    size_t n = 0;
    char roles[256];
    if (size == 0) return;
    buf[0] = '\0';
    PUT("layout %s: %d rank(s), ar tp %d x pp %d\n", l->name, l->n_ranks, l->tp, l->pp);
    for (int r = 0; r < l->n_ranks; r++) {
        cosmos_layout_rank_roles(l, r, roles, sizeof roles);
        PUT("  rank %d: %s\n", r, roles);
    }
}
#undef PUT
