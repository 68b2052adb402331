/* Asynchronous global -> shared copies (PTX cp.async, sm_80 and later) for the kernels of
 * kernels/cuda: cp_async16 starts a 16-byte copy (both addresses 16-byte aligned), cp_async_commit
 * closes this thread's current group of copies, cp_async_wait<N>() waits until at most the N most
 * recent groups of this thread are still in flight. A copy's destination may be read only after
 * the wait that covers it and, by other threads, a barrier after that. The CUDA emulator
 * (tests/cuda_emu/emu_device.h) lands a copy only at that wait, so a missing wait fails there too;
 * the caller checks the device's compute capability (>= 8.0) before launching such a kernel. */
#ifndef COSMOS_CUDA_CP_ASYNC_CUH
#define COSMOS_CUDA_CP_ASYNC_CUH

#ifdef COSMOS_CUDA_EMU
static inline void cp_async16(void *smem, const void *gmem) { ::cosmos_emu::cp_async(smem, gmem, 16); }
static inline void cp_async_commit() { ::cosmos_emu::cp_async_commit(); }
template <int N>
static inline void cp_async_wait() {
    ::cosmos_emu::cp_async_wait(N);
}
#else
static __device__ __forceinline__ void cp_async16(void *smem, const void *gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
#else
    (void)smem, (void)gmem;
    __trap();
#endif
}
static __device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
static __device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}
#endif

#endif
