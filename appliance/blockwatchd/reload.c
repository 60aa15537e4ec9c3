/* Applying a configuration, at start and at SIGHUP (see daemon.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "web.h"

static bool
same (const char *a, const char *b)
{
  return a == b || (a && b && strcmp (a, b) == 0);
}

static struct disk *
find (struct daemon *dm, const char *name)
{
  for (size_t i = 0; i < dm->ndisks; i++)
    if (strcmp (dm->disks[i]->name, name) == 0)
      return dm->disks[i];
  return NULL;
}

/* The endpoint on the new address, if it moved.  The new one listens
 * before the old one closes: a reload that cannot bind changes nothing.
 */
static int
move_metrics (struct daemon *dm, const struct bwd_config *c, char *err,
              size_t errlen)
{
  struct metrics *m = NULL;

  if (dm->cfg && same (dm->cfg->metrics, c->metrics))
    return 0;
  if (c->metrics && (m = metrics_start (c->metrics, dm, err, errlen)) == NULL)
    return -1;
  metrics_stop (dm->metrics);
  dm->metrics = m;
  if (m)
    log_info ("metrics on http://%s/metrics", c->metrics);
  return 0;
}

/* The web view's server, started again at every reload so that a
 * renewed certificate is taken (the page's connections to the broker
 * do not go through it).  One that cannot start leaves the old one.
 */
static void
move_web (struct daemon *dm, const struct bwd_config *c)
{
  char err[1024];
  struct web *w = NULL;

  if (c->web && (w = web_start (c->web, c->web_cert, c->web_key, c->web_dir,
                                err, sizeof err)) == NULL) {
    log_error ("%s", err);
    return;
  }
  web_stop (dm->web);
  dm->web = w;
  if (w)
    log_info ("web view on https://%s/ from %s", c->web, c->web_dir);
}

/* The appliance's connection as c says, if that changed.  The old
 * one says "offline" before the new one connects and says "online":
 * the other way round, the old goodbye would be the last word.  One
 * kept reconnects if its certificate files changed (renew).
 */
static void
move_broker (struct daemon *dm, const struct bwd_config *c, bool renew)
{
  char err[1024];

  if (dm->cfg && broker_same (dm->cfg, c) &&
      (dm->broker || c->broker.uri == NULL)) {
    if (renew && dm->broker)
      broker_renew (dm->broker);
    return;
  }
  broker_close (dm->broker);
  dm->broker = NULL;
  if (c->broker.uri && (dm->broker = broker_open (c, err, sizeof err)) == NULL)
    log_error ("%s: the appliance's $status is not published", err);
}

/* A directory that cannot change at a reload changed: err says so. */
static bool
moved (const char *key, const char *was, const char *now, char *err,
       size_t errlen)
{
  if (strcmp (was, now) == 0)
    return false;
  snprintf (err, errlen, "%s changed (%s, was %s): that needs a restart "
            "of blockwatchd", key, now, was);
  return true;
}

int
daemon_apply (struct daemon *dm, struct bwd_config *c, char *err,
              size_t errlen)
{
  struct disk **v;
  char *stamp;
  bool renew;

  /* The run directory holds the sockets of running processes, the
   * state directory their run marks, and state_open has checked the
   * state of the configuration in force only.
   */
  if (dm->cfg && (moved ("run-dir", dm->cfg->run_dir, c->run_dir, err,
                         errlen) ||
                  moved ("state-dir", dm->cfg->state_dir, c->state_dir, err,
                         errlen))) {
    bwd_config_free (c);
    return -1;
  }
  /* Files the broker connection needs are checked before anything
   * changes: a certificate that cannot be read is the file's error.
   */
  if (c->broker.uri && broker_check (c, NULL, err, errlen) == -1) {
    bwd_config_free (c);
    return -1;
  }
  v = realloc (dm->disks, (dm->ndisks + c->ndisks) * sizeof *v);
  if (v == NULL || move_metrics (dm, c, err, errlen) == -1) {
    if (v == NULL)
      snprintf (err, errlen, "out of memory");
    else
      dm->disks = v;
    bwd_config_free (c);
    return -1;
  }
  dm->disks = v;
  /* Certificates are renewed in place, at the same paths: the same
   * command lines, and a reconnection of every bridge (not a restart,
   * which would cost a crawl and a resync) is what makes them used.
   */
  stamp = c->broker.uri ? broker_files_stamp (&c->broker) : NULL;
  renew = stamp && dm->tls_stamp && strcmp (stamp, dm->tls_stamp) != 0;
  if (renew)
    log_info ("[broker]: the certificate files changed: reconnecting "
              "with them");
  move_broker (dm, c, renew);
  move_web (dm, c);
  log_set_level (c->log_level);
  if (c->user.name && geteuid () != 0 && geteuid () != c->user.uid)
    log_warning ("user = %s: not started as root, the children run as "
                 "blockwatchd does", c->user.name);

  for (size_t i = 0; i < c->ndisks; i++) {
    const struct bwd_disk *d = &c->disks[i];
    struct disk *k = find (dm, d->name);
    if (k == NULL) {
      k = disk_new (c, d);
      if (k == NULL) {
        log_error ("disk %s: out of memory: not started", d->name);
        continue;
      }
      dm->disks[dm->ndisks++] = k;
      log_info ("disk %s: added (vm %s, %s)", d->name, d->vm, d->backend);
    }
    else if (disk_update (k, c, d) == -1)
      log_error ("disk %s: out of memory: configuration not applied",
                 d->name);
    if (d->events_file == NULL && c->broker.uri == NULL)
      log_warning ("disk %s: no events-file and no [broker]: its events "
                   "are counted in the metrics, and kept nowhere", d->name);
  }
  for (size_t i = 0; i < dm->ndisks; i++) {
    struct disk *k = dm->disks[i];
    if (!k->removing && bwd_config_disk (c, k->name) == NULL) {
      log_info ("disk %s: removed from the configuration: stopping it",
                k->name);
      disk_remove (k);
    }
    else if (renew)
      disk_renew_certs (k);
  }
  free (dm->tls_stamp);
  dm->tls_stamp = stamp;
  bwd_config_free (dm->cfg);
  dm->cfg = c;
  return 0;
}

void
daemon_reload (struct daemon *dm)
{
  char err[1024];
  struct bwd_config *c;

  log_info ("SIGHUP: loading %s again", dm->config_path);
  c = bwd_config_load (dm->config_path, dm->self_dir, err, sizeof err);
  if (c == NULL || daemon_apply (dm, c, err, sizeof err) == -1) {
    log_error ("%s; the configuration in force stays", err);
    dm->reload_ok = false;
    return;
  }
  dm->reload_ok = true;
  log_info ("configuration reloaded: %zu disks", c->ndisks);
}
