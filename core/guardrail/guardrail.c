/* Guardrail runner (spec components.md 5.1): creates the named checks in order and runs them,
 * stopping at the first unsafe verdict like the official GuardrailRunner. Layout: a fixed array
 * of (ops, ctx) pairs, one per check, in run order; the runner itself holds no other state. */
#include "core/guardrail/guardrail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/guardrail/guardrail_impl.h"
#include "core/log.h"

struct cosmos_guardrail {
    int n_checks;
    const struct cosmos_guardrail_check_ops *ops[COSMOS_GUARDRAIL_MAX_CHECKS];
    void *ctx[COSMOS_GUARDRAIL_MAX_CHECKS];
};

/* Implemented checks, then the official ones still to come (spec 5.3-5.5). */
static const struct {
    const char *name;
    cosmos_guardrail_check_create_fn create; /* NULL: known, not implemented yet */
} g_registry[] = {
    {"blocklist", cosmos_guardrail_blocklist_create},
    {"aegis", cosmos_guardrail_aegis_create},
    {"video_content_filter", cosmos_guardrail_content_filter_create},
    {"face_blur", cosmos_guardrail_face_blur_create},
};
#define N_REGISTRY (sizeof g_registry / sizeof g_registry[0])

struct cosmos_guardrail_params cosmos_guardrail_params_default(void) {
    struct cosmos_guardrail_params p;
    memset(&p, 0, sizeof p);
    p.checks[0] = "blocklist";
    p.n_checks = 1;
    return p;
}

void cosmos_guardrail_free(cosmos_guardrail_t *g) {
    if (!g) return;
    for (int i = 0; i < g->n_checks; i++)
        if (g->ops[i] && g->ops[i]->free_ctx) g->ops[i]->free_ctx(g->ctx[i]);
    free(g);
}

cosmos_status cosmos_guardrail_load(const struct cosmos_guardrail_params *p, cosmos_guardrail_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_guardrail_t *g = NULL;
    CHECK_ARG(p && out, COSMOS_ERR_INVALID_ARG, "cosmos_guardrail_load: NULL argument");
    *out = NULL;
    CHECK_ARG(p->n_checks >= 1 && p->n_checks <= COSMOS_GUARDRAIL_MAX_CHECKS, COSMOS_ERR_INVALID_ARG,
              "guardrail: %d checks requested, need 1..%d (hint: disabling the guardrail is the "
              "caller's explicit decision, not an empty list)", p->n_checks, COSMOS_GUARDRAIL_MAX_CHECKS);
    g = calloc(1, sizeof *g);
    CHECK_ALLOC(g);
    for (int i = 0; i < p->n_checks; i++) {
        const char *name = p->checks[i];
        CHECK_ARG(name != NULL, COSMOS_ERR_INVALID_ARG, "guardrail: check %d has no name", i);
        size_t r = 0;
        while (r < N_REGISTRY && strcmp(g_registry[r].name, name) != 0) r++;
        CHECK_ARG(r < N_REGISTRY, COSMOS_ERR_INVALID_ARG,
                  "guardrail: unknown check '%s' (known: blocklist, aegis, video_content_filter, face_blur)", name);
        CHECK_ARG(g_registry[r].create != NULL, COSMOS_ERR_UNSUPPORTED,
                  "guardrail: check '%s' is not implemented yet (docs/guardrail.md)", name);
        CHECK(g_registry[r].create(p, &g->ops[i], &g->ctx[i]));
        g->n_checks = i + 1;
    }
    *out = g;
    return COSMOS_OK;
fail:
    cosmos_guardrail_free(g);
    return st;
}

int cosmos_guardrail_n_checks(const cosmos_guardrail_t *g) { return g ? g->n_checks : 0; }

const char *cosmos_guardrail_check_name(const cosmos_guardrail_t *g, int i) {
    if (!g || i < 0 || i >= g->n_checks) return NULL;
    return g->ops[i]->name;
}

static void verdict_reset(struct cosmos_guardrail_verdict *v) {
    memset(v, 0, sizeof *v);
    v->safe = 1;
}

static void verdict_block(struct cosmos_guardrail_verdict *v, const char *check) {
    v->safe = 0;
    snprintf(v->check, sizeof v->check, "%s", check);
}

cosmos_status cosmos_guardrail_check_text(const cosmos_guardrail_t *g, const char *prompt,
                                          struct cosmos_guardrail_verdict *v) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(g && prompt && v, COSMOS_ERR_INVALID_ARG, "cosmos_guardrail_check_text: NULL argument");
    verdict_reset(v);
    for (int i = 0; i < g->n_checks; i++) {
        if (!g->ops[i]->check_text) continue;
        int safe = 1;
        CHECK(g->ops[i]->check_text(g->ctx[i], prompt, &safe, v->reason, sizeof v->reason));
        v->n_checks_run++;
        if (!safe) {
            verdict_block(v, g->ops[i]->name);
            return COSMOS_OK;
        }
        v->reason[0] = '\0';
    }
    return COSMOS_OK;
fail:
    return st;
}

static cosmos_status check_frames_arg(const void *frames, int64_t T, int64_t H, int64_t W) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(frames && T > 0 && H > 0 && W > 0, COSMOS_ERR_INVALID_ARG,
              "guardrail: bad frames argument (frames %p, T %lld, H %lld, W %lld)", frames, (long long)T,
              (long long)H, (long long)W);
fail:
    return st;
}

cosmos_status cosmos_guardrail_check_video(const cosmos_guardrail_t *g, const uint8_t *frames, int64_t T,
                                           int64_t H, int64_t W, struct cosmos_guardrail_verdict *v) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(g && v, COSMOS_ERR_INVALID_ARG, "cosmos_guardrail_check_video: NULL argument");
    CHECK(check_frames_arg(frames, T, H, W));
    verdict_reset(v);
    for (int i = 0; i < g->n_checks; i++) {
        if (!g->ops[i]->check_video) continue;
        int safe = 1;
        CHECK(g->ops[i]->check_video(g->ctx[i], frames, T, H, W, &safe, v->reason, sizeof v->reason));
        v->n_checks_run++;
        if (!safe) {
            verdict_block(v, g->ops[i]->name);
            return COSMOS_OK;
        }
        v->reason[0] = '\0';
    }
    return COSMOS_OK;
fail:
    return st;
}

cosmos_status cosmos_guardrail_filter_video(const cosmos_guardrail_t *g, uint8_t *frames, int64_t T, int64_t H,
                                            int64_t W) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(g, COSMOS_ERR_INVALID_ARG, "cosmos_guardrail_filter_video: NULL guardrail");
    CHECK(check_frames_arg(frames, T, H, W));
    for (int i = 0; i < g->n_checks; i++)
        if (g->ops[i]->filter_video) CHECK(g->ops[i]->filter_video(g->ctx[i], frames, T, H, W));
    return COSMOS_OK;
fail:
    return st;
}
