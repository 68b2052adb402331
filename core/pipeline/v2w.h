/* The Video2World / base world-generation pipeline over MPI ranks with roles (issue 7; spec
 * ar-model.md 6.3 stages, 6.4 input, 4 token layout; components.md 1).
 *
 * Per clip, the stages run on the ranks of their role (core/pipeline/layout.h), in this fixed role
 * order, which every rank also follows for the roles it holds (so blocking sends never deadlock:
 * a message only goes from an earlier role to a later one of the same clip, and every rank
 * finishes clip i before clip i+1):
 *   guardrail: text blocklist on the prompt (V2W only; skipped with disable_guardrail) -> verdict
 *              to the t5 and tokenizer ranks. It is also where clips start: a stop request (signal)
 *              is turned into a "stop" message here and flows down the chain, so every role stops
 *              after the same clip.
 *   t5:        T5 embedding [context_len, context_dim] of the prompt -> the first AR rank.
 *   tokenizer: decode the input file, keep the last num_input_frames (an image gives 1), pad, resize
 *              and crop to the AR model's clip size, DV-encode -> all token ids -> the first AR rank.
 *   ar:        the first AR rank broadcasts ids and context in the AR group; prompt = [BOV] +
 *              ids of the first n_ctx latent frames (n_ctx = 2 for 9 input frames, 1 otherwise);
 *              n_gen = the remaining latent frames' tokens (num_frames: see "Clip length");
 *              sampling with the counter-based RNG at (seed, position). The first AR rank
 *              streams latent frames to the decoder rank: the
 *              context frames at once, each generated frame as soon as its last token is known.
 *   decoder:   causal streaming DV decode of each latent frame as it arrives -> uint8 frames
 *              (x*0.5+0.5, clamp, *255 truncated) -> the video-guardrail role, which is this rank
 *              itself by default (inline) or a rank of its own that the decoder streams each batch
 *              of frames to. The diffusion-decoder variant is described below.
 *   video-guardrail: on every batch of new frames, before they are written (unless
 *              disable_guardrail; spec components.md 5.4, 5.5): the content-safety filter (an unsafe
 *              frame fails the clip: no output), then face blur in place; then the frames are
 *              appended to the mp4 (temp name, renamed when complete; optional preview mp4). With a diffusion decoder in the model directory (and not
 *              disable_diffusion_decoder): the latent frames are collected, and at the clip's end
 *              the diffusion decoder (core/model/diffusion_decoder.h: DiT sampling over chunks +
 *              CV8x8x8 decode, spec components.md 4) makes the frames, conditioned on the prompt's
 *              T5 context (Video2World: the first AR rank forwards it ahead of the clip's frames)
 *              or on the model directory's dd_context (base models); then the same uint8 / mp4 path.
 * Clip length (num_frames; user need 3 of spec performance-and-peers.md: explicit length control,
 * token-level continuation with a sliding window). The output has Tl_out = 1 + (num_frames-1)/8
 * latent frames. Up to the model's Tl (5) the first window is the whole run: the AR group stops
 * after latent frame Tl_out-1. Beyond it the AR group goes on in windows of the model's own
 * length: each further window is prefilled with [BOV] + the last K = min(2, Tl-1) latent frames
 * generated so far, placed at latent positions 0..K-1 (as 9 input frames are), and samples the
 * next min(Tl-K, remaining) latent frames with the seed cosmos_v2w_window_seed(seed, w) (window 0
 * uses the seed itself). Tokens are never turned back into pixels between windows (the official
 * route, chaining mp4 outputs through the tokenizer, degrades; NVIDIA/Cosmos #54). The decoder
 * decodes all Tl_out latent frames as one causal stream, giving 1 + 8(Tl_out-1) frames. The
 * model was trained on single windows: what it makes of a continued window (an 8-frame latent in
 * the slot of a 1-frame one) is not validated here (random weights); docs/pipeline.md.
 * A failure of one clip (unreadable input, blocked prompt) travels down the chain as a status in
 * the message header: that clip fails with its reason, the others go on. Communication failures
 * are fatal for the run.
 * Every rank calls cosmos_v2w_run with the same request list. */
#ifndef COSMOS_PIPELINE_V2W_H
#define COSMOS_PIPELINE_V2W_H

#include <stdint.h>

#include "core/pipeline/layout.h"
#include "core/pipeline/model_dir.h"
#include "core/status.h"
#include "parallel/comm.h"

#define COSMOS_V2W_MAX_IN_FLIGHT 64
#define COSMOS_V2W_MAX_LATENT_FRAMES 256 /* num_frames <= 1 + 8 * 255 = 2041 with DV8x16x16 */

struct cosmos_v2w_params {
    const struct cosmos_model_dir *model_dir;
    const struct cosmos_layout *layout;
    cosmos_comm_t *world;       /* borrowed; NULL = one process (layout must be of 1 rank) */
    const char *backend;        /* "cpu" (default) */
    int threads;                /* 0 = all cores */
    const char *guardrail_dir;  /* word lists (default configs/guardrail) */
    int disable_guardrail;
    int disable_diffusion_decoder; /* the DV decoder makes the video even when the model directory
                                      has a diffusion decoder (spec components.md 4.9) */
    int t5_on_cpu;              /* T5 runs on a CPU backend even where its rank has a device one
                                   (default 0: on the device, f32, as the official encoder; T5-11B
                                   then holds 19.5 GB of it) */
    volatile const int *stop;   /* set asynchronously (signal handler): stop after the current clip */
    int clips_in_flight;        /* clips the transformer generates at once (its sequences; with pp
                                   stages, pp keeps every stage busy); default 1 */
    int local_rank;             /* this process's index on its node, which picks the GPU of a "cuda"
                                   backend; < 0 (default): cosmos_comm_local_rank(world), or 0 without
                                   a world. Data-parallel replicas pass the job's own (world is then
                                   the replica's communicator, whose local ranks restart at 0) */
    int num_frames;             /* frames of every output clip, input frames included: 1 + 8k (the
                                   tokenizer's temporal compression), at most COSMOS_V2W_MAX_FRAMES;
                                   0 (default) = the model's clip (33). Fewer: the clip's first
                                   frames, exactly (causal model and decoder, RNG at (seed, position)).
                                   More: continued through a sliding window (see "Clip length"
                                   above). The diffusion decoder makes the model's clip length only. */
    const int *stage_layers;    /* [layout->pp] the transformer's layers per pipeline stage (sum
                                   n_layers); NULL (default): even, the extra ones to the first */
    int check_only;             /* open reads the model directory's headers and checks them against
                                   each other and against num_frames, the layout and the guardrail's
                                   files, but creates no backend and loads no weights (the prompt
                                   blocklist excepted): a handle for cosmos_v2w_check_request only
                                   (`batch --dry-run`); cosmos_v2w_run refuses it. Without a world
                                   and a layout it plays every role (a one-rank layout of its own) */
};
struct cosmos_v2w_params cosmos_v2w_params_default(void);

struct cosmos_v2w_request {
    const char *input;   /* image or video file */
    const char *prompt;  /* V2W models; NULL/"" for base models */
    int num_input_frames; /* 1 or 9 (an image is always 1) */
    float temperature;   /* 1.0 */
    float top_p;         /* < 0: the model's default */
    int top_k;           /* 0 = off */
    uint64_t seed;
    const char *output;  /* .mp4 */
    const char *preview; /* optional partial mp4 updated while generating */
    const char *tokens_out; /* optional: all 12800-style token ids of the clip, one per line */
    int num_frames;      /* this clip's output frames (see params.num_frames); 0 = the run's. A bad
                            value (not 1 + 8k, out of range, or not 33 with the diffusion
                            decoder) fails the clip alone */
};

enum cosmos_v2w_stage {
    COSMOS_V2W_GUARDRAIL, COSMOS_V2W_T5, COSMOS_V2W_INPUT, COSMOS_V2W_TOKENIZE, COSMOS_V2W_AR_PREFILL,
    COSMOS_V2W_AR_DECODE, COSMOS_V2W_DECODE,
    COSMOS_V2W_VIDEO_GUARDRAIL, /* only on a video-guardrail rank of its own (else inside "decode") */
    COSMOS_V2W_N_STAGES
};
const char *cosmos_v2w_stage_name(enum cosmos_v2w_stage s);
/* Sampling seed of continuation window w >= 1 of a clip with the given seed: seed XOR
 * (w * 0x9E3779B97F4A7C15) mod 2^64 (window 0: the seed). Distinct windows draw from distinct
 * streams of the counter-based RNG, which is keyed by (seed, position) and positions restart. */
uint64_t cosmos_v2w_window_seed(uint64_t seed, int w);

struct cosmos_v2w_result {
    cosmos_status status;      /* OK, or why the clip failed */
    char reason[256];          /* for a failed clip */
    double start[COSMOS_V2W_N_STAGES], end[COSMOS_V2W_N_STAGES]; /* wall clock (s, CLOCK_REALTIME); 0 = not run */
    int stage_rank[COSMOS_V2W_N_STAGES];
    int64_t n_tokens_generated;
    int n_frames;
    double video_guardrail_s; /* time in the video guardrail (content filter + face blur): inside "decode", or
                                 inside "video_guardrail" on a rank of its own */
};

typedef struct cosmos_v2w cosmos_v2w_t;

/* Every rank: create its backend, load the models of its roles, split the AR group communicators.
 * Collective over world: if any rank fails, all return an error. */
cosmos_status cosmos_v2w_open(const struct cosmos_v2w_params *p, cosmos_v2w_t **out);
void cosmos_v2w_free(cosmos_v2w_t *v);
/* Clip geometry the loaded AR model implies: frames, height, width; latent [T,H,W]. */
void cosmos_v2w_clip_shape(const cosmos_v2w_t *v, int *T, int *H, int *W, int latent[3]);
int cosmos_v2w_is_video2world(const cosmos_v2w_t *v);
double cosmos_v2w_default_top_p(const cosmos_v2w_t *v);

/* What would stop this request before its clip is generated, found without generating it: a
 * Video2World model and no prompt; a prompt the guardrail's blocklist blocks (BLOCKED; Aegis is
 * not run: blocked prompts it finds surface only in a run); an unusable length (its own
 * num_frames, else the run's); an input that cannot be read or prepared (it is decoded and
 * resized exactly as in a run); input frames that already fill the length. Returns OK, or the
 * status the clip would fail with and the reason in why (the run's wording). *n_tokens: the
 * tokens the transformer would generate for it (0 when it would fail). Any rank, any handle. */
cosmos_status cosmos_v2w_check_request(cosmos_v2w_t *v, const struct cosmos_v2w_request *req, int64_t *n_tokens,
                                       char *why, size_t n_why);

/* Runs the requests. results[n] is filled on rank 0 (gathered from all ranks); *n_done gets the
 * number of clips started before a stop request (== n without one). on_done (may be NULL; the
 * same on every rank) is called on rank 0 for each finished clip, e.g. for status files and
 * progress: the decoder rank reports each clip to rank 0, which handles the reports between
 * its own work (between tokens when it is the first AR rank), never holding up the clip flow.
 * Returns OK unless the run itself failed (per-clip failures are in results). */
typedef void (*cosmos_v2w_done_fn)(void *ud, int index, const struct cosmos_v2w_result *r);
cosmos_status cosmos_v2w_run(cosmos_v2w_t *v, const struct cosmos_v2w_request *reqs, int n,
                             struct cosmos_v2w_result *results, int *n_done, cosmos_v2w_done_fn on_done, void *ud);

/* Memory of each rank of the pipeline, measured during cosmos_v2w_run (user need 1 of spec
 * performance-and-peers.md: a clear memory table per mode). Bytes. */
struct cosmos_v2w_memory_row {
    char roles[96];          /* the rank's roles (cosmos_layout_rank_roles), e.g. "ar(stage 0, tp 1) decoder" */
    int64_t host_peak;       /* the process's peak resident set (getrusage): weight pages mapped from
                                files and read count, as do every model and buffer on the host */
    int64_t ar_weights, ar_kv, ar_other; /* the transformer on this rank (its shard), in its backend's
                                memory: weights, self-attention KV cache, and context K/V + tables +
                                activations; 0 on ranks without the transformer */
    int64_t device_used, device_total;   /* a GPU backend: memory in use on the device (by every
                                process on it) and its size, at the end of the run; 0 on the CPU */
};
/* The memory of each rank of p->layout planned before anything is loaded (`cosmos-ar info DIR
 * --ranks N`), from the model directory's file headers and sizes, p->backend, p->clips_in_flight
 * (0: 1), p->disable_guardrail, p->disable_diffusion_decoder and p->t5_on_cpu, as cosmos_v2w_open would place
 * the models. rows[p->layout->n_ranks]. */
struct cosmos_v2w_memory_plan_row {
    char roles[96];
    int64_t ar_weights, ar_kv, ar_other; /* exactly what the run's row will say (cosmos_ar_memory_plan) */
    int64_t models_device, models_host;  /* the weights of the other models the rank runs on its GPU
                                            backend (diffusion decoder DiT + CV decoder, Aegis, T5, the
                                            DV tokenizer beside them) and on the host (video guardrail;
                                            all of them on a CPU backend), not their working memory:
                                            bytes on disk, except T5's as loaded (cosmos_t5_weight_bytes:
                                            f32 matmul weights on a bf16 device) */
};
cosmos_status cosmos_v2w_plan_memory(const struct cosmos_v2w_params *p, struct cosmos_v2w_memory_plan_row *rows);
struct cosmos_ar_config; /* core/config.h */
/* The same for the transformer of config c, with p->model_dir NULL (the models columns 0) or the
 * directory whose other files to place (`cosmos-ar info --config CFG.json --ranks N`: an official
 * model sized before its weights are downloaded). */
cosmos_status cosmos_v2w_plan_memory_config(const struct cosmos_v2w_params *p, const struct cosmos_ar_config *c,
                                            struct cosmos_v2w_memory_plan_row *rows);
/* After cosmos_v2w_run: every rank's row ([*n] = the world size; on every rank), or NULL before. */
const struct cosmos_v2w_memory_row *cosmos_v2w_memory(const cosmos_v2w_t *v, int *n);
/* The same rows as JSON (bytes): {"rows": [{"rank", "roles", "host_peak", "ar_weights", "ar_kv",
 * "ar_other", "device_used", "device_total"}, ...]}, via a temporary name. */
cosmos_status cosmos_v2w_write_memory_json(const cosmos_v2w_t *v, const char *path);
/* The memory table of the last run in rank 0's log; `title` names whose ranks they are. */
void cosmos_v2w_log_memory(const cosmos_v2w_t *v, const char *title);

/* Per-stage timing table of the results (rank 0's log) and the same as JSON (to a file, temp +
 * rename). */
void cosmos_v2w_log_timing(const struct cosmos_v2w_result *results, int n);
cosmos_status cosmos_v2w_write_timing_json(const char *path, const struct cosmos_v2w_request *reqs,
                                           const struct cosmos_v2w_result *results, int n);

#endif
