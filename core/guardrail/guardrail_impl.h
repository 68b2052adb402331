/* Private vtable behind cosmos_guardrail_t (spec components.md 5.1); only check implementations
 * and guardrail.c include this. Each check fills a cosmos_guardrail_check_ops table and a ctx.
 * A NULL hook means "this check does not look at that input" and the runner skips it; a hook
 * that returns an error (UNSUPPORTED included) makes the whole run fail, so a model check that
 * cannot run never passes silently. Hooks write `safe` and a NUL-terminated reason of at most
 * reason_size bytes (the word or entry that tripped the check, for the log). */
#ifndef COSMOS_GUARDRAIL_IMPL_H
#define COSMOS_GUARDRAIL_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/guardrail/guardrail.h"

struct cosmos_guardrail_check_ops {
    const char *name;
    cosmos_status (*check_text)(const void *ctx, const char *prompt, int *safe, char *reason, size_t reason_size);
    cosmos_status (*check_video)(const void *ctx, const uint8_t *frames, int64_t T, int64_t H, int64_t W, int *safe,
                                 char *reason, size_t reason_size);
    cosmos_status (*filter_video)(const void *ctx, uint8_t *frames, int64_t T, int64_t H, int64_t W);
    void (*free_ctx)(void *ctx);
};

/* Constructor of a check: reads what it needs from p, returns its ops table and a ctx it owns
 * (released by ops->free_ctx). */
typedef cosmos_status (*cosmos_guardrail_check_create_fn)(const struct cosmos_guardrail_params *p,
                                                          const struct cosmos_guardrail_check_ops **ops,
                                                          void **ctx);

/* The blocklist (spec 5.2), core/guardrail/blocklist.c. */
cosmos_status cosmos_guardrail_blocklist_create(const struct cosmos_guardrail_params *p,
                                                const struct cosmos_guardrail_check_ops **ops, void **ctx);

/* The video content safety filter (spec 5.4), core/guardrail/content_filter.c. */
cosmos_status cosmos_guardrail_content_filter_create(const struct cosmos_guardrail_params *p,
                                                     const struct cosmos_guardrail_check_ops **ops, void **ctx);

/* The Aegis prompt check (spec 5.3), core/guardrail/aegis.c. */
cosmos_status cosmos_guardrail_aegis_create(const struct cosmos_guardrail_params *p,
                                            const struct cosmos_guardrail_check_ops **ops, void **ctx);

/* Face blur (spec 5.5), core/guardrail/face_blur.c. */
cosmos_status cosmos_guardrail_face_blur_create(const struct cosmos_guardrail_params *p,
                                                const struct cosmos_guardrail_check_ops **ops, void **ctx);

#endif
