/* Build and machine facts (see system_info.h). */
#define _POSIX_C_SOURCE 200809L
#include "core/system_info.h"

#include <cblas.h>
#include <hdf5.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/process.h"
#include "cosmos_build_config.h"
#include "parallel/comm.h"
#include "parallel/comm_nccl.h"

static json_t *engine(void) {
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "version", COSMOS_VERSION, "git_sha", cosmos_git_sha(),
                     "build_type", COSMOS_BUILD_TYPE, "compiler", COSMOS_C_COMPILER, "cuda_built", COSMOS_HAVE_CUDA,
                     "mpi_built", COSMOS_HAVE_MPI);
}

static json_t *host(void) {
    char name[256] = "?", cpu[256], os[400] = "unknown";
    gethostname(name, sizeof name - 1);
    cosmos_cpu_model(cpu, sizeof cpu);
    struct utsname u;
    if (uname(&u) == 0) snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return json_pack("{s:s, s:s, s:s, s:i, s:I, s:i}", "hostname", name, "os", os, "cpu", cpu, "online_cpus",
                     (int)sysconf(_SC_NPROCESSORS_ONLN), "memory_bytes",
                     (json_int_t)(pages > 0 && page > 0 ? (long long)pages * page : 0), "omp_max_threads",
                     omp_get_max_threads());
}

static json_t *libraries(void) {
    char hdf5[32], ffmpeg[128], mpi[512], nccl[32], cublaslt[800];
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(hdf5, sizeof hdf5, "%u.%u.%u", maj, min, rel);
    const unsigned av = avcodec_version();
    snprintf(ffmpeg, sizeof ffmpeg, "%s (libavcodec %u.%u.%u)", av_version_info(), av >> 16, (av >> 8) & 255,
             av & 255);
    cosmos_comm_mpi_library(mpi, sizeof mpi);
    const int nv = cosmos_comm_nccl_version();
    if (nv > 0)
        snprintf(nccl, sizeof nccl, "%d.%d.%d", nv / 10000, nv / 100 % 100, nv % 100);
    else
        snprintf(nccl, sizeof nccl, "none");
    cosmos_backend_cuda_blas(cublaslt, sizeof cublaslt);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "openblas", openblas_get_config(), "hdf5", hdf5,
                     "ffmpeg", ffmpeg, "jansson", JANSSON_VERSION, "mpi", mpi, "nccl", nccl, "cublaslt", cublaslt);
}

static json_t *cuda(void) {
    enum { MAX_DEV = 64 };
    struct cosmos_gpu_info dev[MAX_DEV];
    int n = 0, rt = 0, drv = 0;
    char why[256] = "";
    const cosmos_status st = cosmos_backend_cuda_devices(dev, MAX_DEV, &n, &rt, &drv, why, sizeof why);
    json_t *devices = json_array();
    for (int i = 0; st == COSMOS_OK && i < n && i < MAX_DEV; i++) {
        char cc[16];
        snprintf(cc, sizeof cc, "%d.%d", dev[i].cc_major, dev[i].cc_minor);
        json_array_append_new(devices, json_pack("{s:i, s:s, s:I, s:s}", "index", i, "name", dev[i].name,
                                                 "memory_bytes", (json_int_t)dev[i].memory_bytes,
                                                 "compute_capability", cc));
    }
    json_t *o = json_pack("{s:i, s:i, s:o}", "runtime_version", rt, "driver_version", drv, "devices", devices);
    if (o && st != COSMOS_OK) json_object_set_new(o, "note", json_string(why));
    return o;
}

static json_t *environment(void) {
    static const char *const vars[] = {
        "OMP_NUM_THREADS", "OMP_PROC_BIND", "OPENBLAS_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "COSMOS_COMM_TIMEOUT",
        "COSMOS_CUDA_GRAPHS", "COSMOS_CUDA_TF32", "COSMOS_CUDA_ATTENTION", "COSMOS_CUDA_GEMV", "COSMOS_CUBLASLT",
        "COSMOS_TEST_FAIL_RANK", "COSMOS_TEST_HANG_RANK", "SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_CPUS_PER_TASK",
        "SLURM_PROCID", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"};
    json_t *o = json_object();
    for (size_t i = 0; o && i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v) json_object_set_new(o, vars[i], json_string(v));
    }
    return o;
}

json_t *cosmos_system_info(void) {
    json_t *e = engine(), *h = host(), *l = libraries(), *c = cuda(), *v = environment();
    if (!e || !h || !l || !c || !v) {
        json_decref(e), json_decref(h), json_decref(l), json_decref(c), json_decref(v);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:o}", "engine", e, "host", h, "libraries", l, "cuda", c,
                     "environment", v);
}
