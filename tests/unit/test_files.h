/* Paths and config variants for the unit tests: shipped configs (configs/models/<name>.json),
 * scratch files under $COSMOS_TEST_TMP (else /tmp), and a shipped config with one key changed or
 * deleted, written to a scratch file (the config loaders' error tests). */
#ifndef COSMOS_TEST_FILES_H
#define COSMOS_TEST_FILES_H

#include <stddef.h>

#include "core/status.h"

void config_path(char *path, size_t n, const char *name);
void tmp_path(char *path, size_t n, const char *name);
/* configs/models/<base>.json with `key` set to the JSON text `value` (NULL: the key deleted),
 * written to tmp_path(out_name); the path goes to path[n]. Asserts on failure. */
void write_config_variant(const char *base, const char *key, const char *value, const char *out_name, char *path,
                          size_t n);
/* The checks of one config variant's load, run between log_capture_start/stop (log_capture.h):
 * status st is `want`, and for an error the captured message holds `needle` and the file's path.
 * what names the variant in failure messages (e.g. the key), value the JSON it was set to (NULL:
 * deleted). */
void expect_config_error(const char *what, const char *value, cosmos_status st, cosmos_status want,
                         const char *needle, const char *path);

#endif
