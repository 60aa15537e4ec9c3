/* --exact-metadata SIZE and --exact-data SIZE: the bounds of the
 * introspector's kept writes (engine_cfg.exact_*_bytes), the same for
 * blockwatch watch and replay --ahead (and blockwatchd's disk keys
 * exact-metadata and exact-data, which it hands to watch).
 */
#ifndef BLOCKWATCH_EXACT_OPTIONS_H
#define BLOCKWATCH_EXACT_OPTIONS_H

#include <getopt.h>

#include "engine/engine.h"

/* Apart from the MQTT options' (0x1000 on) and the commands' own. */
enum { OPT_EXACT_META = 0x2000, OPT_EXACT_DATA };

#define EXACT_OPTIONS \
  { "exact-metadata", required_argument, NULL, OPT_EXACT_META }, \
  { "exact-data", required_argument, NULL, OPT_EXACT_DATA }

#define EXACT_USAGE \
  "  --exact-metadata SIZE, --exact-data SIZE: the writes kept so that\n" \
  "      the disk reads as of the records handled, each file system\n" \
  "      (64K to 1G, suffix K, M or G; default 4M each)\n"

/* 1 if c is one of them (its value set in cfg), 0 if not; -1 if its
 * value is not a size they take (said on stderr, after cmd).
 */
int exact_option (int c, const char *arg, struct engine_cfg *cfg,
                  const char *cmd);

#endif /* BLOCKWATCH_EXACT_OPTIONS_H */
