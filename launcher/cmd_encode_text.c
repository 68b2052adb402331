/* `cosmos-ar encode-text --t5 T5.h5 --prompt "..." --out CONTEXT.h5`: the T5-11B embedding of a
 * prompt (spec components.md section 3), written as float32 /context [max_length, d_model] (the
 * file `logits`/`sample --context` read) plus int32 /token_ids [max_length]. Rows at and after the
 * prompt's token count (EOS included) are exactly zero. Written to a temporary name, then renamed. */
#include <stdio.h>
#include <stdlib.h>

#include "core/backend.h"
#include "core/h5file.h"
#include "core/log.h"
#include "core/model/t5_model.h"
#include "launcher/cli.h"
#include "launcher/commands.h"

static cosmos_status read_prompt_file(const char *path, char **out) {
    cosmos_status st = COSMOS_OK;
    char *buf = NULL;
    FILE *fp = fopen(path, "rb");
    CHECK_ARG(fp, COSMOS_ERR_IO, "cannot open prompt file '%s'", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    CHECK_ARG(n >= 0 && n < (64l << 20), COSMOS_ERR_INVALID_ARG, "prompt file '%s' is unreadable or over 64 MiB", path);
    buf = malloc((size_t)n + 1);
    CHECK_ALLOC(buf);
    CHECK_ARG(fread(buf, 1, (size_t)n, fp) == (size_t)n, COSMOS_ERR_IO, "short read of '%s'", path);
    buf[n] = '\0';
    for (long i = 0; i < n; i++)
        CHECK_ARG(buf[i] != '\0', COSMOS_ERR_INVALID_ARG, "prompt file '%s' holds a NUL byte at offset %ld", path, i);
    *out = buf;
    buf = NULL;
fail:
    if (fp) fclose(fp);
    free(buf);
    return st;
}

cosmos_status cmd_encode_text(int argc, char **argv) {
    cosmos_status st = COSMOS_OK;
    const char *t5_path = NULL, *prompt = NULL, *prompt_file = NULL, *out = NULL, *pos[1];
    int n_pos = 0;
    char *file_prompt = NULL, tmp[1100] = "";
    cosmos_backend_t *be = NULL;
    cosmos_t5_t *m = NULL;
    cosmos_h5_t *h5 = NULL;
    float *ctx = NULL;
    int32_t *ids = NULL;
    struct cli_common common;
    cli_common_default(&common);
    struct cli_opt opts[] = {
        {"t5", CLI_STR, &t5_path, "T5 encoder weight file (.h5, with its tokenizer embedded)", 0},
        {"prompt", CLI_STR, &prompt, "the text prompt (UTF-8)", 0},
        {"prompt-file", CLI_STR, &prompt_file, "read the prompt from a file instead", 0},
        {"out", CLI_STR, &out, "output HDF5 with float32 /context [512, d_model]", 0},
        CLI_COMMON_OPTS(common),
        {NULL, 0, NULL, NULL, 0},
    };
    CHECK(cli_parse_command("encode-text", argc, argv, opts, pos, 0, &n_pos, &common));
    if (common.help) return COSMOS_OK;
    CHECK_ARG(t5_path && out, COSMOS_ERR_INVALID_ARG, "encode-text: --t5 and --out are required");
    CHECK_ARG(!prompt != !prompt_file, COSMOS_ERR_INVALID_ARG,
              "encode-text: give exactly one of --prompt and --prompt-file");
    if (prompt_file) {
        CHECK(read_prompt_file(prompt_file, &file_prompt));
        prompt = file_prompt;
    }
    struct cosmos_backend_params bp = cosmos_backend_params_default();
    bp.n_threads = common.threads;
    CHECK(cosmos_backend_create(common.backend, &bp, &be));
    CHECK(cosmos_t5_load(be, t5_path, &m));
    const struct cosmos_t5_config *c = cosmos_t5_get_config(m);
    const int64_t rows = c->max_length, cols = c->d_model;
    ctx = malloc(sizeof(float) * (size_t)(rows * cols));
    ids = malloc(sizeof(int32_t) * (size_t)rows);
    CHECK_ALLOC(ctx);
    CHECK_ALLOC(ids);
    int len = 0;
    CHECK(cosmos_t5_encode_prompt(m, prompt, ctx, ids, &len));
    cosmos_tmp_path(out, tmp, sizeof tmp);
    CHECK(cosmos_h5_create(tmp, &h5));
    const int64_t shape[2] = {rows, cols};
    CHECK(cosmos_h5_write(h5, "context", COSMOS_F32, 2, shape, ctx));
    CHECK(cosmos_h5_write(h5, "token_ids", COSMOS_I32, 1, &rows, ids));
    CHECK(cosmos_h5_write_attr_int(h5, "num_tokens", len));
    cosmos_h5_close(h5);
    h5 = NULL;
    CHECK(cosmos_commit_tmp(tmp, out));
    LOG_INFO0("encode-text: %d tokens -> %s /context [%lld, %lld]", len, out, (long long)rows, (long long)cols);
fail:
    if (h5) cosmos_h5_close(h5);
    if (st != COSMOS_OK && tmp[0]) remove(tmp);
    free(ids);
    free(ctx);
    free(file_prompt);
    cosmos_t5_free(m);
    cosmos_backend_free(be);
    return st;
}
