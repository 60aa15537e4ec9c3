/* blockwatchd's state: the configuration and the disks it runs, shared
 * by the main loop (main.c), reloads (reload.c) and the metrics
 * (metrics-http.c, metrics-text.c).  One thread: no locks.
 */
#ifndef BLOCKWATCHD_DAEMON_H
#define BLOCKWATCHD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "disk.h"

struct broker;
struct metrics;
struct web;

struct daemon {
  const char *config_path;
  char *self_dir;             /* where blockwatchd is (programs beside it) */
  struct bwd_config *cfg;
  struct disk **disks;        /* configured ones, and removed ones stopping */
  size_t ndisks;
  bool stopping;              /* SIGTERM: everything stops, then we exit */
  bool reload_ok;             /* the last SIGHUP (or the start) loaded it */
  struct metrics *metrics;    /* NULL: metrics = off */
  struct web *web;            /* the web view's page; NULL: web = off */
  struct broker *broker;      /* the appliance's $status; NULL: no [broker] */
  char *tls_stamp;            /* broker_files_stamp of cfg; NULL: none */
};

/* Makes c the configuration: disks added are started, removed ones
 * stopped, changed ones have the processes whose command changed
 * restarted; nothing else is touched.  Takes c (freed on failure).
 * -1 with err: nothing changed.
 */
int daemon_apply (struct daemon *dm, struct bwd_config *c,
                  char *err, size_t errlen);
/* SIGHUP: loads the file again and applies it, or logs why not. */
void daemon_reload (struct daemon *dm);

#endif /* BLOCKWATCHD_DAEMON_H */
