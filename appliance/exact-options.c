/* The exact view's bounds as options (see exact-options.h). */

#include <stdio.h>

#include "exact-options.h"

int
exact_option (int c, const char *arg, struct engine_cfg *cfg,
              const char *cmd)
{
  uint64_t *field;
  char msg[256];

  if (c == OPT_EXACT_META)
    field = &cfg->exact_meta_bytes;
  else if (c == OPT_EXACT_DATA)
    field = &cfg->exact_data_bytes;
  else
    return 0;
  if (engine_exact_size (arg, field, msg, sizeof msg) == 0)
    return 1;
  fprintf (stderr, "%s: --%s %s: %s\n", cmd,
           c == OPT_EXACT_META ? "exact-metadata" : "exact-data", arg, msg);
  return -1;
}
