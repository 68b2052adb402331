/* Writing a JSON document as an output file (ground rule: outputs are written to a temporary name,
 * cosmos_tmp_path, and renamed when complete, so `path` never holds a partial file). */
#ifndef COSMOS_JSON_FILE_H
#define COSMOS_JSON_FILE_H

#include <jansson.h>

#include "core/status.h"

/* json_dump_file(doc, tmp, flags), then rename to path; IO error (logged, naming the file) and
 * no file at `path` when either fails. */
cosmos_status cosmos_json_write(const json_t *doc, const char *path, size_t flags);

#endif
