/* CPU matmul with f32 weights: y[M,N] = x[M,K] . w[N,K]^T by one OpenBLAS sgemm (spec
 * components.md 3.4: the T5 encoder's linears when its weights are stored in fp32, as the official
 * pipeline keeps them). */

#include "kernels/cpu/cpu_ops_t5.h"
#include "kernels/cpu/cpu_sgemm.h"

void cosmos_cpu_matmul_f32w(float *y, const float *x, const float *w, int64_t M, int64_t N, int64_t K) {
    cosmos_cpu_sgemm(0, 1, (int)M, (int)N, (int)K, 1.0f, x, (int)K, w, (int)K, 0.0f, y,
                (int)N);
}
