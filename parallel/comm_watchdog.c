/* Communication watchdog (spec performance-and-peers.md 4.2 and 5.5: a per-collective timeout that
 * turns a hang into an exit the launcher sees; PyTorch's ProcessGroupNCCL watchdog is the model).
 *
 * State, one per process: the blocking communicator operation in progress on the calling thread
 * (the engine communicates from its main thread only: MPI_THREAD_FUNNELED), as
 *   { op name, peer, tag, bytes, communicator kind / rank / size, start time (CLOCK_MONOTONIC) },
 * behind a mutex, plus a nesting depth (an implementation may use the interface inside an
 * operation; only the outermost one counts). parallel/comm.c brackets every blocking operation with
 * cosmos_comm_wd_enter / cosmos_comm_wd_leave.
 *
 * With a timeout T > 0 (cosmos_comm_set_timeout), a detached thread wakes every min(1 s, T / 4)
 * and, when one operation has been in progress for more than T seconds, logs what it was waiting
 * for and ends the process with _exit(1). The launcher then ends the job: mpirun ends every rank
 * when one exits non-zero, and slurm/env.sh starts srun with --kill-on-bad-exit=1. A rank that is
 * itself stuck (in a kernel, a file system) is ended that way by the peers that wait for it.
 * MPI_Abort is not called: with MPI_THREAD_FUNNELED only the main thread may call MPI, and the main
 * thread is the one that is stuck. With T = 0 (the default) nothing is timed and no thread runs. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "core/process.h"
#include "core/log.h"
#include "parallel/comm_impl.h"

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static double wd_timeout;     /* seconds; 0 = off */
static int wd_thread_started; /* under wd_mu */
static int wd_depth;          /* main thread only */
static int wd_patient;        /* main thread only: operations are not timed */
static struct {
    const char *op, *kind;
    int peer, tag, rank, size;
    size_t bytes;
    double start; /* 0 = no operation in progress */
} wd_cur;


static void *wd_main(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&wd_mu);
        const double t = wd_timeout;
        pthread_mutex_unlock(&wd_mu);
        const double nap = t > 0 && t < 4.0 ? t / 4 : 1.0;
        struct timespec ts = {(time_t)nap, (long)((nap - (double)(time_t)nap) * 1e9)};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        }
        pthread_mutex_lock(&wd_mu);
        const double start = wd_cur.start, limit = wd_timeout;
        const double waited = start > 0 ? cosmos_now_s() - start : 0;
        if (limit > 0 && start > 0 && waited > limit) {
            char peer[64] = "";
            if (wd_cur.peer >= 0 && wd_cur.tag >= 0)
                snprintf(peer, sizeof peer, " with rank %d (tag %d)", wd_cur.peer, wd_cur.tag);
            else if (wd_cur.peer >= 0)
                snprintf(peer, sizeof peer, " from root rank %d", wd_cur.peer);
            LOG_ERROR("comm watchdog: %s of %zu bytes%s on the %s communicator (rank %d of %d) has waited %.0f s, "
                      "more than --comm-timeout %g s: another rank is stuck or gone (its log says why, if it "
                      "could); ending this process so that the launcher ends the job",
                      wd_cur.op, wd_cur.bytes, peer, wd_cur.kind, wd_cur.rank, wd_cur.size, waited, limit);
            fflush(stdout);
            fflush(stderr);
            _exit(1);
        }
        pthread_mutex_unlock(&wd_mu);
    }
    return NULL;
}

cosmos_status cosmos_comm_set_timeout(double seconds) {
    if (!(seconds >= 0) || !isfinite(seconds) || seconds > 1e7) {
        LOG_ERROR("comm timeout %g s: expected a number of seconds in [0, 1e7] (0 = no timeout)", seconds);
        return COSMOS_ERR_INVALID_ARG;
    }
    cosmos_status st = COSMOS_OK;
    pthread_mutex_lock(&wd_mu);
    wd_timeout = seconds;
    if (seconds > 0 && !wd_thread_started) {
        pthread_t th;
        pthread_attr_t attr;
        int rc = pthread_attr_init(&attr);
        if (rc == 0) rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (rc == 0) rc = pthread_create(&th, &attr, wd_main, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            wd_timeout = 0;
            st = COSMOS_ERR_INTERNAL;
        } else {
            wd_thread_started = 1;
        }
    }
    pthread_mutex_unlock(&wd_mu);
    if (st != COSMOS_OK) LOG_ERROR("comm timeout: cannot start the watchdog thread");
    return st;
}

double cosmos_comm_timeout(void) {
    pthread_mutex_lock(&wd_mu);
    const double t = wd_timeout;
    pthread_mutex_unlock(&wd_mu);
    return t;
}

void cosmos_comm_watchdog_patient(int on) { wd_patient = on != 0; }

void cosmos_comm_wd_enter(const cosmos_comm_t *c, const char *op, int peer, int tag, size_t bytes) {
    /* nested, never enabled, or patient: nothing to time */
    if (wd_depth++ > 0 || !wd_thread_started || wd_patient) return;
    pthread_mutex_lock(&wd_mu);
    wd_cur.op = op, wd_cur.kind = c->ops->kind;
    wd_cur.peer = peer, wd_cur.tag = tag, wd_cur.rank = c->rank, wd_cur.size = c->size;
    wd_cur.bytes = bytes;
    wd_cur.start = cosmos_now_s();
    pthread_mutex_unlock(&wd_mu);
}

void cosmos_comm_wd_leave(void) {
    if (--wd_depth > 0 || !wd_thread_started) return;
    pthread_mutex_lock(&wd_mu);
    wd_cur.start = 0;
    pthread_mutex_unlock(&wd_mu);
}
