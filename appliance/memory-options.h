/* The introspector's memory bounds as options, the same for blockwatch
 * watch and replay (and blockwatchd's disk keys of the same names,
 * which it hands to watch):
 *  --exact-metadata SIZE, --exact-data SIZE: the kept writes of the
 *    exact view (engine_cfg.exact_*_bytes; replay --ahead only);
 *  --model-max SIZE: each file system's model (engine_cfg.model_max).
 */
#ifndef BLOCKWATCH_MEMORY_OPTIONS_H
#define BLOCKWATCH_MEMORY_OPTIONS_H

#include <getopt.h>

#include "engine/engine.h"

/* Apart from the MQTT options' (0x1000 on) and the commands' own. */
enum { OPT_EXACT_META = 0x2000, OPT_EXACT_DATA, OPT_MODEL_MAX };

#define MEMORY_OPTIONS \
  { "exact-metadata", required_argument, NULL, OPT_EXACT_META }, \
  { "exact-data", required_argument, NULL, OPT_EXACT_DATA }, \
  { "model-max", required_argument, NULL, OPT_MODEL_MAX }

#define MEMORY_USAGE \
  "  --exact-metadata SIZE, --exact-data SIZE: the writes kept so that\n" \
  "      the disk reads as of the records handled, each file system\n" \
  "      (64K to 1G, suffix K, M or G; default 4M each)\n" \
  "  --model-max SIZE: a file system whose model takes more is not\n" \
  "      followed, and an overflow event says so (1M to 1T, suffix K,\n" \
  "      M, G or T; default: no bound)\n"

/* 1 if c is one of them (its value set in cfg), 0 if not; -1 if its
 * value is not a size it takes (said on stderr, after cmd).
 */
int memory_option (int c, const char *arg, struct engine_cfg *cfg,
                   const char *cmd);

#endif /* BLOCKWATCH_MEMORY_OPTIONS_H */
