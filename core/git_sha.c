/* The commit this build was made from (see core/system_info.h): the only file that includes the
 * header tools/git_sha.cmake writes at build time, so a new commit recompiles this file alone. */
#include "cosmos_git_sha.h"
#include "core/system_info.h"

const char *cosmos_git_sha(void) { return COSMOS_GIT_SHA; }
