/* Rank-aware logging and the check macros (STYLE.md "Errors and logs").
 * Every line is prefixed `[cosmos r00/01 host +1.2s] LEVEL`; the level is checked before the
 * message is formatted; the sink is replaceable (tests capture messages). Diagnostics go to
 * stderr by default; results never go through the log. */
#ifndef COSMOS_LOG_H
#define COSMOS_LOG_H

#include "core/status.h"

enum cosmos_log_level {
    COSMOS_LOG_ERROR = 0,
    COSMOS_LOG_WARN = 1,
    COSMOS_LOG_INFO = 2,
    COSMOS_LOG_DEBUG = 3,
};

typedef void (*cosmos_log_sink_fn)(enum cosmos_log_level level, const char *line, void *user);

/* Set this process's rank and world size for the prefix (default 0/1). */
void cosmos_log_set_rank(int rank, int world_size);
void cosmos_log_set_level(enum cosmos_log_level level);
enum cosmos_log_level cosmos_log_get_level(void);
/* Parse "error", "warn", "info" or "debug"; returns INVALID_ARG for anything else. */
cosmos_status cosmos_log_level_parse(const char *s, enum cosmos_log_level *out);
/* Replace the sink (NULL restores stderr). The line passed has no trailing newline. */
void cosmos_log_set_sink(cosmos_log_sink_fn fn, void *user);

void cosmos_log_msg(enum cosmos_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Rank-0-only messages (banners, progress). */
int cosmos_log_is_rank0(void);

#define COSMOS_LOG(level, ...)                                                         \
    do {                                                                               \
        if ((level) <= cosmos_log_get_level()) cosmos_log_msg((level), __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
#define LOG_ERROR(...) COSMOS_LOG(COSMOS_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) COSMOS_LOG(COSMOS_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) COSMOS_LOG(COSMOS_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) COSMOS_LOG(COSMOS_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO0(...)                                  \
    do {                                                \
        if (cosmos_log_is_rank0()) LOG_INFO(__VA_ARGS__); \
    } while (0)

/* Check macros. They need a `cosmos_status st` variable and a `fail:` label in scope
 * (single-exit cleanup). CHECK propagates a failing cosmos call; CHECK_ARG logs a message and
 * fails with the given status when the condition is false. */
#define CHECK(call)                                                                       \
    do {                                                                                  \
        st = (call);                                                                      \
        if (st != COSMOS_OK) {                                                            \
            COSMOS_LOG(COSMOS_LOG_DEBUG, "%s failed: %s", #call, cosmos_status_str(st));  \
            goto fail;                                                                    \
        }                                                                                 \
    } while (0)
#define CHECK_ARG(cond, status, ...)  \
    do {                              \
        if (!(cond)) {                \
            LOG_ERROR(__VA_ARGS__);   \
            st = (status);            \
            goto fail;                \
        }                             \
    } while (0)
#define CHECK_ALLOC(ptr)                                             \
    do {                                                             \
        if ((ptr) == NULL) {                                         \
            LOG_ERROR("out of memory allocating %s", #ptr);          \
            st = COSMOS_ERR_NOMEM;                                   \
            goto fail;                                               \
        }                                                            \
    } while (0)

#endif
