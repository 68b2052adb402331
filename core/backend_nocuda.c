/* The CUDA backend constructor in a build without CUDA: a clear UNSUPPORTED, so callers need no
 * #ifdef (STYLE.md "Backends"). */
#include <stdio.h>

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

cosmos_status cosmos_backend_cuda_devices(struct cosmos_gpu_info *out, int max, int *n, int *runtime_version,
                                          int *driver_version, char *why, size_t n_why) {
    (void)out;
    (void)max;
    *n = 0, *runtime_version = 0, *driver_version = 0;
    snprintf(why, n_why, "this build has no CUDA support (configure with -DCOSMOS_CUDA=ON on a machine with nvcc)");
    return COSMOS_ERR_UNSUPPORTED;
}

cosmos_status cosmos_backend_cuda_blas(char *out, size_t n) {
    snprintf(out, n, "none: this build has no CUDA support");
    return COSMOS_ERR_UNSUPPORTED;
}
