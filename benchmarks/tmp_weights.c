/* Temporary random-weight files of the benchmarks (see tmp_weights.h). */
#define _POSIX_C_SOURCE 200809L
#include "benchmarks/tmp_weights.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/h5file.h"
#include "core/log.h"

static char g_tmp_dir[512], g_tmp_file[640], g_tmp_partial[700];

void bench_tmp_weights_remove(void) {
    if (g_tmp_file[0]) unlink(g_tmp_file);
    if (g_tmp_partial[0]) unlink(g_tmp_partial);
    if (g_tmp_dir[0]) rmdir(g_tmp_dir);
}

static void on_signal(int sig) {
    bench_tmp_weights_remove(); /* unlink and rmdir are async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

cosmos_status bench_tmp_weights_path(const char *prefix, const char *file, const char **path) {
    const char *tmpdir = getenv("TMPDIR");
    snprintf(g_tmp_dir, sizeof g_tmp_dir, "%s/%s-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp", prefix);
    if (!mkdtemp(g_tmp_dir)) {
        LOG_ERROR("cannot create a temporary directory %s", g_tmp_dir);
        g_tmp_dir[0] = '\0';
        return COSMOS_ERR_IO;
    }
    snprintf(g_tmp_file, sizeof g_tmp_file, "%s/%s", g_tmp_dir, file);
    cosmos_tmp_path(g_tmp_file, g_tmp_partial, sizeof g_tmp_partial);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    *path = g_tmp_file;
    return COSMOS_OK;
}

const char *bench_tmp_weights_current(void) { return g_tmp_file[0] ? g_tmp_file : NULL; }
