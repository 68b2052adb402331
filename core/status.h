/* Status codes of the cosmos-ar library (STYLE.md "Errors and logs").
 * 0 is success, every error is negative. Library code returns these and never exits; only
 * launcher/ maps them to a process exit code. */
#ifndef COSMOS_STATUS_H
#define COSMOS_STATUS_H

typedef enum cosmos_status {
    COSMOS_OK = 0,
    COSMOS_ERR_INVALID_ARG = -1,
    COSMOS_ERR_NOMEM = -2,
    COSMOS_ERR_IO = -3,
    COSMOS_ERR_FORMAT = -4,
    COSMOS_ERR_UNSUPPORTED = -5,
    COSMOS_ERR_CUDA = -6,
    COSMOS_ERR_CUBLAS = -7,
    COSMOS_ERR_NCCL = -8,
    COSMOS_ERR_MPI = -9,
    COSMOS_ERR_HDF5 = -10,
    COSMOS_ERR_FFMPEG = -11,
    COSMOS_ERR_TIMEOUT = -12,
    COSMOS_ERR_INTERNAL = -13,
    COSMOS_ERR_BLOCKED = -14, /* the guardrail refused the input or the output (not an error of the run) */
} cosmos_status;

/* Static string naming the status ("ok", "invalid argument", ...). Never NULL. */
const char *cosmos_status_str(cosmos_status s);

#endif
