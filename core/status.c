/* Names of the status codes declared in status.h. */
#include "core/status.h"

const char *cosmos_status_str(cosmos_status s) {
    switch (s) {
    case COSMOS_OK: return "ok";
    case COSMOS_ERR_INVALID_ARG: return "invalid argument";
    case COSMOS_ERR_NOMEM: return "out of memory";
    case COSMOS_ERR_IO: return "I/O error";
    case COSMOS_ERR_FORMAT: return "bad file format";
    case COSMOS_ERR_UNSUPPORTED: return "unsupported";
    case COSMOS_ERR_CUDA: return "CUDA error";
    case COSMOS_ERR_CUBLAS: return "cuBLAS error";
    case COSMOS_ERR_NCCL: return "NCCL error";
    case COSMOS_ERR_MPI: return "MPI error";
    case COSMOS_ERR_HDF5: return "HDF5 error";
    case COSMOS_ERR_FFMPEG: return "FFmpeg error";
    case COSMOS_ERR_TIMEOUT: return "timeout";
    case COSMOS_ERR_INTERNAL: return "internal error";
    case COSMOS_ERR_BLOCKED: return "blocked by the guardrail";
    }
    return "unknown status";
}
