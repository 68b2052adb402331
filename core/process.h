/* Facts about the running process that the engine, its tools and the benchmarks all read: a
 * monotonic clock, the peak resident set size and the CPU model. Kept apart from system_info.c,
 * which links every library's version query (FFmpeg's too): the benchmarks need only these, and
 * the GPU bundle (tools/gpu/bundle.sh) must not pull FFmpeg in. */
#ifndef COSMOS_PROCESS_H
#define COSMOS_PROCESS_H

#include <stddef.h>
#include <stdint.h>

/* Seconds on CLOCK_MONOTONIC (for intervals; the origin is arbitrary). */
double cosmos_now_s(void);
/* Peak resident set size of this process in bytes (getrusage ru_maxrss; 0 when unavailable). */
int64_t cosmos_peak_rss_bytes(void);
/* CPU threads for this process when local_size processes of the job share its node: `requested`
 * when > 0. Otherwise the OpenMP default (OMP_NUM_THREADS, else the CPUs this process may run on)
 * when OMP_NUM_THREADS is set, when the process is alone on the node, or when it is bound to part
 * of the node (mpirun's --bind-to core, srun --cpus-per-task: its mask is its share already).
 * Otherwise every process sees every CPU and they split them: online CPUs / local_size, at least 1
 * (each one starting a thread per CPU made a 4-rank job on 2 cores 20x slower: spinning OpenMP
 * and MPI threads fighting for the cores). */
int cosmos_threads_for_process(int requested, int local_size);
/* The CPU's model name (/proc/cpuinfo), or "unknown". */
void cosmos_cpu_model(char *buf, size_t n);

#endif
