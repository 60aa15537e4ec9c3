/* NBD backend (libnbd): placeholder until implemented. */
#include "backend.h"
static int nbd_setup (const struct backend_config *c, struct backend_info *i)
{ (void) c; (void) i; nbdkit_error ("nbd backend: not built yet"); return -1; }
const struct backend backend_nbd = { .name = "nbd", .setup = nbd_setup,
  .thread_model = NBDKIT_THREAD_MODEL_PARALLEL };
