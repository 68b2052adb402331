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
/* The CPU's model name (/proc/cpuinfo), or "unknown". */
void cosmos_cpu_model(char *buf, size_t n);

#endif
