/* The introspector's memory bounds as options (see memory-options.h). */

#include <stdio.h>

#include "memory-options.h"

int
memory_option (int c, const char *arg, struct engine_cfg *cfg,
               const char *cmd)
{
  static const char *const names[] = {
    [OPT_EXACT_META - OPT_EXACT_META] = "exact-metadata",
    [OPT_EXACT_DATA - OPT_EXACT_META] = "exact-data",
    [OPT_MODEL_MAX - OPT_EXACT_META] = "model-max",
  };
  char msg[256];
  int r;

  if (c == OPT_EXACT_META)
    r = engine_exact_size (arg, &cfg->exact_meta_bytes, msg, sizeof msg);
  else if (c == OPT_EXACT_DATA)
    r = engine_exact_size (arg, &cfg->exact_data_bytes, msg, sizeof msg);
  else if (c == OPT_MODEL_MAX)
    r = engine_model_size (arg, &cfg->model_max, msg, sizeof msg);
  else
    return 0;
  if (r == 0)
    return 1;
  fprintf (stderr, "%s: --%s %s: %s\n", cmd, names[c - OPT_EXACT_META], arg,
           msg);
  return -1;
}
