/* The processes of a disk, from the configuration (see command.h). */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

const char *
role_name (enum role r)
{
  static const char *const names[NROLES] = {
    [ROLE_WATCH] = "introspector", [ROLE_NBDKIT] = "nbdkit",
    [ROLE_ISCSI] = "iscsi",
  };

  return names[r];
}

void
argv_add (struct argv *a, const char *s)
{
  char *copy;

  if (a->oom)
    return;
  if (a->n + 2 > a->cap) {
    size_t cap = a->cap ? 2 * a->cap : 16;
    char **v = realloc (a->v, cap * sizeof *v);
    if (v == NULL) {
      a->oom = true;
      return;
    }
    a->v = v;
    a->cap = cap;
  }
  if ((copy = strdup (s)) == NULL) {
    a->oom = true;
    return;
  }
  a->v[a->n++] = copy;
  a->v[a->n] = NULL;
}

void
argv_addf (struct argv *a, const char *fmt, ...)
{
  char *s;
  va_list ap;
  int r;

  va_start (ap, fmt);
  r = vasprintf (&s, fmt, ap);
  va_end (ap);
  if (r == -1) {
    a->oom = true;
    return;
  }
  argv_add (a, s);
  free (s);
}

void
argv_free (struct argv *a)
{
  for (size_t i = 0; i < a->n; i++)
    free (a->v[i]);
  free (a->v);
  memset (a, 0, sizeof *a);
}

char *
disk_dir (const struct bwd_config *c, const struct bwd_disk *d)
{
  char *s;

  return asprintf (&s, "%s/%s", c->run_dir, d->name) == -1 ? NULL : s;
}

char *
disk_state_dir (const struct bwd_config *c, const struct bwd_disk *d)
{
  char *s;

  return asprintf (&s, "%s/%s", c->state_dir, d->name) == -1 ? NULL : s;
}

/* nbdkit with our plugin, serving the disk's backend on its export and
 * feeding the introspector's tap socket.  A disk exported over iSCSI
 * has its NBD export in its run directory, for the front end alone.
 */
static void
nbdkit_command (const struct bwd_config *c, const struct bwd_disk *d,
                const char *dir, struct command *cmd)
{
  struct argv *a = &cmd->argv;
  const struct bwd_policy *p = &d->policy;
  char *sock = NULL;

  if (d->listen.socket)
    sock = strdup (d->listen.socket);
  else if (d->iscsi.target && asprintf (&sock, "%s/nbd.sock", dir) == -1)
    sock = NULL;
  if (sock == NULL && (d->listen.socket || d->iscsi.target)) {
    a->oom = true;
    return;
  }

  argv_add (a, c->nbdkit);
  argv_add (a, "--foreground");
  if (c->log_level == BWD_LOG_DEBUG)
    argv_add (a, "--verbose");
  /* Written once nbdkit listens: the moment it is ready. */
  argv_addf (a, "--pidfile=%s", cmd->ready);
  if (sock)
    argv_addf (a, "--unix=%s", sock);
  else {
    if (d->listen.address)
      argv_addf (a, "--ipaddr=%s", d->listen.address);
    argv_addf (a, "--port=%s", d->listen.port);
  }
  if (d->readonly)
    argv_add (a, "--readonly");
  if (d->tls && strcmp (d->tls, "off") != 0) {
    argv_addf (a, "--tls=%s", d->tls);
    if (d->tls_certificates)
      argv_addf (a, "--tls-certificates=%s", d->tls_certificates);
    else
      argv_addf (a, "--tls-psk=%s", d->tls_psk);
    if (d->tls_verify_peer)
      argv_add (a, "--tls-verify-peer");
  }
  argv_add (a, c->plugin);
  argv_addf (a, "backend=%s", d->backend);
  argv_addf (a, "tap=unix:%s/tap.sock", dir);
  argv_addf (a, "disk-id=%s", d->name);
  argv_addf (a, "stats=%s", cmd->stats);
  if (p->tap_buffer)
    argv_addf (a, "tap-buffer=%llu", (unsigned long long) p->tap_buffer);
  if (p->tap_overflow)
    argv_addf (a, "tap-overflow=%s", p->tap_overflow);
  if (p->has_tap_drain)
    argv_addf (a, "tap-drain=%u", p->tap_drain_ms);
  if (d->has_reconnect_timeout)
    argv_addf (a, "reconnect-timeout=%u", d->reconnect_timeout_s);
  cmd->leftover = sock;
}

/* blockwatch iscsi-target: the disk's iSCSI front end, on nbdkit's
 * export.  Its files go in <dir>/iscsi, which it manages.
 */
static void
iscsi_command (const struct bwd_config *c, const struct bwd_disk *d,
               const char *dir, struct command *cmd)
{
  struct argv *a = &cmd->argv;
  const struct bwd_iscsi *i = &d->iscsi;
  char *list;

  argv_add (a, c->blockwatch);
  argv_add (a, "iscsi-target");
  argv_addf (a, "--nbd=%s/nbd.sock", dir);
  argv_addf (a, "--dir=%s/iscsi", dir);
  argv_addf (a, "--target=%s", i->target);
  argv_addf (a, "--portal=%s", i->portal.shown);
  if (i->chap_user) {
    argv_addf (a, "--chap-user=%s", i->chap_user);
    argv_addf (a, "--chap-password-file=%s", i->chap_password_file);
  }
  for (int k = 0; k < 2; k++) {
    const char *items = k ? i->names : i->addresses;
    if (items == NULL)
      continue;
    if ((list = strdup (items)) == NULL) {
      a->oom = true;
      return;
    }
    for (char *save, *item = strtok_r (list, ",", &save); item;
         item = strtok_r (NULL, ",", &save))
      argv_addf (a, k ? "--initiator-name=%s" : "--initiator-address=%s",
                 item);
    free (list);
  }
  if (d->readonly)
    argv_add (a, "--readonly");
  argv_addf (a, "--nbdkit=%s", c->nbdkit);
}

/* --NAME=VALUE for each value of a list. */
static void
argv_list (struct argv *a, const char *name, const struct bwd_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    argv_addf (a, "--%s=%s", name, l->v[i]);
}

/* --NAME=N unless n is -1 (not configured: the bridge's default). */
static void
argv_number (struct argv *a, const char *name, int64_t n)
{
  if (n >= 0)
    argv_addf (a, "--%s=%lld", name, (long long) n);
}

/* The MQTT bridge's options (mqtt-bridge/options.h): the broker, and
 * what the disk's policy publishes.
 */
static void
bridge_options (struct argv *a, const struct bwd_broker *b,
                const struct bwd_policy *p)
{
  argv_addf (a, "--mqtt=%s", b->uri);
  if (b->plaintext)
    argv_add (a, "--mqtt-plaintext");
  if (b->ca_file)
    argv_addf (a, "--cafile=%s", b->ca_file);
  if (b->ca_path)
    argv_addf (a, "--capath=%s", b->ca_path);
  if (b->cert)
    argv_addf (a, "--cert=%s", b->cert);
  if (b->key)
    argv_addf (a, "--key=%s", b->key);
  if (b->ciphers)
    argv_addf (a, "--ciphers=%s", b->ciphers);
  if (b->mqtt_version)
    argv_addf (a, "--mqtt-version=%s", b->mqtt_version);
  argv_number (a, "qos", b->qos);
  argv_number (a, "window", b->window);
  argv_number (a, "buffer-messages", b->buffer_messages);
  argv_number (a, "buffer-bytes", b->buffer_bytes);
  argv_number (a, "expiry", b->expiry);
  argv_number (a, "stats", b->stats_interval);
  argv_number (a, "drain", b->drain);
  argv_list (a, "include", &p->include);
  argv_list (a, "exclude", &p->exclude);
  argv_list (a, "type", &p->type);
  argv_list (a, "not-type", &p->not_type);
  argv_list (a, "data-for", &p->data_for);
}

/* blockwatch watch: the online introspector of the disk.  The one
 * place that knows its options.
 */
static void
watch_command (const struct bwd_config *c, const struct bwd_disk *d,
               const char *dir, struct command *cmd)
{
  struct argv *a = &cmd->argv;
  char *state;

  argv_add (a, c->blockwatch);
  argv_add (a, "watch");
  argv_addf (a, "--host=%s", c->host);
  argv_addf (a, "--vm=%s", d->vm);
  argv_addf (a, "--disk=%s", d->name);
  argv_addf (a, "--storage=%s", d->backend);
  argv_addf (a, "--stats-file=%s", cmd->stats);
  /* Left by a run that died or stopped with events undelivered, so
   * that the next one says they were lost; removed by blockwatchd only
   * with the disk (state.h).
   */
  if ((state = disk_state_dir (c, d)) == NULL) {
    a->oom = true;
    return;
  }
  argv_addf (a, "--run-mark=%s/" RUN_MARK, state);
  free (state);
  if (d->policy.data)
    argv_addf (a, "--data=%s", d->policy.data);
  if (d->record_trace)
    argv_addf (a, "--record=%s", d->record_trace);
  if (d->exact_meta)
    argv_addf (a, "--exact-metadata=%llu", (unsigned long long) d->exact_meta);
  if (d->exact_data)
    argv_addf (a, "--exact-data=%llu", (unsigned long long) d->exact_data);
  if (d->model_max)
    argv_addf (a, "--model-max=%llu", (unsigned long long) d->model_max);
  /* The introspector reads the same NBD server as the plugin: it waits
   * for it as long as the guest's requests do.
   */
  if (d->has_reconnect_timeout)
    argv_addf (a, "--reconnect-timeout=%u", d->reconnect_timeout_s);
  /* The events, as JSON lines, to the events file (stdout), which the
   * introspector follows when it is rotated (logrotate's create).
   */
  if (d->events_file) {
    argv_add (a, "--json");
    argv_addf (a, "--stdout-path=%s", d->events_file);
  }
  if (c->broker.uri)
    bridge_options (a, &c->broker, &d->policy);
  argv_addf (a, "unix:%s/tap.sock", dir);
  /* Without an events file the events still count in the metrics. */
  cmd->out = strdup (d->events_file ? d->events_file : "/dev/null");
  if (cmd->out == NULL)
    a->oom = true;
}

int
disk_commands (const struct bwd_config *c, const struct bwd_disk *d,
               struct command cmds[NROLES])
{
  char *dir = disk_dir (c, d);
  bool oom = dir == NULL;

  static const char *const ready[NROLES] = {
    [ROLE_WATCH] = "tap.sock", [ROLE_NBDKIT] = "nbdkit.pid",
    [ROLE_ISCSI] = "iscsi/ready",
  };

  memset (cmds, 0, NROLES * sizeof *cmds);
  for (int r = 0; r < NROLES && !oom; r++) {
    struct command *cmd = &cmds[r];
    if (r == ROLE_ISCSI && d->iscsi.target == NULL)
      continue;
    /* The front end has no numbers of its own to report. */
    if ((r != ROLE_ISCSI &&
         asprintf (&cmd->stats, "%s/%s.stats", dir, role_name (r)) == -1) ||
        asprintf (&cmd->ready, "%s/%s", dir, ready[r]) == -1) {
      oom = true;
      break;
    }
    if (r == ROLE_WATCH) {
      watch_command (c, d, dir, cmd);
      cmd->nice = c->introspector_nice;
      cmd->oom_score_adj = c->introspector_oom;
    }
    else if (r == ROLE_NBDKIT)
      nbdkit_command (c, d, dir, cmd);
    else
      iscsi_command (c, d, dir, cmd);
    if (c->user.name) {
      cmd->user = strdup (c->user.name);
      cmd->uid = c->user.uid;
      cmd->gid = c->user.gid;
      oom |= cmd->user == NULL;
    }
    oom |= cmd->argv.oom;
  }
  free (dir);
  if (oom)
    for (int r = 0; r < NROLES; r++)
      command_free (&cmds[r]);
  return oom ? -1 : 0;
}

static bool
same_string (const char *a, const char *b)
{
  return a == b || (a && b && strcmp (a, b) == 0);
}

bool
command_equal (const struct command *a, const struct command *b)
{
  if (a->argv.n != b->argv.n || !same_string (a->out, b->out) ||
      !same_string (a->user, b->user) || a->uid != b->uid ||
      a->gid != b->gid || a->nice != b->nice ||
      a->oom_score_adj != b->oom_score_adj)
    return false;
  for (size_t i = 0; i < a->argv.n; i++)
    if (strcmp (a->argv.v[i], b->argv.v[i]) != 0)
      return false;
  return true;
}

/* *dst = a copy of src (NULL stays NULL); false: no memory. */
static bool
copy_string (char **dst, const char *src)
{
  *dst = src ? strdup (src) : NULL;
  return src == NULL || *dst != NULL;
}

int
command_copy (struct command *dst, const struct command *src)
{
  bool ok;

  memset (dst, 0, sizeof *dst);
  for (size_t i = 0; i < src->argv.n; i++)
    argv_add (&dst->argv, src->argv.v[i]);
  /* Every copy is made even after one failed, so that freeing the
   * result frees exactly what was copied.
   */
  ok = copy_string (&dst->out, src->out);
  ok = copy_string (&dst->ready, src->ready) && ok;
  ok = copy_string (&dst->stats, src->stats) && ok;
  ok = copy_string (&dst->leftover, src->leftover) && ok;
  ok = copy_string (&dst->user, src->user) && ok;
  dst->uid = src->uid;
  dst->gid = src->gid;
  dst->nice = src->nice;
  dst->oom_score_adj = src->oom_score_adj;
  if (ok && !dst->argv.oom)
    return 0;
  command_free (dst);
  return -1;
}

void
command_free (struct command *cmd)
{
  argv_free (&cmd->argv);
  free (cmd->out);
  free (cmd->ready);
  free (cmd->stats);
  free (cmd->leftover);
  free (cmd->user);
  memset (cmd, 0, sizeof *cmd);
}
