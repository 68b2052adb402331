/* cuBLASLt opened on first use (kernels/cuda/matmul_cublaslt.c, docs/cuda.md "cuBLASLt, loaded on
 * first use"): a CUDA build does not map the library at start, opens the toolkit's copy when asked,
 * and refuses a COSMOS_CUBLASLT that names no file or a library that is not cuBLASLt, with the
 * reason. Needs the CUDA toolkit's libraries, no GPU: it runs (never skips) wherever CUDA is built.
 * Criterion runs each test in its own process, so each starts with cuBLASLt unopened. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_ops.h"

static int mapped(const char *needle) {
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[1024];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

Test(cublaslt_loader, not_mapped_until_opened) {
    unsetenv("COSMOS_CUBLASLT");
    cr_expect(!mapped("libcublasLt"), "libcublasLt is mapped before anything asked for it: linked again?");
    cr_expect_eq(cosmos_cublaslt_version(), 0);
    char why[800];
    cr_assert_eq(cosmos_cublaslt_load(why, sizeof why), COSMOS_OK, "%s", why);
    cr_expect(mapped("libcublasLt"));
    char soname[64];
    snprintf(soname, sizeof soname, "libcublasLt.so.%d", CUBLAS_VER_MAJOR);
    cr_expect(strstr(why, soname) != NULL, "opened '%s', expected a %s", why, soname);
    /* a call through the loaded table: the library's own version, of the headers' major */
    cr_expect_eq(cosmos_cublaslt_version() / 10000, (size_t)CUBLAS_VER_MAJOR, "version %zu",
                 cosmos_cublaslt_version());
    cr_expect_geq(cosmos_cublaslt_version(), (size_t)CUBLAS_VER_MAJOR * 10000);
    /* a second call answers from the first */
    char again[800];
    cr_expect_eq(cosmos_cublaslt_load(again, sizeof again), COSMOS_OK);
    cr_expect_str_eq(again, why);
}

Test(cublaslt_loader, override_naming_no_file) {
    setenv("COSMOS_CUBLASLT", "/nonexistent/dir/libcublasLt.so.99", 1);
    char why[800];
    cr_assert_eq(cosmos_cublaslt_load(why, sizeof why), COSMOS_ERR_UNSUPPORTED);
    cr_expect(strstr(why, "cannot open cuBLASLt (COSMOS_CUBLASLT=/nonexistent/dir/libcublasLt.so.99)") != NULL,
              "%s", why);
    cr_expect_eq(cosmos_cublaslt_version(), 0);
    cr_expect(!mapped("libcublasLt"), "the override is the only file tried");
    cosmos_cublaslt_t *lt = (cosmos_cublaslt_t *)1;
    cr_expect_eq(cosmos_cublaslt_create(0, &lt), COSMOS_ERR_UNSUPPORTED, "a backend cannot start without it");
    cr_expect_null(lt);
}

Test(cublaslt_loader, override_naming_another_library) {
    setenv("COSMOS_CUBLASLT", "libm.so.6", 1);
    char why[800];
    cr_assert_eq(cosmos_cublaslt_load(why, sizeof why), COSMOS_ERR_UNSUPPORTED);
    cr_expect(strstr(why, "libm.so.6 is not cuBLASLt: it has no symbol cublasLtGetVersion") != NULL, "%s", why);
    cr_expect_eq(cosmos_cublaslt_version(), 0);
}
