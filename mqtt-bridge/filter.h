/* Selective publishing: which events the bridge publishes, and how much
 * of the written data each one carries.  Less traffic, and data that
 * should not leave the host (a key store, a database) stays.
 *
 * An event is published when its type matches one of the type globs
 * (or there are none) and none of the excluded type globs, and, if it
 * has a path, when the path matches one of the include globs (or there
 * are none) and none of the exclude globs.  Events without a path
 * (mount, partition, resync, overflows that name no file ...) are
 * chosen by type only.
 * Path globs are matched against the escaped path (topic.h says how).
 *
 * A write event carries data as the first data rule whose glob matches
 * its path says, or else as the default policy.
 */
#ifndef BLOCKWATCH_MQTT_FILTER_H
#define BLOCKWATCH_MQTT_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "events/event.h"

enum bw_filter_list {
  BW_FILTER_INCLUDE,          /* path globs */
  BW_FILTER_EXCLUDE,
  BW_FILTER_TYPE,             /* event type globs ("meta*") */
  BW_FILTER_NOT_TYPE,
};

struct bw_data_rule {
  char *glob;
  struct bw_data_policy_cfg policy;
};

/* Filled by options or a configuration file (bw_filter_add ...);
 * zeroed means "publish everything".
 */
struct bw_filter {
  char **globs[4];            /* by enum bw_filter_list */
  size_t n[4];
  struct bw_data_rule *data;
  size_t n_data;
};

/* The glob is copied.  -1 with errno EINVAL for a path glob that does
 * not start with '/', ENOMEM.
 */
int bw_filter_add (struct bw_filter *f, enum bw_filter_list which,
                   const char *glob);
int bw_filter_add_data (struct bw_filter *f, const char *glob,
                        const struct bw_data_policy_cfg *policy);
void bw_filter_free (struct bw_filter *f);

/* Whether the filter looks at paths at all (else they need no escaping). */
bool bw_filter_wants_path (const struct bw_filter *f);
/* ESCAPED_PATH: the event's path escaped, NULL if it has none. */
bool bw_filter_pass (const struct bw_filter *f, enum bw_event_type type,
                     const char *escaped_path);
const struct bw_data_policy_cfg *
bw_filter_data (const struct bw_filter *f, const char *escaped_path,
                const struct bw_data_policy_cfg *deflt);

#endif /* BLOCKWATCH_MQTT_FILTER_H */
