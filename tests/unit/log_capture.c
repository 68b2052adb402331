/* Log capture for tests (see log_capture.h). */
#include "log_capture.h"

#include <string.h>

#include "core/log.h"

static char g_buf[65536];

static void sink(enum cosmos_log_level level, const char *line, void *user) {
    (void)level;
    (void)user;
    size_t n = strlen(g_buf);
    if (n + strlen(line) + 2 < sizeof g_buf) {
        strcat(g_buf, line);
        strcat(g_buf, "\n");
    }
}

void log_capture_start(void) {
    g_buf[0] = '\0';
    cosmos_log_set_sink(sink, NULL);
}
void log_capture_stop(void) { cosmos_log_set_sink(NULL, NULL); }
const char *log_captured(void) { return g_buf; }
