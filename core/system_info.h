/* What this build contains and the machine it runs on, for bug reports (`cosmos-ar env`) and the
 * benchmarks' provenance: one JSON object,
 *   engine:      version, git_sha, build_type, compiler, cuda_built, mpi_built
 *   host:        hostname, os, cpu, online_cpus, memory_bytes, omp_max_threads
 *   libraries:   openblas, hdf5, ffmpeg, jansson, mpi, nccl, cublaslt (version strings, cuBLASLt's with
 *                the file it was opened from; "none: ..." when absent)
 *   cuda:        runtime_version, driver_version, devices [{index, name, memory_bytes,
 *                compute_capability}], note (why there are none)
 *   environment: the variables that change what the engine does, where set (threads, devices,
 *                COSMOS_*, the launcher's rank and size)
 * Reading it initialises nothing (no MPI_Init, no CUDA context beyond the device query). */
#ifndef COSMOS_SYSTEM_INFO_H
#define COSMOS_SYSTEM_INFO_H

#include <jansson.h>
#include <stddef.h>

json_t *cosmos_system_info(void); /* caller owns the reference; NULL when out of memory */
/* The short commit of the source tree at build time, "-dirty" appended when tracked files differed
 * from it, "unknown" outside a git checkout (core/git_sha.c). */
const char *cosmos_git_sha(void);

#endif
