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
/* The current UTC time as ISO 8601, "2026-12-07T05:31:00Z" (buf of at least 21 bytes). */
void cosmos_utc_timestamp(char *buf, size_t n);
/* Peak resident set size of this process in bytes (getrusage ru_maxrss; 0 when unavailable). */
int64_t cosmos_peak_rss_bytes(void);
/* The CPUs this process may run on (sched_getaffinity) as a bit mask in mask[n_bytes] (bit c of
 * byte c / 8: CPU c); returns their number, 0 when unknown. */
int cosmos_cpu_affinity(unsigned char *mask, size_t n_bytes);
/* CPU threads for this process when n_sharing processes of the job (itself included) may run on
 * its CPUs: `requested` when > 0; the OpenMP default (OMP_NUM_THREADS, else the CPUs of this
 * process's mask) when OMP_NUM_THREADS is set or no other process shares them; otherwise its CPUs
 * / n_sharing, at least 1, and *split = 1 (else 0). (Each of 4 unbound ranks on 2 cores starting a thread per CPU made a
 * job 20x slower: spinning OpenMP and MPI threads fighting for the cores.) */
int cosmos_threads_for_process(int requested, int n_sharing, int *split);
/* The CPU's model name (/proc/cpuinfo), or "unknown". */
void cosmos_cpu_model(char *buf, size_t n);

#endif
