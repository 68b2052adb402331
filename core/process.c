/* Process facts (see process.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "core/process.h"

#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

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

int cosmos_threads_for_process(int requested, int local_size) {
    if (requested > 0) return requested;
    const char *env = getenv("OMP_NUM_THREADS");
    cpu_set_t mask;
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    const int mine = sched_getaffinity(0, sizeof mask, &mask) == 0 ? CPU_COUNT(&mask) : (int)online;
    if ((env && env[0]) || local_size <= 1 || online <= 0 || mine < online) return omp_get_max_threads();
    const int share = (int)(online / local_size);
    return share >= 1 ? share : 1;
}
