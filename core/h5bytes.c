/* uint8 blob datasets (see h5bytes.h). */
#include "core/h5bytes.h"

#include <hdf5.h>
#include <stdlib.h>

#include "core/log.h"

cosmos_status cosmos_h5_read_bytes(const char *path, const char *name, uint8_t **data, size_t *n) {
    cosmos_status st = COSMOS_OK;
    hid_t f = -1, d = -1, t = -1, sp = -1;
    uint8_t *buf = NULL;
    *data = NULL;
    *n = 0;
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK_ARG(f >= 0, COSMOS_ERR_IO, "%s: cannot open as HDF5", path);
    CHECK_ARG(H5Lexists(f, name, H5P_DEFAULT) > 0, COSMOS_ERR_FORMAT, "%s: no dataset '%s'", path, name);
    d = H5Dopen2(f, name, H5P_DEFAULT);
    CHECK_ARG(d >= 0, COSMOS_ERR_FORMAT, "%s: '%s' is not a dataset", path, name);
    t = H5Dget_type(d);
    sp = H5Dget_space(d);
    CHECK_ARG(H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == 1 && H5Sget_simple_extent_ndims(sp) == 1,
              COSMOS_ERR_FORMAT, "%s: '%s' must be a 1-D uint8 dataset", path, name);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    CHECK_ARG(cnt > 0, COSMOS_ERR_FORMAT, "%s: '%s' is empty", path, name);
    buf = malloc((size_t)cnt);
    CHECK_ALLOC(buf);
    CHECK_ARG(H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, COSMOS_ERR_HDF5,
              "%s: reading '%s' failed", path, name);
    *data = buf;
    *n = (size_t)cnt;
    buf = NULL;
fail:
    free(buf);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    return st;
}

cosmos_status cosmos_h5_write_bytes(const char *path, const char *name, const void *data, size_t n) {
    cosmos_status st = COSMOS_OK;
    hid_t f = -1, d = -1, sp = -1;
    hsize_t dims[1] = {(hsize_t)n};
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK_ARG(f >= 0, COSMOS_ERR_IO, "%s: cannot open HDF5 file for writing", path);
    sp = H5Screate_simple(1, dims, NULL);
    d = H5Dcreate2(f, name, H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK_ARG(sp >= 0 && d >= 0, COSMOS_ERR_HDF5, "%s: cannot create dataset '%s'", path, name);
    CHECK_ARG(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0, COSMOS_ERR_HDF5,
              "%s: writing '%s' failed", path, name);
fail:
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    if (f >= 0 && H5Fclose(f) < 0 && st == COSMOS_OK) {
        LOG_ERROR("%s: closing after writing '%s' failed", path, name);
        st = COSMOS_ERR_HDF5;
    }
    return st;
}

cosmos_status cosmos_h5_zero_dataset(const char *path, const char *name) {
    cosmos_status st = COSMOS_OK;
    hid_t f = -1, d = -1, t = -1, sp = -1;
    void *zeros = NULL;
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK_ARG(f >= 0, COSMOS_ERR_IO, "%s: cannot open HDF5 file for writing", path);
    d = H5Dopen2(f, name, H5P_DEFAULT);
    CHECK_ARG(d >= 0, COSMOS_ERR_FORMAT, "%s: no dataset '%s'", path, name);
    t = H5Dget_type(d);
    sp = H5Dget_space(d);
    const hssize_t n = H5Sget_simple_extent_npoints(sp);
    CHECK_ARG(t >= 0 && n >= 0, COSMOS_ERR_HDF5, "%s: cannot read the shape of '%s'", path, name);
    zeros = calloc((size_t)n > 0 ? (size_t)n : 1, H5Tget_size(t));
    CHECK_ALLOC(zeros);
    CHECK_ARG(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros) >= 0, COSMOS_ERR_HDF5, "%s: writing '%s' failed",
              path, name);
fail:
    free(zeros);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (d >= 0) H5Dclose(d);
    if (f >= 0 && H5Fclose(f) < 0 && st == COSMOS_OK) {
        LOG_ERROR("%s: closing after writing '%s' failed", path, name);
        st = COSMOS_ERR_HDF5;
    }
    return st;
}
