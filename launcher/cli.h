/* Command-line helpers shared by the subcommands: a small table-driven flag parser (strict: unknown
 * flags and malformed numbers are errors), token and context file readers, and writers that write
 * to a temporary name and rename when complete. Everything logs what is wrong and returns a status;
 * only main() turns a status into an exit code. */
#ifndef COSMOS_CLI_H
#define COSMOS_CLI_H

#include <stdint.h>

#include "core/status.h"

struct cosmos_comm;

enum cli_type { CLI_STR, CLI_INT, CLI_U64, CLI_FLOAT, CLI_FLAG };

struct cli_opt {
    const char *name; /* without the leading "--" */
    enum cli_type type;
    void *ptr;         /* const char **, int *, uint64_t *, float *, int * (flag) */
    const char *help;
    int seen;          /* set by the parser */
};

/* Parse argv[0..argc) against opts (terminated by a {NULL} entry). Positional arguments are
 * collected into pos (up to max_pos). */
cosmos_status cli_parse(const char *cmd, int argc, char **argv, struct cli_opt *opts, const char **pos, int max_pos,
                        int *n_pos);
void cli_print_opts(const struct cli_opt *opts);
/* The flags every command takes: --backend, --threads, --log-level, --help. */
struct cli_common {
    const char *backend;
    int threads;
    const char *log_level;
    int help;
    int tp, pp; /* model parallelism (commands that run a model); tp * pp ranks under mpirun */
    const char *pp_layers; /* "8,8": layers per pipeline stage (default: even split) */
    const char *comm_timeout; /* seconds (parallel/comm.h cosmos_comm_set_timeout); NULL: the
                               * environment's COSMOS_COMM_TIMEOUT, else none */
};
#define CLI_MODEL_OPTS(c)                                                                      \
    {"tp", CLI_INT, &(c).tp, "tensor-parallel ranks (run under mpirun -np TP*PP)", 0},        \
        {"pp", CLI_INT, &(c).pp, "pipeline-parallel stages (default 1)", 0},                   \
        {"pp-layers", CLI_STR, &(c).pp_layers, "layers per stage, e.g. 10,6 (default: even)", 0},             \
        {"comm-timeout", CLI_STR, &(c).comm_timeout,                                                \
         "seconds a rank may wait in one communication before the job is ended (default "           \
         "$COSMOS_COMM_TIMEOUT, else 0 = never)", 0}
#define CLI_COMMON_OPTS(c)                                                                     \
    {"backend", CLI_STR, &(c).backend, "compute backend: cpu (default), cuda, cuda:N", 0},     \
        {"threads", CLI_INT, &(c).threads, "CPU threads (default: all cores)", 0},             \
        {"log-level", CLI_STR, &(c).log_level, "error, warn, info (default) or debug", 0},     \
        {"help", CLI_FLAG, &(c).help, "show this help", 0}
void cli_common_default(struct cli_common *c);
/* --pp-layers "10,6": pp positive layer counts into out[pp] (pp <= 256); INVALID_ARG, named, for
 * anything else. Whether they sum to the model's layers is checked where the model is known. */
cosmos_status cli_parse_pp_layers(const char *s, int pp, int *out);
/* Applies --log-level, checks --threads, and sets the communication timeout from --comm-timeout or
 * else the environment's COSMOS_COMM_TIMEOUT (a bad value of either is INVALID_ARG, named). */
cosmos_status cli_common_apply(const struct cli_common *c);
/* cli_parse, then: with --help print the options (common->help stays set: the caller returns),
 * otherwise apply the common flags. */
cosmos_status cli_parse_command(const char *cmd, int argc, char **argv, struct cli_opt *opts, const char **pos,
                                int max_pos, int *n_pos, struct cli_common *common);

/* 1 when this process was started by an MPI launcher (mpirun, srun: its environment variables),
 * so that a plain run never initialises MPI. */
int cli_launched_by_mpi(void);
/* This process's rank as the launcher's environment gives it (OMPI_COMM_WORLD_RANK, PMIX_RANK,
 * PMI_RANK, SLURM_PROCID), without initialising MPI; 0 when there is none. */
int cli_launcher_rank(void);

/* How many ranks of `world` (this one included) run on this node with CPU masks that overlap this
 * process's (an allgather of host name and mask): the ranks among which cosmos_threads_for_process
 * shares the CPUs. 1 without a world. */
cosmos_status cli_cpu_sharers(struct cosmos_comm *world, int *n_sharing);
/* The CPU threads of this rank for --threads `requested` (cosmos_threads_for_process over
 * cli_cpu_sharers), logged by rank 0 when the ranks split the CPUs. */
cosmos_status cli_rank_threads(struct cosmos_comm *world, int requested, int *threads);

/* A loaded model and what it runs on. Under --tp T --pp P, world rank r is stage r / T, tensor
 * rank r % T; the ranks of MPI_COMM_WORLD each hold a shard;
 * every rank runs the same command, and only rank 0 writes outputs (is_writer). */
struct cli_session {
    struct cosmos_backend *be;
    struct cosmos_ar_model *m;
    struct cosmos_comm *world; /* NULL without model parallelism */
    struct cosmos_comm *tp_comm, *pp_comm; /* this rank's tensor group and pipeline */
    int is_writer;
};
/* Create the backend named in `common`, load the model (its part under --tp/--pp) holding n_seq
 * sequences, and set the context of every sequence:
 * a Video2World model requires ctx_path, a base model rejects one. Logs the memory report. Under
 * MPI every rank learns whether all ranks loaded (a rank that fails makes every rank fail, no hang).
 * cli_session_close frees everything (also after a failed open). */
cosmos_status cli_session_open(const struct cli_common *common, const char *model_path, const char *ctx_path,
                               int max_chunk, int n_seq, struct cli_session *s);
void cli_session_close(struct cli_session *s);

#endif
