/* The CUDA emulator's cub::BlockReduce (tests/cuda_emu/emu.h): Sum and Reduce over the whole block,
 * folded in thread order by thread 0. As in cub, only thread 0's return value is defined: the other
 * threads get a poisoned value (all bits set), so a kernel that reads it elsewhere fails its test. */
#ifndef COSMOS_EMU_CUB_BLOCK_REDUCE
#define COSMOS_EMU_CUB_BLOCK_REDUCE
#include <string.h>

#include "tests/cuda_emu/emu.h"

namespace cub {
template <typename T, int BLOCK_THREADS>
class BlockReduce {
  public:
    struct TempStorage {
        T v[BLOCK_THREADS];
    };
    explicit BlockReduce(TempStorage &t) : tmp(t) {}
    T Sum(T x) {
        return Reduce(x, [](const T &a, const T &b) { return a + b; });
    }
    template <typename Op>
    T Reduce(T x, Op op) {
        const unsigned me = ::cosmos_emu::g_cur->lin;
        const unsigned n = ::cosmos_emu::g_block_dim.x * ::cosmos_emu::g_block_dim.y * ::cosmos_emu::g_block_dim.z;
        if (n != BLOCK_THREADS) ::cosmos_emu::kernel_fault("cub::BlockReduce: block size differs from BLOCK_THREADS");
        tmp.v[me] = x;
        ::cosmos_emu::block_barrier();
        T r;
        if (me == 0) {
            r = tmp.v[0];
            for (unsigned i = 1; i < n; i++) r = op(r, tmp.v[i]);
        } else {
            memset((void *)&r, 0xff, sizeof r);
        }
        return r;
    }

  private:
    TempStorage &tmp;
};
} // namespace cub
#endif
