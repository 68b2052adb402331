/* The CUDA backend constructor in a build without CUDA: a clear UNSUPPORTED, so callers need no
 * #ifdef (STYLE.md "Backends"). */
#include "core/backend_impl.h"
#include "core/log.h"

cosmos_status cosmos_backend_cuda_create(int device, const struct cosmos_backend_params *params,
                                         cosmos_backend_t **out) {
    (void)params;
    *out = NULL;
    LOG_ERROR("backend cuda:%d is not available: this build has no CUDA support (configure with "
              "-DCOSMOS_CUDA=ON on a machine with nvcc)", device);
    return COSMOS_ERR_UNSUPPORTED;
}
