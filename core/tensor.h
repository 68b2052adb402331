/* Tensor views: cheap POD descriptions of memory owned elsewhere (ggml tensor/buffer split).
 * Row-major and contiguous: shape[0] is the outermost dimension, shape[ndim-1] the innermost, as
 * in PyTorch. `data` is a host pointer for the CPU backend and a device pointer for CUDA. */
#ifndef COSMOS_TENSOR_H
#define COSMOS_TENSOR_H

#include <stdint.h>

#include "core/dtype.h"

#define COSMOS_MAX_DIMS 4

struct cosmos_tensor {
    void *data;
    enum cosmos_dtype dtype;
    int ndim;
    int64_t shape[COSMOS_MAX_DIMS];
};

static inline int64_t cosmos_tensor_numel(const struct cosmos_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static inline size_t cosmos_tensor_bytes(const struct cosmos_tensor *t) {
    return (size_t)cosmos_tensor_numel(t) * cosmos_dtype_size(t->dtype);
}

static inline struct cosmos_tensor cosmos_tensor_1d(void *data, enum cosmos_dtype dt, int64_t n0) {
    struct cosmos_tensor t = {data, dt, 1, {n0, 1, 1, 1}};
    return t;
}
static inline struct cosmos_tensor cosmos_tensor_2d(void *data, enum cosmos_dtype dt, int64_t n0, int64_t n1) {
    struct cosmos_tensor t = {data, dt, 2, {n0, n1, 1, 1}};
    return t;
}
static inline struct cosmos_tensor cosmos_tensor_3d(void *data, enum cosmos_dtype dt, int64_t n0, int64_t n1,
                                                    int64_t n2) {
    struct cosmos_tensor t = {data, dt, 3, {n0, n1, n2, 1}};
    return t;
}

static inline struct cosmos_tensor cosmos_tensor_4d(void *data, enum cosmos_dtype dt, int64_t n0, int64_t n1,
                                                    int64_t n2, int64_t n3) {
    struct cosmos_tensor t = {data, dt, 4, {n0, n1, n2, n3}};
    return t;
}

/* View of rows [r0, r0+n) of a tensor along its outermost dimension. */
static inline struct cosmos_tensor cosmos_tensor_rows(struct cosmos_tensor t, int64_t r0, int64_t n) {
    int64_t inner = 1;
    for (int i = 1; i < t.ndim; i++) inner *= t.shape[i];
    t.data = (char *)t.data + (size_t)(r0 * inner) * cosmos_dtype_size(t.dtype);
    t.shape[0] = n;
    return t;
}

#endif
