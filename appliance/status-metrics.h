/* What `blockwatch status` makes of blockwatchd's metrics (the
 * Prometheus text of its endpoint, docs/appliance.md): one entry per
 * disk.  The text comes over HTTP from whatever answers at the address
 * given: every line is taken with care, and what is not understood is
 * skipped.
 */
#ifndef BLOCKWATCH_STATUS_METRICS_H
#define BLOCKWATCH_STATUS_METRICS_H

#include <stdbool.h>

#define MAX_DISKS 256

struct disk_status {
  char name[65], vm[128];
  int up[3];                  /* introspector, nbdkit, iscsi; -1: not
                               * said (no iSCSI front end) */
  int mqtt;                   /* its bridge connected; -1: not said */
  unsigned long long restarts[3];
  bool crawling;
  unsigned long long crawl_done, crawl_total;
  unsigned long long events, written, tap_used, tap_size, dropped;
};

struct status {
  struct disk_status d[MAX_DISKS];
  int n;
  int broker;                 /* blockwatchd's own connection; -1: none */
};

/* The samples of body (which is cut into lines) into st, which starts
 * zeroed with broker -1.
 */
void status_parse (struct status *st, char *body);

#endif /* BLOCKWATCH_STATUS_METRICS_H */
