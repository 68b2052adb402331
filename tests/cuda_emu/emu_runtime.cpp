/* The CUDA emulator's runtime (emu.h): the kernel scheduler (blocks in turn, a block's threads as
 * fibers with block and warp barriers) and the part of the CUDA runtime API the CUDA
 * backend and its tests call, on host memory. One emulated device, "cuda:0" (COSMOS_EMU_DEVICES=N:
 * N of them, for N ranks of one host), reported as an sm_90 card with 132 SMs, 227 KiB of opt-in
 * shared memory per block and 16 GiB of memory (COSMOS_EMU_ARCH=sm80: an A100's numbers;
 * COSMOS_EMU_MEMORY_MB: another memory size).
 *
 * Kept from CUDA because the backend's correctness depends on it: launch limits (threads per
 * block, grid sizes, dynamic shared memory over 48 KiB only after cudaFuncSetAttribute); stream
 * capture in thread-local mode, where a synchronising call (cudaMalloc, cudaFree, cudaMemcpy,
 * cudaStreamSynchronize, ...) fails with cudaErrorStreamCaptureUnsupported and invalidates the
 * capture; graph replay of the recorded work; 256-byte aligned allocations; cudaGetLastError
 * returning and clearing a launch error; a kernel fault (a barrier that can never release, a
 * shuffle with an exited lane) sticky for the rest of the process. Not kept: concurrency between
 * streams or with the host (everything runs at once, in order), timing, memory beyond the host's.
 * All API calls hold one process-wide lock; kernels and graph replays run under it. */
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <vector_functions.h>

#include <map>
#include <mutex>
#include <vector>

#include "tests/cuda_emu/emu.h"

#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

struct CUstream_st {
    bool capturing = false;
    bool invalidated = false;
    cudaGraph_t graph = nullptr;
};
struct CUgraph_st {
    std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
    std::vector<std::function<void()>> ops;
};
struct CUevent_st {
    int unused = 0;
};

namespace cosmos_emu {

thread_state *g_cur;
uint3 g_block_idx;
uint64_t g_block_serial;
dim3 g_block_dim, g_grid_dim;

namespace {

std::recursive_mutex g_lock;
#define EMU_LOCK std::lock_guard<std::recursive_mutex> guard_(g_lock)

const size_t kSmemDefault = 48 * 1024;

/* Device memory: 16 GiB, or COSMOS_EMU_MEMORY_MB (to see how the engine meets a full card). */
size_t total_mem() {
    static size_t t = 0;
    if (!t) {
        const char *e = getenv("COSMOS_EMU_MEMORY_MB");
        const long long mb = e ? atoll(e) : 0;
        t = mb > 0 ? (size_t)mb << 20 : (size_t)16 << 30;
    }
    return t;
}

/* The card the emulator reports: an H100 (sm_90) by default, an A100 (sm_80: 108 SMs, 163 KiB of
 * opt-in shared memory per block, 164 KiB per SM) with COSMOS_EMU_ARCH=sm80, so the launch plans
 * that depend on the card (attention splits, shared-memory limits) are exercised for both. */
struct card {
    int major, minor, sms;
    size_t smem_optin, smem_per_sm;
};
const card &the_card() {
    static const card h100 = {9, 0, 132, 227 * 1024, 228 * 1024}, a100 = {8, 0, 108, 163 * 1024, 164 * 1024};
    static const card *c = nullptr;
    if (!c) {
        const char *e = getenv("COSMOS_EMU_ARCH");
        c = e && strcmp(e, "sm80") == 0 ? &a100 : &h100;
    }
    return *c;
}
const size_t kStack = 64 * 1024, kGuard = 4096; /* a fiber's stack, under a page that faults */
const int kMaxThreads = 1024;

thread_local cudaError_t t_last = cudaSuccess; /* cudaGetLastError */
cudaError_t g_sticky = cudaSuccess;            /* a kernel fault: every later call fails */
thread_local CUstream_st *t_capture = nullptr; /* this thread's open capture */
thread_local int t_device = 0; /* cudaSetDevice is per host thread */

/* COSMOS_EMU_DEVICES=N (1..16, default 1): how many devices the emulator reports, so that several
 * MPI ranks of one host can each open cuda:<local rank>; they all compute on the host. */
int n_devices() {
    static int n = 0;
    if (!n) {
        const char *e = getenv("COSMOS_EMU_DEVICES");
        const int v = e ? atoi(e) : 1;
        n = v >= 1 && v <= 16 ? v : 1;
    }
    return n;
}
bool bad_device(int d) { return d < 0 || d >= n_devices(); }
size_t g_allocated = 0;
std::map<void *, size_t> g_allocs;      /* device allocations */
std::map<const void *, int> g_max_dyn; /* cudaFuncAttributeMaxDynamicSharedMemorySize per kernel */
CUstream_st g_default_stream;

cudaError_t ret(cudaError_t e) {
    if (e != cudaSuccess) t_last = e;
    return e;
}
#define EMU_STICKY                                      \
    do {                                                \
        if (g_sticky != cudaSuccess) return ret(g_sticky); \
    } while (0)

CUstream_st *stream_of(cudaStream_t s) { return s ? s : &g_default_stream; }

/* A call that cannot be captured, made while `s` captures: refused, the capture invalidated. `s` is
 * this thread's capture (t_capture) for a synchronising call (cudaMalloc, cudaStreamSynchronize,
 * ...), the call's own stream for a stream-ordered one the emulator does not record
 * (cudaMallocAsync, cudaFreeAsync: graph memory nodes, which the backend does not use). */
bool capture_refuses(CUstream_st *s, const char *call) {
    if (!s || !s->capturing) return false;
    fprintf(stderr, "cuda-emu: %s during a stream capture (not capturable here): capture invalidated\n", call);
    s->invalidated = true;
    return true;
}
/* The start of such a call: fails after a kernel fault, and inside a capture (capture_refuses). */
#define EMU_NOT_IN_CAPTURE(s, call)                                                           \
    do {                                                                                      \
        EMU_STICKY;                                                                           \
        if (capture_refuses((s), (call))) return ret(cudaErrorStreamCaptureUnsupported);     \
    } while (0)

/* ---- fibers ----
 * A context switch saves the callee-saved registers on the stack it leaves and the stack pointer in
 * *from, and resumes the stack `to`. On x86-64 that is a few instructions (ucontext's swapcontext
 * makes a signal-mask system call at every switch, which made the emulator 3x slower; the FPU and
 * SSE control words are not switched: no kernel changes them); elsewhere ucontext. */
#if defined(__x86_64__)
extern "C" void cosmos_emu_switch(void **from, void *to);
asm(".text\n"
    ".p2align 4\n"
    ".type cosmos_emu_switch,@function\n"
    "cosmos_emu_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size cosmos_emu_switch, .-cosmos_emu_switch\n");
struct context {
    void *sp;
};
/* a fresh stack that "returns" into entry with the stack aligned as after a call */
void ctx_make(context *c, void *stack, size_t size, void (*entry)()) {
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    uint64_t *p = (uint64_t *)top;
    *--p = 0;                  /* entry's return address: it never returns */
    *--p = (uint64_t)entry;    /* popped by ret */
    for (int i = 0; i < 6; i++) *--p = 0; /* rbp rbx r12-r15 */
    c->sp = p;
}
inline void ctx_switch(context *from, context *to) { cosmos_emu_switch(&from->sp, to->sp); }
#else
struct context {
    ucontext_t uc;
};
void ctx_make(context *c, void *stack, size_t size, void (*entry)()) {
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stack;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = nullptr;
    makecontext(&c->uc, entry, 0);
}
inline void ctx_switch(context *from, context *to) { swapcontext(&from->uc, &to->uc); }
#endif

enum fiber_state { RUN, WAIT_BLOCK, WAIT_WARP, DONE };
struct fiber {
    thread_state ts;
    context ctx;
    fiber_state state;
    void *stack; /* while started and not done */
};
std::vector<void *> g_free_stacks; /* stacks of finished fibers, reused last-in first-out */
std::vector<fiber> g_fibers(kMaxThreads);
std::vector<uint64_t> g_slots(kMaxThreads);
context g_sched;
const std::function<void()> *g_body;
std::vector<unsigned char> g_dyn_smem;
bool g_fault;
const char *g_kernel_name = "";
#ifdef EMU_ASAN
void *g_fake_stack;
const void *g_sched_stack_bottom;
size_t g_sched_stack_size;
#endif

fiber *cur_fiber() { return reinterpret_cast<fiber *>(g_cur); }

/* to the scheduler from a fiber, and back */
void yield_to_sched(fiber_state s) {
    fiber *f = cur_fiber();
    f->state = s;
#ifdef EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(s == DONE ? nullptr : &fake, g_sched_stack_bottom, g_sched_stack_size);
    ctx_switch(&f->ctx, &g_sched);
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
    ctx_switch(&f->ctx, &g_sched);
#endif
}

void fiber_entry() {
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &g_sched_stack_bottom, &g_sched_stack_size);
#endif
    (*g_body)();
    yield_to_sched(DONE);
}

void run_fiber(fiber *f) {
    g_cur = &f->ts;
#ifdef EMU_ASAN
    __sanitizer_start_switch_fiber(&g_fake_stack, f->stack, kStack);
    ctx_switch(&g_sched, &f->ctx);
    __sanitizer_finish_switch_fiber(g_fake_stack, nullptr, nullptr);
#else
    ctx_switch(&g_sched, &f->ctx);
#endif
    g_cur = nullptr;
}

void fault(const char *what) {
    if (!g_fault)
        fprintf(stderr, "cuda-emu: kernel %s, block (%u,%u,%u): %s\n", g_kernel_name, g_block_idx.x, g_block_idx.y,
                g_block_idx.z, what);
    g_fault = true;
}

/* One block: every thread to its end, through the barriers. false: it can never finish. */
/* A fiber gets a stack when it first runs and gives it back when it finishes, so the threads of a
 * kernel without barriers all run on one stack that stays in cache. */
bool start_fiber(fiber *f) {
    if (g_free_stacks.empty()) { /* an overflow hits the guard page, not another fiber's stack */
        void *m = mmap(nullptr, kGuard + kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (m == MAP_FAILED || mprotect(m, kGuard, PROT_NONE) != 0) {
            fault("no memory for the fiber stacks");
            return false;
        }
        g_free_stacks.push_back((char *)m + kGuard);
    }
    f->stack = g_free_stacks.back();
    g_free_stacks.pop_back();
    ctx_make(&f->ctx, f->stack, kStack, fiber_entry);
    return true;
}
void release_stacks(unsigned n) {
    for (unsigned i = 0; i < n; i++)
        if (g_fibers[i].stack) {
            g_free_stacks.push_back(g_fibers[i].stack);
            g_fibers[i].stack = nullptr;
        }
}

/* Threads run in ascending order in even blocks and descending order in odd ones: a read of another
 * thread's write that lacks a barrier sees the stale value in one order or the other, so an
 * order-dependent kernel gives wrong results whichever way its threads are numbered. */
bool run_block(unsigned n, bool descending) {
    const unsigned bx = g_block_dim.x, by = g_block_dim.y;
    g_block_serial++;
    for (unsigned i = 0; i < n; i++) {
        fiber &f = g_fibers[i];
        f.ts.lin = i;
        f.ts.tid = make_uint3(i % bx, i / bx % by, i / (bx * by));
        f.state = RUN;
        f.stack = nullptr;
        g_slots[i] = 0;
    }
    for (;;) {
        for (unsigned k = 0; k < n; k++) {
            fiber *f = &g_fibers[descending ? n - 1 - k : k];
            if (f->state != RUN) continue;
            if (!f->stack && !start_fiber(f)) break;
            run_fiber(f);
            if (f->state == DONE) {
                g_free_stacks.push_back(f->stack);
                f->stack = nullptr;
            }
        }
        if (g_fault) {
            release_stacks(n); /* the fibers left behind are never resumed */
            return false;
        }
        unsigned done = 0, at_block = 0;
        bool released = false;
        for (unsigned i = 0; i < n; i++) done += g_fibers[i].state == DONE, at_block += g_fibers[i].state == WAIT_BLOCK;
        if (done == n) return true;
        for (unsigned w = 0; w < n; w += 32) { /* warps whose live lanes all wait at a warp barrier */
            const unsigned end = w + 32 < n ? w + 32 : n;
            unsigned waiting = 0, live = 0;
            for (unsigned i = w; i < end; i++) {
                live += g_fibers[i].state != DONE;
                waiting += g_fibers[i].state == WAIT_WARP;
            }
            if (live && waiting == live) {
                for (unsigned i = w; i < end; i++)
                    if (g_fibers[i].state == WAIT_WARP) g_fibers[i].state = RUN;
                released = true;
            }
        }
        if (!released && at_block + done == n) {
            for (unsigned i = 0; i < n; i++)
                if (g_fibers[i].state == WAIT_BLOCK) g_fibers[i].state = RUN;
            released = true;
        }
        if (!released) {
            char why[160];
            snprintf(why, sizeof why,
                     "barriers that cannot release (%u threads at __syncthreads, %u at a warp barrier, %u exited): "
                     "divergent barrier", at_block, n - at_block - done, done);
            fault(why);
            release_stacks(n);
            return false;
        }
    }
}

void run_launch(const char *name, dim3 grid, dim3 block, size_t smem, const std::function<void()> &body) {
    EMU_LOCK;
    if (g_sticky != cudaSuccess) return;
    const unsigned n = block.x * block.y * block.z;
    g_kernel_name = name;
    g_fault = false;
    g_body = &body;
    g_block_dim = block;
    g_grid_dim = grid;
    g_dyn_smem.assign(smem + 16, 0xff); /* uninitialised shared memory reads as NaN / -1 */
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                g_block_idx = make_uint3(x, y, z);
                if (!run_block(n, ((x + y + z) & 1) != 0)) {
                    g_sticky = cudaErrorLaunchFailure;
                    return;
                }
            }
}

} // namespace

void block_barrier() { yield_to_sched(WAIT_BLOCK); }
void warp_barrier() { yield_to_sched(WAIT_WARP); }
uint64_t *exchange_slots() { return g_slots.data(); }
int lane_exited(unsigned lin) { return g_fibers[lin].state == DONE; }
void *dynamic_smem() {
    uintptr_t p = (uintptr_t)g_dyn_smem.data();
    return (void *)((p + 15) & ~(uintptr_t)15);
}
void kernel_fault(const char *what) { fault(what); }

void launch(const char *name, const void *fn, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            std::function<void()> body) {
    EMU_LOCK;
    if (g_sticky != cudaSuccess) {
        t_last = g_sticky;
        return;
    }
    const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (threads == 0 || threads > (unsigned long long)kMaxThreads || block.z > 64 || grid.x == 0 || grid.y == 0 ||
        grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
        fprintf(stderr, "cuda-emu: %s: bad launch configuration grid (%u,%u,%u) block (%u,%u,%u)\n", name, grid.x,
                grid.y, grid.z, block.x, block.y, block.z);
        t_last = cudaErrorInvalidConfiguration;
        return;
    }
    size_t limit = kSmemDefault;
    auto it = g_max_dyn.find(fn);
    if (it != g_max_dyn.end()) limit = (size_t)it->second;
    if (smem > limit) {
        fprintf(stderr, "cuda-emu: %s: %zu bytes of dynamic shared memory, over the kernel's limit of %zu\n", name,
                smem, limit);
        t_last = cudaErrorInvalidValue;
        return;
    }
    enqueue(stream, [name, grid, block, smem, body]() { run_launch(name, grid, block, smem, body); });
}

cudaError_t enqueue(cudaStream_t stream, std::function<void()> op) {
    EMU_LOCK;
    EMU_STICKY;
    CUstream_st *s = stream_of(stream);
    if (s->capturing) {
        s->graph->ops.push_back(std::move(op));
        return cudaSuccess;
    }
    op();
    return g_sticky != cudaSuccess ? ret(g_sticky) : cudaSuccess;
}

} // namespace cosmos_emu

using namespace cosmos_emu;

/* The backend opens cuBLASLt by dlopen (kernels/cuda/matmul_cublaslt.c): point it at this library,
 * which holds the emulator's cuBLASLt. Forced, so a real cuBLASLt never meets emulated memory. */
__attribute__((constructor)) static void point_cublaslt_here(void) {
    Dl_info info;
    if (dladdr((void *)&point_cublaslt_here, &info) && info.dli_fname) setenv("COSMOS_CUBLASLT", info.dli_fname, 1);
}

/* ---- the runtime API ---- */
extern "C" {

cudaError_t cudaGetLastError(void) {
    EMU_LOCK;
    const cudaError_t e = t_last != cudaSuccess ? t_last : g_sticky;
    t_last = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) { return t_last != cudaSuccess ? t_last : g_sticky; }

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    default: return "cudaErrorUnknown";
    }
}
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorLaunchFailure: return "unspecified launch failure (cuda-emu: see the kernel fault above)";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorIllegalState: return "the operation is not permitted in the current state";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    default: return "unknown error";
    }
}

cudaError_t cudaRuntimeGetVersion(int *v) {
    *v = CUDART_VERSION;
    return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int *v) {
    *v = CUDART_VERSION;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceCount(int *n) {
    *n = n_devices();
    return cudaSuccess;
}
cudaError_t cudaGetDevice(int *d) {
    *d = t_device;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) {
    EMU_LOCK;
    EMU_STICKY;
    if (bad_device(d)) return ret(cudaErrorInvalidDevice);
    t_device = d;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d) {
    if (bad_device(d)) return ret(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cosmos-ar CUDA emulator (CPU)");
    p->totalGlobalMem = total_mem();
    p->sharedMemPerBlock = kSmemDefault;
    p->sharedMemPerBlockOptin = the_card().smem_optin;
    p->sharedMemPerMultiprocessor = the_card().smem_per_sm;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = kMaxThreads;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff;
    p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->major = the_card().major;
    p->minor = the_card().minor;
    p->multiProcessorCount = the_card().sms;
    p->maxThreadsPerMultiProcessor = 2048;
    p->l2CacheSize = 50 << 20;
    p->memoryBusWidth = 5120;
    p->pciBusID = 0;
    return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int *v, enum cudaDeviceAttr a, int d) {
    if (bad_device(d)) return ret(cudaErrorInvalidDevice);
    switch (a) {
    case cudaDevAttrMultiProcessorCount: *v = the_card().sms; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = (int)the_card().smem_optin; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = (int)kSmemDefault; return cudaSuccess;
    case cudaDevAttrMaxThreadsPerBlock: *v = kMaxThreads; return cudaSuccess;
    case cudaDevAttrWarpSize: *v = 32; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor: *v = the_card().major; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *v = the_card().minor; return cudaSuccess;
    default: return ret(cudaErrorInvalidValue);
    }
}
cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total) {
    EMU_LOCK;
    EMU_STICKY;
    *total = total_mem();
    *free_b = g_allocated < total_mem() ? total_mem() - g_allocated : 0;
    return cudaSuccess;
}
cudaError_t cudaFuncSetAttribute(const void *fn, enum cudaFuncAttribute attr, int value) {
    EMU_LOCK;
    EMU_STICKY;
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || (size_t)value > the_card().smem_optin) return ret(cudaErrorInvalidValue);
        g_max_dyn[fn] = value;
    }
    return cudaSuccess;
}
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *n, const void *fn, int block, size_t smem) {
    (void)fn;
    if (block <= 0 || block > kMaxThreads) return ret(cudaErrorInvalidValue);
    int by_threads = 2048 / block, by_smem = (int)(the_card().smem_per_sm / (smem + 1024));
    *n = by_threads < by_smem ? by_threads : by_smem;
    if (*n > 32) *n = 32;
    return cudaSuccess;
}

/* ---- memory ---- */
static cudaError_t dev_alloc(void **p, size_t bytes) {
    if (bytes > total_mem() - (g_allocated < total_mem() ? g_allocated : total_mem()))
        return ret(cudaErrorMemoryAllocation);
    void *q = nullptr; /* exactly `bytes` (not rounded up), so ASan's redzone starts at the end */
    if (posix_memalign(&q, 256, bytes ? bytes : 1) != 0) return ret(cudaErrorMemoryAllocation);
    memset(q, 0xa5, bytes); /* not zeroed, as on a GPU */
    g_allocs[q] = bytes;
    g_allocated += bytes;
    *p = q;
    return cudaSuccess;
}
static cudaError_t dev_free(void *p) {
    if (!p) return cudaSuccess;
    auto it = g_allocs.find(p);
    if (it == g_allocs.end()) return ret(cudaErrorInvalidValue);
    g_allocated -= it->second;
    g_allocs.erase(it);
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMalloc(void **p, size_t bytes) {
    EMU_LOCK;
    *p = nullptr;
    EMU_NOT_IN_CAPTURE(t_capture, "cudaMalloc");
    return dev_alloc(p, bytes);
}
cudaError_t cudaFree(void *p) {
    EMU_LOCK;
    EMU_NOT_IN_CAPTURE(t_capture, "cudaFree");
    return dev_free(p);
}
cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t s) {
    EMU_LOCK;
    *p = nullptr;
    EMU_NOT_IN_CAPTURE(stream_of(s), "cudaMallocAsync");
    return dev_alloc(p, bytes);
}
cudaError_t cudaFreeAsync(void *p, cudaStream_t s) {
    EMU_LOCK;
    EMU_NOT_IN_CAPTURE(stream_of(s), "cudaFreeAsync");
    return dev_free(p);
}
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int flags) {
    (void)flags;
    EMU_LOCK;
    EMU_NOT_IN_CAPTURE(t_capture, "cudaHostAlloc");
    *p = aligned_alloc(4096, (bytes + 4095) / 4096 * 4096);
    return *p ? cudaSuccess : ret(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void *p) {
    EMU_LOCK;
    EMU_NOT_IN_CAPTURE(t_capture, "cudaFreeHost");
    free(p);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind, cudaStream_t s) {
    (void)kind;
    if (n == 0) return cudaSuccess;
    return enqueue(s, [dst, src, n]() { memmove(dst, src, n); });
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind) {
    (void)kind;
    EMU_LOCK;
    EMU_NOT_IN_CAPTURE(t_capture, "cudaMemcpy");
    if (n) memmove(dst, src, n);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s) {
    if (n == 0) return cudaSuccess;
    return enqueue(s, [p, v, n]() { memset(p, v, n); });
}
cudaError_t cudaMemset(void *p, int v, size_t n) {
    EMU_LOCK;
    EMU_NOT_IN_CAPTURE(t_capture, "cudaMemset");
    if (n) memset(p, v, n);
    return cudaSuccess;
}

/* ---- streams, events, graphs ---- */
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags) {
    (void)flags;
    EMU_LOCK;
    EMU_STICKY;
    *s = new CUstream_st;
    return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    EMU_LOCK;
    if (!s) return ret(cudaErrorInvalidResourceHandle);
    if (s->capturing) return ret(cudaErrorStreamCaptureUnsupported);
    delete s;
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    (void)s;
    EMU_LOCK;
    EMU_NOT_IN_CAPTURE(t_capture, "cudaStreamSynchronize");
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
    EMU_LOCK;
    EMU_NOT_IN_CAPTURE(t_capture, "cudaDeviceSynchronize");
    return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags) {
    (void)flags;
    *e = new CUevent_st;
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    (void)e, (void)s;
    EMU_LOCK;
    EMU_STICKY;
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    (void)e;
    EMU_LOCK;
    EMU_NOT_IN_CAPTURE(t_capture, "cudaEventSynchronize");
    return cudaSuccess;
}
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode) {
    EMU_LOCK;
    EMU_STICKY;
    CUstream_st *s = stream_of(stream);
    if (!stream) return ret(cudaErrorStreamCaptureUnsupported); /* the legacy stream cannot be captured */
    if (s->capturing || t_capture) return ret(cudaErrorIllegalState);
    if (mode != cudaStreamCaptureModeThreadLocal && mode != cudaStreamCaptureModeGlobal)
        return ret(cudaErrorInvalidValue); /* relaxed mode: not emulated */
    s->capturing = true;
    s->invalidated = false;
    s->graph = new CUgraph_st;
    t_capture = s;
    return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *g) {
    EMU_LOCK;
    CUstream_st *s = stream_of(stream);
    *g = nullptr;
    if (!s->capturing) return ret(cudaErrorIllegalState);
    s->capturing = false;
    if (t_capture == s) t_capture = nullptr;
    if (s->invalidated) {
        delete s->graph;
        s->graph = nullptr;
        return ret(cudaErrorStreamCaptureInvalidated);
    }
    *g = s->graph;
    s->graph = nullptr;
    EMU_STICKY;
    return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t g, unsigned long long flags) {
    (void)flags;
    EMU_LOCK;
    EMU_STICKY;
    if (!g) return ret(cudaErrorInvalidValue);
    *exec = new CUgraphExec_st{g->ops};
    return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
    EMU_LOCK;
    EMU_STICKY;
    if (!exec) return ret(cudaErrorInvalidValue);
    for (const auto &op : exec->ops) {
        const cudaError_t e = enqueue(s, op);
        if (e != cudaSuccess) return e;
    }
    return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete g;
    return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    delete e;
    return cudaSuccess;
}

} /* extern "C" */
