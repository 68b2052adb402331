/* JSON output files through a temporary name (see json_file.h). */
#include "core/json_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/h5file.h"
#include "core/log.h"

cosmos_status cosmos_json_write(const json_t *doc, const char *path, size_t flags) {
    const size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return COSMOS_ERR_NOMEM;
    cosmos_tmp_path(path, tmp, n);
    cosmos_status st = COSMOS_OK;
    if (json_dump_file(doc, tmp, flags) != 0) {
        LOG_ERROR("cannot write '%s'", tmp);
        remove(tmp);
        st = COSMOS_ERR_IO;
    } else {
        st = cosmos_commit_tmp(tmp, path);
    }
    free(tmp);
    return st;
}
