/* iSCSI backend (libiscsi): placeholder until implemented. */
#include "backend.h"
static int iscsi_setup (const struct backend_config *c, struct backend_info *i)
{ (void) c; (void) i; nbdkit_error ("iscsi backend: not built yet"); return -1; }
const struct backend backend_iscsi = { .name = "iscsi", .setup = iscsi_setup,
  .thread_model = NBDKIT_THREAD_MODEL_PARALLEL };
