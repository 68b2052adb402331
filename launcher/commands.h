/* Subcommands of the cosmos-ar executable. Each takes the arguments after its name and returns a
 * status; main() maps it to the exit code. */
#ifndef COSMOS_COMMANDS_H
#define COSMOS_COMMANDS_H

#include "core/status.h"

cosmos_status cmd_init(int argc, char **argv);
cosmos_status cmd_logits(int argc, char **argv);
cosmos_status cmd_sample(int argc, char **argv);
cosmos_status cmd_info(int argc, char **argv);
cosmos_status cmd_prep_video(int argc, char **argv);
cosmos_status cmd_encode_text(int argc, char **argv);
cosmos_status cmd_guardrail(int argc, char **argv);
cosmos_status cmd_generate(int argc, char **argv);
cosmos_status cmd_batch(int argc, char **argv);
cosmos_status cmd_tokenize(int argc, char **argv);
cosmos_status cmd_detokenize(int argc, char **argv);
cosmos_status cmd_env(int argc, char **argv);

#endif
