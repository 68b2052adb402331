/* cosmos_comm_nccl_create in a build without CUDA: a clear UNSUPPORTED, so callers need no #ifdef. */
#include "core/log.h"
#include "parallel/comm_nccl.h"

cosmos_status cosmos_comm_nccl_create(cosmos_comm_t *bootstrap, int device, void *stream, cosmos_comm_t **out) {
    (void)bootstrap;
    (void)stream;
    *out = NULL;
    LOG_ERROR("NCCL communicator for device %d: this build has no CUDA support (configure with -DCOSMOS_CUDA=ON)",
              device);
    return COSMOS_ERR_UNSUPPORTED;
}

int cosmos_comm_nccl_version(void) { return 0; }
