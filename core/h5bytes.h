/* Byte-array datasets in HDF5 files (uint8 [n]): how a weight file carries an opaque blob, e.g. the
 * T5 file's SentencePiece model (docs/t5.md). Separate from core/h5file.h, which handles numeric
 * tensors; these functions open the file by path themselves (read-only for reads, read-write for
 * writes, so a write must happen while no cosmos_h5_t has the file open for writing). */
#ifndef COSMOS_H5BYTES_H
#define COSMOS_H5BYTES_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Read uint8 dataset `name` of the file at `path`; *data is malloc'd (caller frees). FORMAT error
 * (logged with the file and dataset) when missing or not a 1-D 8-bit integer dataset. */
cosmos_status cosmos_h5_read_bytes(const char *path, const char *name, uint8_t **data, size_t *n);
/* Add uint8 dataset `name` [n] to the existing file at `path`. */
cosmos_status cosmos_h5_write_bytes(const char *path, const char *name, const void *data, size_t n);
/* Overwrite every element of dataset `name` of the existing file at `path` with zero bits (e.g. a
 * random model's final norm weight, core/guardrail/aegis.c). */
cosmos_status cosmos_h5_zero_dataset(const char *path, const char *name);

#endif
