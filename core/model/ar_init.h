/* Random-weight AR models: `cosmos-ar init`. Writes a complete weight file (docs/weights.md) for
 * any config, deterministic in the seed (counter-based RNG: element i of tensor j is a pure
 * function of (seed, j, i)). Scales keep activations finite at any depth: Linear weights
 * N(0, 1/in_features), embeddings N(0, 1), norm weights 1 + 0.1 N(0, 1). The file is written to a
 * temporary name and renamed when complete. */
#ifndef COSMOS_AR_INIT_H
#define COSMOS_AR_INIT_H

#include <stdint.h>

#include "core/config.h"
#include "core/status.h"

cosmos_status cosmos_ar_init_random(const struct cosmos_ar_config *cfg, uint64_t seed, const char *out_path);

/* Write the root attributes of a weight file (shared by every writer of the format). */
struct cosmos_h5;
cosmos_status cosmos_ar_write_header(struct cosmos_h5 *h5, const struct cosmos_ar_config *cfg);

#endif
