/* `cosmos-ar info M.h5`: architecture, parameter count, bytes and format version of a weight file,
 * printed to stdout after a full strict load (so it also validates the file). Given a video or
 * image file instead (anything that is not HDF5), it decodes every frame and prints the frame
 * count and size (how tests and scripts check generated mp4s without ffprobe). A DV tokenizer file
 * ("model_type": "dv_tokenizer") gets its config, parts, parameter counts and default clip; a CV
 * tokenizer file ("cv_tokenizer", spec 4.7) the same with its latent channels and statistics; a
 * diffusion decoder file ("diffusion_decoder", spec 4.4) its architecture, sampling settings and sizes;
 * the video guardrail's files ("retinaface" spec 5.5, "siglip_safety" spec 5.4) their config; a
 * T5 encoder file ("t5", spec 3) its config and sizes; a context file (/context, no model_type)
 * its shape. Given a model directory (core/pipeline/model_dir.h), it lists its files with their sizes on disk
 * and the pipeline role that loads each, with a total per role (what each rank of a layout reads;
 * the memory a run actually used is the table generate and batch print at the end). With --ranks N
 * (and the run's --layout or --tp/--pp, --backend, --clips-in-flight, --disable-*), it plans the
 * memory of each rank of that job before anything is loaded (cosmos_v2w_plan_memory): the
 * transformer's weights, KV cache and other buffers exactly as the run will allocate them, and
 * the other models' file sizes on the device and on the host; --json F writes the plan, --memory
 * GB checks it against one GPU; --config CFG.json plans a transformer config alone. With --check,
 * every file of the directory is described as above, its values scanned (all finite), and the
 * files checked against each other, with a summary (exit 1 when anything failed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/media.h"

#include "core/backend.h"
#include "core/guardrail/llama.h"
#include "core/guardrail/retinaface.h"
#include "core/guardrail/siglip.h"
#include "core/log.h"
#include "core/context_file.h"
#include "core/model/ar_model.h"
#include "core/model/t5_model.h"
#include "core/model/dit_weights.h"
#include "core/model/dv_weights.h"
#include "core/json_file.h"
#include "core/pipeline/layout.h"
#include "core/pipeline/model_dir.h"
#include "core/pipeline/v2w.h"
#include "cosmos_build_config.h"
#include "launcher/cli.h"
#include "launcher/commands.h"

static int is_hdf5(const char *path) {
    unsigned char sig[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 1; /* let the HDF5 loader report the missing file */
    size_t n = fread(sig, 1, sizeof sig, f);
    fclose(f);
    return n == sizeof sig && memcmp(sig, "\x89HDF\r\n\x1a\n", 8) == 0;
}

/* What kind of HDF5 file this is, from one open: its root attribute model_type in type ("" when it
 * has none), and whether it then has a /context dataset (a context file). A missing file leaves
 * both empty (the AR loader reports it); a file HDF5 cannot open is that error (logged). */
static cosmos_status h5_kind(const char *path, char *type, size_t n, int *context) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h5 = NULL;
    char *kind = NULL;
    type[0] = '\0';
    *context = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return COSMOS_OK;
    fclose(f);
    CHECK(cosmos_h5_open(path, &h5));
    if (cosmos_h5_has_attr(h5, "model_type") && cosmos_h5_attr_string(h5, "model_type", &kind) == COSMOS_OK)
        snprintf(type, n, "%s", kind);
    else
        *context = cosmos_h5_has_dataset(h5, "context");
fail:
    free(kind);
    cosmos_h5_close(h5);
    return st;
}

/* *bytes += the stored size of dataset `name` (the weight-bytes sums of the file kinds below). */
static cosmos_status add_dataset_bytes(cosmos_h5_t *h5, const char *name, size_t *bytes) {
    struct cosmos_h5_info hi;
    const cosmos_status st = cosmos_h5_info(h5, name, &hi);
    if (st == COSMOS_OK) *bytes += hi.bytes;
    return st;
}

static void print_ints(const char *label, const int *v, int n) {
    printf("%-16s[", label);
    for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", v[i]);
    printf("]\n");
}

/* Tokenizer file: header, strict check of every tensor, then the config and sizes. */
static cosmos_status info_dv(const char *path) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h5 = NULL;
    struct cosmos_dv_config c;
    enum cosmos_dv_part parts;
    struct cosmos_dv_tensor_spec *specs = NULL;
    int n_specs = 0;
    CHECK(cosmos_h5_open(path, &h5));
    CHECK(cosmos_tok_read_header(h5, &c, &parts));
    CHECK(cosmos_dv_check_weights(h5, &c, parts));
    CHECK(cosmos_dv_weight_specs(&c, parts, &specs, &n_specs));
    size_t bytes = 0;
    for (int i = 0; i < n_specs; i++) CHECK(add_dataset_bytes(h5, specs[i].name, &bytes));
    int64_t vocab = 1, Tl, Hl, Wl;
    for (int i = 0; i < c.embedding_dim; i++) vocab *= c.fsq_levels[i];
    int64_t n_stats = 0;
    if (c.continuous) CHECK(cosmos_cv_stats_frames(h5, &c, &n_stats));
    const int T = c.pixel_chunk_duration > 0 ? c.pixel_chunk_duration : c.continuous ? 57 : 33,
              H = c.height > 0 ? c.height : 640,
              W = c.width > 0 ? c.width : 1024;
    cosmos_dv_latent_shape(&c, T, H, W, &Tl, &Hl, &Wl);
    const int64_t pe = cosmos_dv_config_num_params(&c, COSMOS_DV_ENCODER);
    const int64_t pd = cosmos_dv_config_num_params(&c, COSMOS_DV_DECODER);
    printf("file            %s\n", path);
    printf("format          cosmos-ar-weights, format_version %d\n", COSMOS_WEIGHTS_FORMAT_VERSION);
    printf("model_type      %s\n", c.continuous ? COSMOS_CV_MODEL_TYPE : COSMOS_DV_MODEL_TYPE);
    printf("name            %s\n", c.name);
    printf("parts           %s\n", parts == COSMOS_DV_BOTH       ? "encoder + decoder"
                                     : parts == COSMOS_DV_ENCODER ? "encoder only"
                                                                  : "decoder only");
    printf("compression     %d x %d x %d (T x H x W), patch_size %d (haar)\n", c.temporal_compression,
           c.spatial_compression, c.spatial_compression, c.patch_size);
    if (c.continuous) {
        printf("latent          continuous, %d channels (AE formulation, no quantizer)\n", c.latent_channels);
        if (n_stats > 0)
            printf("latent stats    mean_std [%d, %lld] (latent frames 0..%lld)\n", c.latent_channels,
                   (long long)n_stats, (long long)n_stats - 1);
        else
            printf("latent stats    absent (convert with --mean-std mean_std.pt)\n");
    } else {
        print_ints("fsq levels", c.fsq_levels, c.embedding_dim);
        printf("codebook        %lld codes (embedding_dim %d)\n", (long long)vocab, c.embedding_dim);
    }
    printf("channels        %d, in %d, out %d, z %d\n", c.channels, c.in_channels,
           c.out_channels ? c.out_channels : c.in_channels, c.z_channels);
    print_ints("channels_mult", c.channels_mult, c.n_levels);
    printf("num_res_blocks  %d\n", c.num_res_blocks);
    print_ints("attention res", c.attn_resolutions, c.n_attn_resolutions);
    printf("resolution      %d\n", c.resolution);
    printf("clip            %d frames of %dx%d (WxH)%s -> latent [T,H,W] [%lld, %lld, %lld] = %lld %s\n", T, W,
           H, c.pixel_chunk_duration > 0 && c.height > 0 && c.width > 0 ? "" : " (official default)", (long long)Tl,
           (long long)Hl, (long long)Wl, (long long)(Tl * Hl * Wl), c.continuous ? "positions" : "tokens");
    printf("parameters      encoder %lld%s, decoder %lld%s\n", (long long)pe,
           parts & COSMOS_DV_ENCODER ? "" : " (absent)", (long long)pd, parts & COSMOS_DV_DECODER ? "" : " (absent)");
    printf("weight bytes    %zu (%.2f MB)\n", bytes, bytes * 1e-6);
fail:
    free(specs);
    cosmos_h5_close(h5);
    return st;
}

/* Diffusion decoder DiT file (spec 4.4): header, strict check of every tensor, config and sizes. */
static cosmos_status info_dit(const char *path) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h5 = NULL;
    struct cosmos_dit_config c;
    struct cosmos_dit_tensor_spec *specs = NULL;
    int n_specs = 0;
    CHECK(cosmos_h5_open(path, &h5));
    CHECK(cosmos_dit_read_header(h5, &c));
    CHECK(cosmos_dit_check_weights(h5, &c));
    CHECK(cosmos_dit_weight_specs(&c, &specs, &n_specs));
    size_t bytes = 0;
    for (int i = 0; i < n_specs; i++) CHECK(add_dataset_bytes(h5, specs[i].name, &bytes));
    const int64_t n_params = cosmos_dit_config_num_params(&c);
    const int Hl = c.height / 8, Wl = c.width / 8, Tl = (c.dd_train_num_video_frames - 1) / 8 + 1;
    printf("file            %s\n", path);
    printf("format          cosmos-ar-weights, format_version %d\n", COSMOS_WEIGHTS_FORMAT_VERSION);
    printf("model_type      %s\n", COSMOS_DIT_MODEL_TYPE);
    printf("name            %s\n", c.name);
    printf("blocks          %d x FA-CA-MLP, AdaLN-LoRA dim %d\n", c.num_blocks, c.adaln_lora_dim);
    printf("model_channels  %d, heads %d (head_dim %d), mlp %d\n", c.model_channels, c.num_heads, c.head_dim,
           c.mlp_hidden);
    printf("channels        in %d (+ token %d + padding mask 1), out %d, patch %dx%dx%d\n", c.in_channels,
           c.token_dim, c.out_channels, c.patch_temporal, c.patch_spatial, c.patch_spatial);
    printf("token condition vocab %d, dim %d\n", c.token_vocab_size, c.token_dim);
    printf("cross-attention context dim %d (no mask)\n", c.crossattn_emb_channels);
    printf("rope3d          dims t/h/w %d/%d/%d, extrapolation %g/%g/%g\n", c.rope_dim_t, c.rope_dim_h, c.rope_dim_w,
           c.rope_t_extrapolation_ratio, c.rope_h_extrapolation_ratio, c.rope_w_extrapolation_ratio);
    printf("sampling        %d steps, sigma %g..%g, guidance %g, sigma_data %g, fps %d\n", c.num_steps, c.sigma_min,
           c.sigma_max, c.guidance, c.sigma_data, c.fps);
    printf("clip            %d frames of %dx%d (WxH) -> latent [C,T,H,W] [%d, %d, %d, %d] = %lld DiT tokens\n",
           c.dd_train_num_video_frames, c.width, c.height, c.in_channels, Tl, Hl, Wl,
           (long long)Tl * (Hl / c.patch_spatial) * (Wl / c.patch_spatial));
    printf("parameters      %lld (%.3f M; %lld per block)\n", (long long)n_params, n_params * 1e-6,
           (long long)cosmos_dit_config_block_params(&c));
    printf("weight bytes    %zu (%.2f MB)\n", bytes, bytes * 1e-6);
fail:
    free(specs);
    cosmos_h5_close(h5);
    return st;
}

/* The video guardrail's weight files: a strict load (which validates every dataset), then the config. */
static cosmos_status info_guardrail(const char *path, int face_blur) {
    cosmos_status st = COSMOS_OK;
    cosmos_retinaface_t *rf = NULL;
    cosmos_siglip_t *sg = NULL;
    char *json = NULL;
    if (face_blur) {
        CHECK(cosmos_retinaface_load(path, &rf));
        json = cosmos_retinaface_config_to_json(cosmos_retinaface_get_config(rf));
    } else {
        CHECK(cosmos_siglip_load(path, &sg));
        json = cosmos_siglip_config_to_json(cosmos_siglip_get_config(sg));
    }
    CHECK_ALLOC(json);
    printf("file            %s\n", path);
    printf("format          cosmos-ar-weights, format_version 1\n");
    printf("model_type      %s (video guardrail: %s)\n", face_blur ? "retinaface" : COSMOS_SIGLIP_MODEL_TYPE,
           face_blur ? "face blur, spec components.md 5.5" : "content safety filter, spec components.md 5.4");
    if (sg)
        printf("parameters      %lld (%.3f M)\n",
               (long long)cosmos_siglip_config_num_params(cosmos_siglip_get_config(sg)),
               cosmos_siglip_config_num_params(cosmos_siglip_get_config(sg)) * 1e-6);
    printf("config          %s\n", json);
fail:
    free(json);
    cosmos_retinaface_free(rf);
    cosmos_siglip_free(sg);
    return st;
}

/* A Llama file (the Aegis check's model, spec 5.3): strict load, config, sizes, embedded extras. */
static cosmos_status info_llama(const char *path, int threads) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = NULL;
    cosmos_llama_t *m = NULL;
    cosmos_h5_t *h5 = NULL;
    char *json = NULL;
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = threads;
    CHECK(cosmos_backend_create("cpu", &bp, &be));
    CHECK(cosmos_llama_load(be, path, 1, &m));
    json = cosmos_llama_config_to_json(cosmos_llama_get_config(m));
    CHECK_ALLOC(json);
    CHECK(cosmos_h5_open(path, &h5));
    const struct cosmos_llama_memory mem = cosmos_llama_memory(m);
    const int64_t n_params = cosmos_llama_config_num_params(cosmos_llama_get_config(m));
    printf("file            %s\n", path);
    printf("format          cosmos-ar-weights, format_version 1\n");
    printf("model_type      %s (the Aegis prompt check's language model, spec components.md 5.3)\n",
           COSMOS_LLAMA_MODEL_TYPE);
    printf("parameters      %lld (%.3f B)\n", (long long)n_params, n_params * 1e-9);
    printf("weight bytes    %zu (%.2f GB bf16)\n", mem.weight_bytes, mem.weight_bytes * 1e-9);
    printf("tokenizer       %s\n", cosmos_h5_has_dataset(h5, COSMOS_LLAMA_TOKENIZER_DATASET) ? "embedded" : "none");
    printf("aegis prompt    %s\n", cosmos_h5_has_dataset(h5, COSMOS_LLAMA_AEGIS_PROMPT_DATASET) ? "embedded" : "none");
    printf("config          %s\n", json);
fail:
    free(json);
    cosmos_h5_close(h5);
    cosmos_llama_free(m);
    cosmos_backend_free(be);
    return st;
}

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int64_t file_bytes(const char *path) {
    struct stat sb;
    return path[0] && stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* A model directory: its files, their sizes and the roles that load them. */
static cosmos_status info_file(const char *path, int threads);

/* Every floating-point value of an HDF5 file is finite (a checkpoint converted wrongly, or damaged,
 * can hold NaN or Inf that shapes do not show), scanned in slices of at most 64 MB along the first
 * dimension (bf16 mapped in place where possible). FORMAT naming the first bad tensor otherwise. */
static cosmos_status scan_values(const char *path) {
    cosmos_status st = COSMOS_OK;
    cosmos_h5_t *h5 = NULL;
    char **names = NULL;
    int n = 0, n_tensors = 0;
    int64_t n_values = 0, n_bad = 0;
    char first_bad[256] = "";
    float *buf = NULL;
    CHECK(cosmos_h5_open(path, &h5));
    CHECK(cosmos_h5_list(h5, &names, &n));
    for (int i = 0; i < n; i++) {
        struct cosmos_h5_info hi;
        CHECK(cosmos_h5_info(h5, names[i], &hi));
        if (hi.dtype != COSMOS_BF16 && hi.dtype != COSMOS_F32) continue;
        int64_t rows = hi.ndim > 0 ? hi.shape[0] : 1, row = 1;
        for (int d = 1; d < hi.ndim; d++) row *= hi.shape[d];
        const size_t esz = hi.dtype == COSMOS_BF16 ? 2 : 4;
        int64_t step = (int64_t)((64u << 20) / (esz * (size_t)(row > 0 ? row : 1)));
        if (step < 1) step = 1;
        int64_t bad_here = 0;
        for (int64_t r0 = 0; r0 < rows && hi.ndim > 0; r0 += step) {
            const int64_t nr = rows - r0 < step ? rows - r0 : step, cnt = nr * row;
            if (hi.dtype == COSMOS_BF16) {
                const cosmos_bf16 *p = NULL;
                void *owned = NULL;
                CHECK(cosmos_h5_map_bf16_rows(h5, names[i], r0, nr, &p, &owned));
                for (int64_t k = 0; k < cnt; k++) bad_here += (p[k] & 0x7F80u) == 0x7F80u; /* exponent all ones */
                free(owned);
            } else {
                free(buf);
                buf = malloc(sizeof(float) * (size_t)(cnt > 0 ? cnt : 1));
                CHECK_ALLOC(buf);
                CHECK(cosmos_h5_read_slice(h5, names[i], 0, r0, nr, COSMOS_F32, buf));
                for (int64_t k = 0; k < cnt; k++) bad_here += !isfinite(buf[k]);
            }
            n_values += cnt;
        }
        n_tensors++;
        if (bad_here && !n_bad) snprintf(first_bad, sizeof first_bad, "%s", names[i]);
        n_bad += bad_here;
    }
    CHECK_ARG(n_bad == 0, COSMOS_ERR_FORMAT, "%s: %lld non-finite value(s) (NaN or Inf), the first in tensor '%s'",
              path, (long long)n_bad, first_bad);
    printf("values          all finite (%d tensors, %lld values)\n", n_tensors, (long long)n_values);
fail:
    free(buf);
    cosmos_h5_free_names(names, n);
    cosmos_h5_close(h5);
    return st;
}

/* A model directory: its files, their sizes and the roles that load them; with check, then every
 * file's strict check and description (info_file), a scan of its values (all finite), and the
 * files checked against each other (a check-only pipeline handle), with a summary: FORMAT when
 * anything failed. */
static cosmos_status info_model_dir(const char *dir, int check, int threads) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_model_dir md;
    CHECK(cosmos_model_dir_load(dir, &md));
    enum { AR = 1, T5 = 2, TOK = 4, DEC = 8, GUARD = 16, VGUARD = 32 };
    static const char *const roles[] = {"ar", "t5", "tokenizer", "decoder", "guardrail", "video-guardrail"};
    const struct {
        const char *key, *path, *loaded_by;
        int roles; /* the roles whose rank reads the file (the decoder reads the whole tokenizer file) */
    } files[] = {
        {"ar", md.ar, "ar (split over its tp x pp ranks)", AR},
        {"t5", md.t5, "t5", T5},
        {"tokenizer", md.tokenizer, "tokenizer (encoder), decoder (decoder)", TOK | DEC},
        {"diffusion_decoder", md.diffusion_decoder, "decoder, decoder-cfg", DEC},
        {"cv_tokenizer", md.cv_tokenizer, "decoder", DEC},
        {"dd_context", md.dd_context, "decoder", DEC},
        {"aegis", md.aegis, "guardrail", GUARD},
        {"video_content_filter", md.video_content_filter, "video-guardrail", VGUARD},
        {"face_blur", md.face_blur, "video-guardrail", VGUARD},
    };
    int64_t per_role[6] = {0}, total = 0;
    printf("model dir       %s (%s)\n", dir, md.name);
    printf("%-21s %-28s %12s  %s\n", "file", "path", "MB on disk", "loaded by");
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (!files[i].path[0]) continue;
        const int64_t b = file_bytes(files[i].path);
        const char *base = strrchr(files[i].path, '/');
        printf("%-21s %-28s %12.1f  %s\n", files[i].key, base ? base + 1 : files[i].path, (double)b * 1e-6,
               files[i].loaded_by);
        total += b;
        for (int r = 0; r < 6; r++)
            if (files[i].roles & (1 << r)) per_role[r] += b;
    }
    printf("total           %.1f MB\n", (double)total * 1e-6);
    printf("per role (MB on disk; the ar role's share is divided by tp x pp):");
    for (int r = 0; r < 6; r++) printf(" %s %.1f%s", roles[r], (double)per_role[r] * 1e-6, r < 5 ? "," : "\n");
    if (check) {
        int n_files = 0, n_bad = 0;
        char bad[1024] = "";
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            if (!files[i].path[0]) continue;
            printf("\n== %s\n", files[i].key);
            fflush(stdout);
            n_files++;
            if (info_file(files[i].path, threads) != COSMOS_OK || scan_values(files[i].path) != COSMOS_OK) {
                n_bad++;
                const size_t k = strlen(bad);
                snprintf(bad + k, sizeof bad - k, "%s%s", k ? ", " : "", files[i].key);
                printf("FAILED (the error is above)\n");
            }
        }
        /* the files against each other, as a run would open them (no weights loaded) */
        printf("\n== the files together\n");
        fflush(stdout);
        cosmos_v2w_t *v = NULL;
        struct cosmos_v2w_params p = cosmos_v2w_params_default();
        p.model_dir = &md;
        p.check_only = 1;
        p.guardrail_dir = COSMOS_SOURCE_DIR "/configs/guardrail"; /* generate's default word lists */
        cosmos_status cst = cosmos_v2w_open(&p, &v);
        cosmos_v2w_free(v);
        if (cst == COSMOS_OK) {
            printf("consistent      the transformer, tokenizer, text encoder and decoders fit together\n");
        } else {
            n_bad++;
            const size_t k = strlen(bad);
            snprintf(bad + k, sizeof bad - k, "%sthe files together", k ? ", " : "");
            printf("FAILED (the error is above)\n");
        }
        printf("\ncheck of %s: %d file(s), %s%s\n", dir, n_files, n_bad ? "FAILED: " : "all OK", bad);
        CHECK_ARG(n_bad == 0, COSMOS_ERR_FORMAT, "info --check: %s: %s", dir, bad);
    }
fail:
    return st;
}

/* T5 encoder file (spec components.md 3): the strict load on a CPU backend (bf16 weights mapped, not
 * copied), then the config and sizes. */
static cosmos_status info_t5(const char *path, int threads) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = NULL;
    cosmos_t5_t *t5 = NULL;
    cosmos_h5_t *h5 = NULL;
    struct cosmos_t5_tensor_spec *specs = NULL;
    int n_specs = 0;
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = threads;
    CHECK(cosmos_backend_create("cpu", &bp, &be));
    CHECK(cosmos_t5_load(be, path, &t5));
    const struct cosmos_t5_config *c = cosmos_t5_get_config(t5);
    CHECK(cosmos_t5_weight_specs(c, &specs, &n_specs));
    CHECK(cosmos_h5_open(path, &h5));
    size_t bytes = 0;
    for (int i = 0; i < n_specs; i++) CHECK(add_dataset_bytes(h5, specs[i].name, &bytes));
    const int64_t n_params = cosmos_t5_config_num_params(c);
    printf("file            %s\n", path);
    printf("model_type      t5 (text encoder, spec components.md 3)\n");
    printf("name            %s\n", c->name);
    printf("layers          %d (encoder)\n", c->num_layers);
    printf("d_model         %d, heads %d x %d, d_ff %d\n", c->d_model, c->num_heads, c->d_kv, c->d_ff);
    printf("vocab           %d embedding rows, %d tokenizer pieces\n", c->vocab_size,
           cosmos_spm_piece_size(cosmos_t5_tokenizer(t5)));
    printf("prompt          %d tokens (EOS included), relative buckets %d, max distance %d\n", c->max_length,
           c->relative_attention_num_buckets, c->relative_attention_max_distance);
    printf("parameters      %lld (%.3f B)\n", (long long)n_params, n_params * 1e-9);
    printf("weight bytes    %zu (%.2f GB)\n", bytes, bytes * 1e-9);
    int64_t on_gpu = 0;
    CHECK(cosmos_t5_weight_bytes(path, COSMOS_BF16, &on_gpu));
    printf("on a GPU        %lld bytes (%.2f GB) of weights: bf16 matmul weights widened to f32, as the encoder "
           "computes in f32 (--t5-on-cpu keeps them on the host)\n",
           (long long)on_gpu, on_gpu * 1e-9);
fail:
    free(specs);
    cosmos_h5_close(h5);
    cosmos_t5_free(t5);
    cosmos_backend_free(be);
    return st;
}

/* A context file (float32 /context [rows, cols]: a T5 embedding, or the diffusion decoder's
 * generic-prompt context dd_context): its shape, checked finite. */
static cosmos_status info_context(const char *path) {
    cosmos_status st = COSMOS_OK;
    float *ctx = NULL;
    int rows = 0, cols = 0;
    CHECK(cosmos_context_read(path, &ctx, &rows, &cols));
    int64_t n_bad = 0;
    for (int64_t i = 0; i < (int64_t)rows * cols; i++) n_bad += !isfinite(ctx[i]);
    CHECK_ARG(n_bad == 0, COSMOS_ERR_FORMAT, "%s: /context holds %lld non-finite value(s)", path, (long long)n_bad);
    printf("file            %s\n", path);
    printf("context         float32 [%d, %d] (a text embedding: T5's, or the diffusion decoder's dd_context)\n",
           rows, cols);
fail:
    free(ctx);
    return st;
}

/* One file: a video or image (frames and size), or an HDF5 file by its model_type (each strictly
 * checked, then described); AR transformer files when there is no other type. */
static cosmos_status info_file(const char *path, int threads) {
    cosmos_status st = COSMOS_OK;
    cosmos_backend_t *be = NULL;
    cosmos_ar_model_t *m = NULL;
    if (!is_hdf5(path)) {
        struct cosmos_frames f;
        CHECK(cosmos_media_decode(path, 0, &f));
        printf("file            %s\n", path);
        printf("media           %s, %d frame(s) of %dx%d (WxH)\n", f.is_image ? "image" : "video", f.T, f.W, f.H);
        cosmos_frames_free(&f);
        goto fail;
    }
    char type[64];
    int context = 0;
    CHECK(h5_kind(path, type, sizeof type, &context));
    if (!strcmp(type, COSMOS_DV_MODEL_TYPE) || !strcmp(type, COSMOS_CV_MODEL_TYPE)) {
        CHECK(info_dv(path));
        goto fail;
    }
    if (!strcmp(type, COSMOS_DIT_MODEL_TYPE)) {
        CHECK(info_dit(path));
        goto fail;
    }
    if (!strcmp(type, COSMOS_LLAMA_MODEL_TYPE)) {
        CHECK(info_llama(path, threads));
        goto fail;
    }
    if (!strcmp(type, "retinaface") || !strcmp(type, COSMOS_SIGLIP_MODEL_TYPE)) {
        CHECK(info_guardrail(path, !strcmp(type, "retinaface")));
        goto fail;
    }
    if (!strcmp(type, "t5")) {
        CHECK(info_t5(path, threads));
        goto fail;
    }
    if (context) {
        CHECK(info_context(path));
        goto fail;
    }
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = threads;
    CHECK(cosmos_backend_create("cpu", &bp, &be));
    struct cosmos_ar_load_params lp = cosmos_ar_load_params_default();
    lp.weights_only = 1;
    CHECK(cosmos_ar_model_load(path, be, &lp, &m));
    const struct cosmos_ar_config *c = cosmos_ar_model_config(m);
    struct cosmos_ar_memory mem = cosmos_ar_model_memory(m);
    const int64_t n_params = cosmos_ar_config_num_params(c);
    printf("file            %s\n", path);
    printf("format          cosmos-ar-weights, format_version 1\n");
    printf("name            %s\n", c->name);
    printf("family          %s\n", c->training_type == COSMOS_TEXT_TO_VIDEO ? "video2world (text_to_video)"
                                                                             : "base (video_to_video)");
    printf("layers          %d\n", c->n_layers);
    printf("dim             %d\n", c->dim);
    printf("heads           %d (kv %d, head_dim %d)\n", c->n_heads, c->n_kv_heads, c->head_dim);
    printf("ffn_hidden_size %d\n", c->ffn_hidden_size);
    printf("vocab           %d output, %d input rows, BOV %d\n", c->vocab_size, c->input_vocab_size, c->bov_token_id);
    printf("latent [T,H,W]  [%d, %d, %d], max_seq_len %d\n", c->video_latent_shape[0], c->video_latent_shape[1],
           c->video_latent_shape[2], c->max_seq_len);
    printf("qk-norm         %s\n", c->use_qk_normalization ? "yes" : "no");
    printf("yarn            %s\n", c->apply_yarn ? "yes" : "no");
    printf("abs pos emb     %s\n", c->apply_abs_pos_emb ? "yes" : "no");
    if (c->insert_cross_attn)
        printf("cross-attention every %d layer(s), context [%d, %d]\n", c->insert_cross_attn_every_k_layers,
               c->context_len, c->context_dim);
    else
        printf("cross-attention none\n");
    printf("parameters      %lld (%.3f B)\n", (long long)n_params, n_params * 1e-9);
    printf("weight bytes    %zu (%.2f GB bf16; %zu memory-mapped)\n", mem.weight_bytes, mem.weight_bytes * 1e-9,
           mem.weight_mapped_bytes);
    printf("kv cache        %d positions x %d layers x 2 x %d\n", c->max_seq_len, c->n_layers,
           c->n_kv_heads * c->head_dim);
fail:
    cosmos_ar_model_free(m);
    cosmos_backend_free(be);
    return st;
}

/* The options of a memory plan (info DIR --ranks N ...). */
struct plan_opts {
    int ranks, tp, pp, clips_in_flight, disable_guardrail, disable_dd, t5_on_cpu;
    const char *layout, *json, *config, *pp_layers;
    float memory_gb; /* > 0: each rank's total must fit in this many GB (10^9 bytes) */
};

/* info DIR --ranks N: the planned memory of each rank (cosmos_v2w_plan_memory) as a table, and as
 * JSON in po->json; info --config CFG.json --ranks N (dir NULL): the transformer's only. */
static cosmos_status plan_model_dir(const char *dir, const struct plan_opts *po, const char *backend) {
    cosmos_status st = COSMOS_OK;
    struct cosmos_model_dir md;
    struct cosmos_ar_config cfg;
    struct cosmos_layout l;
    struct cosmos_v2w_memory_plan_row *rows = NULL;
    json_t *doc = NULL, *arr = NULL;
    CHECK_ARG(po->ranks >= 1 && po->ranks <= 65536, COSMOS_ERR_INVALID_ARG, "info: --ranks must be in 1..65536 (got %d)",
              po->ranks);
    CHECK_ARG(!po->layout || (!po->tp && !po->pp), COSMOS_ERR_INVALID_ARG,
              "info: give either --layout or --tp/--pp, not both");
    CHECK_ARG(po->tp >= 0 && po->pp >= 0, COSMOS_ERR_INVALID_ARG, "info: --tp and --pp must be positive");
    CHECK_ARG(po->memory_gb >= 0 && po->memory_gb < 1e6, COSMOS_ERR_INVALID_ARG,
              "info: --memory must be a positive number of GB (got %g)", (double)po->memory_gb);
    if (dir)
        CHECK(cosmos_model_dir_load(dir, &md));
    else
        CHECK(cosmos_ar_config_load(po->config, &cfg));
    if (po->layout)
        CHECK(cosmos_layout_load(po->layout, po->ranks, &l));
    else
        CHECK(cosmos_layout_default(po->ranks, po->tp, po->pp, &l));
    /* the run's defaults (launcher/cmd_generate.c gen_open): one clip in flight per pipeline stage */
    CHECK_ARG(po->clips_in_flight >= 0 && po->clips_in_flight <= COSMOS_V2W_MAX_IN_FLIGHT, COSMOS_ERR_INVALID_ARG,
              "info: --clips-in-flight must be in 1..%d", COSMOS_V2W_MAX_IN_FLIGHT);
    int stage_layers[256];
    if (po->pp_layers) CHECK(cli_parse_pp_layers(po->pp_layers, l.pp, stage_layers));
    struct cosmos_v2w_params p = cosmos_v2w_params_default();
    p.stage_layers = po->pp_layers ? stage_layers : NULL;
    p.model_dir = dir ? &md : NULL;
    p.layout = &l;
    p.backend = backend;
    p.clips_in_flight = po->clips_in_flight > 0 ? po->clips_in_flight : l.pp;
    p.disable_guardrail = po->disable_guardrail;
    p.disable_diffusion_decoder = po->disable_dd;
    p.t5_on_cpu = po->t5_on_cpu;
    rows = calloc((size_t)l.n_ranks, sizeof *rows);
    CHECK_ALLOC(rows);
    CHECK(dir ? cosmos_v2w_plan_memory(&p, rows) : cosmos_v2w_plan_memory_config(&p, &cfg, rows));
    const int device = strcmp(backend, "cpu") != 0;
    char buf[8192];
    cosmos_layout_describe(&l, buf, sizeof buf);
    printf("%s\n", buf);
    printf("memory plan: %d rank(s), backend %s, %d clip(s) in flight (MB; ar: the transformer's buffers on the "
           "rank, exactly as the run allocates them; models: the other models' weights, by where they run: files on "
           "disk, T5's as loaded, f32 on a GPU)\n",
           l.n_ranks, backend, p.clips_in_flight);
    printf("%-4s %-64s %10s %10s %10s %12s %12s %14s\n", "rank", "roles", "ar weights", "ar kv", "ar other",
           "models dev", "models host", device ? "device total" : "host total");
    arr = json_array();
    CHECK_ALLOC(arr);
    int n_over = 0;
    for (int r = 0; r < l.n_ranks; r++) {
        const struct cosmos_v2w_memory_plan_row *w = &rows[r];
        const int64_t ar = w->ar_weights + w->ar_kv + w->ar_other;
        const int64_t total = ar + (device ? w->models_device : w->models_host);
        if (po->memory_gb > 0 && (double)total > po->memory_gb * 1e9) {
            LOG_ERROR("info: rank %d (%s) needs %.2f GB of %s memory, more than --memory %.2f GB", r, w->roles,
                      total * 1e-9, device ? "device" : "host", (double)po->memory_gb);
            n_over++;
        }
        printf("%-4d %-64s %10.1f %10.1f %10.1f %12.1f %12.1f %14.1f\n", r, w->roles, w->ar_weights * 1e-6,
               w->ar_kv * 1e-6, w->ar_other * 1e-6, w->models_device * 1e-6, w->models_host * 1e-6, total * 1e-6);
        json_array_append_new(arr, json_pack("{s:i, s:s, s:I, s:I, s:I, s:I, s:I}", "rank", r, "roles", w->roles,
                                             "ar_weights", (json_int_t)w->ar_weights, "ar_kv", (json_int_t)w->ar_kv,
                                             "ar_other", (json_int_t)w->ar_other, "models_device",
                                             (json_int_t)w->models_device, "models_host",
                                             (json_int_t)w->models_host));
    }
    if (!dir) printf("the transformer only (%s): the other models' files are a model directory's\n", cfg.name);
    printf("not included: the working memory (activations) of T5, the tokenizer, the decoders and the guardrail, "
           "and CUDA / cuBLAS / NCCL workspaces; generate and batch print the measured table at the end "
           "(--memory-json writes it)\n");
    if (po->memory_gb > 0 && n_over == 0)
        printf("every rank fits in %.2f GB (the planned part of its memory)\n", (double)po->memory_gb);
    if (po->json) {
        doc = json_pack("{s:s, s:s, s:i, s:s, s:i, s:O}", dir ? "model_dir" : "config", dir ? dir : po->config,
                        "model", dir ? md.name : cfg.name, "ranks", l.n_ranks,
                        "backend", backend, "clips_in_flight", p.clips_in_flight, "rows", arr);
        CHECK_ALLOC(doc);
        CHECK(cosmos_json_write(doc, po->json, JSON_INDENT(2)));
    }
    CHECK_ARG(n_over == 0, COSMOS_ERR_NOMEM,
              "info: %d rank(s) of this layout do not fit in %.2f GB: more ranks (--tp, --pp), fewer "
              "--clips-in-flight, or bigger GPUs",
              n_over, (double)po->memory_gb);
fail:
    json_decref(doc);
    json_decref(arr);
    free(rows);
    return st;
}

cosmos_status cmd_info(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *model = NULL, *pos[1] = {NULL};
    int n_pos = 0, check = 0;
    struct cli_common common;
    struct plan_opts po = {0};
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"model", CLI_STR, &model, "weight file (or give it as the only argument)", 0},
        {"check", CLI_FLAG, &check,
         "model directory: check every file strictly and all of them together (before a long job)", 0},
        {"ranks", CLI_INT, &po.ranks, "model directory: plan the memory of each rank of a job of N ranks", 0},
        {"layout", CLI_STR, &po.layout, "with --ranks: the run's rank layout JSON", 0},
        {"tp", CLI_INT, &po.tp, "with --ranks: the run's tensor-parallel ranks (default: the layout's)", 0},
        {"pp", CLI_INT, &po.pp, "with --ranks: the run's pipeline stages (default: the layout's)", 0},
        {"pp-layers", CLI_STR, &po.pp_layers, "with --ranks: the run's layers per stage, e.g. 3,1 (default: even)", 0},
        {"clips-in-flight", CLI_INT, &po.clips_in_flight, "with --ranks: the run's (default: its pipeline stages)", 0},
        {"disable-guardrail", CLI_FLAG, &po.disable_guardrail, "with --ranks: as the run's flag", 0},
        {"disable-diffusion-decoder", CLI_FLAG, &po.disable_dd, "with --ranks: as the run's flag", 0},
        {"t5-on-cpu", CLI_FLAG, &po.t5_on_cpu, "with --ranks: as the run's flag", 0},
        {"json", CLI_STR, &po.json, "with --ranks: also write the plan as JSON (bytes)", 0},
        {"memory", CLI_FLOAT, &po.memory_gb,
         "with --ranks: the memory of one GPU (or host) in GB; exit 1 when a rank's planned total exceeds it", 0},
        {"config", CLI_STR, &po.config,
         "with --ranks and no model: plan the transformer of this model config (configs/models/*.json) alone", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("info", argc, argv, opts, pos, 1, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    if (!model && n_pos == 1) model = pos[0];
    if (po.config) {
        CHECK_ARG(!model, COSMOS_ERR_INVALID_ARG, "info: give either a model (file or directory) or --config");
        CHECK_ARG(po.ranks, COSMOS_ERR_INVALID_ARG, "info: --config plans a job's memory: it needs --ranks N");
        CHECK(plan_model_dir(NULL, &po, common.backend));
        goto fail;
    }
    CHECK_ARG(model, COSMOS_ERR_INVALID_ARG, "info: give a weight file: cosmos-ar info M.h5");
    const int planning = po.ranks || po.layout || po.tp || po.pp || po.clips_in_flight || po.disable_guardrail ||
                         po.disable_dd || po.t5_on_cpu || po.json || po.memory_gb != 0 || po.pp_layers;
    CHECK_ARG(!planning || is_dir(model), COSMOS_ERR_INVALID_ARG,
              "info: --ranks, --layout, --tp, --pp, --clips-in-flight, --disable-*, --t5-on-cpu and --json plan a model "
              "directory's memory; '%s' is not a directory",
              model);
    CHECK_ARG(!planning || po.ranks, COSMOS_ERR_INVALID_ARG, "info: planning a job's memory needs --ranks N");
    CHECK_ARG(!check || is_dir(model), COSMOS_ERR_INVALID_ARG,
              "info: --check checks a model directory; '%s' is not one (info FILE checks a file strictly anyway)",
              model);
    CHECK_ARG(!check || !po.ranks, COSMOS_ERR_INVALID_ARG, "info: give --check or --ranks, not both");
    if (is_dir(model)) {
        CHECK(po.ranks ? plan_model_dir(model, &po, common.backend) : info_model_dir(model, check, common.threads));
        goto fail;
    }
    CHECK(info_file(model, common.threads));
fail:
    return st;
}
