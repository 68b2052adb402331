/* The CUDA emulator's cub::DeviceRadixSort::SortPairs(Descending) (tests/cuda_emu/emu.h): a stable
 * sort of (key, value) pairs by the key's radix order over bits [begin_bit, end_bit), enqueued on
 * the stream like any other work. A call with d_temp_storage NULL only sizes the temporaries. */
#ifndef COSMOS_EMU_CUB_DEVICE_RADIX_SORT
#define COSMOS_EMU_CUB_DEVICE_RADIX_SORT
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <numeric>
#include <type_traits>
#include <vector>

#include "tests/cuda_emu/emu.h"

namespace cub {
struct DeviceRadixSort {
    /* The unsigned radix key of cub: floats with the sign bit set are flipped whole, others get
     * the sign bit, so the order is -inf .. -0 < +0 .. +inf, NaNs at the ends by their bits. */
    template <typename K>
    static uint64_t radix(K k, int begin_bit, int end_bit) {
        uint64_t u = 0;
        memcpy(&u, &k, sizeof k);
        const int bits = (int)sizeof(K) * 8;
        const uint64_t sign = (uint64_t)1 << (bits - 1), all = bits == 64 ? ~(uint64_t)0 : (((uint64_t)1 << bits) - 1);
        if (std::is_floating_point<K>::value) u = (u & sign) ? (~u & all) : (u | sign);
        else if (std::is_signed<K>::value) u ^= sign;
        const uint64_t mask = (end_bit - begin_bit >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << (end_bit - begin_bit)) - 1));
        return (u >> begin_bit) & mask;
    }
    template <typename K, typename V>
    static cudaError_t sort(void *tmp, size_t &tmp_bytes, const K *kin, K *kout, const V *vin, V *vout, int n,
                            int begin_bit, int end_bit, cudaStream_t stream, bool descending) {
        if (!tmp) {
            tmp_bytes = 256 + sizeof(int) * (size_t)(n > 0 ? n : 0);
            return cudaSuccess;
        }
        if (n <= 0) return cudaSuccess;
        return ::cosmos_emu::enqueue(stream, [=]() {
            std::vector<int> idx((size_t)n);
            std::vector<uint64_t> rk((size_t)n);
            std::iota(idx.begin(), idx.end(), 0);
            for (int i = 0; i < n; i++) rk[(size_t)i] = radix(kin[i], begin_bit, end_bit);
            std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
                return descending ? rk[(size_t)a] > rk[(size_t)b] : rk[(size_t)a] < rk[(size_t)b];
            });
            std::vector<K> ks((size_t)n);
            std::vector<V> vs((size_t)n);
            for (int i = 0; i < n; i++) ks[(size_t)i] = kin[idx[(size_t)i]], vs[(size_t)i] = vin[idx[(size_t)i]];
            std::copy(ks.begin(), ks.end(), kout);
            std::copy(vs.begin(), vs.end(), vout);
        });
    }
    template <typename K, typename V>
    static cudaError_t SortPairs(void *tmp, size_t &tmp_bytes, const K *kin, K *kout, const V *vin, V *vout, int n,
                                 int begin_bit = 0, int end_bit = sizeof(K) * 8, cudaStream_t stream = 0) {
        return sort(tmp, tmp_bytes, kin, kout, vin, vout, n, begin_bit, end_bit, stream, false);
    }
    template <typename K, typename V>
    static cudaError_t SortPairsDescending(void *tmp, size_t &tmp_bytes, const K *kin, K *kout, const V *vin, V *vout,
                                           int n, int begin_bit = 0, int end_bit = sizeof(K) * 8,
                                           cudaStream_t stream = 0) {
        return sort(tmp, tmp_bytes, kin, kout, vin, vout, n, begin_bit, end_bit, stream, true);
    }
};
} // namespace cub
#endif
