/* Shared pieces of the GPU parity suites (see cuda_test_util.h). */
#include "cuda_test_util.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "core/dtype.h"

void cuda_test_open_backends(cosmos_backend_t **cpu, cosmos_backend_t **gpu) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) cr_skip_test("no CUDA device: cudaGetDeviceCount: %s", cudaGetErrorString(err));
    if (n == 0) cr_skip_test("no CUDA device: cudaGetDeviceCount returned 0");
    cr_assert_eq(cosmos_backend_create("cpu", NULL, cpu), COSMOS_OK);
    cr_assert_eq(cosmos_backend_create("cuda:0", NULL, gpu), COSMOS_OK);
    cr_assert_eq(cosmos_backend_act_dtype(*gpu), COSMOS_BF16);
}

int cuda_test_emulated(void) {
    struct cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    static const char emu[] = "cosmos-ar CUDA emulator"; /* the name tests/cuda_emu gives its device */
    return strncmp(p.name, emu, sizeof emu - 1) == 0;
}

void cuda_test_close_backends(cosmos_backend_t **cpu, cosmos_backend_t **gpu) {
    cosmos_backend_free(*gpu);
    cosmos_backend_free(*cpu);
    *gpu = *cpu = NULL;
}

float *cuda_test_download(cosmos_backend_t *be, const void *d, int64_t n, enum cosmos_dtype dt) {
    float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
    cr_assert(h);
    cr_assert_eq(cosmos_backend_sync(be), COSMOS_OK);
    if (dt == COSMOS_BF16) {
        cosmos_bf16 *b = malloc(sizeof(cosmos_bf16) * (size_t)(n ? n : 1));
        cr_assert(b);
        cr_assert_eq(cosmos_backend_download(be, b, d, sizeof(cosmos_bf16) * (size_t)n), COSMOS_OK);
        cosmos_bf16_to_f32_n(h, b, (size_t)n);
        free(b);
    } else {
        cr_assert_eq(cosmos_backend_download(be, h, d, sizeof(float) * (size_t)n), COSMOS_OK);
    }
    return h;
}

float *cuda_test_upload_f32(cosmos_backend_t *be, const float *host, int64_t n) {
    float *d = NULL;
    cr_assert_eq(cosmos_backend_alloc(be, sizeof(float) * (size_t)(n ? n : 1), (void **)&d), COSMOS_OK);
    cr_assert_eq(cosmos_backend_upload(be, d, host, sizeof(float) * (size_t)n), COSMOS_OK);
    return d;
}

void cuda_test_compare(const char *what, const float *got, const float *want, int64_t n, double atol, double rtol) {
    double max_abs = 0, max_rel = 0;
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (got[i] == want[i]) continue; /* equal infinities too (inf - inf is NaN) */
        const double d = fabs((double)got[i] - want[i]), r = d / (fabs(want[i]) + 1e-30);
        if (d > max_abs) max_abs = d;
        if (r > max_rel && fabs(want[i]) > atol) max_rel = r;
        if (!(d <= atol + rtol * fabs(want[i])) && bad++ < 5)
            cr_log_error("%s: index %lld: cuda %.7g cpu %.7g", what, (long long)i, got[i], want[i]);
    }
    cr_log_info("%s: max abs %.3g, max rel %.3g over %lld values", what, max_abs, max_rel, (long long)n);
    cr_expect_eq(bad, 0, "%s: %lld of %lld values beyond atol %g + rtol %g (max abs %.3g)", what, (long long)bad,
                 (long long)n, atol, rtol, max_abs);
}
