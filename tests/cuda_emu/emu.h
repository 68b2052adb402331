/* The CUDA emulator's interface between its runtime (emu_runtime.cpp) and the kernel sources
 * (emu_device.h, force-included into the .cu files of kernels/cuda compiled as host C++). C++ only.
 *
 * What it emulates, and why (docs/cuda.md "The CUDA emulator"): the CUDA backend's kernels, host
 * glue and tests run on the CPU, so its parity suite runs in CI on machines without a GPU. A kernel
 * launch runs every block in turn on the calling thread; the threads of a block are fibers that
 * run in order of their linear index (ascending in even blocks, descending in odd ones) until they
 * finish or reach a barrier (__syncthreads, a warp shuffle), which releases once every thread of
 * the block (warp) that has not exited is waiting there. Device memory is host memory; streams run their work at once, in
 * order, except while captured into a graph, which records it and runs it at each replay.
 * Layout: a block's threads are numbered x fastest (lin = x + y*bx + z*bx*by), warp = lin / 32. */
#ifndef COSMOS_CUDA_EMU_H
#define COSMOS_CUDA_EMU_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#include <functional>

namespace cosmos_emu {

struct thread_state {
    uint3 tid;    /* threadIdx */
    unsigned lin; /* linear index in the block */
};

extern thread_state *g_cur; /* the fiber now running */
extern uint3 g_block_idx;
extern uint64_t g_block_serial; /* counts the blocks run by this process: per-block state resets on a change */
extern dim3 g_block_dim, g_grid_dim;

void block_barrier();
void warp_barrier();
uint64_t *exchange_slots(); /* one per thread of the block, for shuffles and barrier votes */
int lane_exited(unsigned lin);
void *dynamic_smem();
/* A detected kernel bug (a shuffle reading an exited lane, ...): the launch fails with
 * cudaErrorLaunchFailure, sticky as a device fault is, and the reason goes to stderr. */
void kernel_fault(const char *what);

/* Runs body on every thread of every block of the launch, or records it while `stream` is captured.
 * The configuration is checked as CUDA does (a bad one: cudaGetLastError reports it). */
void launch(const char *name, const void *fn, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            std::function<void()> body);
/* Stream-ordered host work (a copy, a library call): runs now, or is recorded while captured. */
cudaError_t enqueue(cudaStream_t stream, std::function<void()> op);

} // namespace cosmos_emu

#endif
