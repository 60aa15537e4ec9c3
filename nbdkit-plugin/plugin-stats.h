/* The plugin's counters and the stats=PATH file that shows them.
 *
 * nbdkit has no statistics interface for plugins, and the daemon that
 * supervises nbdkit must see requests, bytes and the tap's buffer
 * without talking to the data path.  So request threads only bump
 * atomic counters, and one thread of ours rewrites a stats file
 * (tap/stats-file.h) every second, which blockwatchd reads when it is
 * scraped.  No lock is shared with a request thread.
 */
#ifndef BLOCKWATCH_PLUGIN_STATS_H
#define BLOCKWATCH_PLUGIN_STATS_H

#include <stdint.h>

#include "tap-ring.h"

enum stats_op {
  STATS_READ, STATS_WRITE, STATS_ZERO, STATS_TRIM, STATS_FLUSH,
  STATS_CACHE, STATS_EXTENTS, STATS_NOPS
};

/* A request the backend completed (bytes: its length; 0 for flush and
 * extents), or one it failed.
 */
void plugin_stats_done (enum stats_op op, uint64_t bytes);
void plugin_stats_failed (enum stats_op op);

/* A backend connection has n commands outstanding on its storage at
 * once: the stats file's backend.max_in_flight is the most any had.
 */
void plugin_stats_in_flight (unsigned n);

/* stats=PATH: remembered at config time. */
void plugin_stats_path (const char *path);
/* Before nbdkit forks: writes the file once, so a path that cannot be
 * written is a start-up error.  -1 with nbdkit_error called.
 */
int plugin_stats_ready (const struct tap_config *tap);
/* After the fork: the writer thread; tap may be NULL (tap=none). */
int plugin_stats_start (struct tap_ring *tap);
/* At unload: stops the thread and removes the file. */
void plugin_stats_stop (void);

#endif /* BLOCKWATCH_PLUGIN_STATS_H */
