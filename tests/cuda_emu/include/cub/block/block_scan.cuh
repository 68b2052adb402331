/* The CUDA emulator's cub::BlockScan (tests/cuda_emu/emu.h): ExclusiveSum / InclusiveSum over the
 * block in thread order (thread 0's exclusive sum is 0), summed by thread 0 between two barriers. As
 * in cub, the caller syncs before it reuses the storage. */
#ifndef COSMOS_EMU_CUB_BLOCK_SCAN
#define COSMOS_EMU_CUB_BLOCK_SCAN
#include "tests/cuda_emu/emu.h"

namespace cub {
template <typename T, int BLOCK_THREADS>
class BlockScan {
  public:
    struct TempStorage {
        T v[BLOCK_THREADS];
        T sum[BLOCK_THREADS]; /* exclusive prefix sums */
    };
    explicit BlockScan(TempStorage &t) : tmp(t) {}
    void ExclusiveSum(T x, T &out) { scan(x, out, false); }
    void InclusiveSum(T x, T &out) { scan(x, out, true); }

  private:
    void scan(T x, T &out, bool inclusive) {
        const unsigned me = ::cosmos_emu::g_cur->lin;
        const unsigned n = ::cosmos_emu::g_block_dim.x * ::cosmos_emu::g_block_dim.y * ::cosmos_emu::g_block_dim.z;
        if (n != BLOCK_THREADS) ::cosmos_emu::kernel_fault("cub::BlockScan: block size differs from BLOCK_THREADS");
        tmp.v[me] = x;
        ::cosmos_emu::block_barrier();
        if (me == 0) { /* thread 0 sums in thread order */
            T run = T();
            for (unsigned i = 0; i < n; i++) {
                tmp.sum[i] = run;
                run = run + tmp.v[i];
            }
        }
        ::cosmos_emu::block_barrier();
        out = inclusive ? tmp.sum[me] + x : tmp.sum[me];
    }
    TempStorage &tmp;
};
} // namespace cub
#endif
