/* Video2World / base pipeline over ranks with roles (see v2w.h for the flow and its ordering).
 * Messages between roles: a fixed header (clip index, status, payload bytes, reason) then the
 * payload, over the world communicator; when both ends are the same rank the message goes through
 * a local FIFO instead (the producing role always runs first on that rank). Tags:
 *   VERDICT guardrail -> t5, tokenizer      no payload (status says blocked / stop)
 *   CTX     t5 -> first AR rank             f32 [context_len, context_dim]
 *   IDS     tokenizer -> first AR rank      int32 [Tl*Hl*Wl] (all latent frames of the input clip)
 *   FRAME   first AR rank -> decoder        int32 [Hl*Wl] one latent frame, in order; a header with
 *                                           bytes 0 ends the clip (status: why, if it failed); with
 *                                           a diffusion decoder on a Video2World model, a header with
 *                                           aux AUX_CONTEXT and f32 [context_len, context_dim] (the
 *                                           clip's T5 context) comes before the clip's first frame
 *   RGB     decoder -> video guardrail      uint8 [n,H,W,3] the clip's next n frames (aux: the first
 *           (a rank of its own)             one's index); a header with bytes 0 ends the clip (status:
 *                                           why, if it failed; aux: tokens generated), then one with
 *                                           MSG_GROUP_END / MSG_GROUP_STOP ends the group
 * Within the AR group the first rank broadcasts the header, ids and context. */
#define _POSIX_C_SOURCE 200809L
#include "core/process.h"
#include "core/json_file.h"
#include "core/pipeline/v2w.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/config.h"
#include "core/guardrail/guardrail.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/media.h"
#include "core/model/ar_generate.h"
#include "core/model/ar_model.h"
#include "core/model/ar_weights.h"
#include "parallel/shard.h"
#include "core/context_file.h"
#include "core/model/diffusion_decoder.h"
#include "core/model/dv_config.h"
#include "core/model/dv_decoder.h"
#include "core/model/dv_encoder.h"
#include "core/model/t5_model.h"
#include "core/token_file.h"

enum {
    TAG_VERDICT_T5 = 301, TAG_VERDICT_TOK = 302, TAG_CTX = 303, TAG_IDS = 304, TAG_FRAME = 305, TAG_PROGRESS = 306,
    TAG_RGB = 307
};
/* header status: >= 0 flow control, < 0 a cosmos_status failure of that clip */
enum { MSG_OK = 0, MSG_STOP = 1, MSG_GROUP_END = 2, MSG_GROUP_STOP = 3 };
/* aux of a FRAME message whose payload is the clip's context (diffusion decoder, Video2World) */
enum { AUX_CONTEXT = -1 };
/* decoder -> decoder_cfg broadcasts (CFG parallelism): int32 [4] = {op, clip, rows or n_live, stop};
 * CFG_CLIP is followed by the clip's ids [Tl*Hl*Wl] and its context [rows, cols], CFG_END ends a
 * group (n_live clips ran; stop: no group follows) */
enum { CFG_CLIP = 1, CFG_END = 2 };

struct msg_hdr {
    int32_t clip;
    int32_t status;
    int64_t bytes;
    int64_t aux; /* end-of-clip FRAME: tokens generated */
    char reason[240];
};

struct local_msg {
    int tag;
    struct msg_hdr h;
    void *payload;
    struct local_msg *next;
};

/* Per-clip decoder state (in the pipeline object, so the first AR rank can feed it inline when it
 * is also the decoder: frames are then decoded and appended as soon as they are generated). */
struct dec_state {
    cosmos_dv_stream_t *stream;
    cosmos_media_writer_t *writer;
    float *frames_f32;  /* [3, max new frames, H, W] */
    uint8_t *frames_u8; /* [max new frames, H, W, 3] */
    int n_pushed;
    int64_t n_out;      /* frames passed on (to the video guardrail and the mp4) so far */
    int32_t *ids;       /* diffusion decoder: [Tl*Hl*Wl] the clip's tokens, collected */
    float *ctx;         /* diffusion decoder, Video2World: [context_len, context_dim] */
    int failed;         /* this clip failed here: later frames are drained and dropped */
    int ended;          /* the end-of-clip (or failure / stop) message was handled */
};

/* Per-clip state of a video-guardrail rank of its own: the clip's mp4, written as frames pass. */
struct vg_state {
    cosmos_media_writer_t *writer;
    int failed; /* the clip failed (here or upstream): later frames are dropped */
};

static void vg_reset(struct vg_state *s) {
    cosmos_media_writer_abort(s->writer);
    memset(s, 0, sizeof *s);
}

static void dec_reset(struct dec_state *d) {
    cosmos_media_writer_abort(d->writer);
    cosmos_dv_stream_free(d->stream);
    free(d->frames_f32);
    free(d->frames_u8);
    free(d->ids);
    free(d->ctx);
    memset(d, 0, sizeof *d);
}

struct cosmos_v2w {
    struct cosmos_v2w_params p;
    struct cosmos_layout own_layout; /* a check handle's one-rank layout when the caller gives none */
    int rank, size;
    struct cosmos_ar_config ar_cfg;
    struct cosmos_dv_config dv_cfg;
    int T, H, W, Tl, Hl, Wl; /* clip and latent geometry (the model's window) */
    int T_out;               /* frames of an output clip: the run's num_frames (a request may set its own) */
    int win_ctx;             /* latent frames of context of a continuation window */
    struct cosmos_v2w_memory_row *mem; /* [size] every rank's memory in the last run */
    int v2w;
    cosmos_backend_t *be;       /* the rank's --backend: the transformer's on AR ranks; on others, opened when
                                   a model of the rank runs on the device (DiT, Aegis, T5, video guardrail) */
    cosmos_backend_t *host_be;  /* what runs on the host (T5 with --t5-on-cpu, the tokenizers without a device
                                   be, the video guardrail on a CPU run): be if host, else host_own */
    cosmos_backend_t *host_own;
    cosmos_guardrail_t *guard;       /* text checks (guardrail rank, Video2World) */
    cosmos_guardrail_t *video_guard; /* content filter + face blur (decoder rank) */
    cosmos_t5_t *t5;
    cosmos_h5_t *tok_h5, *dec_h5;
    cosmos_dv_encoder_t *dv_enc; /* the tokenizer rank's encoder, its weights resident (tok_h5's) */
    int use_dd;                         /* the decoder role runs the diffusion decoder */
    cosmos_h5_t *dd_h5, *cv_h5;         /* decoder rank, use_dd */
    cosmos_diffusion_decoder_t *dd;
    cosmos_comm_t *cfg_comm;            /* decoder + decoder_cfg ranks (CFG parallelism), or NULL */
    float *dd_ctx;                      /* base models: the generic prompt's context [dd_ctx_rows, cols] */
    int dd_ctx_rows;
    cosmos_comm_t *ar_comm, *tp_comm, *pp_comm;
    int local_rank; /* rank on this node: the CUDA device of a "cuda" backend */
    cosmos_ar_model_t *ar;
    struct local_msg *queue_head, *queue_tail;
    int in_flight;         /* clips per group (the transformer's sequences) */
    struct dec_state *dec; /* [in_flight] decoder role state of the clips in flight */
    int group_ended;       /* the decoder saw the group's end message */
    int vg_remote;         /* the video guardrail (and the mp4 writer) is a rank other than the decoder */
    struct vg_state *vg;   /* [in_flight] that rank's state of the clips in flight */
    /* progress: the decoder rank reports each finished clip to rank 0, which calls on_done */
    cosmos_v2w_done_fn on_done;
    void *on_done_ud;
    int n_progress; /* reports rank 0 has handled */
};

static double now_real(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *cosmos_v2w_stage_name(enum cosmos_v2w_stage s) {
    static const char *names[] = {"guardrail",  "t5",        "input",  "tokenize",
                                  "ar_prefill", "ar_decode", "decode", "video_guardrail"};
    return s < COSMOS_V2W_N_STAGES ? names[s] : "?";
}

uint64_t cosmos_v2w_window_seed(uint64_t seed, int w) {
    return w == 0 ? seed : seed ^ ((uint64_t)w * UINT64_C(0x9E3779B97F4A7C15));
}

struct cosmos_v2w_params cosmos_v2w_params_default(void) {
    struct cosmos_v2w_params p = {0};
    p.backend = "cpu";
    p.guardrail_dir = "configs/guardrail";
    p.local_rank = -1;
    return p;
}

/* ---- messages ---- */

static cosmos_status msg_send_aux(cosmos_v2w_t *v, int dst, int tag, int clip, int status, const char *reason,
                                  const void *payload, int64_t bytes, int64_t aux) {
    cosmos_status st = COSMOS_OK;
    struct msg_hdr h;
    memset(&h, 0, sizeof h);
    h.clip = clip, h.status = status, h.bytes = payload ? bytes : 0, h.aux = aux;
    if (reason) snprintf(h.reason, sizeof h.reason, "%s", reason);
    if (dst == v->rank) {
        struct local_msg *m = calloc(1, sizeof *m);
        CHECK_ALLOC(m);
        m->tag = tag, m->h = h;
        if (h.bytes > 0 && payload) {
            m->payload = malloc((size_t)h.bytes);
            if (!m->payload) {
                free(m);
                LOG_ERROR("pipeline: out of memory queueing a %lld-byte message", (long long)h.bytes);
                return COSMOS_ERR_NOMEM;
            }
            memcpy(m->payload, payload, (size_t)h.bytes);
        }
        if (v->queue_tail)
            v->queue_tail->next = m;
        else
            v->queue_head = m;
        v->queue_tail = m;
        return COSMOS_OK;
    }
    CHECK(cosmos_comm_send(v->p.world, &h, sizeof h, dst, tag));
    if (h.bytes > 0) CHECK(cosmos_comm_send(v->p.world, payload, (size_t)h.bytes, dst, tag));
fail:
    return st;
}

static cosmos_status msg_send(cosmos_v2w_t *v, int dst, int tag, int clip, int status, const char *reason,
                              const void *payload, int64_t bytes) {
    return msg_send_aux(v, dst, tag, clip, status, reason, payload, bytes, 0);
}

/* Receives the next message with `tag` from src; *payload malloc'd (NULL when bytes == 0). */
static cosmos_status msg_recv(cosmos_v2w_t *v, int src, int tag, struct msg_hdr *h, void **payload) {
    cosmos_status st = COSMOS_OK;
    *payload = NULL;
    if (src == v->rank) {
        struct local_msg *prev = NULL, *m = v->queue_head;
        while (m && m->tag != tag) prev = m, m = m->next;
        CHECK_ARG(m, COSMOS_ERR_INTERNAL, "pipeline: no local message with tag %d (role order broken)", tag);
        if (prev)
            prev->next = m->next;
        else
            v->queue_head = m->next;
        if (v->queue_tail == m) v->queue_tail = prev;
        *h = m->h;
        *payload = m->payload;
        free(m);
        return COSMOS_OK;
    }
    CHECK(cosmos_comm_recv(v->p.world, h, sizeof *h, src, tag));
    h->reason[sizeof h->reason - 1] = '\0';
    CHECK_ARG(h->bytes >= 0 && h->bytes < ((int64_t)1 << 40), COSMOS_ERR_INTERNAL, "pipeline: corrupt message header");
    if (h->bytes > 0) {
        *payload = malloc((size_t)h->bytes);
        CHECK_ALLOC(*payload);
        CHECK(cosmos_comm_recv(v->p.world, *payload, (size_t)h->bytes, src, tag));
    }
fail:
    return st;
}

/* ---- open ---- */

static cosmos_status read_header_config(const char *path, const char *model_type, char **json) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h = NULL;
    CHECK(cosmos_h5_open(path, &h));
    CHECK(cosmos_h5_check_model_header(h, model_type, "is the model directory's manifest pointing at the right file?",
                                       json));
fail:
    cosmos_h5_close(h);
    return st;
}

/* Latent frames of an output clip of nf frames (*lat): 1 + 8k frames, within the bounds, and the
 * model's own length when the diffusion decoder makes the video. Otherwise INVALID_ARG or
 * UNSUPPORTED with the reason in why. Serves the run's num_frames and each request's. */
static cosmos_status frames_to_latents(const cosmos_v2w_t *v, int nf, int *lat, char *why, size_t n_why) {
    const int tc = v->dv_cfg.temporal_compression, tl = nf >= 1 ? 1 + (nf - 1) / tc : 0;
    if (nf < 1 || (nf - 1) % tc != 0 || tl < 2 || tl > COSMOS_V2W_MAX_LATENT_FRAMES) {
        snprintf(why, n_why, "%d output frames: the tokenizer makes 1 + %dk frames (k latent frames after the first), "
                             "from %d to %d", nf, tc, 1 + tc, 1 + tc * (COSMOS_V2W_MAX_LATENT_FRAMES - 1));
        return COSMOS_ERR_INVALID_ARG;
    }
    if (v->use_dd && tl != v->Tl) {
        snprintf(why, n_why, "the diffusion decoder makes %d-frame clips only (asked for %d frames); run with "
                             "--disable-diffusion-decoder for other lengths (the DV decoder)", v->T, nf);
        return COSMOS_ERR_UNSUPPORTED;
    }
    *lat = tl;
    return COSMOS_OK;
}

/* 1 (with the reason in why) when n_ctx latent frames of input leave nothing to generate in a clip
 * of lat latent frames. */
static int context_fills(const cosmos_v2w_t *v, int lat, int n_ctx, char *why, size_t n_why) {
    if (n_ctx < lat) return 0;
    const int tc = v->dv_cfg.temporal_compression;
    snprintf(why, n_why,
             "%d output frames leave nothing to generate after %d input frames (their %d latent frames): ask for at "
             "least %d",
             1 + tc * (lat - 1), 1 + tc * (n_ctx - 1), n_ctx, 1 + tc * n_ctx);
    return 1;
}

/* Latent frames of a clip's output: its request's num_frames, else the run's; 0 when the clip's
 * own num_frames is unusable, with the reason in why. */
static int clip_latents(const cosmos_v2w_t *v, const struct cosmos_v2w_request *req, char *why, size_t n_why) {
    int lat = 0;
    frames_to_latents(v, req->num_frames > 0 ? req->num_frames : v->T_out, &lat, why, n_why);
    return lat;
}

/* Which models a rank of the layout runs beside its roles' own, and where (open_rank loads them so;
 * cosmos_v2w_plan_memory_config sizes them so): the diffusion decoder (decoder and decoder_cfg
 * ranks, when the directory has one and it is not disabled), Aegis (the guardrail rank of a
 * Video2World model) and the video guardrail, unless the guardrail is disabled, and T5 (the T5
 * rank of a Video2World model); *device: the backend is not the CPU, so the DiT and Aegis run on
 * it, and T5 unless p->t5_on_cpu (t5_device). */
struct rank_models {
    int device, dd, aegis, video_guard, t5, t5_device;
};
static struct rank_models rank_models(const struct cosmos_v2w_params *p, const struct cosmos_model_dir *md, int v2w,
                                      int rank) {
    const struct cosmos_layout *l = p->layout;
    struct rank_models m;
    m.device = p->backend && strcmp(p->backend, "cpu") != 0;
    m.dd = md->diffusion_decoder[0] && !p->disable_diffusion_decoder &&
           (cosmos_layout_has_role(l, rank, COSMOS_ROLE_DECODER) || cosmos_layout_has_role(l, rank, COSMOS_ROLE_DECODER_CFG));
    m.aegis = v2w && !p->disable_guardrail && cosmos_layout_has_role(l, rank, COSMOS_ROLE_GUARDRAIL);
    m.video_guard = !p->disable_guardrail && cosmos_layout_has_role(l, rank, COSMOS_ROLE_VIDEO_GUARDRAIL);
    m.t5 = v2w && cosmos_layout_has_role(l, rank, COSMOS_ROLE_T5);
    m.t5_device = m.t5 && m.device && !p->t5_on_cpu;
    return m;
}

/* Where the tokenizers run on this rank: its device backend where it has one, else the host one. */
static cosmos_backend_t *device_or_host(const cosmos_v2w_t *v) {
    return v->be && !cosmos_backend_is_host(v->be) ? v->be : v->host_be;
}

static cosmos_status open_rank(cosmos_v2w_t *v) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_v2w_params *p = &v->p;
    const struct cosmos_layout *l = p->layout;
    char *json = NULL;
    /* every rank knows the geometry: the AR and tokenizer configs from the file headers */
    CHECK(read_header_config(p->model_dir->ar, "ar", &json));
    CHECK(cosmos_ar_config_parse(json, p->model_dir->ar, &v->ar_cfg));
    free(json), json = NULL;
    CHECK(read_header_config(p->model_dir->tokenizer, "dv_tokenizer", &json));
    CHECK(cosmos_dv_config_parse(json, p->model_dir->tokenizer, &v->dv_cfg));
    v->v2w = v->ar_cfg.insert_cross_attn;
    v->Tl = v->ar_cfg.video_latent_shape[0], v->Hl = v->ar_cfg.video_latent_shape[1];
    v->Wl = v->ar_cfg.video_latent_shape[2];
    v->T = 1 + v->dv_cfg.temporal_compression * (v->Tl - 1);
    v->H = v->Hl * v->dv_cfg.spatial_compression, v->W = v->Wl * v->dv_cfg.spatial_compression;
    {
        int64_t vocab = 1, t, h, w;
        for (int i = 0; i < v->dv_cfg.embedding_dim; i++) vocab *= v->dv_cfg.fsq_levels[i];
        CHECK_ARG(vocab == v->ar_cfg.vocab_size, COSMOS_ERR_FORMAT,
                  "model directory: the tokenizer's codebook has %lld codes, the AR model's vocabulary %d",
                  (long long)vocab, v->ar_cfg.vocab_size);
        cosmos_dv_latent_shape(&v->dv_cfg, v->T, v->H, v->W, &t, &h, &w);
        CHECK_ARG(t == v->Tl && h == v->Hl && w == v->Wl, COSMOS_ERR_FORMAT,
                  "model directory: a %dx%dx%d clip gives a [%lld,%lld,%lld] latent with this tokenizer, the AR model "
                  "expects [%d,%d,%d]",
                  v->T, v->H, v->W, (long long)t, (long long)h, (long long)w, v->Tl, v->Hl, v->Wl);
    }
    CHECK_ARG(!v->v2w || p->model_dir->t5[0], COSMOS_ERR_FORMAT,
              "model '%s' is a Video2World model: its model directory needs a \"t5\" file", v->ar_cfg.name);
    v->use_dd = p->model_dir->diffusion_decoder[0] && !p->disable_diffusion_decoder;
    {
        char why[240];
        int lat = 0;
        v->T_out = p->num_frames > 0 ? p->num_frames : v->T;
        const cosmos_status fst = frames_to_latents(v, v->T_out, &lat, why, sizeof why);
        CHECK_ARG(fst == COSMOS_OK, fst, "pipeline: %s", why);
        v->win_ctx = v->Tl >= 3 ? 2 : 1;
    }
    CHECK_ARG(!v->use_dd || v->v2w || p->model_dir->dd_context[0], COSMOS_ERR_FORMAT,
              "model '%s' is a base (no-text) model with a diffusion decoder: its model directory needs a "
              "\"dd_context\" file (the generic prompt's T5 embedding, the official aux_vars.pt), or run with "
              "--disable-diffusion-decoder",
              v->ar_cfg.name);

    /* the transformer runs on the requested backend; T5 (in f32, as the official encoder), the DV
     * encoder and decoder and the CV decoder on the rank's device backend where it has one, else on
     * the host one */
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = p->threads;
    /* the diffusion decoder's DiT runs on the requested backend too (the AR rank's own when the
     * decoder shares it; also on the decoder_cfg rank), its CV decoder beside it */
    /* Aegis (LlamaGuard, the text guardrail's model) runs on the requested backend too: its ops are
     * the transformer's */
    const struct rank_models here = rank_models(p, p->model_dir, v->v2w, v->rank);
    const int dd_here = here.dd, aegis_here = here.aegis, device = here.device, t5_here = here.t5;
    const int needs_host = (t5_here && !here.t5_device) || (aegis_here && !device) ||
                           cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_TOKENIZER) ||
                           cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_DECODER) || dd_here;
    v->vg_remote = l->video_guardrail != l->decoder;
    const int video_guard_here = here.video_guard;
    {   /* the guardrail's models this rank needs (spec 5.1), all named in one message */
        const int no_aegis = aegis_here && !p->model_dir->aegis[0];
        const int no_video = video_guard_here && !(p->model_dir->face_blur[0] && p->model_dir->video_content_filter[0]);
        CHECK_ARG(!no_aegis && !no_video, COSMOS_ERR_FORMAT,
                  "model directory of '%s' lacks the guardrail's %s%s%s (keys of its manifest): convert the "
                  "Cosmos-1.0-Guardrail checkpoint into it (tools/convert_checkpoint.py model-dir), make it with "
                  "`cosmos-ar init` from a pipeline config that names them, or run with --disable-guardrail",
                  p->model_dir->name, no_aegis ? "\"aegis\" (the prompt check of a Video2World model)" : "",
                  no_aegis && no_video ? " and " : "",
                  no_video ? "\"face_blur\" and \"video_content_filter\" (the video guardrail)" : "");
    }
    if (p->check_only) { /* no backend, no weights: the prompt blocklist only */
        if (v->v2w && !p->disable_guardrail && cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_GUARDRAIL)) {
            struct cosmos_guardrail_params gp = cosmos_guardrail_params_default();
            gp.blocklist_dir = p->guardrail_dir ? p->guardrail_dir : "configs/guardrail";
            CHECK(cosmos_guardrail_load(&gp, &v->guard));
        }
        goto fail;
    }
    if (cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_AR) || ((dd_here || aegis_here || video_guard_here) && device) ||
        here.t5_device) {
        char be_name[64];
        const char *name = p->backend ? p->backend : "cpu";
        if (p->world || p->local_rank >= 0)
            cosmos_backend_name_for_rank(name, v->local_rank, be_name, sizeof be_name);
        else
            snprintf(be_name, sizeof be_name, "%s", name);
        CHECK(cosmos_backend_create(be_name, &bp, &v->be));
    }
    if (needs_host) {
        if (v->be && cosmos_backend_is_host(v->be)) {
            v->host_be = v->be;
        } else {
            CHECK(cosmos_backend_create("cpu", &bp, &v->host_own));
            v->host_be = v->host_own;
            if (p->backend && strcmp(p->backend, "cpu") != 0 && !v->be)
                LOG_INFO("rank %d: the DV tokenizer runs on the CPU backend (this rank opens no %s backend)",
                         v->rank, p->backend);
        }
    }

    if (aegis_here) { /* the text guardrail (spec 5.1): blocklist, then Aegis (LlamaGuard) */
        struct cosmos_guardrail_params gp = cosmos_guardrail_params_default();
        gp.blocklist_dir = p->guardrail_dir ? p->guardrail_dir : "configs/guardrail";
        gp.checks[1] = "aegis", gp.n_checks = 2;
        gp.aegis_weights = p->model_dir->aegis;
        gp.backend = device ? v->be : v->host_be;
        CHECK(cosmos_guardrail_load(&gp, &v->guard));
    }
    if (t5_here) {
        cosmos_backend_t *t5_be = here.t5_device ? v->be : v->host_be;
        CHECK(cosmos_t5_load(t5_be, p->model_dir->t5, &v->t5));
        const struct cosmos_t5_config *tc = cosmos_t5_get_config(v->t5);
        LOG_INFO("rank %d: T5 encoder '%s' on %s (f32 activations)", v->rank, tc->name, cosmos_backend_name(t5_be));
        CHECK_ARG(tc->max_length == v->ar_cfg.context_len && tc->d_model == v->ar_cfg.context_dim, COSMOS_ERR_FORMAT,
                  "model directory: T5 gives [%d, %d] embeddings, the AR model takes [%d, %d] (context_len x "
                  "context_dim)",
                  tc->max_length, tc->d_model, v->ar_cfg.context_len, v->ar_cfg.context_dim);
    }
    {   /* where role_tokenizer and (without the diffusion decoder) the DV decoder run: the rank's
         * device, else the host */
        const int enc = cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_TOKENIZER);
        const int dec = cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_DECODER) && !v->use_dd;
        if (enc || dec)
            LOG_INFO("rank %d: DV tokenizer '%s' (%s%s%s) on %s", v->rank, v->dv_cfg.name, enc ? "encoder" : "",
                     enc && dec ? " + " : "", dec ? "decoder" : "", cosmos_backend_name(device_or_host(v)));
    }
    if (cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_TOKENIZER)) {
        /* on the rank's device where it has one (bf16, as the official tokenizer) */
        CHECK(cosmos_h5_open(p->model_dir->tokenizer, &v->tok_h5));
        CHECK(cosmos_dv_encoder_open(device_or_host(v), v->tok_h5, &v->dv_cfg, &v->dv_enc));
    }
    if (dd_here) {
        CHECK(cosmos_h5_open(p->model_dir->diffusion_decoder, &v->dd_h5));
        CHECK(cosmos_h5_open(p->model_dir->cv_tokenizer, &v->cv_h5));
        cosmos_backend_t *dit_be = v->be ? v->be : v->host_be;
        CHECK(cosmos_diffusion_decoder_open(dit_be, dit_be, v->dd_h5, v->cv_h5, &v->dd)); /* CV decoder beside it */
        const struct cosmos_dit_config *dc = cosmos_diffusion_decoder_dit_config(v->dd);
        const struct cosmos_dv_config *cv = cosmos_diffusion_decoder_cv_config(v->dd);
        CHECK_ARG(dc->token_vocab_size >= v->ar_cfg.vocab_size, COSMOS_ERR_FORMAT,
                  "model directory: the diffusion decoder embeds %d token ids, the AR model emits %d",
                  dc->token_vocab_size, v->ar_cfg.vocab_size);
        CHECK_ARG(v->H % (cv->spatial_compression * dc->patch_spatial) == 0 &&
                      v->W % (cv->spatial_compression * dc->patch_spatial) == 0 &&
                      v->Hl <= v->H / cv->spatial_compression && v->Wl <= v->W / cv->spatial_compression,
                  COSMOS_ERR_FORMAT, "model directory: the diffusion decoder cannot make %dx%d frames from a %dx%d token grid",
                  v->H, v->W, v->Hl, v->Wl);
        int cols = dc->crossattn_emb_channels;
        if (v->v2w) {
            CHECK_ARG(v->ar_cfg.context_dim == cols, COSMOS_ERR_FORMAT,
                      "model directory: the diffusion decoder attends to %d-wide text embeddings, T5 gives %d", cols,
                      v->ar_cfg.context_dim);
        } else if (cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_DECODER)) { /* decoder_cfg gets it sent */
            CHECK(cosmos_context_read(p->model_dir->dd_context, &v->dd_ctx, &v->dd_ctx_rows, &cols));
            CHECK_ARG(cols == dc->crossattn_emb_channels, COSMOS_ERR_FORMAT,
                      "%s: /context rows are %d wide, the diffusion decoder attends to %d-wide embeddings",
                      p->model_dir->dd_context, cols, dc->crossattn_emb_channels);
        }
        LOG_INFO("rank %d: diffusion decoder '%s' on %s + '%s' on %s (%d steps, guidance %g)", v->rank, dc->name,
                 cosmos_backend_name(dit_be), cv->name, cosmos_backend_name(dit_be), dc->num_steps, dc->guidance);
        if (cosmos_backend_is_host(dit_be) && cosmos_dit_config_num_params(dc) > 1000000000LL)
            LOG_WARN("rank %d: the diffusion decoder has %.1f B parameters and runs on the CPU backend: expect hours "
                     "per clip (--backend cuda puts it on a GPU; --disable-diffusion-decoder uses the DV decoder)",
                     v->rank, cosmos_dit_config_num_params(dc) * 1e-9);
    }
    if (video_guard_here) { /* the video guardrail (spec components.md 1 step 9): on the decoded frames */
        struct cosmos_guardrail_params gp = cosmos_guardrail_params_default();
        gp.checks[0] = "video_content_filter", gp.checks[1] = "face_blur", gp.n_checks = 2;
        gp.content_filter_weights = p->model_dir->video_content_filter;
        gp.face_blur_weights = p->model_dir->face_blur;
        gp.backend = device ? v->be : NULL; /* SigLIP's tower and RetinaFace's network on the device (f32) */
        CHECK(cosmos_guardrail_load(&gp, &v->video_guard));
    }
    if (cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_DECODER)) {
        CHECK(cosmos_h5_open(p->model_dir->tokenizer, &v->dec_h5));
        v->dec = calloc((size_t)v->in_flight, sizeof *v->dec);
        CHECK_ALLOC(v->dec);
    }
    if (v->vg_remote && cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_VIDEO_GUARDRAIL)) {
        v->vg = calloc((size_t)v->in_flight, sizeof *v->vg);
        CHECK_ALLOC(v->vg);
    }
    if (cosmos_layout_has_role(l, v->rank, COSMOS_ROLE_AR)) {
        struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
        lp.tp_comm = l->tp > 1 ? v->tp_comm : NULL;
        lp.pp_comm = l->pp > 1 ? v->pp_comm : NULL;
        lp.n_seq = v->in_flight;
        lp.stage_layers = p->stage_layers;
        CHECK(cosmos_ar_model_load(p->model_dir->ar, v->be, &lp, &v->ar));
    }
fail:
    free(json);
    return st;
}

cosmos_status cosmos_v2w_open(const struct cosmos_v2w_params *p, cosmos_v2w_t **out) {
    cosmos_status st = COSMOS_OK;
    cosmos_v2w_t *v = calloc(1, sizeof *v);
    *out = NULL;
    CHECK_ALLOC(v);
    v->p = *p;
    if (!p->layout && p->check_only && !p->world) { /* a check handle plays every role itself */
        CHECK(cosmos_layout_default(1, 0, 0, &v->own_layout));
        v->p.layout = &v->own_layout;
    }
    p = &v->p;
    v->in_flight = p->clips_in_flight > 0 ? p->clips_in_flight : 1;
    CHECK_ARG(v->in_flight <= COSMOS_V2W_MAX_IN_FLIGHT, COSMOS_ERR_INVALID_ARG,
              "pipeline: at most %d clips in flight (asked for %d)", COSMOS_V2W_MAX_IN_FLIGHT, v->in_flight);
    v->rank = p->world ? cosmos_comm_rank(p->world) : 0;
    v->size = p->world ? cosmos_comm_size(p->world) : 1;
    CHECK_ARG(p->layout && p->layout->n_ranks == v->size, COSMOS_ERR_INVALID_ARG,
              "pipeline: the layout is for %d ranks, the job has %d", p->layout ? p->layout->n_ranks : 0, v->size);
    if (p->local_rank >= 0)
        v->local_rank = p->local_rank; /* device of a GPU backend */
    else if (p->world)
        CHECK(cosmos_comm_local_rank(p->world, &v->local_rank));
    if (p->world) {
        /* AR group, then its tensor groups (same stage) and pipelines (same tp rank) */
        const int a = cosmos_layout_ar_index(p->layout, v->rank), tp = p->layout->tp;
        CHECK(cosmos_comm_split(p->world, a >= 0 ? 1 : 0, a >= 0 ? a : v->rank, &v->ar_comm));
        if (a >= 0) {
            CHECK(cosmos_comm_split(v->ar_comm, a / tp, a, &v->tp_comm));
            CHECK(cosmos_comm_split(v->ar_comm, a % tp, a, &v->pp_comm));
        }
    }
    if (p->world && p->layout->decoder_cfg >= 0 && p->model_dir->diffusion_decoder[0] &&
        !p->disable_diffusion_decoder) {
        /* the diffusion decoder's CFG pair: the decoder rank (rank 0 of the pair), decoder_cfg (1) */
        const int in = v->rank == p->layout->decoder || v->rank == p->layout->decoder_cfg;
        cosmos_comm_t *pair = NULL;
        CHECK(cosmos_comm_split(p->world, in, v->rank == p->layout->decoder ? 0 : 1 + v->rank, &pair));
        if (in)
            v->cfg_comm = pair;
        else
            cosmos_comm_free(pair);
    }
    st = open_rank(v);
    struct cosmos_backend_memory bm;
    if (st == COSMOS_OK && v->be && !cosmos_backend_is_host(v->be) && cosmos_backend_memory(v->be, &bm) == COSMOS_OK)
        /* the workspaces are reserved by the loads (cosmos_backend_reserve_*): this is the run's */
        LOG_INFO("rank %d: loaded; %s holds %.1f MB of backend workspaces, device memory in use %.1f of %.1f MB",
                 v->rank, cosmos_backend_name(v->be), bm.workspace_bytes / 1e6,
                 (bm.device_total - bm.device_free) / 1e6, bm.device_total / 1e6);
    if (p->world) { /* all ranks learn whether every rank loaded */
        int all_ok = 0;
        cosmos_status cst = cosmos_comm_all_ok(p->world, st == COSMOS_OK, &all_ok);
        if (st == COSMOS_OK && (cst != COSMOS_OK || !all_ok)) {
            LOG_ERROR("pipeline: another rank failed to load its models; stopping");
            st = COSMOS_ERR_IO;
        }
    }
    CHECK(st);
    *out = v;
    return COSMOS_OK;
fail:
    cosmos_v2w_free(v);
    return st;
}

void cosmos_v2w_free(cosmos_v2w_t *v) {
    if (!v) return;
    while (v->queue_head) {
        struct local_msg *m = v->queue_head;
        v->queue_head = m->next;
        free(m->payload);
        free(m);
    }
    cosmos_ar_model_free(v->ar);
    cosmos_comm_free(v->tp_comm);
    cosmos_comm_free(v->pp_comm);
    cosmos_comm_free(v->ar_comm);
    cosmos_dv_encoder_free(v->dv_enc);
    cosmos_h5_close(v->tok_h5);
    cosmos_h5_close(v->dec_h5);
    cosmos_diffusion_decoder_free(v->dd);
    cosmos_comm_free(v->cfg_comm);
    cosmos_h5_close(v->dd_h5);
    cosmos_h5_close(v->cv_h5);
    free(v->dd_ctx);
    for (int j = 0; v->dec && j < v->in_flight; j++) dec_reset(&v->dec[j]);
    free(v->dec);
    for (int j = 0; v->vg && j < v->in_flight; j++) vg_reset(&v->vg[j]);
    free(v->vg);
    cosmos_t5_free(v->t5);
    cosmos_guardrail_free(v->guard);
    cosmos_guardrail_free(v->video_guard);
    cosmos_backend_free(v->be);
    cosmos_backend_free(v->host_own);
    free(v->mem);
    free(v);
}

void cosmos_v2w_clip_shape(const cosmos_v2w_t *v, int *T, int *H, int *W, int latent[3]) {
    if (T) *T = v->T;
    if (H) *H = v->H;
    if (W) *W = v->W;
    if (latent) latent[0] = v->Tl, latent[1] = v->Hl, latent[2] = v->Wl;
}
int cosmos_v2w_is_video2world(const cosmos_v2w_t *v) { return v->v2w; }
double cosmos_v2w_default_top_p(const cosmos_v2w_t *v) { return v->ar_cfg.default_top_p; }

/* A request's input decoded and prepared as the clip's [3, T, H, W] video (*video, malloc'd), the
 * latent frames it gives as context (*n_ctx: 2 for 9 video frames, else 1) and whether it was a
 * still image; the reason in why when it cannot be used. */
static cosmos_status load_input(const cosmos_v2w_t *v, const struct cosmos_v2w_request *req, float **video,
                                int *n_ctx, int *is_image, char *why, size_t n_why) {
    struct cosmos_media_prep_params pp = cosmos_media_prep_params_default();
    pp.num_input_frames = req->num_input_frames;
    pp.num_frames = v->T, pp.height = v->H, pp.width = v->W;
    const cosmos_status st = cosmos_media_load_clip(req->input, &pp, video, is_image);
    if (st != COSMOS_OK)
        snprintf(why, n_why, "cannot use the input '%s' (%s; see the log above)", req->input, cosmos_status_str(st));
    *n_ctx = pp.num_input_frames == 9 && !*is_image ? 2 : 1;
    return st;
}

/* A Video2World clip's prompt: *verdict OK, INVALID_ARG (none given) or BLOCKED by the text
 * guardrail (v->guard, when loaded), with the reason in why. The return value is the guardrail's
 * own failure, which fails the run. */
static cosmos_status prompt_verdict(cosmos_v2w_t *v, const char *prompt, cosmos_status *verdict, char *why,
                                    size_t n_why) {
    cosmos_status st = COSMOS_OK;
    *verdict = COSMOS_OK;
    if (!prompt || !prompt[0]) {
        *verdict = COSMOS_ERR_INVALID_ARG;
        snprintf(why, n_why, "a Video2World model needs a prompt");
    } else if (v->guard) {
        struct cosmos_guardrail_verdict g;
        CHECK(cosmos_guardrail_check_text(v->guard, prompt, &g));
        if (!g.safe) {
            *verdict = COSMOS_ERR_BLOCKED;
            snprintf(why, n_why, "prompt blocked by the text guardrail (%.20s: %.160s)", g.check, g.reason);
        }
    }
fail:
    return st;
}

cosmos_status cosmos_v2w_check_request(cosmos_v2w_t *v, const struct cosmos_v2w_request *req, int64_t *n_tokens,
                                       char *why, size_t n_why) {
    cosmos_status st = COSMOS_OK;
    float *video = NULL;
    int is_image = 0;
    *n_tokens = 0;
    why[0] = '\0';
    if (v->v2w) { /* as role_guardrail */
        cosmos_status verdict = COSMOS_OK;
        CHECK(prompt_verdict(v, req->prompt, &verdict, why, n_why));
        if (verdict != COSMOS_OK) return verdict;
    }
    const int lat = clip_latents(v, req, why, n_why);
    if (lat == 0) return COSMOS_ERR_INVALID_ARG;
    int n_ctx = 0;
    st = load_input(v, req, &video, &n_ctx, &is_image, why, n_why);
    if (st != COSMOS_OK) goto fail;
    if (context_fills(v, lat, n_ctx, why, n_why)) {
        st = COSMOS_ERR_INVALID_ARG;
        goto fail;
    }
    *n_tokens = (int64_t)(lat - n_ctx) * v->Hl * v->Wl;
fail:
    free(video);
    return st;
}

/* ---- roles: a group of clips at a time ---- */

struct clip {
    int index;
    const struct cosmos_v2w_request *req;
    struct cosmos_v2w_result *res; /* this rank's record of the clip */
};

/* Clips [c[0].index, c[0].index + n) go through the roles together (the transformer generates them
 * as n sequences at once: pipeline micro-batches). n_live < n when a stop request arrived before
 * clip n_live: that clip and the rest of the group are not run. */
struct group {
    struct clip c[COSMOS_V2W_MAX_IN_FLIGHT];
    int n, n_live, stop;
};

static void stage_begin(cosmos_v2w_t *v, struct clip *c, enum cosmos_v2w_stage s) {
    c->res->start[s] = now_real();
    c->res->stage_rank[s] = v->rank;
}
static void stage_end(struct clip *c, enum cosmos_v2w_stage s) { c->res->end[s] = now_real(); }

static void fail_clip(struct clip *c, cosmos_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_clip(struct clip *c, cosmos_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    c->res->status = st;
    vsnprintf(c->res->reason, sizeof c->res->reason, fmt, ap);
    va_end(ap);
    LOG_ERROR("clip %d (%s): %s", c->index, c->req->input, c->res->reason);
}

static void group_stop_at(struct group *g, int j) {
    g->stop = 1;
    if (j < g->n_live) g->n_live = j;
}

static cosmos_status role_guardrail(cosmos_v2w_t *v, struct group *g) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_layout *l = v->p.layout;
    for (int j = 0; j < g->n; j++) {
        struct clip *c = &g->c[j];
        int status = MSG_OK;
        char reason[240] = "";
        if (v->p.stop && *v->p.stop) {
            status = MSG_STOP;
        } else if (v->v2w) {
            stage_begin(v, c, COSMOS_V2W_GUARDRAIL);
            cosmos_status verdict = COSMOS_OK;
            CHECK(prompt_verdict(v, c->req->prompt, &verdict, reason, sizeof reason));
            status = verdict;
            stage_end(c, COSMOS_V2W_GUARDRAIL);
        }
        if (v->v2w) CHECK(msg_send(v, l->t5, TAG_VERDICT_T5, c->index, status, reason, NULL, 0));
        CHECK(msg_send(v, l->tokenizer, TAG_VERDICT_TOK, c->index, status, reason, NULL, 0));
        if (status == MSG_STOP) {
            group_stop_at(g, j);
            break;
        }
    }
fail:
    return st;
}

/* Receives the guardrail's verdict on clip j (tag: the receiving role's). */
static cosmos_status recv_verdict(cosmos_v2w_t *v, struct group *g, int j, int tag, int32_t *status, char *reason) {
    cosmos_status st = COSMOS_OK;
    struct msg_hdr h;
    void *payload = NULL;
    CHECK(msg_recv(v, v->p.layout->guardrail, tag, &h, &payload));
    CHECK_ARG(h.clip == g->c[j].index, COSMOS_ERR_INTERNAL, "pipeline: verdict for clip %d while on clip %d", h.clip,
              g->c[j].index);
    *status = h.status;
    if (h.status == MSG_STOP) group_stop_at(g, j);
    memcpy(reason, h.reason, sizeof h.reason);
fail:
    free(payload);
    return st;
}

static cosmos_status role_t5(cosmos_v2w_t *v, struct group *g) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_layout *l = v->p.layout;
    const int64_t n = (int64_t)v->ar_cfg.context_len * v->ar_cfg.context_dim;
    float *ctx = malloc(sizeof(float) * (size_t)n);
    CHECK_ALLOC(ctx);
    for (int j = 0; j < g->n; j++) {
        struct clip *c = &g->c[j];
        int32_t status = 0;
        char reason[240];
        CHECK(recv_verdict(v, g, j, TAG_VERDICT_T5, &status, reason));
        if (status == MSG_OK) {
            stage_begin(v, c, COSMOS_V2W_T5);
            cosmos_status est = cosmos_t5_encode_prompt(v->t5, c->req->prompt, ctx, NULL, NULL);
            stage_end(c, COSMOS_V2W_T5);
            if (est != COSMOS_OK) {
                status = est;
                snprintf(reason, sizeof reason, "T5 could not encode the prompt (%s)", cosmos_status_str(est));
            }
        }
        CHECK(msg_send(v, l->ar_ranks[0], TAG_CTX, c->index, status, reason, status == MSG_OK ? ctx : NULL,
                       sizeof(float) * n));
        if (status == MSG_STOP) break;
    }
fail:
    free(ctx);
    return st;
}

static cosmos_status tokenize_clip(cosmos_v2w_t *v, struct clip *c, int32_t *ids, char *reason, size_t reason_size) {
    float *video = NULL;
    int is_image = 0, n_ctx = 0;
    stage_begin(v, c, COSMOS_V2W_INPUT);
    cosmos_status est = load_input(v, c->req, &video, &n_ctx, &is_image, reason, reason_size);
    stage_end(c, COSMOS_V2W_INPUT);
    if (est == COSMOS_OK) {
        stage_begin(v, c, COSMOS_V2W_TOKENIZE);
        est = cosmos_dv_encoder_run(v->dv_enc, video, v->T, v->H, v->W, NULL, ids + 2, NULL);
        stage_end(c, COSMOS_V2W_TOKENIZE);
        if (est != COSMOS_OK)
            snprintf(reason, reason_size, "the tokenizer failed on '%s' (%s)", c->req->input, cosmos_status_str(est));
        ids[0] = n_ctx; /* latent frames given as context */
        ids[1] = is_image;
    }
    free(video);
    return est;
}

static cosmos_status role_tokenizer(cosmos_v2w_t *v, struct group *g) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_layout *l = v->p.layout;
    const int64_t n_ids = (int64_t)v->Tl * v->Hl * v->Wl;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(2 + n_ids)); /* [n_ctx_latent_frames, is_image, ids...] */
    CHECK_ALLOC(ids);
    for (int j = 0; j < g->n; j++) {
        struct clip *c = &g->c[j];
        int32_t status = 0;
        char reason[240];
        CHECK(recv_verdict(v, g, j, TAG_VERDICT_TOK, &status, reason));
        if (status == MSG_OK) {
            cosmos_status est = tokenize_clip(v, c, ids, reason, sizeof reason);
            if (est != COSMOS_OK) status = est;
        }
        CHECK(msg_send(v, l->ar_ranks[0], TAG_IDS, c->index, status, reason, status == MSG_OK ? ids : NULL,
                       sizeof(int32_t) * (2 + n_ids)));
        if (status == MSG_STOP) break;
    }
fail:
    free(ids);
    return st;
}

/* ---- progress to rank 0 ---- */

/* Rank 0 (when it is not the rank that finishes clips: the video-guardrail rank, which is the
 * decoder rank by default): handle that rank's reports waiting now, or until `until` reports have
 * been handled in all. Called between groups, between tokens on the first AR rank and at the end of
 * the run, so rank 0 prints progress without ever blocking the clip flow. */
static cosmos_status progress_poll(cosmos_v2w_t *v, int until) {
    cosmos_status st = COSMOS_OK;
    const int dec = v->p.layout->video_guardrail;
    if (!v->on_done || v->rank != 0 || dec == 0 || !v->p.world) return COSMOS_OK;
    for (;;) {
        int flag = 0;
        if (until < 0 || v->n_progress >= until) {
            CHECK(cosmos_comm_probe(v->p.world, dec, TAG_PROGRESS, &flag));
            if (!flag) break;
        }
        struct msg_hdr h;
        void *payload = NULL;
        CHECK(msg_recv(v, dec, TAG_PROGRESS, &h, &payload));
        if (payload && h.bytes == (int64_t)sizeof(struct cosmos_v2w_result))
            v->on_done(v->on_done_ud, h.clip, (const struct cosmos_v2w_result *)payload);
        free(payload);
        v->n_progress++;
    }
fail:
    return st;
}

/* The rank that finishes clips, after clip i: report it (to rank 0, or call on_done here if this
 * is rank 0). */
static cosmos_status progress_report(cosmos_v2w_t *v, int i, const struct cosmos_v2w_result *r) {
    if (!v->on_done) return COSMOS_OK;
    if (v->rank == 0 || !v->p.world) {
        v->on_done(v->on_done_ud, i, r);
        return COSMOS_OK;
    }
    return msg_send(v, 0, TAG_PROGRESS, i, r->status == COSMOS_OK ? MSG_OK : r->status, NULL, r, sizeof *r);
}

/* ---- AR role ---- */

static cosmos_status dec_drain_local(cosmos_v2w_t *v, struct group *g);

/* One clip's tokens on the first AR rank, streamed to the decoder a latent frame at a time. */
struct ar_stream {
    cosmos_v2w_t *v;
    struct group *g;
    int clip;        /* clip index */
    int32_t *all;    /* [Tl*Hl*Wl] ids of the clip: context frames, then generated */
    int64_t n_known; /* ids known so far */
    int64_t n_sent;  /* ids sent to the decoder (whole latent frames) */
};

static cosmos_status stream_frames(struct ar_stream *s) {
    cosmos_status st = COSMOS_OK;
    const int64_t F = (int64_t)s->v->Hl * s->v->Wl;
    while (s->n_known - s->n_sent >= F) {
        CHECK(msg_send(s->v, s->v->p.layout->decoder, TAG_FRAME, s->clip, MSG_OK, NULL, s->all + s->n_sent,
                       sizeof(int32_t) * F));
        s->n_sent += F;
    }
    if (s->v->p.layout->decoder == s->v->rank) CHECK(dec_drain_local(s->v, s->g)); /* decode it now */
fail:
    return st;
}

static cosmos_status on_token(void *ud, int seq, int k, int32_t token) {
    struct ar_stream *s = (struct ar_stream *)ud + seq;
    (void)k;
    s->all[s->n_known++] = token;
    cosmos_status st = stream_frames(s);
    if (st == COSMOS_OK && s->v->rank == 0) st = progress_poll(s->v, -1);
    return st;
}

static cosmos_status role_ar(cosmos_v2w_t *v, struct group *g) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_layout *l = v->p.layout;
    const int first = l->ar_ranks[0] == v->rank, G = g->n;
    /* n_ids: the input clip's ids (tokenizer); lats: each clip's output latent frames (0: an
     * unusable length); n_buf: room for the longest output clip's ids */
    const int64_t n_ids = (int64_t)v->Tl * v->Hl * v->Wl, F = (int64_t)v->Hl * v->Wl;
    int lats[COSMOS_V2W_MAX_IN_FLIGHT];
    int64_t n_buf = n_ids;
    for (int j = 0; j < G; j++) {
        lats[j] = clip_latents(v, g->c[j].req, NULL, 0);
        if (lats[j] * F > n_buf) n_buf = lats[j] * F;
    }
    const int64_t n_ctx_vals = v->v2w ? (int64_t)v->ar_cfg.context_len * v->ar_cfg.context_dim : 0;
    struct msg_hdr h = {0};
    void *payload = NULL;
    int32_t *ids = NULL, **prompts = NULL, **outs = NULL;
    float *ctx = NULL;
    struct ar_stream *streams = NULL;
    /* per clip: status, latent context frames; then n_live and stop */
    int32_t info[2 * COSMOS_V2W_MAX_IN_FLIGHT + 2] = {0};
    int32_t *status = info, *n_ctx = info + G;
    char reasons[COSMOS_V2W_MAX_IN_FLIGHT][240];
    int js[COSMOS_V2W_MAX_IN_FLIGHT], plen[COSMOS_V2W_MAX_IN_FLIGHT], n_gens[COSMOS_V2W_MAX_IN_FLIGHT];
    uint64_t seeds[COSMOS_V2W_MAX_IN_FLIGHT];
    ids = malloc(sizeof(int32_t) * (size_t)(G * n_buf));
    ctx = malloc(sizeof(float) * (size_t)(G * n_ctx_vals + 1));
    CHECK_ALLOC(ids);
    CHECK_ALLOC(ctx);
    memset(reasons, 0, sizeof reasons);
    /* the first AR rank gathers the inputs: every clip's context, then every clip's ids (the role
     * order: t5 sends all its clips before the tokenizer role of a shared rank starts) */
    if (first) {
        int n_recv = g->n_live; /* up to and including a stop message */
        for (int j = 0; v->v2w && j < n_recv; j++) {
            CHECK(msg_recv(v, l->t5, TAG_CTX, &h, &payload));
            CHECK_ARG(h.clip == g->c[j].index, COSMOS_ERR_INTERNAL, "pipeline: context of clip %d while on clip %d",
                      h.clip, g->c[j].index);
            status[j] = h.status;
            memcpy(reasons[j], h.reason, sizeof reasons[j]);
            if (h.status == MSG_OK) memcpy(ctx + j * n_ctx_vals, payload, sizeof(float) * (size_t)n_ctx_vals);
            free(payload), payload = NULL;
            if (h.status == MSG_STOP) {
                group_stop_at(g, j);
                n_recv = j + 1;
            }
        }
        for (int j = 0; j < n_recv; j++) {
            CHECK(msg_recv(v, l->tokenizer, TAG_IDS, &h, &payload));
            CHECK_ARG(h.clip == g->c[j].index, COSMOS_ERR_INTERNAL, "pipeline: tokens of clip %d while on clip %d",
                      h.clip, g->c[j].index);
            if (status[j] == MSG_OK && h.status != MSG_OK) {
                status[j] = h.status;
                memcpy(reasons[j], h.reason, sizeof reasons[j]);
            }
            if (h.status == MSG_OK) {
                CHECK_ARG(h.bytes == (int64_t)sizeof(int32_t) * (2 + n_ids), COSMOS_ERR_INTERNAL,
                          "pipeline: token message of %lld bytes", (long long)h.bytes);
                n_ctx[j] = ((int32_t *)payload)[0];
                memcpy(ids + j * n_buf, (int32_t *)payload + 2, sizeof(int32_t) * (size_t)n_ids);
            }
            free(payload), payload = NULL;
            if (h.status == MSG_STOP) {
                group_stop_at(g, j);
                break;
            }
        }
        info[2 * G] = g->n_live, info[2 * G + 1] = g->stop;
    }
    if (v->ar_comm && cosmos_comm_size(v->ar_comm) > 1) {
        CHECK(cosmos_comm_broadcast(v->ar_comm, info, sizeof info, 0));
        g->n_live = info[2 * G], g->stop = info[2 * G + 1];
        for (int j = 0; j < g->n_live; j++) {
            if (status[j] != MSG_OK) continue;
            CHECK(cosmos_comm_broadcast(v->ar_comm, ids + j * n_buf, sizeof(int32_t) * (size_t)n_ids, 0));
            if (v->v2w)
                CHECK(cosmos_comm_broadcast(v->ar_comm, ctx + j * n_ctx_vals, sizeof(float) * (size_t)n_ctx_vals, 0));
        }
    }
    /* a clip with an unusable length, or whose context already fills it, fails here (every AR rank
     * knows n_ctx now, so they agree) */
    for (int j = 0; j < g->n_live; j++) {
        if (status[j] != MSG_OK) continue;
        if (lats[j] == 0) {
            status[j] = COSMOS_ERR_INVALID_ARG;
            clip_latents(v, g->c[j].req, reasons[j], sizeof reasons[j]); /* for the reason */
        } else if (context_fills(v, lats[j], n_ctx[j], reasons[j], sizeof reasons[j])) {
            status[j] = COSMOS_ERR_INVALID_ARG;
        }
    }
    /* the clips that can run become sequences 0..m-1 of the model */
    int m = 0;
    for (int j = 0; j < g->n_live; j++) {
        if (status[j] != MSG_OK) {
            if (first)
                CHECK(msg_send(v, l->decoder, TAG_FRAME, g->c[j].index, status[j], reasons[j], NULL, 0));
            continue;
        }
        js[m++] = j;
    }
    if (m > 0) {
        const int bov = v->v2w ? 1 : 0;
        prompts = calloc((size_t)m, sizeof *prompts);
        outs = calloc((size_t)m, sizeof *outs);
        streams = calloc((size_t)m, sizeof *streams);
        CHECK_ALLOC(prompts);
        CHECK_ALLOC(outs);
        CHECK_ALLOC(streams);
        struct cosmos_sampler_params sp = cosmos_sampler_params_default();
        /* per clip: ids of its output (n_out), ids known after the current window (have); window 0
         * is the clip's own context frames, then up to the model's Tl or the clip's length */
        int64_t n_out[COSMOS_V2W_MAX_IN_FLIGHT], have[COSMOS_V2W_MAX_IN_FLIGHT];
        for (int s = 0; s < m; s++) {
            const int j = js[s];
            const struct cosmos_v2w_request *req = g->c[j].req;
            n_out[s] = (int64_t)lats[j] * F;
            have[s] = (int64_t)(lats[j] < v->Tl ? lats[j] : v->Tl) * F;
            plen[s] = bov + (int)(n_ctx[j] * F);
            n_gens[s] = (int)(have[s] - n_ctx[j] * F);
            prompts[s] = malloc(sizeof(int32_t) * (size_t)(bov + n_ids));
            outs[s] = malloc(sizeof(int32_t) * (size_t)n_ids);
            CHECK_ALLOC(prompts[s]);
            CHECK_ALLOC(outs[s]);
            if (bov) prompts[s][0] = v->ar_cfg.bov_token_id;
            memcpy(prompts[s] + bov, ids + j * n_buf, sizeof(int32_t) * (size_t)(n_ctx[j] * F));
            CHECK(cosmos_ar_use_seq(v->ar, s));
            if (v->v2w)
                CHECK(cosmos_ar_set_context(v->ar, ctx + j * n_ctx_vals, v->ar_cfg.context_len,
                                            v->ar_cfg.context_dim));
            /* sampling settings are per run (the manifest varies the seed only) */
            sp.temperature = req->temperature;
            sp.top_p = req->top_p >= 0 ? req->top_p : (float)v->ar_cfg.default_top_p;
            sp.top_k = req->top_k;
            seeds[s] = req->seed;
            /* the decoder starts on the context frames while we generate */
            streams[s] = (struct ar_stream){v, g, g->c[j].index, ids + j * n_buf, n_ctx[j] * F, 0};
            if (first && v->use_dd && v->v2w) /* the diffusion decoder conditions on the prompt too */
                CHECK(msg_send_aux(v, l->decoder, TAG_FRAME, g->c[j].index, MSG_OK, NULL, ctx + j * n_ctx_vals,
                                   sizeof(float) * n_ctx_vals, AUX_CONTEXT));
            if (first) CHECK(stream_frames(&streams[s]));
        }
        CHECK(cosmos_sampler_params_check(&sp));
        const double t0 = now_real();
        double prefill_s = 0;
        for (int w = 0;; w++) {
            struct cosmos_ar_gen_stats gs = {0};
            uint64_t wseeds[COSMOS_V2W_MAX_IN_FLIGHT];
            for (int s = 0; s < m; s++) wseeds[s] = w == 0 ? seeds[s] : cosmos_v2w_window_seed(seeds[s], w);
            CHECK(cosmos_ar_generate_cb(v->ar, m, (const int32_t *const *)prompts, plen, n_gens, &sp, wseeds, outs,
                                        &gs, first ? on_token : NULL, streams));
            if (w == 0) prefill_s = gs.prefill_s;
            /* every AR rank appends the window's tokens (on the first rank on_token already did) */
            for (int s = 0; s < m; s++) {
                int32_t *all = ids + js[s] * n_buf;
                memcpy(all + have[s] - n_gens[s], outs[s], sizeof(int32_t) * (size_t)n_gens[s]);
                g->c[js[s]].res->n_tokens_generated += n_gens[s];
            }
            /* the next window of each clip still short of its length: [BOV] + its last win_ctx
             * latent frames at positions 0.., then as many new latent frames as the model's window
             * holds (or the clip still needs); the others sit it out (n_gen 0) */
            const int64_t ctx_ids = (int64_t)v->win_ctx * F;
            int more = 0;
            for (int s = 0; s < m; s++) {
                int64_t gen = (int64_t)(v->Tl - v->win_ctx) * F;
                if (gen > n_out[s] - have[s]) gen = n_out[s] - have[s];
                n_gens[s] = (int)gen;
                if (gen <= 0) continue;
                memcpy(prompts[s] + bov, ids + js[s] * n_buf + have[s] - ctx_ids, sizeof(int32_t) * (size_t)ctx_ids);
                plen[s] = bov + (int)ctx_ids;
                have[s] += gen;
                more = 1;
            }
            if (!more) break;
        }
        const double t1 = now_real();
        for (int s = 0; s < m; s++) {
            struct cosmos_v2w_result *r = g->c[js[s]].res;
            r->start[COSMOS_V2W_AR_PREFILL] = t0, r->end[COSMOS_V2W_AR_PREFILL] = t0 + prefill_s;
            r->start[COSMOS_V2W_AR_DECODE] = t0 + prefill_s, r->end[COSMOS_V2W_AR_DECODE] = t1;
            r->stage_rank[COSMOS_V2W_AR_PREFILL] = r->stage_rank[COSMOS_V2W_AR_DECODE] = v->rank;
        }
        for (int s = 0; first && s < m; s++) {
            const int j = js[s];
            CHECK_ARG(streams[s].n_sent == n_out[s], COSMOS_ERR_INTERNAL,
                      "pipeline: %lld of %lld tokens of clip %d reached the decoder", (long long)streams[s].n_sent,
                      (long long)n_out[s], g->c[j].index);
            CHECK(msg_send_aux(v, l->decoder, TAG_FRAME, g->c[j].index, MSG_OK, NULL, NULL, 0,
                               g->c[j].res->n_tokens_generated)); /* end of clip */
            const char *tok_out = g->c[j].req->tokens_out;
            if (tok_out && tok_out[0] && cosmos_tokens_write(tok_out, ids + j * n_buf, n_out[s]) != COSMOS_OK)
                LOG_WARN("clip %d: could not write %s", g->c[j].index, tok_out);
        }
    }
    if (first) /* the group is done; the clip field says how many of its clips ran */
        CHECK(msg_send(v, l->decoder, TAG_FRAME, g->c[0].index + g->n_live, g->stop ? MSG_GROUP_STOP : MSG_GROUP_END,
                       NULL, NULL, 0));
fail:
    free(payload);
    for (int s = 0; s < m && prompts; s++) free(prompts[s]);
    for (int s = 0; s < m && outs; s++) free(outs[s]);
    free(prompts);
    free(outs);
    free(streams);
    free(ids);
    free(ctx);
    return st;
}

/* ---- decoder role ---- */

static cosmos_status dec_start(cosmos_v2w_t *v, struct clip *c, struct dec_state *d) {
    const size_t max_new = (size_t)v->dv_cfg.temporal_compression, px = (size_t)v->H * (size_t)v->W;
    stage_begin(v, c, COSMOS_V2W_DECODE);
    if (v->use_dd) { /* the diffusion decoder needs the whole clip: collect the tokens */
        d->ids = malloc(sizeof(int32_t) * (size_t)v->Tl * (size_t)v->Hl * (size_t)v->Wl);
        return d->ids ? COSMOS_OK : COSMOS_ERR_NOMEM;
    }
    const int lat = clip_latents(v, c->req, NULL, 0); /* > 0: the AR rank checked it before any frame */
    cosmos_backend_t *db = device_or_host(v);
    cosmos_status est = lat > 0 ? cosmos_dv_stream_open(db, v->dec_h5, &v->dv_cfg, v->Hl, v->Wl, lat, &d->stream)
                                : COSMOS_ERR_INTERNAL;
    if (est == COSMOS_OK) {
        d->frames_f32 = malloc(sizeof(float) * 3 * max_new * px);
        d->frames_u8 = malloc(3 * max_new * px);
        if (!d->frames_f32 || !d->frames_u8) est = COSMOS_ERR_NOMEM;
    }
    return est;
}

/* The video guardrail (spec components.md 1 step 9, 5.4, 5.5) on n new uint8 frames [n,H,W,3] of
 * clip c, which are its frames [first, first + n): the content-safety filter, then face blur in
 * place. The official pipeline classifies every frame, then blurs every frame; doing both per
 * batch of frames as they are decoded gives the same output (a blocked clip has none), and no
 * frame reaches the writer, or its preview, unchecked and unblurred. A blocked clip's preview (of
 * its earlier, passed frames) is removed: officially a refused video has no output at all. Returns
 * COSMOS_OK when the frames may be written; otherwise the clip has failed with the reason (a
 * blocked clip, or a check that could not run: never passed silently). Adds its time to the
 * clip's video_guardrail_s. */
static cosmos_status video_guard(cosmos_v2w_t *v, struct clip *c, uint8_t *rgb, int64_t n, int64_t first) {
    if (!v->video_guard) return COSMOS_OK; /* --disable-guardrail (logged by the launcher) */
    const double t0 = now_real();
    struct cosmos_guardrail_verdict verdict;
    cosmos_status est = cosmos_guardrail_check_video(v->video_guard, rgb, n, v->H, v->W, &verdict);
    if (est == COSMOS_OK && verdict.safe) est = cosmos_guardrail_filter_video(v->video_guard, rgb, n, v->H, v->W);
    c->res->video_guardrail_s += now_real() - t0;
    if (est != COSMOS_OK) {
        fail_clip(c, est, "the video guardrail could not run on frames %lld..%lld (%s)", (long long)first,
                  (long long)(first + n - 1), cosmos_status_str(est));
        return est;
    }
    if (!verdict.safe) {
        /* a refused clip shows nothing: the preview of its earlier frames goes too */
        if (c->req->preview && c->req->preview[0]) remove(c->req->preview);
        fail_clip(c, COSMOS_ERR_BLOCKED,
                  "video blocked by the video guardrail (%.24s on the clip's frames %lld..%lld; of those, %.150s)",
                  verdict.check, (long long)first, (long long)(first + n - 1), verdict.reason);
        return COSMOS_ERR_BLOCKED;
    }
    return COSMOS_OK;
}

/* The video-guardrail role on n new frames [n,H,W,3] of clip c (its frames [first, first + n)):
 * video_guard, then the clip's mp4 (*writer, opened at the clip's first frames, with its preview).
 * Returns 1 when the clip goes on, 0 when it has failed (with its reason in the clip). */
static int guard_and_write(cosmos_v2w_t *v, struct clip *c, cosmos_media_writer_t **writer, uint8_t *rgb, int64_t n,
                           int64_t first) {
    if (video_guard(v, c, rgb, n, first) != COSMOS_OK) return 0; /* failed with the guardrail's reason */
    cosmos_status est = COSMOS_OK;
    if (!*writer) {
        struct cosmos_media_encode_params ep = cosmos_media_encode_params_default();
        ep.preview_path = c->req->preview;
        est = cosmos_media_writer_open(c->req->output, v->W, v->H, &ep, writer);
    }
    if (est == COSMOS_OK) est = cosmos_media_writer_append(*writer, rgb, n);
    if (est != COSMOS_OK) {
        fail_clip(c, est, "cannot write frames %lld..%lld of '%s' (%s)", (long long)first, (long long)(first + n - 1),
                  c->req->output, cosmos_status_str(est));
        return 0;
    }
    return 1;
}

/* The decoder's next n frames [n,H,W,3] of clip c go on to the video-guardrail role: inline
 * (guard_and_write into d->writer) or to its rank. A failed clip is recorded in the clip and
 * d->failed; the return status is for failures of the run itself (a send). */
static cosmos_status dec_emit(cosmos_v2w_t *v, struct clip *c, struct dec_state *d, uint8_t *rgb, int64_t n) {
    const int64_t first = d->n_out;
    d->n_out += n;
    if (v->vg_remote)
        return msg_send_aux(v, v->p.layout->video_guardrail, TAG_RGB, c->index, MSG_OK, NULL, rgb,
                            n * 3 * (int64_t)v->H * v->W, first);
    if (!guard_and_write(v, c, &d->writer, rgb, n, first)) d->failed = 1; /* its writer is aborted at the end */
    return COSMOS_OK;
}

/* Handles one FRAME message of the group (payload owned by the caller). Per-clip failures are
 * recorded in the clip; the return status is for failures of the run itself. */
static cosmos_status dec_handle(cosmos_v2w_t *v, struct group *g, const struct msg_hdr *h, const int32_t *payload) {
    cosmos_status st = COSMOS_OK;
    if (h->status == MSG_GROUP_END || h->status == MSG_GROUP_STOP) {
        v->group_ended = 1;
        if (h->status == MSG_GROUP_STOP) group_stop_at(g, h->clip - g->c[0].index);
        return COSMOS_OK;
    }
    const int j = h->clip - g->c[0].index;
    CHECK_ARG(j >= 0 && j < g->n, COSMOS_ERR_INTERNAL, "pipeline: frame of clip %d outside the group [%d, %d)",
              h->clip, g->c[0].index, g->c[0].index + g->n);
    struct clip *c = &g->c[j];
    struct dec_state *d = &v->dec[j];
    if (h->aux == AUX_CONTEXT && h->status == MSG_OK) { /* the clip's T5 context, for the diffusion decoder */
        const int64_t n_ctx = (int64_t)v->ar_cfg.context_len * v->ar_cfg.context_dim;
        CHECK_ARG(v->use_dd && h->bytes == (int64_t)sizeof(float) * n_ctx && !d->ctx, COSMOS_ERR_INTERNAL,
                  "pipeline: unexpected context message of %lld bytes for clip %d", (long long)h->bytes, h->clip);
        d->ctx = malloc(sizeof(float) * (size_t)n_ctx);
        CHECK_ALLOC(d->ctx);
        memcpy(d->ctx, payload, sizeof(float) * (size_t)n_ctx);
        return COSMOS_OK;
    }
    if (h->status != MSG_OK || h->bytes == 0) {
        d->ended = 1;
        if (h->status != MSG_OK) fail_clip(c, h->status, "%s", h->reason);
        if (h->aux > 0) c->res->n_tokens_generated = h->aux;
        return COSMOS_OK;
    }
    if (d->failed) return COSMOS_OK; /* drain: the AR rank still sends the rest of the clip */
    cosmos_status est = d->stream || d->ids ? COSMOS_OK : dec_start(v, c, d);
    if (est != COSMOS_OK) {
        fail_clip(c, est, "cannot start decoding into '%s' (%s)", c->req->output, cosmos_status_str(est));
        d->failed = 1;
        return COSMOS_OK;
    }
    if (v->use_dd) {
        const int64_t F = (int64_t)v->Hl * v->Wl;
        CHECK_ARG(d->n_pushed < v->Tl && h->bytes == (int64_t)sizeof(int32_t) * F, COSMOS_ERR_INTERNAL,
                  "pipeline: latent frame %d (%lld bytes) of a %d-frame clip", d->n_pushed, (long long)h->bytes,
                  v->Tl);
        memcpy(d->ids + d->n_pushed * F, payload, sizeof(int32_t) * (size_t)F);
        d->n_pushed++;
        return COSMOS_OK;
    }
    int n_new = 0;
    est = cosmos_dv_stream_push(d->stream, payload, d->frames_f32, &n_new);
    if (est != COSMOS_OK) {
        fail_clip(c, est, "decoding latent frame %d of '%s' failed (%s)", d->n_pushed, c->req->output,
                  cosmos_status_str(est));
        d->failed = 1;
    } else if (n_new > 0) {
        const int64_t n_bad = cosmos_dv_video_to_u8(d->frames_f32, n_new, v->H, v->W, d->frames_u8);
        if (n_bad > 0) {
            fail_clip(c, COSMOS_ERR_FORMAT,
                      "the DV decoder made %lld non-finite values in frames %lld..%lld: its weights (the model "
                      "directory's tokenizer file) are broken",
                      (long long)n_bad, (long long)d->n_out, (long long)(d->n_out + n_new - 1));
            d->failed = 1;
        } else {
            CHECK(dec_emit(v, c, d, d->frames_u8, n_new));
        }
    }
    d->n_pushed++;
fail:
    return st;
}

/* Diffusion decoder (use_dd): the clip's collected tokens -> uint8 frames *rgb [T,H,W,3] (malloc'd). */
static cosmos_status dd_video(cosmos_v2w_t *v, struct clip *c, struct dec_state *d, uint8_t **rgb_out) {
    const float *ctx = v->v2w ? d->ctx : v->dd_ctx;
    const int L = v->v2w ? v->ar_cfg.context_len : v->dd_ctx_rows;
    const size_t px = (size_t)v->H * (size_t)v->W;
    if (!ctx) {
        LOG_ERROR("pipeline: clip %d: no context reached the diffusion decoder", c->index);
        return COSMOS_ERR_INTERNAL;
    }
    float *video = malloc(sizeof(float) * 3 * (size_t)v->T * px);
    uint8_t *rgb = malloc(3 * (size_t)v->T * px);
    cosmos_status est = video && rgb ? COSMOS_OK : COSMOS_ERR_NOMEM;
    struct cosmos_diffusion_decoder_params dp =
        cosmos_diffusion_decoder_params_default(cosmos_diffusion_decoder_dit_config(v->dd));
    dp.cfg_comm = v->cfg_comm; /* with a decoder_cfg rank: the unconditional branch runs there */
    if (est == COSMOS_OK && v->cfg_comm) { /* the decoder_cfg rank's copy of the clip (role_decoder_cfg) */
        int32_t hdr[4] = {CFG_CLIP, c->index, L, 0};
        const int cols = cosmos_diffusion_decoder_dit_config(v->dd)->crossattn_emb_channels;
        est = cosmos_comm_broadcast(v->cfg_comm, hdr, sizeof hdr, 0);
        if (est == COSMOS_OK)
            est = cosmos_comm_broadcast(v->cfg_comm, d->ids, sizeof(int32_t) * (size_t)v->Tl * v->Hl * v->Wl, 0);
        if (est == COSMOS_OK) est = cosmos_comm_broadcast(v->cfg_comm, (void *)ctx, sizeof(float) * (size_t)L * cols, 0);
        if (est != COSMOS_OK) {
            free(video);
            free(rgb);
            return est;
        }
    }
    if (est == COSMOS_OK)
        est = cosmos_diffusion_decoder_run(v->dd, &dp, d->ids, v->Tl, v->Hl, v->Wl, v->H, v->W, ctx, L, v->T, video);
    if (est == COSMOS_OK) {
        const int64_t n_bad = cosmos_dv_video_to_u8(video, v->T, v->H, v->W, rgb);
        if (n_bad > 0) {
            LOG_ERROR("clip %d: the diffusion decoder made %lld non-finite values: its weights (the model "
                      "directory's diffusion_decoder / cv_tokenizer files) are broken",
                      c->index, (long long)n_bad);
            est = COSMOS_ERR_FORMAT;
        } else {
            *rgb_out = rgb, rgb = NULL;
        }
    }
    free(video);
    free(rgb);
    return est;
}

/* The first AR rank, when it is also the decoder: decode the frames queued so far now. */
static cosmos_status dec_drain_local(cosmos_v2w_t *v, struct group *g) {
    cosmos_status st = COSMOS_OK;
    for (struct local_msg *m = v->queue_head; m && !v->group_ended; m = v->queue_head) {
        if (m->tag != TAG_FRAME) break; /* only frames are queued while the AR role runs */
        struct msg_hdr h;
        void *payload = NULL;
        CHECK(msg_recv(v, v->rank, TAG_FRAME, &h, &payload));
        st = dec_handle(v, g, &h, payload);
        free(payload);
        CHECK(st);
    }
fail:
    return st;
}

static cosmos_status role_decoder(cosmos_v2w_t *v, struct group *g) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_layout *l = v->p.layout;
    struct msg_hdr h;
    void *payload = NULL;
    while (!v->group_ended) {
        CHECK(msg_recv(v, l->ar_ranks[0], TAG_FRAME, &h, &payload));
        CHECK(dec_handle(v, g, &h, payload));
        free(payload), payload = NULL;
    }
    for (int j = 0; j < g->n_live; j++) {
        struct clip *c = &g->c[j];
        struct dec_state *d = &v->dec[j];
        const int started = d->stream || d->ids;
        if (c->res->status == COSMOS_OK && !started)
            fail_clip(c, COSMOS_ERR_INTERNAL, "no frame of the clip reached the decoder");
        const int lat = clip_latents(v, c->req, NULL, 0);
        if (c->res->status == COSMOS_OK && d->n_pushed != lat)
            fail_clip(c, COSMOS_ERR_INTERNAL, "the clip ended after %d of %d latent frames", d->n_pushed, lat);
        if (c->res->status == COSMOS_OK && v->use_dd) {
            uint8_t *rgb = NULL;
            cosmos_status est = dd_video(v, c, d, &rgb);
            if (est != COSMOS_OK)
                fail_clip(c, est, "the diffusion decoder failed on '%s' (%s)", c->req->output, cosmos_status_str(est));
            else
                st = dec_emit(v, c, d, rgb, v->T);
            free(rgb);
            CHECK(st);
        }
        if (!v->vg_remote && c->res->status == COSMOS_OK) { /* every frame passed video_guard: finish the mp4 */
            c->res->n_frames = (int)cosmos_media_writer_frames(d->writer);
            cosmos_status cst = d->writer ? cosmos_media_writer_close(d->writer) : COSMOS_ERR_INTERNAL;
            d->writer = NULL;
            if (cst != COSMOS_OK) fail_clip(c, cst, "cannot finish '%s'", c->req->output);
        }
        if (started) stage_end(c, COSMOS_V2W_DECODE);
        if (v->vg_remote) /* the clip ends at the video-guardrail rank too, with its status here */
            CHECK(msg_send_aux(v, l->video_guardrail, TAG_RGB, c->index, c->res->status,
                               c->res->status != COSMOS_OK ? c->res->reason : NULL, NULL, 0,
                               c->res->n_tokens_generated));
    }
    if (v->vg_remote) /* and so does the group (the clip field says how many of its clips ran) */
        CHECK(msg_send(v, l->video_guardrail, TAG_RGB, g->c[0].index + g->n_live,
                       g->stop ? MSG_GROUP_STOP : MSG_GROUP_END, NULL, NULL, 0));
    if (v->cfg_comm) { /* the decoder_cfg rank's group ends here too */
        int32_t hdr[4] = {CFG_END, 0, g->n_live, g->stop};
        CHECK(cosmos_comm_broadcast(v->cfg_comm, hdr, sizeof hdr, 0));
    }
fail:
    free(payload);
    for (int j = 0; j < g->n; j++) dec_reset(&v->dec[j]); /* aborts unfinished writers: no partial outputs */
    v->group_ended = 0;
    return st;
}

/* The video guardrail on a rank of its own: the decoder streams it each clip's frames (RGB
 * messages), which it checks, blurs and writes to the clip's mp4 as they arrive; the clip's end
 * message carries the decoder's status (a failure upstream or in the decoder), the group's end
 * whether the run stops. This rank finishes the clips (it reports them to rank 0). */
static cosmos_status role_video_guardrail(cosmos_v2w_t *v, struct group *g) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_layout *l = v->p.layout;
    const int64_t frame_bytes = 3 * (int64_t)v->H * v->W;
    struct msg_hdr h;
    void *payload = NULL;
    for (;;) {
        CHECK(msg_recv(v, l->decoder, TAG_RGB, &h, &payload));
        if (h.status == MSG_GROUP_END || h.status == MSG_GROUP_STOP) {
            if (h.status == MSG_GROUP_STOP) group_stop_at(g, h.clip - g->c[0].index);
            break;
        }
        const int j = h.clip - g->c[0].index;
        CHECK_ARG(j >= 0 && j < g->n, COSMOS_ERR_INTERNAL, "pipeline: frames of clip %d outside the group [%d, %d)",
                  h.clip, g->c[0].index, g->c[0].index + g->n);
        struct clip *c = &g->c[j];
        struct vg_state *s = &v->vg[j];
        if (h.bytes > 0) { /* frames [aux, aux + n) */
            CHECK_ARG(h.status == MSG_OK && h.bytes % frame_bytes == 0 && h.aux >= 0, COSMOS_ERR_INTERNAL,
                      "pipeline: a %lld-byte frame message for clip %d (frames are %lld bytes)", (long long)h.bytes,
                      h.clip, (long long)frame_bytes);
            if (c->res->start[COSMOS_V2W_VIDEO_GUARDRAIL] == 0) stage_begin(v, c, COSMOS_V2W_VIDEO_GUARDRAIL);
            if (!s->failed && !guard_and_write(v, c, &s->writer, payload, h.bytes / frame_bytes, h.aux))
                s->failed = 1;
        } else { /* the end of the clip */
            if (h.status != MSG_OK && c->res->status == COSMOS_OK) { /* the decoder rank logged it */
                c->res->status = h.status;
                snprintf(c->res->reason, sizeof c->res->reason, "%s", h.reason);
            }
            if (h.aux > 0) c->res->n_tokens_generated = h.aux;
            if (c->res->status == COSMOS_OK && !s->writer)
                fail_clip(c, COSMOS_ERR_INTERNAL, "no frame of the clip reached the video guardrail");
            if (c->res->status == COSMOS_OK) {
                c->res->n_frames = (int)cosmos_media_writer_frames(s->writer);
                cosmos_status cst = cosmos_media_writer_close(s->writer);
                s->writer = NULL;
                if (cst != COSMOS_OK) fail_clip(c, cst, "cannot finish '%s'", c->req->output);
            }
            vg_reset(s); /* a failed clip's writer is aborted: no partial output */
            if (c->res->start[COSMOS_V2W_VIDEO_GUARDRAIL] > 0) stage_end(c, COSMOS_V2W_VIDEO_GUARDRAIL);
        }
        free(payload), payload = NULL;
    }
fail:
    free(payload);
    for (int j = 0; j < g->n; j++) vg_reset(&v->vg[j]);
    return st;
}

/* The decoder_cfg rank (CFG parallelism): for each clip the decoder rank decodes, the unconditional
 * half of every guided denoiser call; the clip and its context come from the decoder rank, which
 * also ends the group (and says whether the run stops). Failures of a clip are the decoder rank's to
 * record (cosmos_diffusion_decoder_run returns the same status on both ranks). */
static cosmos_status role_decoder_cfg(cosmos_v2w_t *v, struct group *g) {
    cosmos_status st = COSMOS_OK;
    const int64_t n_ids = (int64_t)v->Tl * v->Hl * v->Wl;
    const int cols = cosmos_diffusion_decoder_dit_config(v->dd)->crossattn_emb_channels;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n_ids);
    float *ctx = NULL;
    CHECK_ALLOC(ids);
    for (;;) {
        int32_t hdr[4] = {0};
        CHECK(cosmos_comm_broadcast(v->cfg_comm, hdr, sizeof hdr, 0));
        if (hdr[0] == CFG_END) {
            g->n_live = hdr[2];
            g->stop = hdr[3];
            break;
        }
        CHECK_ARG(hdr[0] == CFG_CLIP && hdr[2] >= 1 && hdr[2] <= (1 << 20), COSMOS_ERR_INTERNAL,
                  "pipeline: unexpected message %d (%d rows) from the decoder rank", hdr[0], hdr[2]);
        free(ctx);
        ctx = malloc(sizeof(float) * (size_t)hdr[2] * (size_t)cols);
        CHECK_ALLOC(ctx);
        CHECK(cosmos_comm_broadcast(v->cfg_comm, ids, sizeof(int32_t) * (size_t)n_ids, 0));
        CHECK(cosmos_comm_broadcast(v->cfg_comm, ctx, sizeof(float) * (size_t)hdr[2] * (size_t)cols, 0));
        struct cosmos_diffusion_decoder_params dp =
            cosmos_diffusion_decoder_params_default(cosmos_diffusion_decoder_dit_config(v->dd));
        dp.cfg_comm = v->cfg_comm;
        cosmos_status est = cosmos_diffusion_decoder_run(v->dd, &dp, ids, v->Tl, v->Hl, v->Wl, v->H, v->W, ctx,
                                                         hdr[2], v->T, NULL);
        if (est != COSMOS_OK)
            LOG_WARN("rank %d: clip %d: the diffusion decoder's unconditional half stopped (%s)", v->rank, hdr[1],
                     cosmos_status_str(est));
    }
fail:
    free(ids);
    free(ctx);
    return st;
}

/* ---- the run ---- */

static void memory_row(const cosmos_v2w_t *v, struct cosmos_v2w_memory_row *row);

cosmos_status cosmos_v2w_run(cosmos_v2w_t *v, const struct cosmos_v2w_request *reqs, int n,
                             struct cosmos_v2w_result *results, int *n_done, cosmos_v2w_done_fn on_done, void *ud) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_layout *l = v->p.layout;
    struct cosmos_v2w_result *mine = calloc((size_t)(n > 0 ? n : 1), sizeof *mine), *all = NULL;
    int32_t *counts = NULL;
    int count = 0;
    CHECK_ALLOC(mine);
    CHECK_ARG(!v->p.check_only, COSMOS_ERR_INVALID_ARG, "pipeline: a check-only handle cannot run clips");
    v->on_done = on_done, v->on_done_ud = ud, v->n_progress = 0;
    { /* test hooks: this rank's run fails before its first clip, as a rank-local error would
       * (tests/e2e/test_replicas.sh), or hangs there, as a stuck device or file system would
       * (tests/e2e/test_comm_timeout.sh), while the other ranks wait for its messages */
        const char *fr = getenv("COSMOS_TEST_FAIL_RANK"), *hr = getenv("COSMOS_TEST_HANG_RANK");
        CHECK_ARG(!fr || !fr[0] || atoi(fr) != v->rank, COSMOS_ERR_INTERNAL,
                  "pipeline: failure injected on rank %d (COSMOS_TEST_FAIL_RANK)", v->rank);
        if (hr && hr[0] && atoi(hr) == v->rank) {
            LOG_WARN("pipeline: rank %d hangs here (COSMOS_TEST_HANG_RANK)", v->rank);
            for (;;) sleep(1);
        }
    }
    const int r = v->rank;
    const int cfg_rank = v->cfg_comm && cosmos_layout_has_role(l, r, COSMOS_ROLE_DECODER_CFG);
    const int has_role = cosmos_layout_has_role(l, r, COSMOS_ROLE_AR) || cosmos_layout_has_role(l, r, COSMOS_ROLE_T5) ||
                         cosmos_layout_has_role(l, r, COSMOS_ROLE_TOKENIZER) ||
                         cosmos_layout_has_role(l, r, COSMOS_ROLE_DECODER) ||
                         cosmos_layout_has_role(l, r, COSMOS_ROLE_GUARDRAIL) ||
                         cosmos_layout_has_role(l, r, COSMOS_ROLE_VIDEO_GUARDRAIL) || cfg_rank;
    for (int i = 0; i < n; i += v->in_flight) {
        struct group g;
        memset(&g, 0, sizeof g);
        g.n = n - i < v->in_flight ? n - i : v->in_flight;
        g.n_live = g.n;
        for (int j = 0; j < g.n; j++) g.c[j] = (struct clip){i + j, &reqs[i + j], &mine[i + j]};
        if (cosmos_layout_has_role(l, r, COSMOS_ROLE_GUARDRAIL)) CHECK(role_guardrail(v, &g));
        if (v->v2w && cosmos_layout_has_role(l, r, COSMOS_ROLE_T5)) CHECK(role_t5(v, &g));
        if (cosmos_layout_has_role(l, r, COSMOS_ROLE_TOKENIZER)) CHECK(role_tokenizer(v, &g));
        if (cosmos_layout_has_role(l, r, COSMOS_ROLE_AR)) CHECK(role_ar(v, &g));
        if (cosmos_layout_has_role(l, r, COSMOS_ROLE_DECODER)) CHECK(role_decoder(v, &g));
        if (v->vg_remote && cosmos_layout_has_role(l, r, COSMOS_ROLE_VIDEO_GUARDRAIL))
            CHECK(role_video_guardrail(v, &g));
        if (cosmos_layout_has_role(l, r, COSMOS_ROLE_VIDEO_GUARDRAIL)) /* where clips finish */
            for (int j = 0; j < g.n_live; j++) CHECK(progress_report(v, i + j, &mine[i + j]));
        if (cfg_rank) CHECK(role_decoder_cfg(v, &g));
        CHECK(progress_poll(v, -1));
        count += g.n_live;
        if (g.stop) break;
    }
    /* every rank's memory (gathered with the records) */
    struct cosmos_v2w_memory_row row;
    memory_row(v, &row);
    free(v->mem);
    v->mem = calloc((size_t)v->size, sizeof *v->mem);
    CHECK_ALLOC(v->mem);
    if (v->p.world)
        CHECK(cosmos_comm_allgather(v->p.world, &row, v->mem, sizeof row));
    else
        v->mem[0] = row;
    /* rank 0 merges every rank's record of every clip */
    if (!has_role) count = n;
    counts = calloc((size_t)v->size, sizeof *counts);
    CHECK_ALLOC(counts);
    if (v->p.world) {
        all = calloc((size_t)v->size * (size_t)(n > 0 ? n : 1), sizeof *all);
        CHECK_ALLOC(all);
        CHECK(cosmos_comm_allgather(v->p.world, &count, counts, sizeof count));
        CHECK(cosmos_comm_allgather(v->p.world, mine, all, sizeof *mine * (size_t)(n > 0 ? n : 1)));
    } else {
        counts[0] = count;
        all = mine, mine = NULL;
    }
    CHECK(progress_poll(v, counts[l->video_guardrail])); /* every report the finishing rank sent */
    int done = n;
    for (int k = 0; k < v->size; k++) done = counts[k] < done ? counts[k] : done;
    if (n_done) *n_done = done;
    if (results) {
        for (int i = 0; i < n; i++) {
            struct cosmos_v2w_result *o = &results[i];
            memset(o, 0, sizeof *o);
            for (int k = 0; k < v->size; k++) {
                const struct cosmos_v2w_result *x = &all[(size_t)k * (size_t)n + (size_t)i];
                if (x->status != COSMOS_OK && o->status == COSMOS_OK) {
                    o->status = x->status;
                    memcpy(o->reason, x->reason, sizeof o->reason);
                }
                for (int s = 0; s < COSMOS_V2W_N_STAGES; s++)
                    if (x->start[s] > 0 && o->start[s] == 0)
                        o->start[s] = x->start[s], o->end[s] = x->end[s], o->stage_rank[s] = x->stage_rank[s];
                if (x->n_frames > o->n_frames) o->n_frames = x->n_frames;
                if (x->video_guardrail_s > o->video_guardrail_s) o->video_guardrail_s = x->video_guardrail_s;
                if (x->n_tokens_generated > o->n_tokens_generated) o->n_tokens_generated = x->n_tokens_generated;
            }
        }
    }
fail:
    free(mine);
    free(all);
    free(counts);
    return st;
}

/* ---- memory ---- */

static void memory_row(const cosmos_v2w_t *v, struct cosmos_v2w_memory_row *row) {
    memset(row, 0, sizeof *row);
    cosmos_layout_rank_roles(v->p.layout, v->rank, row->roles, sizeof row->roles);
    row->host_peak = cosmos_peak_rss_bytes();
    if (v->ar) {
        const struct cosmos_ar_memory m = cosmos_ar_model_memory(v->ar);
        row->ar_weights = (int64_t)m.weight_bytes, row->ar_kv = (int64_t)m.kv_bytes;
        row->ar_other = (int64_t)(m.context_bytes + m.table_bytes + m.scratch_bytes);
    }
    struct cosmos_backend_memory bm;
    if (v->be && !cosmos_backend_is_host(v->be) && cosmos_backend_memory(v->be, &bm) == COSMOS_OK)
        row->device_used = (int64_t)(bm.device_total - bm.device_free), row->device_total = (int64_t)bm.device_total;
}

static int64_t file_size(const char *path) {
    struct stat sb;
    return path && path[0] && stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

cosmos_status cosmos_v2w_plan_memory(const struct cosmos_v2w_params *p, struct cosmos_v2w_memory_plan_row *rows) {
    cosmos_status st = COSMOS_OK;
    char *json = NULL;
    struct cosmos_ar_config c;
    CHECK(read_header_config(p->model_dir->ar, "ar", &json));
    CHECK(cosmos_ar_config_parse(json, p->model_dir->ar, &c));
    CHECK(cosmos_v2w_plan_memory_config(p, &c, rows));
fail:
    free(json);
    return st;
}

cosmos_status cosmos_v2w_plan_memory_config(const struct cosmos_v2w_params *p, const struct cosmos_ar_config *cfg,
                                            struct cosmos_v2w_memory_plan_row *rows) {
    cosmos_status st = COSMOS_OK;
    const struct cosmos_layout *l = p->layout;
    static const struct cosmos_model_dir no_files; /* every path "" */
    const struct cosmos_model_dir *md = p->model_dir ? p->model_dir : &no_files;
    const struct cosmos_ar_config c = *cfg;
    enum cosmos_dtype act;
    const char *backend = p->backend ? p->backend : "cpu";
    CHECK(cosmos_backend_name_act_dtype(backend, &act));
    const int v2w = c.insert_cross_attn;
    const int n_seq = p->clips_in_flight > 0 ? p->clips_in_flight : 1;
    for (int r = 0; r < l->n_ranks; r++) {
        struct cosmos_v2w_memory_plan_row *row = &rows[r];
        memset(row, 0, sizeof *row);
        cosmos_layout_rank_roles(l, r, row->roles, sizeof row->roles);
        const int a = cosmos_layout_ar_index(l, r);
        if (a >= 0) { /* tp rank a % tp of stage a / tp, as cosmos_v2w_open splits the AR group */
            struct cosmos_ar_part part = {l->tp, a % l->tp, 0, 0, a / l->tp == 0, a / l->tp == l->pp - 1};
            struct cosmos_ar_memory m;
            CHECK(cosmos_pp_stage_layers(&c, l->pp, p->stage_layers, a / l->tp, &part.layer0, &part.layer1));
            CHECK(cosmos_ar_memory_plan(&c, &part, n_seq, 0, act, &m));
            row->ar_weights = (int64_t)m.weight_bytes, row->ar_kv = (int64_t)m.kv_bytes;
            row->ar_other = (int64_t)(m.context_bytes + m.table_bytes + m.scratch_bytes);
        }
        const struct rank_models here = rank_models(p, md, v2w, r); /* where open_rank puts each model */
        int64_t *dev = here.device ? &row->models_device : &row->models_host;
        /* the tokenizers run on the rank's device backend where it has one (open_rank) */
        const int has_dev = here.device && (a >= 0 || here.dd || here.aegis || here.t5_device || here.video_guard);
        if (here.dd) *dev += file_size(md->diffusion_decoder) + file_size(md->cv_tokenizer);
        if (here.aegis) *dev += file_size(md->aegis);
        if (here.t5 && md->t5[0]) { /* f32 activations: widened to f32 matmul weights on a bf16 device */
            int64_t b = 0;
            CHECK(cosmos_t5_weight_bytes(md->t5, here.t5_device ? act : COSMOS_F32, &b));
            *(here.t5_device ? &row->models_device : &row->models_host) += b;
        }
        if (cosmos_layout_has_role(l, r, COSMOS_ROLE_TOKENIZER) || cosmos_layout_has_role(l, r, COSMOS_ROLE_DECODER))
            *(has_dev ? &row->models_device : &row->models_host) += file_size(md->tokenizer);
        if (here.video_guard) /* SigLIP's tower and RetinaFace on the device (f32: about their files) */
            *dev += file_size(md->face_blur) + file_size(md->video_content_filter);
    }
fail:
    return st;
}

const struct cosmos_v2w_memory_row *cosmos_v2w_memory(const cosmos_v2w_t *v, int *n) {
    if (n) *n = v->mem ? v->size : 0;
    return v->mem;
}

cosmos_status cosmos_v2w_write_memory_json(const cosmos_v2w_t *v, const char *path) {
    cosmos_status st = COSMOS_OK;
    json_t *arr = json_array(), *doc = NULL;
    CHECK_ALLOC(arr);
    CHECK_ARG(v->mem, COSMOS_ERR_INVALID_ARG, "pipeline: no memory table before a run");
    for (int i = 0; i < v->size; i++) {
        const struct cosmos_v2w_memory_row *m = &v->mem[i];
        json_array_append_new(arr, json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "rank", i, "roles", m->roles,
                                             "host_peak", (json_int_t)m->host_peak, "ar_weights",
                                             (json_int_t)m->ar_weights, "ar_kv", (json_int_t)m->ar_kv, "ar_other",
                                             (json_int_t)m->ar_other, "device_used", (json_int_t)m->device_used,
                                             "device_total", (json_int_t)m->device_total));
    }
    doc = json_pack("{s:O}", "rows", arr);
    CHECK_ALLOC(doc);
    CHECK(cosmos_json_write(doc, path, JSON_INDENT(2)));
fail:
    json_decref(doc);
    json_decref(arr);
    return st;
}

void cosmos_v2w_log_memory(const cosmos_v2w_t *v, const char *title) {
    if (!cosmos_log_is_rank0() || !v->mem) return;
    char buf[16384];
    int k = snprintf(buf, sizeof buf,
                     "%s (MB; host: peak resident set of the process; ar: the transformer's weights, KV cache, "
                     "context K/V + tables + activations on that rank; device: in use / total at the end):\n"
                     "%-4s %-64s %10s %10s %10s %10s %21s",
                     title, "rank", "roles", "host peak", "ar weights", "ar kv", "ar other", "device");
    for (int i = 0; i < v->size && k > 0 && k < (int)sizeof buf - 160; i++) {
        const struct cosmos_v2w_memory_row *m = &v->mem[i];
        char dev[32] = "-";
        if (m->device_total > 0)
            snprintf(dev, sizeof dev, "%.1f / %.1f", (double)m->device_used * 1e-6, (double)m->device_total * 1e-6);
        k += snprintf(buf + k, sizeof buf - (size_t)k, "\n%-4d %-64s %10.1f %10.1f %10.1f %10.1f %21s", i, m->roles,
                      (double)m->host_peak * 1e-6, (double)m->ar_weights * 1e-6, (double)m->ar_kv * 1e-6,
                      (double)m->ar_other * 1e-6, dev);
    }
    LOG_INFO("%s", buf);
}

static double clip_span(const struct cosmos_v2w_result *r, double *t0) {
    double a = 0, b = 0;
    for (int s = 0; s < COSMOS_V2W_N_STAGES; s++) {
        if (r->start[s] <= 0) continue;
        if (a == 0 || r->start[s] < a) a = r->start[s];
        if (r->end[s] > b) b = r->end[s];
    }
    if (t0) *t0 = a;
    return b > a ? b - a : 0;
}

void cosmos_v2w_log_timing(const struct cosmos_v2w_result *results, int n) {
    if (!cosmos_log_is_rank0()) return;
    char line[1024];
    int k = snprintf(line, sizeof line, "%-5s", "clip");
    for (int s = 0; s < COSMOS_V2W_N_STAGES; s++)
        k += snprintf(line + k, sizeof line - (size_t)k, " %15s", cosmos_v2w_stage_name((enum cosmos_v2w_stage)s));
    snprintf(line + k, sizeof line - (size_t)k, " %9s  status", "total");
    LOG_INFO("stage times in seconds (@rank; stages of one clip overlap when they run on different ranks):\n%s",
             line);
    for (int i = 0; i < n; i++) {
        const struct cosmos_v2w_result *r = &results[i];
        k = snprintf(line, sizeof line, "%-5d", i);
        for (int s = 0; s < COSMOS_V2W_N_STAGES && k < (int)sizeof line - 32; s++) {
            if (r->start[s] > 0)
                k += snprintf(line + k, sizeof line - (size_t)k, " %10.3f @%-3d", r->end[s] - r->start[s],
                              r->stage_rank[s]);
            else
                k += snprintf(line + k, sizeof line - (size_t)k, " %15s", "-");
        }
        snprintf(line + k, sizeof line - (size_t)k, " %9.3f  %s", clip_span(r, NULL),
                 r->status == COSMOS_OK ? "ok" : r->reason);
        LOG_INFO("%s", line);
    }
}

cosmos_status cosmos_v2w_write_timing_json(const char *path, const struct cosmos_v2w_request *reqs,
                                           const struct cosmos_v2w_result *results, int n) {
    cosmos_status st = COSMOS_OK;
    json_t *root = json_array();
    CHECK_ALLOC(root);
    for (int i = 0; i < n; i++) {
        const struct cosmos_v2w_result *r = &results[i];
        double t0 = 0;
        const double span = clip_span(r, &t0);
        json_t *stages = json_object(), *o = json_pack("{s:i, s:s, s:s, s:s, s:f, s:I, s:i}", "index", i, "input",
                                                      reqs[i].input ? reqs[i].input : "", "output",
                                                      reqs[i].output ? reqs[i].output : "", "status",
                                                      r->status == COSMOS_OK ? "ok" : "failed", "critical_path_s",
                                                      span, "tokens_generated", (json_int_t)r->n_tokens_generated,
                                                      "frames", r->n_frames);
        CHECK_ALLOC(stages);
        CHECK_ALLOC(o);
        if (r->status != COSMOS_OK) json_object_set_new(o, "reason", json_string(r->reason));
        json_object_set_new(o, "video_guardrail_s", json_real(r->video_guardrail_s));
        for (int s = 0; s < COSMOS_V2W_N_STAGES; s++)
            if (r->start[s] > 0)
                json_object_set_new(stages, cosmos_v2w_stage_name((enum cosmos_v2w_stage)s),
                                    json_pack("{s:f, s:f, s:i}", "start_s", r->start[s] - t0, "seconds",
                                              r->end[s] - r->start[s], "rank", r->stage_rank[s]));
        json_object_set_new(o, "stages", stages);
        json_array_append_new(root, o);
    }
    CHECK(cosmos_json_write(root, path, JSON_INDENT(2)));
fail:
    json_decref(root);
    return st;
}
