/* Weight files: the strict loader's errors (missing / extra / misshaped / mistyped tensors,
 * foreign or truncated files), zero-copy mapping, and hyperslab reads of row and column shards. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/model/ar_init.h"
#include "core/model/ar_model.h"
#include "cosmos_build_config.h"
#include "log_capture.h"

static char g_dir[512];
static struct cosmos_ar_config g_cfg;

static void setup(void) {
    const char *tmp = getenv("COSMOS_TEST_TMP");
    snprintf(g_dir, sizeof g_dir, "%s", tmp ? tmp : "/tmp");
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/models/tiny-ar-5b-video2world.json", COSMOS_SOURCE_DIR);
    cr_assert_eq(cosmos_ar_config_load(path, &g_cfg), COSMOS_OK);
}

static void file_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/w_%d_%s", g_dir, (int)getpid(), name); }

static void make_model(const char *path) { cr_assert_eq(cosmos_ar_init_random(&g_cfg, 5, path), COSMOS_OK); }

/* Load and expect failure with a message containing needle. */
static void expect_load_error(const char *path, const char *needle) {
    cosmos_backend_t *be = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    cosmos_ar_model_t *m = NULL;
    log_capture_start();
    cosmos_status st = cosmos_ar_model_load(path, be, NULL, &m);
    log_capture_stop();
    cr_expect_neq(st, COSMOS_OK, "%s loaded although it should not", path);
    cr_expect_null(m);
    cr_expect(strstr(log_captured(), needle) != NULL, "message:\n%s\nlacks '%s'", log_captured(), needle);
    cosmos_backend_free(be);
}

/* Rewrite one dataset of a file with h5 directly. */
static void replace_dataset(const char *path, const char *name, hid_t type, int ndim, const hsize_t *dims,
                            int bf16_attr) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert(f >= 0);
    H5Ldelete(f, name, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(ndim, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert(d >= 0);
    if (bf16_attr) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        hid_t as = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(d, "dtype", t, as, H5P_DEFAULT, H5P_DEFAULT);
        const char *v = "bfloat16";
        H5Awrite(a, t, &v);
        H5Aclose(a);
        H5Sclose(as);
        H5Tclose(t);
    }
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
}

TestSuite(weights, .init = setup);

Test(weights, loads_in_place_from_the_mapping) {
    char p[1024];
    file_path(p, sizeof p, "ok.h5");
    make_model(p);
    cosmos_backend_t *be = NULL;
    cosmos_ar_model_t *m = NULL;
    cr_assert_eq(cosmos_backend_create("cpu", NULL, &be), COSMOS_OK);
    cr_assert_eq(cosmos_ar_model_load(p, be, NULL, &m), COSMOS_OK);
    struct cosmos_ar_memory mem = cosmos_ar_model_memory(m);
    cr_expect_eq(mem.weight_bytes, (size_t)cosmos_ar_config_num_params(&g_cfg) * 2);
    cr_expect_eq(mem.weight_mapped_bytes, mem.weight_bytes, "every tensor is used in place");
    cosmos_ar_model_free(m);
    cosmos_backend_free(be);
    unlink(p);
}

Test(weights, missing_tensor) {
    char p[1024];
    file_path(p, sizeof p, "missing.h5");
    make_model(p);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(f, "layers.1.feed_forward.w3.weight", H5P_DEFAULT);
    H5Fclose(f);
    expect_load_error(p, "missing tensor 'layers.1.feed_forward.w3.weight' (expected shape [128, 128]");
    unlink(p);
}

Test(weights, extra_tensor) {
    char p[1024];
    file_path(p, sizeof p, "extra.h5");
    make_model(p);
    hsize_t dims[1] = {4};
    replace_dataset(p, "layers.7.attention.wq.weight", H5T_STD_U16LE, 1, dims, 1);
    expect_load_error(p, "unexpected tensor 'layers.7.attention.wq.weight'");
    unlink(p);
}

Test(weights, misshaped_tensor) {
    char p[1024];
    file_path(p, sizeof p, "shape.h5");
    make_model(p);
    hsize_t dims[2] = {128, 100};
    replace_dataset(p, "layers.0.attention.wk.weight", H5T_STD_U16LE, 2, dims, 1);
    expect_load_error(p, "tensor 'layers.0.attention.wk.weight' has shape [128, 100], expected [64, 128]");
    unlink(p);
}

Test(weights, mistyped_tensor) {
    char p[1024];
    file_path(p, sizeof p, "type.h5");
    make_model(p);
    hsize_t dims[1] = {128};
    replace_dataset(p, "norm.weight", H5T_IEEE_F32LE, 1, dims, 0);
    expect_load_error(p, "tensor 'norm.weight' is float32, expected bfloat16");
    hsize_t d2[1] = {128};
    replace_dataset(p, "norm.weight", H5T_STD_U16LE, 1, d2, 0);
    expect_load_error(p, "without the dtype=\"bfloat16\" attribute");
    unlink(p);
}

Test(weights, foreign_and_truncated_files) {
    char p[1024], q[1024];
    file_path(p, sizeof p, "notes.txt");
    FILE *f = fopen(p, "w");
    fputs("this is not a weight file\n", f);
    fclose(f);
    expect_load_error(p, "is not an HDF5 file");
    unlink(p);

    file_path(p, sizeof p, "plain.h5");
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_create(p, &h), COSMOS_OK);
    cosmos_h5_close(h);
    expect_load_error(p, "not a cosmos-ar weight file");
    unlink(p);

    expect_load_error("/nonexistent/model.h5", "no such file");

    file_path(p, sizeof p, "full.h5");
    file_path(q, sizeof q, "trunc.h5");
    make_model(p);
    FILE *in = fopen(p, "rb");
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    cr_assert_eq(fread(buf, 1, (size_t)n, in), (size_t)n);
    fclose(in);
    FILE *out = fopen(q, "wb");
    fwrite(buf, 1, (size_t)(n * 2 / 3), out);
    fclose(out);
    free(buf);
    expect_load_error(q, "truncated");
    unlink(p);
    unlink(q);
}

Test(weights, uint8_datasets_read_back_as_int32) {
    char p[1024];
    file_path(p, sizeof p, "u8.h5");
    cosmos_h5_t *h = NULL;
    const uint8_t px[6] = {0, 1, 127, 128, 254, 255};
    const int64_t shape[2] = {2, 3};
    cr_assert_eq(cosmos_h5_create(p, &h), COSMOS_OK);
    cr_assert_eq(cosmos_h5_write_u8(h, "frames", 2, shape, px), COSMOS_OK);
    cosmos_h5_close(h);
    cr_assert_eq(cosmos_h5_open(p, &h), COSMOS_OK);
    struct cosmos_h5_info info;
    cr_assert_eq(cosmos_h5_info(h, "frames", &info), COSMOS_OK);
    cr_expect(info.dtype == COSMOS_I32 && info.ndim == 2 && info.shape[0] == 2 && info.shape[1] == 3 &&
              info.bytes == 6);
    int32_t got[6] = {0};
    cr_assert_eq(cosmos_h5_read(h, "frames", COSMOS_I32, got), COSMOS_OK);
    for (int i = 0; i < 6; i++) cr_expect_eq(got[i], px[i], "element %d: %d", i, got[i]);
    cosmos_h5_close(h);
    unlink(p);
}

Test(weights, wrong_format_version) {
    char p[1024];
    file_path(p, sizeof p, "version.h5");
    make_model(p);
    cosmos_h5_t *h = NULL;
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "format_version");
    H5Fclose(f);
    (void)h;
    expect_load_error(p, "missing attribute 'format_version'");
    unlink(p);
}

Test(weights, hyperslab_rows_and_columns) {
    char p[1024];
    file_path(p, sizeof p, "slice.h5");
    make_model(p);
    cosmos_h5_t *h = NULL;
    cr_assert_eq(cosmos_h5_open(p, &h), COSMOS_OK);
    const char *name = "layers.1.attention.wo.weight"; /* [128, 128] */
    const cosmos_bf16 *all = NULL;
    void *owned = NULL;
    cr_assert_eq(cosmos_h5_map_bf16(h, name, &all, &owned), COSMOS_OK);
    cr_expect_null(owned, "contiguous datasets are mapped, not copied");
    cosmos_bf16 rows[32 * 128], cols[128 * 48];
    cr_assert_eq(cosmos_h5_read_slice(h, name, 0, 64, 32, COSMOS_BF16, rows), COSMOS_OK);
    cr_assert_eq(cosmos_h5_read_slice(h, name, 1, 80, 48, COSMOS_BF16, cols), COSMOS_OK);
    for (int r = 0; r < 32; r++)
        for (int c = 0; c < 128; c++) cr_assert_eq(rows[r * 128 + c], all[(64 + r) * 128 + c]);
    for (int r = 0; r < 128; r++)
        for (int c = 0; c < 48; c++) cr_assert_eq(cols[r * 48 + c], all[r * 128 + 80 + c]);
    log_capture_start();
    cr_expect_neq(cosmos_h5_read_slice(h, name, 1, 100, 48, COSMOS_BF16, cols), COSMOS_OK);
    log_capture_stop();
    cr_expect(strstr(log_captured(), "outside dataset") != NULL);
    cosmos_h5_close(h);
    unlink(p);
}

Test(weights, init_is_deterministic_in_the_seed) {
    char a[1024], b[1024];
    file_path(a, sizeof a, "a.h5");
    file_path(b, sizeof b, "b.h5");
    make_model(a);
    make_model(b);
    cosmos_h5_t *ha = NULL, *hb = NULL;
    cr_assert_eq(cosmos_h5_open(a, &ha), COSMOS_OK);
    cr_assert_eq(cosmos_h5_open(b, &hb), COSMOS_OK);
    const cosmos_bf16 *pa, *pb;
    void *oa, *ob;
    cr_assert_eq(cosmos_h5_map_bf16(ha, "tok_embeddings.weight", &pa, &oa), COSMOS_OK);
    cr_assert_eq(cosmos_h5_map_bf16(hb, "tok_embeddings.weight", &pb, &ob), COSMOS_OK);
    cr_expect_eq(memcmp(pa, pb, sizeof(cosmos_bf16) * 576 * 128), 0);
    cosmos_h5_close(ha);
    cosmos_h5_close(hb);
    unlink(a);
    unlink(b);
}
