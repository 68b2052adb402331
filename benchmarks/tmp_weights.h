/* Temporary random-weight files of the benchmarks (cosmos-bench-dv, cosmos-bench-dd): one file in a
 * fresh directory under $TMPDIR (else /tmp), removed at exit (bench_tmp_weights_remove) and on
 * SIGINT / SIGTERM (a timeout), with the partial file a writer leaves under cosmos_tmp_path. One
 * such file per process. */
#ifndef COSMOS_BENCH_TMP_WEIGHTS_H
#define COSMOS_BENCH_TMP_WEIGHTS_H

#include "core/status.h"

/* Creates the directory "<tmp>/<prefix>-XXXXXX", installs the signal handlers and returns the path
 * "<dir>/<file>" (static storage, valid until the process ends). IO error when the directory
 * cannot be made. */
cosmos_status bench_tmp_weights_path(const char *prefix, const char *file, const char **path);
/* The path of bench_tmp_weights_path, or NULL before it. */
const char *bench_tmp_weights_current(void);
/* Removes the file, its partial twin and the directory (no-op when none was made). */
void bench_tmp_weights_remove(void);

#endif
