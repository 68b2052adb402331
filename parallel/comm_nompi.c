/* cosmos_comm_mpi_world in a build without MPI: a clear UNSUPPORTED, so callers need no #ifdef. */
#include <stdio.h>

#include "core/log.h"
#include "parallel/comm.h"

cosmos_status cosmos_comm_mpi_world(cosmos_comm_t **out) {
    *out = NULL;
    LOG_ERROR("this build has no MPI support: multi-process runs (--tp/--pp > 1) need a build with "
              "-DCOSMOS_MPI=ON and Open MPI (tools/install_deps.sh installs it)");
    return COSMOS_ERR_UNSUPPORTED;
}

void cosmos_comm_mpi_library(char *buf, size_t n) {
    snprintf(buf, n, "none: this build has no MPI support (-DCOSMOS_MPI=OFF)");
}
