/* HDF5 reader/writer (see h5file.h). The HDF5 error stack printer is silenced; every failure is
 * reported through the log with the file and dataset name instead. */
#define _POSIX_C_SOURCE 200809L
#include "core/h5file.h"

#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

struct cosmos_h5 {
    hid_t file;
    char path[1024];
    int writable;
    const unsigned char *map; /* whole-file read-only mapping, made on first use */
    size_t map_size;
    off_t file_size;
};

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

const char *cosmos_h5_path(const cosmos_h5_t *h) { return h->path; }

cosmos_status cosmos_h5_open(const char *path, cosmos_h5_t **out) {
    h5_quiet();
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        LOG_ERROR("cannot open '%s': no such file", path);
        return COSMOS_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        LOG_ERROR("cannot open '%s': not a regular file", path);
        return COSMOS_ERR_IO;
    }
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        LOG_ERROR("'%s' is not an HDF5 file (hint: weights must be converted with tools/convert_checkpoint.py "
                  "or created with `cosmos-ar init`)", path);
        return COSMOS_ERR_FORMAT;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        LOG_ERROR("cannot open HDF5 file '%s': it is damaged or truncated (size %lld bytes)", path,
                  (long long)sb.st_size);
        return COSMOS_ERR_FORMAT;
    }
    cosmos_h5_t *h = calloc(1, sizeof *h);
    if (!h) {
        H5Fclose(f);
        return COSMOS_ERR_NOMEM;
    }
    h->file = f;
    h->file_size = sb.st_size;
    snprintf(h->path, sizeof h->path, "%s", path);
    *out = h;
    return COSMOS_OK;
}

cosmos_status cosmos_h5_create(const char *path, cosmos_h5_t **out) {
    h5_quiet();
    *out = NULL;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_alignment(fapl, 1, 64);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        LOG_ERROR("cannot create HDF5 file '%s' (does the folder exist and is it writable?)", path);
        return COSMOS_ERR_IO;
    }
    cosmos_h5_t *h = calloc(1, sizeof *h);
    if (!h) {
        H5Fclose(f);
        return COSMOS_ERR_NOMEM;
    }
    h->file = f;
    h->writable = 1;
    snprintf(h->path, sizeof h->path, "%s", path);
    *out = h;
    return COSMOS_OK;
}

void cosmos_h5_close(cosmos_h5_t *h) {
    if (!h) return;
    if (h->map) munmap((void *)h->map, h->map_size);
    H5Fclose(h->file);
    free(h);
}

int cosmos_h5_has_attr(cosmos_h5_t *h, const char *name) { return H5Aexists(h->file, name) > 0; }

cosmos_status cosmos_h5_attr_string(cosmos_h5_t *h, const char *name, char **out) {
    *out = NULL;
    if (H5Aexists(h->file, name) <= 0) {
        LOG_ERROR("%s: missing attribute '%s'", h->path, name);
        return COSMOS_ERR_FORMAT;
    }
    hid_t a = H5Aopen(h->file, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    cosmos_status st = COSMOS_OK;
    if (H5Tget_class(t) != H5T_STRING) {
        LOG_ERROR("%s: attribute '%s' is not a string", h->path, name);
        st = COSMOS_ERR_FORMAT;
    } else if (H5Tis_variable_str(t) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0 || !s) {
            LOG_ERROR("%s: cannot read attribute '%s'", h->path, name);
            st = COSMOS_ERR_FORMAT;
        } else {
            *out = strdup(s);
            H5free_memory(s);
        }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        char *s = calloc(n + 1, 1);
        hid_t mt = H5Tcopy(t);
        if (!s || H5Aread(a, mt, s) < 0) {
            LOG_ERROR("%s: cannot read attribute '%s'", h->path, name);
            st = COSMOS_ERR_FORMAT;
            free(s);
        } else
            *out = s;
        H5Tclose(mt);
    }
    H5Tclose(t);
    H5Aclose(a);
    if (st == COSMOS_OK && !*out) st = COSMOS_ERR_NOMEM;
    return st;
}

cosmos_status cosmos_h5_attr_int(cosmos_h5_t *h, const char *name, int64_t *out) {
    if (H5Aexists(h->file, name) <= 0) {
        LOG_ERROR("%s: missing attribute '%s'", h->path, name);
        return COSMOS_ERR_FORMAT;
    }
    hid_t a = H5Aopen(h->file, name, H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    hid_t sp = H5Aget_space(a);
    cosmos_status st = COSMOS_OK;
    long long v = 0;
    if (H5Tget_class(t) != H5T_INTEGER || H5Sget_simple_extent_npoints(sp) != 1 ||
        H5Aread(a, H5T_NATIVE_LLONG, &v) < 0) {
        LOG_ERROR("%s: attribute '%s' is not an integer scalar", h->path, name);
        st = COSMOS_ERR_FORMAT;
    }
    *out = v;
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return st;
}

static cosmos_status write_attr(hid_t obj, const char *path, const char *name, hid_t type, const void *val) {
    hid_t sp = H5Screate(H5S_SCALAR);
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, type, val);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    if (e < 0) {
        LOG_ERROR("%s: cannot write attribute '%s'", path, name);
        return COSMOS_ERR_HDF5;
    }
    return COSMOS_OK;
}

static cosmos_status write_str_attr(hid_t obj, const char *path, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    cosmos_status st = write_attr(obj, path, name, t, &value);
    H5Tclose(t);
    return st;
}

cosmos_status cosmos_h5_write_attr_string(cosmos_h5_t *h, const char *name, const char *value) {
    return write_str_attr(h->file, h->path, name, value);
}

cosmos_status cosmos_h5_write_attr_int(cosmos_h5_t *h, const char *name, int64_t value) {
    long long v = value;
    return write_attr(h->file, h->path, name, H5T_STD_I64LE, &v);
}

static int is_dataset(hid_t loc, const char *name) {
    if (strchr(name, '/') || H5Lexists(loc, name, H5P_DEFAULT) <= 0) return 0;
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0) return 0;
    int yes = H5Iget_type(o) == H5I_DATASET;
    H5Oclose(o);
    return yes;
}

int cosmos_h5_has_dataset(cosmos_h5_t *h, const char *name) { return is_dataset(h->file, name); }

static int dset_is_bf16(hid_t d) {
    if (H5Aexists(d, "dtype") <= 0) return 0;
    hid_t a = H5Aopen(d, "dtype", H5P_DEFAULT);
    hid_t t = H5Aget_type(a);
    int ok = 0;
    if (H5Tget_class(t) == H5T_STRING) {
        char buf[32] = {0};
        if (H5Tis_variable_str(t) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5Tget_cset(t));
            char *s = NULL;
            if (H5Aread(a, mt, &s) >= 0 && s) {
                ok = strcmp(s, "bfloat16") == 0;
                H5free_memory(s);
            }
            H5Tclose(mt);
        } else if (H5Tget_size(t) < sizeof buf) {
            hid_t mt = H5Tcopy(t);
            if (H5Aread(a, mt, buf) >= 0) ok = strncmp(buf, "bfloat16", 8) == 0 && (buf[8] == 0 || buf[8] == ' ');
            H5Tclose(mt);
        }
    }
    H5Tclose(t);
    H5Aclose(a);
    return ok;
}

static cosmos_status info_of(cosmos_h5_t *h, hid_t d, const char *name, struct cosmos_h5_info *info) {
    memset(info, 0, sizeof *info);
    hid_t sp = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(sp);
    cosmos_status st = COSMOS_OK;
    if (nd < 0 || nd > 4) {
        LOG_ERROR("%s: dataset '%s' has rank %d (at most 4 supported)", h->path, name, nd);
        H5Sclose(sp);
        return COSMOS_ERR_FORMAT;
    }
    hsize_t dims[4] = {0};
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    info->ndim = nd;
    size_t n = 1;
    for (int i = 0; i < nd; i++) {
        info->shape[i] = (int64_t)dims[i];
        n *= (size_t)dims[i];
    }
    hid_t t = H5Dget_type(d);
    H5T_class_t cls = H5Tget_class(t);
    size_t sz = H5Tget_size(t);
    if (cls == H5T_INTEGER && sz == 2 && H5Tget_sign(t) == H5T_SGN_NONE && dset_is_bf16(d))
        info->dtype = COSMOS_BF16;
    else if (cls == H5T_FLOAT && sz == 4)
        info->dtype = COSMOS_F32;
    else if (cls == H5T_INTEGER && (sz == 1 || sz == 4 || sz == 8)) { /* 1: uint8 frames (cosmos_h5_write_u8) */
        info->dtype = COSMOS_I32;
        info->is_int64 = sz == 8;
    } else {
        LOG_ERROR("%s: dataset '%s' has an unsupported element type (class %d, %zu bytes%s); expected bfloat16 "
                  "(uint16 with attribute dtype=\"bfloat16\"), float32 or an integer type",
                  h->path, name, (int)cls, sz,
                  cls == H5T_INTEGER && sz == 2 ? ", uint16 without the dtype=\"bfloat16\" attribute" : "");
        st = COSMOS_ERR_FORMAT;
    }
    info->bytes = n * sz;
    H5Tclose(t);
    return st;
}

static hid_t open_dset(cosmos_h5_t *h, const char *name) {
    if (!cosmos_h5_has_dataset(h, name)) {
        LOG_ERROR("%s: missing dataset '%s'", h->path, name);
        return -1;
    }
    hid_t d = H5Dopen2(h->file, name, H5P_DEFAULT);
    if (d < 0) LOG_ERROR("%s: cannot open dataset '%s'", h->path, name);
    return d;
}

cosmos_status cosmos_h5_info(cosmos_h5_t *h, const char *name, struct cosmos_h5_info *info) {
    hid_t d = open_dset(h, name);
    if (d < 0) return COSMOS_ERR_FORMAT;
    cosmos_status st = info_of(h, d, name, info);
    H5Dclose(d);
    return st;
}

struct list_ctx {
    char **names;
    int n, cap;
    int oom;
};

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *li, void *op) {
    (void)li;
    (void)g;
    struct list_ctx *c = op; /* every root link: a stray group is as unexpected as a stray dataset */
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 64;
        char **nn = realloc(c->names, sizeof(char *) * (size_t)cap);
        if (!nn) {
            c->oom = 1;
            return -1;
        }
        c->names = nn;
        c->cap = cap;
    }
    c->names[c->n] = strdup(name);
    if (!c->names[c->n]) {
        c->oom = 1;
        return -1;
    }
    c->n++;
    return 0;
}

cosmos_status cosmos_h5_list(cosmos_h5_t *h, char ***names, int *n) {
    struct list_ctx c = {0};
    hsize_t idx = 0;
    herr_t e = H5Literate(h->file, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &c);
    if (e < 0 || c.oom) {
        cosmos_h5_free_names(c.names, c.n);
        LOG_ERROR("%s: cannot list datasets", h->path);
        return c.oom ? COSMOS_ERR_NOMEM : COSMOS_ERR_FORMAT;
    }
    *names = c.names;
    *n = c.n;
    return COSMOS_OK;
}

void cosmos_h5_free_names(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static hid_t mem_type_for(enum cosmos_dtype mem, const struct cosmos_h5_info *info, cosmos_h5_t *h,
                          const char *name) {
    if (mem == COSMOS_BF16) {
        if (info->dtype != COSMOS_BF16) {
            LOG_ERROR("%s: dataset '%s' is %s, expected bfloat16", h->path, name, cosmos_dtype_name(info->dtype));
            return -1;
        }
        return H5T_NATIVE_UINT16;
    }
    if (info->dtype == COSMOS_BF16) {
        LOG_ERROR("%s: dataset '%s' is bfloat16, expected %s", h->path, name, cosmos_dtype_name(mem));
        return -1;
    }
    if (mem == COSMOS_F32) return H5T_NATIVE_FLOAT;
    return H5T_NATIVE_INT32;
}

cosmos_status cosmos_h5_read(cosmos_h5_t *h, const char *name, enum cosmos_dtype mem, void *dst) {
    hid_t d = open_dset(h, name);
    if (d < 0) return COSMOS_ERR_FORMAT;
    struct cosmos_h5_info info;
    cosmos_status st = info_of(h, d, name, &info);
    if (st == COSMOS_OK) {
        hid_t mt = mem_type_for(mem, &info, h, name);
        if (mt < 0)
            st = COSMOS_ERR_FORMAT;
        else if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
            LOG_ERROR("%s: reading dataset '%s' failed (truncated file or value out of range?)", h->path, name);
            st = COSMOS_ERR_FORMAT;
        }
    }
    H5Dclose(d);
    return st;
}

cosmos_status cosmos_h5_read_slice(cosmos_h5_t *h, const char *name, int dim, int64_t start, int64_t count,
                                   enum cosmos_dtype mem, void *dst) {
    hid_t d = open_dset(h, name);
    if (d < 0) return COSMOS_ERR_FORMAT;
    struct cosmos_h5_info info;
    cosmos_status st = info_of(h, d, name, &info);
    hid_t fs = -1, ms = -1;
    if (st != COSMOS_OK) goto done;
    if (dim < 0 || dim >= info.ndim || (dim == 1 && info.ndim != 2) || start < 0 || count <= 0 ||
        start + count > info.shape[dim]) {
        LOG_ERROR("%s: slice [%lld, %lld) along dim %d is outside dataset '%s' (rank %d, size %lld along it)",
                  h->path, (long long)start, (long long)(start + count), dim, name, info.ndim,
                  (long long)(dim < info.ndim && dim >= 0 ? info.shape[dim] : 0));
        st = COSMOS_ERR_INVALID_ARG;
        goto done;
    }
    hid_t mt = mem_type_for(mem, &info, h, name);
    if (mt < 0) {
        st = COSMOS_ERR_FORMAT;
        goto done;
    }
    hsize_t off[4] = {0}, cnt[4];
    for (int i = 0; i < info.ndim; i++) cnt[i] = (hsize_t)info.shape[i];
    off[dim] = (hsize_t)start;
    cnt[dim] = (hsize_t)count;
    fs = H5Dget_space(d);
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL);
    ms = H5Screate_simple(info.ndim, cnt, NULL);
    if (H5Dread(d, mt, ms, fs, H5P_DEFAULT, dst) < 0) {
        LOG_ERROR("%s: reading a slice of dataset '%s' failed", h->path, name);
        st = COSMOS_ERR_FORMAT;
    }
done:
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    H5Dclose(d);
    return st;
}

cosmos_status cosmos_h5_map_bf16_rows(cosmos_h5_t *h, const char *name, int64_t r0, int64_t nr,
                                      const cosmos_bf16 **ptr, void **owned) {
    *ptr = NULL;
    *owned = NULL;
    hid_t d = open_dset(h, name);
    if (d < 0) return COSMOS_ERR_FORMAT;
    struct cosmos_h5_info info;
    cosmos_status st = info_of(h, d, name, &info);
    if (st != COSMOS_OK) goto done;
    if (info.dtype != COSMOS_BF16) {
        LOG_ERROR("%s: dataset '%s' is %s, expected bfloat16", h->path, name, cosmos_dtype_name(info.dtype));
        st = COSMOS_ERR_FORMAT;
        goto done;
    }
    if (info.ndim < 1 || r0 < 0 || nr < 0 || r0 + nr > info.shape[0]) {
        LOG_ERROR("%s: rows [%lld, %lld) are outside dataset '%s'", h->path, (long long)r0, (long long)(r0 + nr), name);
        st = COSMOS_ERR_INVALID_ARG;
        goto done;
    }
    const size_t row_bytes = info.shape[0] ? info.bytes / (size_t)info.shape[0] : 0;
    hid_t dcpl = H5Dget_create_plist(d);
    int contiguous = H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Pget_nfilters(dcpl) == 0;
    H5Pclose(dcpl);
    haddr_t off = contiguous ? H5Dget_offset(d) : HADDR_UNDEF;
    if (off != HADDR_UNDEF && info.bytes > 0) {
        if ((off_t)(off + info.bytes) > h->file_size) {
            LOG_ERROR("%s: dataset '%s' ends at byte %llu but the file has %lld bytes: the file is truncated",
                      h->path, name, (unsigned long long)(off + info.bytes), (long long)h->file_size);
            st = COSMOS_ERR_FORMAT;
            goto done;
        }
        if (off % 2 == 0) {
            if (!h->map) {
                int fd = open(h->path, O_RDONLY);
                if (fd >= 0) {
                    void *m = mmap(NULL, (size_t)h->file_size, PROT_READ, MAP_SHARED, fd, 0);
                    close(fd);
                    if (m != MAP_FAILED) {
                        h->map = m;
                        h->map_size = (size_t)h->file_size;
                    }
                }
            }
            if (h->map) {
                *ptr = (const cosmos_bf16 *)(h->map + off + (size_t)r0 * row_bytes);
                goto done;
            }
        }
    }
    {
        void *buf = malloc(nr ? (size_t)nr * row_bytes : 2);
        if (!buf) {
            st = COSMOS_ERR_NOMEM;
            goto done;
        }
        if (nr > 0) {
            H5Dclose(d);
            d = -1;
            st = cosmos_h5_read_slice(h, name, 0, r0, nr, COSMOS_BF16, buf);
            if (st != COSMOS_OK) {
                free(buf);
                goto done;
            }
        }
        *ptr = buf;
        *owned = buf;
    }
done:
    if (d >= 0) H5Dclose(d);
    return st;
}

cosmos_status cosmos_h5_map_bf16(cosmos_h5_t *h, const char *name, const cosmos_bf16 **ptr, void **owned) {
    struct cosmos_h5_info info;
    cosmos_status st = cosmos_h5_info(h, name, &info);
    if (st != COSMOS_OK) return st;
    return cosmos_h5_map_bf16_rows(h, name, 0, info.ndim >= 1 ? info.shape[0] : 1, ptr, owned);
}

/* One contiguous dataset of file type ft from memory type mt; bf16 adds the dtype attribute. */
static cosmos_status write_dataset(cosmos_h5_t *h, const char *name, hid_t ft, hid_t mt, int bf16, int ndim,
                                   const int64_t *shape, const void *data) {
    hsize_t dims[4];
    for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
    hid_t sp = H5Screate_simple(ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    hid_t d = H5Dcreate2(h->file, name, ft, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cosmos_status st = COSMOS_OK;
    if (d < 0 || H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        LOG_ERROR("%s: cannot write dataset '%s' (disk full?)", h->path, name);
        st = COSMOS_ERR_IO;
    }
    if (st == COSMOS_OK && bf16) st = write_str_attr(d, h->path, "dtype", "bfloat16");
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return st;
}

cosmos_status cosmos_h5_write(cosmos_h5_t *h, const char *name, enum cosmos_dtype dtype, int ndim,
                              const int64_t *shape, const void *data) {
    hid_t ft = dtype == COSMOS_BF16 ? H5T_STD_U16LE : dtype == COSMOS_F32 ? H5T_IEEE_F32LE : H5T_STD_I32LE;
    hid_t mt = dtype == COSMOS_BF16 ? H5T_NATIVE_UINT16 : dtype == COSMOS_F32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT32;
    return write_dataset(h, name, ft, mt, dtype == COSMOS_BF16, ndim, shape, data);
}

cosmos_status cosmos_h5_write_u8(cosmos_h5_t *h, const char *name, int ndim, const int64_t *shape,
                                 const uint8_t *data) {
    return write_dataset(h, name, H5T_STD_U8LE, H5T_NATIVE_UINT8, 0, ndim, shape, data);
}

cosmos_status cosmos_h5_create_f32_2d(cosmos_h5_t *h, const char *name, int64_t rows, int64_t cols) {
    hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_CONTIGUOUS);
    hid_t d = H5Dcreate2(h->file, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    if (d < 0) {
        LOG_ERROR("%s: cannot create dataset '%s' [%lld, %lld]", h->path, name, (long long)rows, (long long)cols);
        return COSMOS_ERR_IO;
    }
    H5Dclose(d);
    return COSMOS_OK;
}

cosmos_status cosmos_h5_write_f32_rows(cosmos_h5_t *h, const char *name, int64_t r0, int64_t nr, const float *data) {
    hid_t d = H5Dopen2(h->file, name, H5P_DEFAULT);
    if (d < 0) {
        LOG_ERROR("%s: no dataset '%s' to write rows into", h->path, name);
        return COSMOS_ERR_IO;
    }
    hid_t fs = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(fs, dims, NULL);
    cosmos_status st = COSMOS_OK;
    if (r0 < 0 || nr <= 0 || (hsize_t)(r0 + nr) > dims[0]) {
        LOG_ERROR("%s: rows [%lld, %lld) are outside dataset '%s'", h->path, (long long)r0, (long long)(r0 + nr), name);
        st = COSMOS_ERR_INVALID_ARG;
    } else {
        hsize_t off[2] = {(hsize_t)r0, 0}, cnt[2] = {(hsize_t)nr, dims[1]};
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, off, NULL, cnt, NULL);
        hid_t ms = H5Screate_simple(2, cnt, NULL);
        if (H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, data) < 0) {
            LOG_ERROR("%s: writing rows of dataset '%s' failed (disk full?)", h->path, name);
            st = COSMOS_ERR_IO;
        }
        H5Sclose(ms);
    }
    H5Sclose(fs);
    H5Dclose(d);
    return st;
}

cosmos_status cosmos_h5_write_model_header(cosmos_h5_t *h, const char *model_type, const char *config_json) {
    cosmos_status st = cosmos_h5_write_attr_string(h, "cosmos_format", COSMOS_WEIGHTS_FORMAT);
    if (st == COSMOS_OK) st = cosmos_h5_write_attr_int(h, "format_version", COSMOS_WEIGHTS_FORMAT_VERSION);
    if (st == COSMOS_OK) st = cosmos_h5_write_attr_string(h, "model_type", model_type);
    if (st == COSMOS_OK) st = cosmos_h5_write_attr_string(h, "config", config_json);
    return st;
}

cosmos_status cosmos_h5_check_model_header(cosmos_h5_t *h, const char *model_type, const char *hint,
                                           char **config_json) {
    cosmos_status st = COSMOS_OK;
    char *fmt = NULL, *kind = NULL;
    *config_json = NULL;
    CHECK_ARG(cosmos_h5_has_attr(h, "cosmos_format"), COSMOS_ERR_FORMAT,
              "%s: not a cosmos-ar weight file (no 'cosmos_format' attribute; hint: convert official checkpoints "
              "with tools/convert_checkpoint.py, see docs/weights.md)",
              h->path);
    CHECK(cosmos_h5_attr_string(h, "cosmos_format", &fmt));
    CHECK_ARG(strcmp(fmt, COSMOS_WEIGHTS_FORMAT) == 0, COSMOS_ERR_FORMAT, "%s: cosmos_format is '%s', expected '%s'",
              h->path, fmt, COSMOS_WEIGHTS_FORMAT);
    int64_t version = 0;
    CHECK(cosmos_h5_attr_int(h, "format_version", &version));
    CHECK_ARG(version == COSMOS_WEIGHTS_FORMAT_VERSION, COSMOS_ERR_FORMAT,
              "%s: format_version %lld, this build reads version %d (hint: reconvert the checkpoint or update "
              "cosmos-ar)",
              h->path, (long long)version, COSMOS_WEIGHTS_FORMAT_VERSION);
    CHECK(cosmos_h5_attr_string(h, "model_type", &kind));
    CHECK_ARG(strcmp(kind, model_type) == 0, COSMOS_ERR_FORMAT, "%s: model_type is '%s', expected '%s' (hint: %s)",
              h->path, kind, model_type, hint);
    CHECK(cosmos_h5_attr_string(h, "config", config_json));
fail:
    free(fmt);
    free(kind);
    return st;
}

void cosmos_h5_shape_str(char *dst, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(dst, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(dst + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n) snprintf(dst + k, n - k, "]");
}

cosmos_status cosmos_h5_expect_shape(cosmos_h5_t *h, const char *kind, const char *name, int ndim,
                                     const int64_t *shape, const char *missing_hint, const char *shape_hint,
                                     struct cosmos_h5_info *info) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_h5_info own;
    char want[64], got[96];
    if (!info) info = &own;
    cosmos_h5_shape_str(want, sizeof want, ndim, shape);
    CHECK_ARG(cosmos_h5_has_dataset(h, name), COSMOS_ERR_FORMAT, "%s: missing %s '%s' (expected shape %s)%s", h->path,
              kind, name, want, missing_hint);
    CHECK(cosmos_h5_info(h, name, info));
    int same = info->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = info->shape[d] == shape[d];
    cosmos_h5_shape_str(got, sizeof got, info->ndim, info->shape);
    CHECK_ARG(same, COSMOS_ERR_FORMAT, "%s: %s '%s' has shape %s, expected %s%s", h->path, kind, name, got, want,
              shape_hint);
fail:
    return st;
}

void cosmos_tmp_path(const char *path, char *tmp, size_t n) { snprintf(tmp, n, "%s.tmp.%d", path, (int)getpid()); }

cosmos_status cosmos_commit_tmp(const char *tmp, const char *path) {
    if (rename(tmp, path) != 0) {
        LOG_ERROR("cannot rename '%s' to '%s'", tmp, path);
        unlink(tmp);
        return COSMOS_ERR_IO;
    }
    return COSMOS_OK;
}
