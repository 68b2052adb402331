/* `cosmos-ar generate` (one clip) and `cosmos-ar batch` (a JSONL manifest, resumable): the whole
 * world-generation pipeline over the MPI ranks of the job, each rank playing the roles the layout
 * gives it (core/pipeline/v2w.h, layout.h). Both run the same code: generate is a batch of one.
 *
 * Batch bookkeeping (issue 7, "Batch generation"): every item has an output name (manifest.h);
 * DIR/NAME.mp4 is the video and DIR/NAME.status.json its status ({"status": "done"|"failed"|"blocked",
 * "reason", "line", ...}), both written to a temporary name and renamed. A rerun skips items whose
 * status is done and whose mp4 exists, and retries the others. Rank 0 reads the manifest, decides
 * what to run and broadcasts the list; it writes the status files and prints progress as the
 * decoder rank (the one that writes videos) reports finished clips. SIGTERM, SIGINT and SIGUSR1 (Slurm's pre-timeout
 * signal) make the run stop after the clip in flight: outputs stay consistent and a rerun resumes.
 *
 * Data-parallel replicas (batch --replicas R; docs/pipeline.md "Data-parallel replicas"): the job's
 * N ranks form R independent copies of the pipeline, replica q on world ranks [q*N/R, (q+1)*N/R)
 * with a layout of N/R ranks; replica q runs the planned items q, q+R, q+2R, ... Each replica's
 * first rank writes its status files and sends rank 0 a small progress record per clip, so rank 0
 * prints the progress of the whole job; at the end rank 0 gathers every replica's records (timing
 * table and JSON with world ranks, totals) and all ranks exit alike. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/process.h"
#include "core/json_file.h"
#include "core/h5file.h"
#include "cosmos_build_config.h"
#include "core/log.h"
#include "core/system_info.h"
#include "core/model/sampler.h"
#include "core/pipeline/layout.h"
#include "core/pipeline/manifest.h"
#include "core/pipeline/model_dir.h"
#include "core/pipeline/v2w.h"
#include "launcher/cli.h"
#include "launcher/commands.h"
#include "parallel/comm.h"

static volatile sig_atomic_t g_stop;
static volatile int g_stop_int;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
    g_stop_int = 1;
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* Options shared by generate and batch. */
struct gen_opts {
    const char *model_dir, *layout, *guardrail_dir, *timing_json, *memory_json;
    int num_input_frames, num_frames, disable_guardrail, disable_dd, top_k, clips_in_flight, t5_on_cpu;
    int replicas; /* batch: data-parallel copies of the pipeline (0 or 1: one) */
    int variants; /* batch: clips per manifest item, seeds seed, seed+1, ... (0 or 1: one) */
    int save_tokens; /* batch: also OUT/NAME.tokens.txt, the clip's token ids */
    const char *progress_json; /* batch: the job's progress, rewritten after every clip (rank 0) */
    float temperature, top_p;
    uint64_t seed;
    struct cli_common common;
};

#define GEN_OPTS(o)                                                                                              \
    {"model-dir", CLI_STR, &(o).model_dir, "model directory (cosmos-model.json + HDF5 files)", 0},               \
        {"num-input-frames", CLI_INT, &(o).num_input_frames, "input frames used as context: 1 or 9 (default 9)", 0}, \
        {"num-frames", CLI_INT, &(o).num_frames,                                                                 \
         "frames of the output clip, input frames included: 1+8k (default: the model's 33); more than 33 "      \
         "continue in sliding windows (docs/pipeline.md)", 0},                                                   \
        {"temperature", CLI_FLOAT, &(o).temperature, "sampling temperature (default 1.0; 0 = greedy)", 0},        \
        {"top-p", CLI_FLOAT, &(o).top_p, "nucleus mass (default: the model's: 4B 0.8, 5B 0.7, 12B 0.9, 13B 0.8)", 0}, \
        {"top-k", CLI_INT, &(o).top_k, "keep the k most likely tokens (default 0 = off)", 0},                    \
        {"seed", CLI_U64, &(o).seed, "random seed (default 0)", 0},                                              \
        {"disable-guardrail", CLI_FLAG, &(o).disable_guardrail,                                                      \
         "do not run the guardrail: prompt checks, video content filter, face blur (logged)", 0},                     \
        {"guardrail-dir", CLI_STR, &(o).guardrail_dir, "guardrail word lists (default: configs/guardrail of the source tree)", 0}, \
        {"disable-diffusion-decoder", CLI_FLAG, &(o).disable_dd,                                                \
         "accepted for the official flag; the DV decoder is what runs", 0},                                     \
        {"t5-on-cpu", CLI_FLAG, &(o).t5_on_cpu,                                                                  \
         "run the T5 text encoder on the CPU even with a GPU backend (saves its f32 weights on the GPU: 19.5 GB " \
         "for T5-11B; slower)", 0},                                                                              \
        {"layout", CLI_STR, &(o).layout, "rank layout JSON (configs/layouts/); default by rank count", 0},      \
        {"timing-json", CLI_STR, &(o).timing_json, "write per-clip stage timings as JSON", 0},                   \
        {"memory-json", CLI_STR, &(o).memory_json,                                                              \
         "write the memory table of every rank as JSON (bytes; `info DIR --ranks N --json` plans it)", 0},     \
        {"clips-in-flight", CLI_INT, &(o).clips_in_flight,                                                      \
         "batch: clips the transformer generates at once (default: its pipeline stages)", 0},                  \
        CLI_MODEL_OPTS((o).common), CLI_COMMON_OPTS((o).common)

static void gen_opts_default(struct gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->num_input_frames = 9;
    o->temperature = 1.0f;
    o->top_p = -1.0f;
    o->guardrail_dir = NULL; /* configs/guardrail of this source tree (gen_open) */
    cli_common_default(&o->common);
    o->common.tp = 0; /* 0 = the layout's default */
    o->common.pp = 0;
}

/* The run: world, layout, model directory, pipeline. With data-parallel replicas (batch
 * --replicas R) the job's N ranks form R copies of the pipeline: replica q is world ranks
 * [q*N/R, (q+1)*N/R), with its own communicator (pipe) and the layout of N/R ranks; without them
 * pipe is the world and there is one replica. */
struct gen_run {
    cosmos_comm_t *world;
    cosmos_comm_t *pipe;  /* the replica's communicator (== world with one replica; NULL: one process) */
    cosmos_comm_t *pipe_own; /* pipe, when it was split off the world here */
    struct cosmos_layout layout;
    struct cosmos_model_dir md;
    cosmos_v2w_t *v2w;
    int rank, size;       /* in the world */
    int replica, n_replicas, replica_size;
    int threads;          /* CPU threads of this process (cosmos_threads_for_process) */
    int stage_layers[256]; /* --pp-layers, for the layout's pp stages */
};

/* A failed run (not a failed clip: those are in the results) on a job of several ranks: the other
 * ranks may be waiting for this one's next message, so the job is ended here (MPI_Abort) instead of
 * hanging in a receive or in MPI_Finalize. Every failure path of the run logs its reason first. */
static void run_or_abort(const struct gen_run *r, const char *cmd, cosmos_status st) {
    if (st == COSMOS_OK || !r->world || r->size < 2) return;
    LOG_ERROR("%s: the run failed on this rank (%s); ending the whole job so that no rank waits for it forever", cmd,
              cosmos_status_str(st));
    cosmos_comm_abort(r->world, st == COSMOS_ERR_INVALID_ARG ? 2 : 1);
}

/* The checks of the options that need no model, and the guardrail's default word lists; on every
 * rank alike, before anything is loaded. */
static cosmos_status gen_check_opts(struct gen_opts *o, const char *cmd) {
    cosmos_status st = COSMOS_OK;
    CHECK_ARG(o->model_dir, COSMOS_ERR_INVALID_ARG, "%s: --model-dir is required", cmd);
    CHECK_ARG(o->num_input_frames == 1 || o->num_input_frames == 9, COSMOS_ERR_INVALID_ARG,
              "%s: --num-input-frames must be 1 or 9", cmd);
    CHECK_ARG(o->num_frames >= 0, COSMOS_ERR_INVALID_ARG, "%s: --num-frames must be 1 + 8k (got %d)", cmd,
              o->num_frames);
    { /* here, on every rank alike: inside the run only the transformer's ranks would see it */
        struct cosmos_sampler_params sp = cosmos_sampler_params_default();
        sp.temperature = o->temperature, sp.top_k = o->top_k;
        if (o->top_p >= 0) sp.top_p = o->top_p;
        CHECK(cosmos_sampler_params_check(&sp));
    }
    CHECK_ARG(o->common.tp >= 0 && o->common.pp >= 0, COSMOS_ERR_INVALID_ARG, "%s: --tp and --pp must be positive",
              cmd);
    static char default_guard[4096];
    if (!o->guardrail_dir) {
        snprintf(default_guard, sizeof default_guard, "%s/configs/guardrail", COSMOS_SOURCE_DIR);
        o->guardrail_dir = default_guard;
    }
fail:
    return st;
}

static cosmos_status gen_open(struct gen_opts *o, const char *cmd, struct gen_run *r) {
    cosmos_status st = COSMOS_OK;
    memset(r, 0, sizeof *r);
    CHECK(gen_check_opts(o, cmd));
    int local_rank = -1;
    r->size = 1;
    /* MPI only when started by a launcher (mpirun, srun): a plain run is one process */
    st = cli_launched_by_mpi() ? cosmos_comm_mpi_world(&r->world) : COSMOS_ERR_UNSUPPORTED;
    if (st == COSMOS_OK) {
        r->size = cosmos_comm_size(r->world);
        r->rank = cosmos_comm_rank(r->world);
    } else {
        r->world = NULL; /* a build without MPI: one process */
        st = COSMOS_OK;
    }
    /* CPU threads: ranks that share CPUs split them unless told otherwise (core/process.h) */
    CHECK(cli_rank_threads(r->world, o->common.threads, &r->threads));
    omp_set_num_threads(r->threads);
    r->n_replicas = o->replicas > 0 ? o->replicas : 1;
    CHECK_ARG(o->replicas >= 0, COSMOS_ERR_INVALID_ARG, "%s: --replicas must be positive", cmd);
    CHECK_ARG(r->size % r->n_replicas == 0, COSMOS_ERR_INVALID_ARG,
              "%s: --replicas %d must divide the job's %d rank(s) (every replica gets the same number of ranks; "
              "start the job with mpirun -np <a multiple of %d>)",
              cmd, r->n_replicas, r->size, r->n_replicas);
    r->replica_size = r->size / r->n_replicas;
    r->replica = r->rank / r->replica_size;
    r->pipe = r->world;
    if (r->n_replicas > 1) { /* the replica's ranks, in world order; GPUs still by the node's local rank */
        CHECK(cosmos_comm_local_rank(r->world, &local_rank));
        CHECK(cosmos_comm_split(r->world, r->replica, r->rank, &r->pipe_own));
        r->pipe = r->pipe_own;
    }
    if (o->layout)
        CHECK(cosmos_layout_load(o->layout, r->replica_size, &r->layout));
    else
        CHECK(cosmos_layout_default(r->replica_size, o->common.tp, o->common.pp, &r->layout));
    CHECK_ARG(!o->layout || (!o->common.tp && !o->common.pp), COSMOS_ERR_INVALID_ARG,
              "%s: give either --layout or --tp/--pp, not both", cmd);
    if (o->common.pp_layers) CHECK(cli_parse_pp_layers(o->common.pp_layers, r->layout.pp, r->stage_layers));
    if (cosmos_log_is_rank0()) {
        char buf[8192];
        cosmos_layout_describe(&r->layout, buf, sizeof buf);
        if (r->n_replicas > 1)
            LOG_INFO("%s: %d data-parallel replicas of the pipeline, each on %d rank(s) (replica q = world ranks "
                     "q*%d + the ranks below); replica q runs the items q, q+%d, q+%d, ... of those to run\n%s",
                     cmd, r->n_replicas, r->replica_size, r->replica_size, r->n_replicas, 2 * r->n_replicas, buf);
        else
            LOG_INFO("%s", buf);
    }
    CHECK(cosmos_model_dir_load(o->model_dir, &r->md));
    if (o->disable_guardrail)
        LOG_INFO0("%s: the guardrail is DISABLED (--disable-guardrail): no prompt check, no video content filter, no "
                  "face blur",
                  cmd);
    if (o->disable_dd && r->md.diffusion_decoder[0])
        LOG_INFO0("%s: --disable-diffusion-decoder: the DV decoder makes the video", cmd);
    if (!r->md.diffusion_decoder[0])
        LOG_INFO0("%s: the model directory has no diffusion decoder: the DV decoder makes the video", cmd);
    struct cosmos_v2w_params p = cosmos_v2w_params_default();
    p.model_dir = &r->md;
    p.layout = &r->layout;
    p.world = r->replica_size > 1 ? r->pipe : NULL;
    p.local_rank = local_rank;
    p.backend = o->common.backend;
    p.threads = r->threads;
    p.guardrail_dir = o->guardrail_dir;
    p.disable_guardrail = o->disable_guardrail;
    p.disable_diffusion_decoder = o->disable_dd;
    p.t5_on_cpu = o->t5_on_cpu;
    p.num_frames = o->num_frames;
    p.stage_layers = o->common.pp_layers ? r->stage_layers : NULL;
    p.stop = &g_stop_int;
    CHECK_ARG(o->clips_in_flight >= 0 && o->clips_in_flight <= COSMOS_V2W_MAX_IN_FLIGHT, COSMOS_ERR_INVALID_ARG,
              "%s: --clips-in-flight must be in 1..%d", cmd, COSMOS_V2W_MAX_IN_FLIGHT);
    p.clips_in_flight = o->clips_in_flight > 0 ? o->clips_in_flight : r->layout.pp;
    if (p.clips_in_flight > 1) LOG_INFO0("%s: %d clips in flight in the transformer", cmd, p.clips_in_flight);
    st = cosmos_v2w_open(&p, &r->v2w);
    if (r->n_replicas > 1) { /* every replica learns whether all of them loaded (no one waits alone) */
        int all_ok = 0;
        cosmos_status cst = cosmos_comm_all_ok(r->world, st == COSMOS_OK, &all_ok);
        if (st == COSMOS_OK && (cst != COSMOS_OK || !all_ok)) {
            LOG_ERROR("%s: another replica failed to load its models; stopping", cmd);
            st = COSMOS_ERR_IO;
        }
    }
fail:
    return st;
}

static void gen_close(struct gen_run *r) {
    cosmos_v2w_free(r->v2w);
    cosmos_comm_free(r->pipe_own);
    cosmos_comm_free(r->world);
    memset(r, 0, sizeof *r);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A pipeline handle that checks requests without loading any weights (cosmos_v2w_check_request):
 * the model directory's headers, the run's clip length and decoder, the prompt blocklist. md
 * (filled here) must outlive it. */
static cosmos_status open_check_handle(struct gen_opts *o, const char *cmd, struct cosmos_model_dir *md,
                                       cosmos_v2w_t **v2w) {
    cosmos_status st = COSMOS_OK;
    *v2w = NULL;
    CHECK(gen_check_opts(o, cmd));
    CHECK(cosmos_model_dir_load(o->model_dir, md));
    struct cosmos_v2w_params p = cosmos_v2w_params_default();
    p.model_dir = md;
    p.guardrail_dir = o->guardrail_dir;
    p.disable_guardrail = o->disable_guardrail;
    p.disable_diffusion_decoder = o->disable_dd;
    p.num_frames = o->num_frames;
    p.check_only = 1;
    CHECK(cosmos_v2w_open(&p, v2w));
fail:
    return st;
}

/* generate: what would fail the clip for its own sake (no prompt for a Video2World model, a bad
 * length, an input that cannot be read or prepared, a blocklisted prompt) ends the command before
 * the models load, which takes minutes at full size (spec performance-and-peers.md 4.6: validate
 * before loading). Every rank checks alike, before MPI starts. */
static cosmos_status generate_precheck(struct gen_opts *o, const struct cosmos_v2w_request *req, int report) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_model_dir md;
    cosmos_v2w_t *v = NULL;
    char why[256];
    int64_t n_tokens = 0;
    CHECK(open_check_handle(o, "generate", &md, &v));
    st = cosmos_v2w_check_request(v, req, &n_tokens, why, sizeof why);
    CHECK_ARG(st == COSMOS_OK, st, "generate: %s (nothing was loaded)", why);
    if (report) { /* generate --dry-run: what the run would make (stdout), without making it */
        int T = 0;
        cosmos_v2w_clip_shape(v, &T, NULL, NULL, NULL);
        printf("dry run: generate would make %s, %d frames, %lld tokens to generate (model %s); nothing was "
               "loaded or written\n",
               req->output, o->num_frames > 0 ? o->num_frames : T, (long long)n_tokens, md.name);
    }
fail:
    cosmos_v2w_free(v);
    return st;
}

cosmos_status cmd_generate(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    struct gen_opts o;
    const char *input = NULL, *prompt = NULL, *output = NULL, *preview = NULL, *tokens_out = NULL, *pos[1];
    int dry_run = 0;
    int n_pos = 0, n_done = 0;
    struct gen_run r = {0};
    struct cosmos_v2w_result res;
    gen_opts_default(&o);
    struct cli_opt opts[] = {
        {"input", CLI_STR, &input, "input image (png, jpg, jpeg, webp) or video (mp4, ...)", 0},
        {"prompt", CLI_STR, &prompt, "text prompt (Video2World models)", 0},
        {"output", CLI_STR, &output, "output video (.mp4)", 0},
        {"preview", CLI_STR, &preview, "also keep a playable partial mp4 here while generating", 0},
        {"save-tokens", CLI_STR, &tokens_out, "write the clip's token ids (one per line)", 0},
        {"dry-run", CLI_FLAG, &dry_run,
         "check the request (input decoded as in a run, prompt, length, blocklist) and say what the run would "
         "make, without loading the models or writing anything", 0},
        GEN_OPTS(o),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("generate", argc, argv, opts, pos, 0, &n_pos, &o.common));
    if (o.common.help) return COSMOS_OK;
    CHECK_ARG(input && output, COSMOS_ERR_INVALID_ARG, "generate: --input and --output are required");
    CHECK_ARG(ends_with(output, ".mp4"), COSMOS_ERR_INVALID_ARG, "generate: --output must end in .mp4 ('%s')", output);
    {
        const struct cosmos_v2w_request pre = {input, prompt, o.num_input_frames, o.temperature, o.top_p, o.top_k,
                                               o.seed, output, NULL, NULL, 0};
        CHECK(generate_precheck(&o, &pre, dry_run && cli_launcher_rank() == 0));
        if (dry_run) goto fail;
    }
    install_signals();
    CHECK(gen_open(&o, "generate", &r));
    if (!cosmos_v2w_is_video2world(r.v2w) && prompt && prompt[0] && cosmos_log_is_rank0())
        LOG_WARN("generate: base models take no prompt; --prompt is ignored");
    struct cosmos_v2w_request req = {input, prompt, o.num_input_frames, o.temperature, o.top_p, o.top_k, o.seed,
                                     output, preview, tokens_out, 0};
    cosmos_status rst = cosmos_v2w_run(r.v2w, &req, 1, &res, &n_done, NULL, NULL);
    run_or_abort(&r, "generate", rst);
    CHECK(rst);
    if (r.rank == 0) {
        cosmos_v2w_log_timing(&res, 1);
        cosmos_v2w_log_memory(r.v2w, "memory per rank");
        if (o.timing_json) CHECK(cosmos_v2w_write_timing_json(o.timing_json, &req, &res, 1));
        if (o.memory_json) CHECK(cosmos_v2w_write_memory_json(r.v2w, o.memory_json));
    }
    CHECK_ARG(n_done == 1, COSMOS_ERR_IO, "generate: interrupted before the clip was finished; no output written");
    CHECK_ARG(res.status == COSMOS_OK, res.status, "generate: %s", res.reason);
    LOG_INFO0("generate: wrote %s (%d frames)", output, res.n_frames);
fail:
    gen_close(&r);
    return st;
}

/* ---- batch ---- */

struct batch_ctx {
    const char *out_dir;
    const struct cosmos_manifest_item *items; /* [n_run]: every planned item */
    int n_run, n_ok, n_failed;                /* progress of the whole job (rank 0) */
    int64_t tokens;
    double t0;
    /* data-parallel replicas: replica q's clip k is item q + k*R; the first rank of each replica
     * writes its items' status files and sends rank 0 a progress record per clip (TAG_PROGRESS_DP),
     * then an end record; rank 0 prints the job's progress as they come */
    const struct gen_run *run;
    int *ended; /* rank 0: [R] replica q sent its end record */
    json_t *settings; /* what made the clips, for their status files (batch_settings_json) */
    const char *progress_json; /* NULL: none */
    int n_skipped, n_bad;      /* of the plan: already done, bad manifest lines */
    const char *last;          /* the last finished clip's name */
};

/* Clips finished so far, seconds since the start, and the time left at the rate so far. */
static void batch_pace(const struct batch_ctx *b, int *done, double *dt, double *eta) {
    *done = b->n_ok + b->n_failed;
    *dt = cosmos_now_s() - b->t0;
    *eta = *done ? *dt / *done * (b->n_run - *done) : 0;
}

/* --progress-json (rank 0): the job's progress as a small JSON file, rewritten atomically after
 * every clip and at the end, for monitors of long batches: state ("running", "finished",
 * "interrupted"), clip counts, tokens, rate, elapsed and ETA, the last clip, when it was written,
 * and who writes it (host, pid, Slurm job). A job that dies leaves "running" with an old "updated". */
static void write_progress(const struct batch_ctx *b, const char *state) {
    if (!b->progress_json) return;
    int done;
    double dt, eta;
    batch_pace(b, &done, &dt, &eta);
    char host[256] = "?", when[32];
    gethostname(host, sizeof host - 1);
    cosmos_utc_timestamp(when, sizeof when);
    const char *job = getenv("SLURM_JOB_ID");
    json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:f, s:f, s:f, s:s?, s:s, s:s, s:i, s:s?}", "state",
                          state, "clips_to_run", b->n_run, "clips_done", b->n_ok, "clips_failed", b->n_failed,
                          "clips_left", b->n_run - done, "already_done", b->n_skipped, "bad_lines", b->n_bad,
                          "tokens_generated", (json_int_t)b->tokens, "tokens_per_s", dt > 0 ? b->tokens / dt : 0.0,
                          "elapsed_s", dt, "eta_s", eta, "last_clip", b->last, "updated", when, "host", host, "pid",
                          (int)getpid(), "slurm_job_id", job);
    if (!o || cosmos_json_write(o, b->progress_json, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) != COSMOS_OK)
        LOG_WARN("batch: could not write the progress file '%s'", b->progress_json);
    json_decref(o);
}

enum { TAG_GATHER = 401, TAG_PROGRESS_DP = 402 };
struct dp_progress { /* a finished clip (gi >= 0) or the end of a replica's clips (gi = -1) */
    int32_t gi, status;
    int64_t tokens;
    char reason[256];
};


/* The run's settings recorded in every clip's status file, so that a video of a synthetic data set
 * says what made it: engine version, model, sampling, guardrail, decoder. */
static json_t *batch_settings_json(const struct gen_opts *o, const struct gen_run *r) {
    const double top_p = o->top_p >= 0 ? o->top_p : cosmos_v2w_default_top_p(r->v2w);
    char engine[96];
    snprintf(engine, sizeof engine, "cosmos-ar %s (%s)", COSMOS_VERSION, cosmos_git_sha());
    return json_pack("{s:s, s:s, s:f, s:f, s:i, s:b, s:s}", "engine", engine, "model", r->md.name, "temperature",
                     (double)o->temperature, "top_p", top_p, "top_k", o->top_k, "guardrail", !o->disable_guardrail,
                     "decoder", r->md.diffusion_decoder[0] && !o->disable_dd ? "diffusion decoder" : "DV decoder");
}

/* A seed in JSON for people: an integer up to 2^63 - 1, above that a string of its digits (jansson's
 * integers are int64; a manifest takes both forms back). */
static json_t *seed_json(uint64_t seed) {
    char digits[24];
    if (seed <= (uint64_t)INT64_MAX) return json_integer((json_int_t)seed);
    snprintf(digits, sizeof digits, "%llu", (unsigned long long)seed);
    return json_string(digits);
}

/* NAME.status.json of an item: its status, and for an item that ran (r) what it made and how: the
 * tokens, frames, prompt, seed, input frames and the run's settings. */
static cosmos_status write_status(const char *dir, const struct cosmos_manifest_item *it, int ok,
                                  const char *reason, const struct cosmos_v2w_result *r, json_t *settings) {
    cosmos_status st = COSMOS_OK;
    char path[4096];
    const char *status = ok ? "done" : r && r->status == COSMOS_ERR_BLOCKED ? "blocked" : "failed";
    json_t *o = json_pack("{s:s, s:i, s:s, s:s}", "name", it->name[0] ? it->name : "", "line", it->line, "status",
                          status, "input", it->input ? it->input : "");
    CHECK_ALLOC(o);
    if (!ok) json_object_set_new(o, "reason", json_string(reason ? reason : "unknown"));
    if (r) json_object_set_new(o, "tokens_generated", json_integer(r->n_tokens_generated));
    if (r && ok) json_object_set_new(o, "frames", json_integer(r->n_frames));
    if (r) {
        if (it->prompt) json_object_set_new(o, "prompt", json_string(it->prompt));
        json_object_set_new(o, "seed", seed_json(it->seed));
        json_object_set_new(o, "num_input_frames", json_integer(it->num_input_frames));
        if (settings) json_object_set(o, "settings", settings);
    }
    if (it->name[0])
        snprintf(path, sizeof path, "%s/%s.status.json", dir, it->name);
    else
        snprintf(path, sizeof path, "%s/line-%d.status.json", dir, it->line);
    CHECK(cosmos_json_write(o, path, JSON_INDENT(2) | JSON_REAL_PRECISION(7)));
fail:
    json_decref(o);
    return st;
}

/* Rank 0: one more finished clip of the job (item gi), in the progress bar or log. */
static void progress_line(struct batch_ctx *b, int gi, cosmos_status status, int64_t tokens, const char *reason) {
    const struct cosmos_manifest_item *it = &b->items[gi];
    const int ok = status == COSMOS_OK;
    ok ? b->n_ok++ : b->n_failed++;
    b->tokens += tokens;
    b->last = it->name;
    write_progress(b, "running");
    int done;
    double dt, eta;
    batch_pace(b, &done, &dt, &eta);
    if (isatty(STDERR_FILENO)) { /* a bar redrawn in place; plain log lines otherwise */
        char bar[41];
        const int w = (int)(40.0 * done / (b->n_run > 0 ? b->n_run : 1));
        for (int i = 0; i < 40; i++) bar[i] = i < w ? '#' : '.';
        bar[40] = '\0';
        fprintf(stderr, "\r[%s] %d/%d clips, %d failed, %.1f tokens/s, ETA %.0f s%s", bar, done, b->n_run,
                b->n_failed, dt > 0 ? b->tokens / dt : 0.0, eta, done == b->n_run ? "\n" : "");
        if (!ok) fprintf(stderr, "\n");
        if (!ok) LOG_ERROR("batch: %s FAILED: %s", it->name, reason);
    } else {
        LOG_INFO("batch: %d/%d clips (%d failed) | %.1f tokens/s | elapsed %.0f s | ETA %.0f s | %s %s", done,
                 b->n_run, b->n_failed, dt > 0 ? b->tokens / dt : 0.0, dt, eta, it->name,
                 ok ? "done" : status == COSMOS_ERR_BLOCKED ? "BLOCKED" : "FAILED");
    }
}

/* Rank 0 with replicas: the other replicas' progress records waiting now (block = 0), or all of
 * them up to every replica's end record (block = 1). Records are small (eager sends): a replica
 * never waits for rank 0 to take them. */
static cosmos_status drain_replica_progress(struct batch_ctx *b, int block) {
    cosmos_status st = COSMOS_OK;
    const struct gen_run *r = b->run;
    for (int q = 1; q < r->n_replicas; q++) {
        while (!b->ended[q]) {
            int flag = 1;
            if (!block) CHECK(cosmos_comm_probe(r->world, q * r->replica_size, TAG_PROGRESS_DP, &flag));
            if (!flag) break;
            struct dp_progress m;
            CHECK(cosmos_comm_recv(r->world, &m, sizeof m, q * r->replica_size, TAG_PROGRESS_DP));
            m.reason[sizeof m.reason - 1] = '\0';
            if (m.gi < 0)
                b->ended[q] = 1;
            else if (m.gi < b->n_run)
                progress_line(b, m.gi, (cosmos_status)m.status, m.tokens, m.reason);
        }
    }
fail:
    return st;
}

/* on_done of the pipeline (the replica's first rank, clip `index` of its share): the status file,
 * then the progress (here on rank 0, else a record to rank 0). */
static void on_clip_done(void *ud, int index, const struct cosmos_v2w_result *r) {
    struct batch_ctx *b = ud;
    const int gi = b->run->replica + index * b->run->n_replicas;
    const struct cosmos_manifest_item *it = &b->items[gi];
    if (write_status(b->out_dir, it, r->status == COSMOS_OK, r->reason, r, b->settings) != COSMOS_OK)
        LOG_ERROR("batch: could not write the status of '%s'", it->name);
    if (b->run->rank != 0) {
        struct dp_progress m = {gi, r->status, r->n_tokens_generated, ""};
        snprintf(m.reason, sizeof m.reason, "%s", r->reason);
        if (cosmos_comm_send(b->run->world, &m, sizeof m, 0, TAG_PROGRESS_DP) != COSMOS_OK)
            LOG_ERROR("batch: could not report '%s' to rank 0", it->name);
        return;
    }
    progress_line(b, gi, r->status, r->n_tokens_generated, r->reason);
    if (b->run->n_replicas > 1 && drain_replica_progress(b, 0) != COSMOS_OK)
        LOG_ERROR("batch: could not read the other replicas' progress");
}

/* An item is done when its mp4 exists and its status says so (and, with --save-tokens, its token
 * file exists: a rerun with the flag makes the token files that are missing). */
static int item_done(const char *dir, const char *name, int tokens) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.tokens.txt", dir, name);
    if (tokens && access(path, R_OK) != 0) return 0;
    snprintf(path, sizeof path, "%s/%s.mp4", dir, name);
    if (access(path, R_OK) != 0) return 0;
    snprintf(path, sizeof path, "%s/%s.status.json", dir, name);
    json_t *o = json_load_file(path, 0, NULL);
    json_t *s = o ? json_object_get(o, "status") : NULL;
    const int done = json_is_string(s) && !strcmp(json_string_value(s), "done");
    json_decref(o);
    return done;
}

/* Removes NAME.mp4.tmp.*, NAME.status.json.tmp.* and NAME.tokens.txt.tmp.* left by a killed run of
 * this item (only this manifest's items: array tasks share an output directory with other items). */
static void remove_stale_temps(const char *dir, const char *name) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    static const char *const outputs[] = {"mp4", "status.json", "tokens.txt"};
    enum { N_OUT = sizeof outputs / sizeof outputs[0] };
    char prefix[N_OUT][200], path[4096];
    for (int k = 0; k < N_OUT; k++) snprintf(prefix[k], sizeof prefix[k], "%s.%s.tmp.", name, outputs[k]);
    while ((e = readdir(d)) != NULL) {
        int stale = 0;
        for (int k = 0; k < N_OUT && !stale; k++) stale = strncmp(e->d_name, prefix[k], strlen(prefix[k])) == 0;
        if (!stale) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0) LOG_INFO("batch: removed %s, left by an interrupted run", path);
    }
    closedir(d);
}

/* Variant v of an item: with variants > 1 its name + "-v<v>", else the name; its seed + v
 * (wrapping). With variants > 1 every name ends in "-v<digits>", which parses back uniquely, and
 * item names are unique (manifest.h): variant names never collide. */
static void item_variant(const struct cosmos_manifest_item *it, int variants, int v, char *name, size_t size,
                         uint64_t *seed) {
    if (variants > 1)
        snprintf(name, size, "%s-v%d", it->name, v);
    else
        snprintf(name, size, "%s", it->name);
    *seed = it->seed + (uint64_t)v;
}

/* The output directory can take the outputs: a writable directory, or (not there yet) a name in a
 * writable directory. Creates nothing. */
static cosmos_status check_out_dir(const char *out_dir) {
    cosmos_status st = COSMOS_OK;
    struct stat sb;
    if (stat(out_dir, &sb) != 0 && errno == ENOENT) { /* it will be created */
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", out_dir);
        char *slash = strrchr(parent, '/');
        while (slash && slash > parent && slash[1] == '\0') { /* trailing slashes */
            *slash = '\0';
            slash = strrchr(parent, '/');
        }
        if (!slash)
            snprintf(parent, sizeof parent, ".");
        else
            slash[slash == parent] = '\0'; /* "/x" -> "/" */
        CHECK_ARG(access(parent, W_OK) == 0, COSMOS_ERR_IO,
                  "batch: the output directory '%s' does not exist and cannot be created in '%s' (%s)", out_dir, parent,
                  strerror(errno));
    } else {
        CHECK_ARG(stat(out_dir, &sb) == 0 && S_ISDIR(sb.st_mode), COSMOS_ERR_INVALID_ARG,
                  "batch: the output directory '%s' is not a directory", out_dir);
        CHECK_ARG(access(out_dir, W_OK) == 0, COSMOS_ERR_IO, "batch: the output directory '%s' is not writable",
                  out_dir);
    }
fail:
    return st;
}

/* Rank 0: read the manifest, write statuses of bad lines, keep the items to run (each usable item
 * `variants` times); as JSON. With report (batch --dry-run) nothing is created, written or removed
 * (the output directory is only checked), and report gets every item in manifest order:
 * {"line", "name", "state": "bad" | "done" | "run", "reason" (bad)} plus the plan's fields (run). */
static cosmos_status plan_batch(const char *manifest, const char *out_dir, const struct cosmos_manifest_defaults *d,
                                int variants, int tokens, json_t *report, char **plan_json, int *n_bad_out,
                                int *n_skip_out) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_manifest_item *items = NULL;
    int n = 0, n_skip = 0, n_bad = 0;
    json_t *arr = json_array();
    CHECK_ALLOC(arr);
    if (!report && mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        LOG_ERROR("batch: cannot create the output directory '%s' (%s)", out_dir, strerror(errno));
        st = COSMOS_ERR_IO;
        goto fail;
    }
    CHECK(check_out_dir(out_dir));
    CHECK(cosmos_manifest_load(manifest, d, &items, &n));
    for (int i = 0; i < n; i++) {
        const struct cosmos_manifest_item *it = &items[i];
        if (it->status != COSMOS_OK) {
            if (report) {
                json_array_append_new(report, json_pack("{s:i, s:s, s:s, s:s}", "line", it->line, "name", it->name,
                                                        "state", "bad", "reason", it->reason));
            } else {
                LOG_ERROR("batch: %s line %d: %s", manifest, it->line, it->reason);
                CHECK(write_status(out_dir, it, 0, it->reason, NULL, NULL));
            }
            n_bad++;
            continue;
        }
        for (int v = 0; v < variants; v++) {
            char name[sizeof it->name + 16];
            uint64_t seed;
            item_variant(it, variants, v, name, sizeof name, &seed);
            if (!report) remove_stale_temps(out_dir, name);
            if (item_done(out_dir, name, tokens)) {
                n_skip++;
                if (report)
                    json_array_append_new(report,
                                          json_pack("{s:i, s:s, s:s}", "line", it->line, "name", name, "state", "done"));
                continue;
            }
            json_t *e = json_pack("{s:i, s:s, s:s?, s:I, s:i, s:i, s:s}", "line", it->line, "input", it->input,
                                  "prompt", it->prompt, "seed", (json_int_t)seed, "nif", it->num_input_frames, "nf",
                                  it->num_frames, "name", name);
            CHECK_ALLOC(e);
            if (report) {
                json_t *r = json_deep_copy(e);
                CHECK_ALLOC(r);
                json_object_set_new(r, "state", json_string("run"));
                json_array_append_new(report, r);
            }
            json_array_append_new(arr, e);
        }
    }
    *n_bad_out = n_bad;
    if (n_skip_out) *n_skip_out = n_skip;
    if (variants > 1)
        LOG_INFO("batch: %d items in %s, %d variants each: %d clips to run, %d already done, %d bad", n, manifest,
                 variants, (int)json_array_size(arr), n_skip, n_bad);
    else
        LOG_INFO("batch: %d items in %s: %d to run, %d already done, %d bad lines", n, manifest,
                 (int)json_array_size(arr), n_skip, n_bad);
    *plan_json = json_dumps(arr, JSON_COMPACT);
    CHECK_ALLOC(*plan_json);
fail:
    json_decref(arr);
    cosmos_manifest_free(items, n);
    return st;
}

/* Rank 0 collects every replica's records: res[i] and ran[i] (the item was run: it is among the
 * first `done` items of its replica, those started before a stop request) for i in [0, n_run); the
 * first rank of replica q sends its n_mine records (item q + k*R at k), with the stage ranks turned
 * into world ranks. One replica: its records as they are. */
static cosmos_status gather_replicas(const struct gen_run *r, struct cosmos_v2w_result *mine, int n_mine, int done,
                                     struct cosmos_v2w_result *res, char *ran, int n_run) {
    cosmos_status st = COSMOS_OK;
    const int R = r->n_replicas, m = r->replica_size;
    struct cosmos_v2w_result *buf = NULL;
    for (int k = 0; k < n_mine; k++)
        for (int s = 0; s < COSMOS_V2W_N_STAGES; s++)
            if (mine[k].start[s] > 0) mine[k].stage_rank[s] += r->replica * m;
    if (R == 1) {
        memcpy(res, mine, sizeof *res * (size_t)n_mine);
        for (int i = 0; i < done; i++) ran[i] = 1;
        return COSMOS_OK;
    }
    if (r->rank != 0) {
        if (r->rank % m == 0) { /* the replica's first rank holds its merged records */
            int32_t hdr[2] = {n_mine, done};
            CHECK(cosmos_comm_send(r->world, hdr, sizeof hdr, 0, TAG_GATHER));
            if (n_mine > 0) CHECK(cosmos_comm_send(r->world, mine, sizeof *mine * (size_t)n_mine, 0, TAG_GATHER));
        }
        return COSMOS_OK;
    }
    buf = calloc((size_t)(n_run + R - 1) / (size_t)R + 1, sizeof *buf); /* the largest share */
    CHECK_ALLOC(buf);
    for (int q = 0; q < R; q++) {
        int32_t hdr[2] = {n_mine, done};
        const struct cosmos_v2w_result *src = mine;
        if (q > 0) {
            CHECK(cosmos_comm_recv(r->world, hdr, sizeof hdr, q * m, TAG_GATHER));
            const int expect = n_run > q ? (n_run - q + R - 1) / R : 0;
            CHECK_ARG(hdr[0] == expect && hdr[1] >= 0 && hdr[1] <= hdr[0], COSMOS_ERR_INTERNAL,
                      "batch: replica %d reports %d of %d items (expected %d)", q, hdr[1], hdr[0], expect);
            if (hdr[0] > 0) CHECK(cosmos_comm_recv(r->world, buf, sizeof *buf * (size_t)hdr[0], q * m, TAG_GATHER));
            src = buf;
        }
        for (int k = 0; k < hdr[0]; k++) {
            res[q + k * R] = src[k];
            ran[q + k * R] = k < hdr[1];
        }
    }
fail:
    free(buf);
    return st;
}

/* What changes an unnamed item's output goes into its name's hash; the settings added later only
 * when they differ from the default, so older outputs keep their names. */
static void batch_settings(const struct gen_opts *o, const struct cosmos_model_dir *md, const cosmos_v2w_t *v2w,
                           char *settings, size_t size) {
    int nf = 0, len = snprintf(settings, size, "T=%g p=%g k=%d model=%s", o->temperature, o->top_p, o->top_k, md->name);
    cosmos_v2w_clip_shape(v2w, &nf, NULL, NULL, NULL);
    if (o->num_frames > 0 && o->num_frames != nf && len > 0 && len < (int)size)
        len += snprintf(settings + len, size - (size_t)len, " frames=%d", o->num_frames);
    if (o->disable_dd && md->diffusion_decoder[0] && len > 0 && len < (int)size)
        len += snprintf(settings + len, size - (size_t)len, " dv-decoder");
    if (o->disable_guardrail && len > 0 && len < (int)size) snprintf(settings + len, size - (size_t)len, " no-guardrail");
}

/* batch --dry-run: in this process, without loading weights or writing anything, what a run of
 * the manifest would do with each item (docs/pipeline.md "Batch"): a table on stdout, one row per
 * item (and variant) in manifest order, then a summary. INVALID_ARG when an item would fail or a
 * line is bad, BLOCKED when the only problems are prompts the blocklist blocks. */
static cosmos_status batch_dry_run(struct gen_opts *o, const char *manifest, const char *out_dir,
                                   const char *json_out) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_model_dir md;
    cosmos_v2w_t *v2w = NULL;
    json_t *report = NULL, *rows = json_array(), *doc = NULL;
    char *plan = NULL, settings[256];
    int n_bad = 0, counts[5] = {0}; /* run, done, fail, blocked, bad */
    int64_t tokens = 0;
    CHECK_ALLOC(rows);
    CHECK(open_check_handle(o, "batch --dry-run", &md, &v2w));
    batch_settings(o, &md, v2w, settings, sizeof settings);
    struct cosmos_manifest_defaults d = {o->seed, o->num_input_frames, settings};
    report = json_array();
    CHECK_ALLOC(report);
    CHECK(plan_batch(manifest, out_dir, &d, o->variants > 1 ? o->variants : 1, o->save_tokens, report, &plan, &n_bad,
                     NULL));
    int T = 0;
    cosmos_v2w_clip_shape(v2w, &T, NULL, NULL, NULL);
    const int run_frames = o->num_frames > 0 ? o->num_frames : T;
    printf("%-6s %-40s %-8s %6s %9s  %s\n", "line", "name", "state", "frames", "tokens", "reason");
    for (size_t i = 0; i < json_array_size(report); i++) {
        json_t *e = json_array_get(report, i);
        const char *state = json_string_value(json_object_get(e, "state"));
        const int line = (int)json_integer_value(json_object_get(e, "line")), nf = (int)json_integer_value(json_object_get(e, "nf"));
        const char *name = json_string_value(json_object_get(e, "name"));
        char why[256] = "", frames[16] = "-", toks[24] = "-";
        int k = 1; /* done */
        if (!strcmp(state, "bad")) {
            k = 4;
            snprintf(why, sizeof why, "%s", json_string_value(json_object_get(e, "reason")));
        } else if (!strcmp(state, "run")) {
            const struct cosmos_v2w_request req = {
                json_string_value(json_object_get(e, "input")), json_string_value(json_object_get(e, "prompt")),
                (int)json_integer_value(json_object_get(e, "nif")), o->temperature, o->top_p, o->top_k,
                (uint64_t)json_integer_value(json_object_get(e, "seed")), NULL, NULL, NULL, nf};
            int64_t n_tok = 0;
            const cosmos_status cst = cosmos_v2w_check_request(v2w, &req, &n_tok, why, sizeof why);
            k = cst == COSMOS_OK ? 0 : cst == COSMOS_ERR_BLOCKED ? 3 : 2;
            snprintf(frames, sizeof frames, "%d", nf > 0 ? nf : run_frames);
            if (cst == COSMOS_OK) snprintf(toks, sizeof toks, "%lld", (long long)n_tok);
            tokens += n_tok;
        }
        static const char *names[5] = {"run", "done", "FAIL", "BLOCKED", "BAD"};
        counts[k]++;
        printf("%-6d %-40s %-8s %6s %9s  %s\n", line, name && name[0] ? name : "-", names[k], frames, toks, why);
        json_t *row = json_pack("{s:i, s:s?, s:s}", "line", line, "name", name && name[0] ? name : NULL, "state",
                                names[k]);
        CHECK_ALLOC(row);
        if (frames[0] != '-') json_object_set_new(row, "frames", json_integer(atoi(frames)));
        if (toks[0] != '-') json_object_set_new(row, "tokens", json_integer(atoll(toks)));
        if (why[0]) json_object_set_new(row, "reason", json_string(why));
        if (json_object_get(e, "seed")) /* the plan keeps it as int64 bits */
            json_object_set_new(row, "seed", seed_json((uint64_t)json_integer_value(json_object_get(e, "seed"))));
        json_array_append_new(rows, row);
    }
    printf("dry run of %s: %d clip(s) would run (%lld tokens to generate), %d already done, %d would fail, %d "
           "prompt(s) blocked by the blocklist, %d bad line(s)%s; nothing was written\n",
           manifest, counts[0], (long long)tokens, counts[1], counts[2], counts[3], counts[4],
           o->disable_guardrail || !cosmos_v2w_is_video2world(v2w) ? ""
                                                                   : " (the Aegis prompt check and the video guardrail "
                                                                     "run only in a real run)");
    fflush(stdout);
    if (json_out) { /* the same table for scripts */
        doc = json_pack("{s:s, s:{s:i, s:I, s:i, s:i, s:i, s:i}, s:O}", "manifest", manifest, "summary", "run",
                        counts[0], "tokens", (json_int_t)tokens, "done", counts[1], "fail", counts[2], "blocked",
                        counts[3], "bad", counts[4], "items", rows);
        CHECK_ALLOC(doc);
        CHECK(cosmos_json_write(doc, json_out, JSON_INDENT(2)));
    }
    if (counts[2] + counts[4] > 0) {
        LOG_ERROR("batch --dry-run: %d clip(s) would fail and %d manifest line(s) are bad (see the table)", counts[2],
                  counts[4]);
        st = COSMOS_ERR_INVALID_ARG;
    } else if (counts[3] > 0) {
        LOG_WARN("batch --dry-run: %d prompt(s) would be blocked (see the table)", counts[3]);
        st = COSMOS_ERR_BLOCKED;
    }
fail:
    free(plan);
    json_decref(doc);
    json_decref(rows);
    json_decref(report);
    cosmos_v2w_free(v2w);
    return st;
}

cosmos_status cmd_batch(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    struct gen_opts o;
    const char *manifest = NULL, *out_dir = NULL, *pos[1];
    int n_pos = 0, n_run = 0, n_done = 0, n_bad = 0, n_skipped = 0, dry_run = 0;
    const char *dry_run_json = NULL;
    char *plan = NULL, settings[256];
    json_t *arr = NULL, *settings_json = NULL;
    struct cosmos_manifest_item *items = NULL;
    struct cosmos_v2w_request *reqs = NULL;
    struct cosmos_v2w_result *res = NULL, *my_res = NULL;
    struct cosmos_v2w_request *my_reqs = NULL;
    char **paths = NULL, *ran = NULL;
    int *ended = NULL;
    struct gen_run r = {0};
    gen_opts_default(&o);
    struct cli_opt opts[] = {
        {"manifest", CLI_STR, &manifest, "JSONL: one {\"input\", \"prompt\", \"seed\", \"name\"} per line", 0},
        {"output-dir", CLI_STR, &out_dir, "where NAME.mp4 and NAME.status.json go", 0},
        {"replicas", CLI_INT, &o.replicas,
         "data-parallel copies of the pipeline, each on (ranks / R) ranks with its own layout; replica q runs "
         "the items q, q+R, ... (default 1)", 0},
        {"variants", CLI_INT, &o.variants,
         "clips per manifest item, with seeds seed, seed+1, ... and names NAME-v0, NAME-v1, ... (default 1: NAME)",
         0},
        {"save-tokens", CLI_FLAG, &o.save_tokens,
         "also write OUT/NAME.tokens.txt, each clip's token ids (input frames' included; `detokenize` decodes them); "
         "a rerun makes the missing ones", 0},
        {"progress-json", CLI_STR, &o.progress_json,
         "keep the job's progress in this JSON file (state, clips done/failed/left, tokens/s, ETA), rewritten "
         "after every clip", 0},
        {"dry-run-json", CLI_STR, &dry_run_json, "with --dry-run: also write its table as JSON", 0},
        {"dry-run", CLI_FLAG, &dry_run,
         "check the manifest without generating: a table of what a run would do with each item (run, done, "
         "FAIL, BLOCKED, BAD and why: prompts, lengths, inputs decoded as in a run, the blocklist), tokens to "
         "generate; loads no weights and writes nothing; one process", 0},
        GEN_OPTS(o),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("batch", argc, argv, opts, pos, 0, &n_pos, &o.common));
    if (o.common.help) return COSMOS_OK;
    CHECK_ARG(manifest && out_dir, COSMOS_ERR_INVALID_ARG, "batch: --manifest and --output-dir are required");
    CHECK_ARG(!dry_run_json || dry_run, COSMOS_ERR_INVALID_ARG, "batch: --dry-run-json goes with --dry-run");
    CHECK_ARG(o.variants >= 0 && o.variants <= 1000, COSMOS_ERR_INVALID_ARG,
              "batch: --variants must be in 1..1000 (got %d)", o.variants);
    if (dry_run) { /* one process's work: under a launcher, the first rank does it, the others leave */
        if (cli_launcher_rank() == 0) st = batch_dry_run(&o, manifest, out_dir, dry_run_json);
        goto fail;
    }
    { /* a manifest that cannot be read or an output directory that cannot be written ends the
       * command before the models load (every rank checks alike, before MPI starts) */
        FILE *mf = fopen(manifest, "r");
        CHECK_ARG(mf, COSMOS_ERR_IO, "batch: cannot open the manifest '%s' (%s; nothing was loaded)", manifest,
                  strerror(errno));
        fclose(mf);
        CHECK(check_out_dir(out_dir));
    }
    install_signals();
    CHECK(gen_open(&o, "batch", &r));
    batch_settings(&o, &r.md, r.v2w, settings, sizeof settings);
    struct cosmos_manifest_defaults d = {o.seed, o.num_input_frames, settings};
    /* rank 0 plans; everyone gets the plan (or learns that planning failed) */
    int64_t len = 0;
    if (r.rank == 0) {
        cosmos_status pst = plan_batch(manifest, out_dir, &d, o.variants > 1 ? o.variants : 1, o.save_tokens, NULL,
                                       &plan, &n_bad, &n_skipped);
        len = pst == COSMOS_OK ? (int64_t)strlen(plan) + 1 : (int64_t)pst; /* statuses are negative */
    }
    if (r.world) CHECK(cosmos_comm_broadcast(r.world, &len, sizeof len, 0));
    CHECK_ARG(len > 0, len < 0 ? (cosmos_status)len : COSMOS_ERR_INTERNAL, "batch: planning failed (see rank 0)");
    if (r.rank != 0) {
        plan = malloc((size_t)len);
        CHECK_ALLOC(plan);
    }
    if (r.world) CHECK(cosmos_comm_broadcast(r.world, plan, (size_t)len, 0));
    arr = json_loads(plan, 0, NULL);
    CHECK_ARG(json_is_array(arr), COSMOS_ERR_INTERNAL, "batch: bad plan");
    n_run = (int)json_array_size(arr);
    if (n_run == 0) {
        LOG_INFO0("batch: nothing to do");
        const struct batch_ctx none = {out_dir, NULL, 0, 0, 0, 0, cosmos_now_s(), &r, NULL, NULL,
                                       r.rank == 0 ? o.progress_json : NULL, n_skipped, n_bad, NULL};
        write_progress(&none, "finished");
        CHECK_ARG(n_bad == 0, COSMOS_ERR_INVALID_ARG, "batch: %d bad manifest line(s) (see their .status.json)", n_bad);
        goto fail;
    }
    items = calloc((size_t)n_run, sizeof *items);
    reqs = calloc((size_t)n_run, sizeof *reqs);
    res = calloc((size_t)n_run, sizeof *res);
    paths = calloc((size_t)n_run, sizeof *paths);
    CHECK_ALLOC(items);
    CHECK_ALLOC(reqs);
    CHECK_ALLOC(res);
    CHECK_ALLOC(paths);
    for (int i = 0; i < n_run; i++) {
        json_t *e = json_array_get(arr, (size_t)i);
        struct cosmos_manifest_item *it = &items[i];
        it->line = (int)json_integer_value(json_object_get(e, "line"));
        it->input = (char *)json_string_value(json_object_get(e, "input"));
        it->prompt = (char *)json_string_value(json_object_get(e, "prompt"));
        it->seed = (uint64_t)json_integer_value(json_object_get(e, "seed"));
        it->num_input_frames = (int)json_integer_value(json_object_get(e, "nif"));
        it->num_frames = (int)json_integer_value(json_object_get(e, "nf"));
        snprintf(it->name, sizeof it->name, "%s", json_string_value(json_object_get(e, "name")));
        size_t pl = strlen(out_dir) + strlen(it->name) + 16;
        paths[i] = malloc(2 * pl); /* NAME.mp4, then NAME.tokens.txt */
        CHECK_ALLOC(paths[i]);
        snprintf(paths[i], pl, "%s/%s.mp4", out_dir, it->name);
        snprintf(paths[i] + pl, pl, "%s/%s.tokens.txt", out_dir, it->name);
        reqs[i] = (struct cosmos_v2w_request){it->input, it->prompt, it->num_input_frames, o.temperature, o.top_p,
                                              o.top_k, it->seed, paths[i], NULL, o.save_tokens ? paths[i] + pl : NULL,
                                              it->num_frames};
    }
    /* this replica's share: items q, q + R, q + 2R, ... (one replica: all of them) */
    const int R = r.n_replicas, q = r.replica;
    const int n_mine = n_run > q ? (n_run - q + R - 1) / R : 0;
    my_reqs = calloc((size_t)n_mine + 1, sizeof *my_reqs);
    my_res = calloc((size_t)n_mine + 1, sizeof *my_res);
    CHECK_ALLOC(my_reqs);
    CHECK_ALLOC(my_res);
    for (int k = 0; k < n_mine; k++) my_reqs[k] = reqs[q + k * R];
    ended = calloc((size_t)R, sizeof *ended);
    CHECK_ALLOC(ended);
    settings_json = batch_settings_json(&o, &r);
    CHECK_ALLOC(settings_json);
    struct batch_ctx b = {out_dir, items, n_run, 0, 0, 0, cosmos_now_s(), &r, ended, settings_json,
                          r.rank == 0 ? o.progress_json : NULL, n_skipped, n_bad, NULL};
    write_progress(&b, "running");
    int my_done = 0;
    cosmos_status rst = cosmos_v2w_run(r.v2w, my_reqs, n_mine, my_res, &my_done, on_clip_done, &b);
    run_or_abort(&r, "batch", rst);
    if (R > 1) { /* every replica's record goes to rank 0, after all of them finished (or failed) */
        if (r.rank != 0 && r.rank % r.replica_size == 0) { /* its progress records end here */
            struct dp_progress m = {-1, 0, 0, ""};
            CHECK(cosmos_comm_send(r.world, &m, sizeof m, 0, TAG_PROGRESS_DP));
        }
        int all_ok = 0;
        /* a replica that finished its share waits here for the others, for as many clips as they
         * have left: not a hang (a stuck replica of several ranks is caught by its own ranks) */
        cosmos_comm_watchdog_patient(1);
        const cosmos_status ast = cosmos_comm_all_ok(r.world, rst == COSMOS_OK, &all_ok);
        cosmos_comm_watchdog_patient(0);
        CHECK(ast);
        CHECK(rst);
        CHECK_ARG(all_ok, COSMOS_ERR_IO, "batch: another replica's run failed (see its log)");
        if (r.rank == 0) CHECK(drain_replica_progress(&b, 1));
    }
    CHECK(rst);
    ran = calloc((size_t)n_run, sizeof *ran);
    CHECK_ALLOC(ran);
    CHECK(gather_replicas(&r, my_res, n_mine, my_done, res, ran, n_run));
    int totals[3] = {0, 0, n_bad}; /* clips run, failed, bad lines: rank 0's, for every rank's exit status */
    if (r.rank == 0) {
        for (int i = 0; i < n_run; i++) {
            if (!ran[i]) continue;
            reqs[totals[0]] = reqs[i], res[totals[0]] = res[i]; /* the clips that ran, in manifest order */
            totals[0]++;
            totals[1] += res[i].status != COSMOS_OK;
        }
        n_done = totals[0];
        cosmos_v2w_log_timing(res, n_done);
        cosmos_v2w_log_memory(r.v2w, R > 1 ? "memory per rank of replica 0 (world ranks 0..; the other replicas "
                                             "run the same layout)"
                                           : "memory per rank");
        if (o.timing_json) CHECK(cosmos_v2w_write_timing_json(o.timing_json, reqs, res, n_done));
        if (o.memory_json) CHECK(cosmos_v2w_write_memory_json(r.v2w, o.memory_json));
        LOG_INFO("batch: %d of %d clips run, %d failed%s", n_done, n_run, totals[1],
                 n_done < n_run ? " (stopped by a signal: run the same command again to resume)" : "");
        write_progress(&b, n_done < n_run ? "interrupted" : "finished");
    }
    if (r.world) CHECK(cosmos_comm_broadcast(r.world, totals, sizeof totals, 0));
    n_done = totals[0];
    if (n_done != n_run || totals[1] || totals[2]) { /* every rank exits 1; rank 0 says why */
        if (r.rank == 0 && n_done != n_run)
            LOG_ERROR("batch: interrupted after %d of %d clips; rerun to resume", n_done, n_run);
        else if (r.rank == 0)
            LOG_ERROR("batch: %d clip(s) failed and %d manifest line(s) were bad (see their .status.json)", totals[1],
                      totals[2]);
        st = COSMOS_ERR_IO;
    }
fail:
    free(my_reqs);
    free(my_res);
    free(ran);
    free(ended);
    if (paths)
        for (int i = 0; i < n_run; i++) free(paths[i]);
    free(paths);
    free(items); /* strings belong to arr */
    free(reqs);
    free(res);
    json_decref(arr);
    json_decref(settings_json);
    free(plan);
    gen_close(&r);
    return st;
}
