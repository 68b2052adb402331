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

void cosmos_utc_timestamp(char *buf, size_t n) {
    const time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && n > 0) buf[0] = '\0';
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

int cosmos_cpu_affinity(unsigned char *mask, size_t n_bytes) {
    cpu_set_t set;
    memset(mask, 0, n_bytes);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    for (size_t c = 0; c < 8 * n_bytes && c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) mask[c / 8] |= (unsigned char)(1u << (c % 8));
    return CPU_COUNT(&set);
}

int cosmos_threads_for_process(int requested, int n_sharing, int *split) {
    *split = 0;
    if (requested > 0) return requested;
    const char *env = getenv("OMP_NUM_THREADS");
    if ((env && env[0]) || n_sharing <= 1) return omp_get_max_threads();
    *split = 1;
    unsigned char mask[128];
    const int mine = cosmos_cpu_affinity(mask, sizeof mask);
    const int share = (mine > 0 ? mine : omp_get_max_threads()) / n_sharing;
    return share >= 1 ? share : 1;
}
