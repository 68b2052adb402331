/* Process facts (see process.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/process.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

double cosmos_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int64_t cosmos_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (int64_t)ru.ru_maxrss * 1024; /* KiB on Linux */
}

void cosmos_cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        char *c = strchr(line, ':');
        if (c) {
            c++;
            while (*c == ' ') c++;
            c[strcspn(c, "\n")] = '\0';
            snprintf(buf, n, "%s", c);
        }
        break;
    }
    fclose(f);
}
