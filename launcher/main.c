/* cosmos-ar: command-line entry point. Dispatches to the subcommands (init, logits, sample, info)
 * and is the only place that turns a status into an exit code: 0 success, 2 bad usage or input
 * arguments, 1 any other failure. */
#include <stdio.h>
#include <string.h>

#include "cosmos_build_config.h"
#include "core/log.h"
#include "core/system_info.h"
#include "launcher/commands.h"

static void usage(void) {
    fprintf(stderr,
            "cosmos-ar %s (%s) - inference engine for the Cosmos-1.0 Autoregressive world models\n"
            "\n"
            "usage: cosmos-ar <command> [options]\n"
            "\n"
            "commands:\n"
            "  init    --config C.json --seed N --out M.h5      write a random-weight model for a config\n"
            "  logits  --model M.h5 --tokens T.txt [--context C.h5] --out L.h5 [--decode]\n"
            "                                                   teacher-forced logits of every position\n"
            "  sample  --model M.h5 --tokens P.txt --num-gen N [--context C.h5] [--temperature T]\n"
            "          [--top-p P] [--top-k K] [--seed S] --out G.txt\n"
            "                                                   prefill + decode loop, writes N new tokens\n"
            "  info    M.h5 | DV.h5 | FILE.mp4 | DIR            architecture, parameters, bytes, format;\n"
            "                                                   or frame count and size of a video/image;\n"
            "                                                   or a model directory's files and roles\n"
            "  encode-text --t5 T5.h5 --prompt TEXT --out C.h5  T5 embedding of a prompt (/context)\n"
            "  prep-video --input FILE [--num-input-frames 1|9] --out V.h5\n"
            "                                                   prepared clip float32 /video [3,33,640,1024]\n"
            "  tokenize --tokenizer DV.h5 --input FILE [--num-input-frames 1|9] --out TOKENS.txt [--out-h5 T.h5]\n"
            "                                                   DV tokenizer indices of a prepared clip\n"
            "  detokenize --tokenizer DV.h5 --tokens TOKENS.txt --out OUT.mp4|OUT.h5 [--latent T,H,W]\n"
            "             [--diffusion-decoder DD.h5 --cv-tokenizer CV.h5 --context C.h5 [--cfg-parallel]]\n"
            "                                                   decoded clip; .h5: f32 /decoded + uint8 /frames\n"
            "  generate --model-dir DIR --input IMG|VIDEO [--prompt TEXT] --output OUT.mp4\n"
            "                                                   the whole pipeline (run under mpirun for roles)\n"
            "  batch   --model-dir DIR --manifest JOBS.jsonl --output-dir OUT/\n"
            "                                                   many clips, resumable\n"
            "  guardrail --model-dir DIR (--prompt TEXT | --input VIDEO [--output OUT.mp4])\n"
            "                                                   the guardrail's checks alone (exit 3: unsafe)\n"
            "  env     [--json F]                               this build's features, the host, library\n"
            "                                                   versions, CUDA devices (for bug reports)\n"
            "\n"
            "`cosmos-ar <command> --help` lists a command's options.\n",
            COSMOS_VERSION, cosmos_git_sha());
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("cosmos-ar %s (%s)\n", COSMOS_VERSION, cosmos_git_sha());
        return 0;
    }
    static const struct {
        const char *name;
        cosmos_status (*fn)(int, char **);
    } cmds[] = {{"init", cmd_init}, {"logits", cmd_logits}, {"sample", cmd_sample}, {"info", cmd_info},
                   {"encode-text", cmd_encode_text}, {"prep-video", cmd_prep_video},
                   {"generate", cmd_generate}, {"batch", cmd_batch}, {"tokenize", cmd_tokenize},
                   {"detokenize", cmd_detokenize}, {"guardrail", cmd_guardrail}, {"env", cmd_env}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0) continue;
        cosmos_status st = cmds[i].fn(argc - 2, argv + 2);
        if (st == COSMOS_OK) return 0;
        if (st == COSMOS_ERR_BLOCKED) { /* the guardrail refused the input or the output */
            LOG_ERROR("%s: blocked by the guardrail", cmds[i].name);
            return 3;
        }
        LOG_ERROR("%s failed: %s", cmds[i].name, cosmos_status_str(st));
        return st == COSMOS_ERR_INVALID_ARG ? 2 : 1;
    }
    LOG_ERROR("unknown command '%s'", argv[1]);
    usage();
    return 2;
}
