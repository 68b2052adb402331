/* Logging implementation: see log.h. The start time is taken at the first message. */
#define _POSIX_C_SOURCE 200809L
#include "core/process.h"
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int g_rank = 0, g_world = 1;
static enum cosmos_log_level g_level = COSMOS_LOG_INFO;
static cosmos_log_sink_fn g_sink = NULL;
static void *g_sink_user = NULL;
static double g_t0 = -1.0;


void cosmos_log_set_rank(int rank, int world_size) {
    g_rank = rank;
    g_world = world_size;
}
void cosmos_log_set_level(enum cosmos_log_level level) { g_level = level; }
enum cosmos_log_level cosmos_log_get_level(void) { return g_level; }
int cosmos_log_is_rank0(void) { return g_rank == 0; }

void cosmos_log_set_sink(cosmos_log_sink_fn fn, void *user) {
    g_sink = fn;
    g_sink_user = user;
}

cosmos_status cosmos_log_level_parse(const char *s, enum cosmos_log_level *out) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum cosmos_log_level)i;
            return COSMOS_OK;
        }
    }
    return COSMOS_ERR_INVALID_ARG;
}

void cosmos_log_msg(enum cosmos_log_level level, const char *file, int line, const char *fmt, ...) {
    static const char *tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    if (g_t0 < 0) g_t0 = cosmos_now_s();
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    char *dot = strchr(host, '.');
    if (dot) *dot = '\0';
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char buf[2400];
    if (level == COSMOS_LOG_DEBUG)
        snprintf(buf, sizeof buf, "[cosmos r%02d/%02d %s +%.1fs] %s %s (%s:%d)", g_rank, g_world, host,
                 cosmos_now_s() - g_t0, tags[level], msg, file, line);
    else
        snprintf(buf, sizeof buf, "[cosmos r%02d/%02d %s +%.1fs] %s %s", g_rank, g_world, host, cosmos_now_s() - g_t0,
                 tags[level], msg);
    if (g_sink)
        g_sink(level, buf, g_sink_user);
    else
        fprintf(stderr, "%s\n", buf);
}
