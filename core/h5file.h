/* HDF5 file access for weights and tensors (docs/weights.md; STYLE.md "Weights and configs").
 * Reader: root attributes, dataset shapes/types, whole or hyperslab reads, and zero-copy access to
 * contiguous unfiltered datasets through one read-only mmap of the file (checked against the file
 * size, so a truncated file is an error, never a SIGBUS). Writer: datasets are contiguous and
 * 64-byte aligned; bf16 is stored as uint16 with the attribute dtype="bfloat16".
 * All errors are logged with the file and dataset name. Not thread-safe (HDF5 serial build). */
#ifndef COSMOS_H5FILE_H
#define COSMOS_H5FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"

typedef struct cosmos_h5 cosmos_h5_t;

struct cosmos_h5_info {
    int ndim;
    int64_t shape[4];
    enum cosmos_dtype dtype; /* BF16 for uint16 + dtype="bfloat16"; F32; I32 for any integer type */
    int is_int64;            /* integer datasets: stored as 64-bit */
    size_t bytes;            /* stored bytes */
};

/* Open read-only. Fails with a message naming the path if missing, not HDF5, or truncated. */
cosmos_status cosmos_h5_open(const char *path, cosmos_h5_t **out);
/* Create (truncate) for writing. */
cosmos_status cosmos_h5_create(const char *path, cosmos_h5_t **out);
/* Close; also unmaps. Pointers returned by cosmos_h5_map become invalid. NULL is a no-op. */
void cosmos_h5_close(cosmos_h5_t *h);
const char *cosmos_h5_path(const cosmos_h5_t *h);

int cosmos_h5_has_attr(cosmos_h5_t *h, const char *name);
/* Root string attribute; *out is malloc'd, caller frees. */
cosmos_status cosmos_h5_attr_string(cosmos_h5_t *h, const char *name, char **out);
cosmos_status cosmos_h5_attr_int(cosmos_h5_t *h, const char *name, int64_t *out);
cosmos_status cosmos_h5_write_attr_string(cosmos_h5_t *h, const char *name, const char *value);
cosmos_status cosmos_h5_write_attr_int(cosmos_h5_t *h, const char *name, int64_t value);

int cosmos_h5_has_dataset(cosmos_h5_t *h, const char *name);
/* Shape and element type; FORMAT error (logged) for unsupported element types. */
cosmos_status cosmos_h5_info(cosmos_h5_t *h, const char *name, struct cosmos_h5_info *info);
/* Names of all root-level links (datasets, and groups or anything else); *names is an array of malloc'd strings (cosmos_h5_free_names). */
cosmos_status cosmos_h5_list(cosmos_h5_t *h, char ***names, int *n);
void cosmos_h5_free_names(char **names, int n);

/* Read the whole dataset into dst converting to `mem` (F32 or I32; BF16 datasets only to BF16). */
cosmos_status cosmos_h5_read(cosmos_h5_t *h, const char *name, enum cosmos_dtype mem, void *dst);
/* Read `count` indices starting at `start` along dimension `dim` (0 = rows, 1 = columns) of a 2-D
 * (or, for dim 0, any-rank) dataset into dst, densely packed. */
cosmos_status cosmos_h5_read_slice(cosmos_h5_t *h, const char *name, int dim, int64_t start, int64_t count,
                                   enum cosmos_dtype mem, void *dst);
/* Zero-copy view of a bf16 dataset when it is contiguous, unfiltered and aligned: *ptr points into
 * the file mapping and *owned is NULL. Otherwise the data is read into a new buffer returned in both
 * *ptr and *owned (caller frees *owned). */
cosmos_status cosmos_h5_map_bf16(cosmos_h5_t *h, const char *name, const cosmos_bf16 **ptr, void **owned);
/* The same for rows [r0, r0+nr) along dimension 0 only: mapped in place when possible, otherwise
 * just those rows are read (a hyperslab), never the whole dataset. */
cosmos_status cosmos_h5_map_bf16_rows(cosmos_h5_t *h, const char *name, int64_t r0, int64_t nr,
                                      const cosmos_bf16 **ptr, void **owned);

/* Write a dataset (contiguous). dtype BF16 writes uint16 + attribute dtype="bfloat16". */
cosmos_status cosmos_h5_write(cosmos_h5_t *h, const char *name, enum cosmos_dtype dtype, int ndim,
                              const int64_t *shape, const void *data);
/* Write a uint8 dataset (contiguous), e.g. RGB frames [T,H,W,3]; read back as I32 by cosmos_h5_read. */
cosmos_status cosmos_h5_write_u8(cosmos_h5_t *h, const char *name, int ndim, const int64_t *shape,
                                 const uint8_t *data);

/* Create a contiguous f32 dataset [rows, cols] to be filled row block by row block. */
cosmos_status cosmos_h5_create_f32_2d(cosmos_h5_t *h, const char *name, int64_t rows, int64_t cols);
/* Write rows [r0, r0+nr) of a 2-D f32 dataset from data [nr, cols]. */
cosmos_status cosmos_h5_write_f32_rows(cosmos_h5_t *h, const char *name, int64_t r0, int64_t nr, const float *data);

/* Model files (docs/weights.md): root attributes cosmos_format = "cosmos-ar-weights",
 * format_version, model_type ("ar", "t5", ...) and the config JSON. */
#define COSMOS_WEIGHTS_FORMAT "cosmos-ar-weights"
#define COSMOS_WEIGHTS_FORMAT_VERSION 1
cosmos_status cosmos_h5_write_model_header(cosmos_h5_t *h, const char *model_type, const char *config_json);
/* Check the marker, the version and that model_type matches (the message names both and `hint`);
 * *config_json (malloc'd, caller frees) receives the config attribute. */
cosmos_status cosmos_h5_check_model_header(cosmos_h5_t *h, const char *model_type, const char *hint,
                                           char **config_json);

/* "[d0, d1, ...]" of a dataset or tensor shape into dst (size n; truncated to fit), for messages. */
void cosmos_h5_shape_str(char *dst, size_t n, int ndim, const int64_t *shape);
/* The strict loaders' check of one tensor: dataset `name` exists with exactly shape[ndim], its info
 * into *info (may be NULL). FORMAT error otherwise, logged as
 *   "<file>: missing <kind> '<name>' (expected shape <want>)<missing_hint>" or
 *   "<file>: <kind> '<name>' has shape <got>, expected <want><shape_hint>"
 * (kind: "dataset" or "tensor"; the hints, e.g. " (hint: ...)", may be ""). The dtype is the
 * caller's to check. */
cosmos_status cosmos_h5_expect_shape(cosmos_h5_t *h, const char *kind, const char *name, int ndim,
                                     const int64_t *shape, const char *missing_hint, const char *shape_hint,
                                     struct cosmos_h5_info *info);

/* Output files are written to a temporary name and renamed when complete. */
/* Fills tmp (size n) with "<path>.tmp.<pid>". */
void cosmos_tmp_path(const char *path, char *tmp, size_t n);
/* rename(tmp, path) with a logged error. */
cosmos_status cosmos_commit_tmp(const char *tmp, const char *path);

#endif
