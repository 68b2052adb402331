/* Facts about the running process that the engine, its tools and the benchmarks all read: a
 * monotonic clock and the peak resident set size. */
#ifndef COSMOS_PROCESS_H
#define COSMOS_PROCESS_H

#include <stdint.h>

/* Seconds on CLOCK_MONOTONIC (for intervals; the origin is arbitrary). */
double cosmos_now_s(void);
/* Peak resident set size of this process in bytes (getrusage ru_maxrss; 0 when unavailable). */
int64_t cosmos_peak_rss_bytes(void);

#endif
