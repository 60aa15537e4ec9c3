/* blockwatchd's configuration file (see config.h): sections and keys.
 * The values' forms are in config-value.c.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "config-value.h"
#include "config.h"
#include "events/event.h"
#include "storage/storage-uri.h"

/* The keys of each kind of section.  off is into the section's struct:
 * bwd_config, bwd_broker, bwd_policy or bwd_disk.  A key's index in
 * its table is its bit in the struct's seen mask.
 */
#define K(name, parse, type, field) \
  { name, parse, offsetof (type, field), false }
/* A key that may be given again: its values make a list. */
#define KL(name, parse, type, field) \
  { name, parse, offsetof (type, field), true }

static const struct key appliance_keys[] = {
  K ("host", value_name, struct bwd_config, host),
  K ("run-dir", value_path, struct bwd_config, run_dir),
  K ("state-dir", value_path, struct bwd_config, state_dir),
  K ("log-level", value_log_level, struct bwd_config, log_level),
  K ("metrics", value_metrics, struct bwd_config, metrics),
  K ("web", value_metrics, struct bwd_config, web),
  K ("web-cert", value_path, struct bwd_config, web_cert),
  K ("web-key", value_path, struct bwd_config, web_key),
  K ("web-dir", value_path, struct bwd_config, web_dir),
  K ("user", value_user, struct bwd_config, user),
  K ("group", value_group, struct bwd_config, group),
  K ("nbdkit", value_program, struct bwd_config, nbdkit),
  K ("plugin", value_program, struct bwd_config, plugin),
  K ("blockwatch", value_program, struct bwd_config, blockwatch),
  K ("stop-timeout", value_seconds, struct bwd_config, stop_timeout_s),
  K ("start-wait", value_seconds, struct bwd_config, start_wait_s),
  K ("introspector-nice", value_nice, struct bwd_config, introspector_nice),
  K ("introspector-oom-score-adj", value_oom_score_adj, struct bwd_config,
     introspector_oom),
  { 0 }
};

static const struct key broker_keys[] = {
  K ("uri", value_broker_uri, struct bwd_broker, uri),
  K ("ca-file", value_path, struct bwd_broker, ca_file),
  K ("ca-path", value_path, struct bwd_broker, ca_path),
  K ("cert", value_path, struct bwd_broker, cert),
  K ("key", value_path, struct bwd_broker, key),
  K ("ciphers", value_name, struct bwd_broker, ciphers),
  K ("qos", value_qos, struct bwd_broker, qos),
  K ("mqtt-version", value_mqtt_version, struct bwd_broker, mqtt_version),
  K ("plaintext", value_bool, struct bwd_broker, plaintext),
  K ("window", value_window, struct bwd_broker, window),
  K ("buffer-messages", value_count, struct bwd_broker, buffer_messages),
  K ("buffer-bytes", value_bytes, struct bwd_broker, buffer_bytes),
  K ("expiry", value_long_seconds, struct bwd_broker, expiry),
  K ("stats-interval", value_long_seconds, struct bwd_broker,
     stats_interval),
  K ("drain", value_long_seconds, struct bwd_broker, drain),
  { 0 }
};

static const struct key policy_keys[] = {
  K ("tap-buffer", value_tap_buffer, struct bwd_policy, tap_buffer),
  K ("tap-overflow", value_tap_overflow, struct bwd_policy, tap_overflow),
  K ("tap-drain", value_milliseconds, struct bwd_policy, tap_drain_ms),
  K ("data", value_data_policy, struct bwd_policy, data),
  KL ("include", value_path_glob, struct bwd_policy, include),
  KL ("exclude", value_path_glob, struct bwd_policy, exclude),
  KL ("type", value_type_glob, struct bwd_policy, type),
  KL ("not-type", value_type_glob, struct bwd_policy, not_type),
  KL ("data-for", value_data_rule, struct bwd_policy, data_for),
  { 0 }
};

static const struct key disk_keys[] = {
  K ("vm", value_name, struct bwd_disk, vm),
  K ("backend", value_backend, struct bwd_disk, backend),
  K ("reconnect-timeout", value_seconds, struct bwd_disk,
     reconnect_timeout_s),
  K ("listen", value_listen, struct bwd_disk, listen),
  K ("tls", value_tls, struct bwd_disk, tls),
  K ("tls-certificates", value_path, struct bwd_disk, tls_certificates),
  K ("tls-psk", value_path, struct bwd_disk, tls_psk),
  K ("tls-verify-peer", value_bool, struct bwd_disk, tls_verify_peer),
  K ("readonly", value_bool, struct bwd_disk, readonly),
  K ("events-file", value_path, struct bwd_disk, events_file),
  K ("record-trace", value_path, struct bwd_disk, record_trace),
  K ("exact-metadata", value_exact_size, struct bwd_disk, exact_meta),
  K ("exact-data", value_exact_size, struct bwd_disk, exact_data),
  K ("model-max", value_model_size, struct bwd_disk, model_max),
  K ("iscsi", value_iscsi_name, struct bwd_disk, iscsi.target),
  K ("iscsi-portal", value_iscsi_portal, struct bwd_disk, iscsi.portal),
  K ("iscsi-chap-user", value_chap_user, struct bwd_disk, iscsi.chap_user),
  K ("iscsi-chap-password-file", value_path, struct bwd_disk,
     iscsi.chap_password_file),
  K ("iscsi-initiator-addresses", value_initiator_addresses, struct bwd_disk,
     iscsi.addresses),
  K ("iscsi-initiator-names", value_initiator_names, struct bwd_disk,
     iscsi.names),
  { 0 }
};

/* Lines are handed to inih whole, so that it numbers them as we do;
 * longer ones are refused (inih needs 3 bytes more: see ini.h).
 */
#define LINE_MAX_BYTES (1 << 20)

/* The parse in progress. */
struct parser {
  struct bwd_config *c;
  FILE *f;
  char *buf;                  /* the line being read (getline) */
  size_t cap, len, fed;       /* its length, what inih has of it */
  int line;                   /* its number */
  /* The section it is in, as its header named it: inih cuts long
   * names (a disk's may have 64 bytes), so it is not asked.  NULL:
   * before any.
   */
  char *sect;
  int broker_line, policy_line, appliance_line;
  char *err;
  size_t errlen;
  bool failed;
};

/* The message quotes the file (section names, keys, values), which may
 * hold control characters (an escape sequence, a CR) or bytes that are
 * not UTF-8: escaped as event paths are, so that they reach the
 * operator's terminal or log visible and harmless, but with '%' as it
 * is (bw_escape_text), which a URI has.
 */
static void __attribute__ ((format (printf, 3, 4)))
fail_at (struct parser *p, int line, const char *fmt, ...)
{
  char *msg = NULL, *esc = NULL;
  va_list ap;
  int n;

  if (p->failed)
    return;                   /* the first error is the one to fix */
  p->failed = true;
  va_start (ap, fmt);
  n = vasprintf (&msg, fmt, ap);
  va_end (ap);
  if (n == -1 || (esc = bw_escape_text (msg, n)) == NULL)
    snprintf (p->err, p->errlen, "%s:%d: out of memory", p->c->path, line);
  else
    snprintf (p->err, p->errlen, "%s:%d: %s", p->c->path, line, esc);
  free (esc);
  if (n != -1)
    free (msg);
}

static struct bwd_disk *
find_disk (struct bwd_config *c, const char *name)
{
  for (size_t i = 0; i < c->ndisks; i++)
    if (strcmp (c->disks[i].name, name) == 0)
      return &c->disks[i];
  return NULL;
}

const struct bwd_disk *
bwd_config_disk (const struct bwd_config *c, const char *name)
{
  return find_disk ((struct bwd_config *) c, name);
}

static void
new_disk (struct parser *p, const char *name)
{
  struct bwd_config *c = p->c;
  struct bwd_disk *v, *d;
  char msg[256];

  if (value_disk_name (name, msg, sizeof msg) == -1) {
    fail_at (p, p->line, "[disk %s]: %s", name, msg);
    return;
  }
  if ((d = find_disk (c, name)) != NULL) {
    fail_at (p, p->line, "[disk %s] again (first at line %d)", name, d->line);
    return;
  }
  v = realloc (c->disks, (c->ndisks + 1) * sizeof *v);
  if (v == NULL || (name = strdup (name)) == NULL) {
    fail_at (p, p->line, "out of memory");
    return;
  }
  c->disks = v;
  d = &c->disks[c->ndisks++];
  *d = (struct bwd_disk) { .name = (char *) name, .line = p->line };
}

/* A section header, seen before inih parses it: inih calls the key
 * handler only, so sections, empty ones too, are checked here.  text
 * is what follows the '['; inih takes the name up to the first ']'.
 */
static void
section (struct parser *p, const char *text)
{
  const char *end = strchr (text, ']');
  char *name;
  int *line = NULL;

  if (end == NULL)
    return;                   /* inih says the syntax is wrong */
  name = strndup (text, end - text);
  if (name == NULL) {
    fail_at (p, p->line, "out of memory");
    return;
  }
  free (p->sect);
  p->sect = name;
  if (strncmp (name, "disk ", 5) == 0) {
    new_disk (p, name + 5);
    return;
  }
  if (strcmp (name, "appliance") == 0)
    line = &p->appliance_line;
  else if (strcmp (name, "broker") == 0)
    line = &p->broker_line;
  else if (strcmp (name, "policy") == 0)
    line = &p->policy_line;
  else {
    fail_at (p, p->line, "unknown section [%s]: expected [appliance], "
             "[broker], [policy] or [disk NAME]", name);
    return;
  }
  if (*line)
    fail_at (p, p->line, "[%s] again (first at line %d)", name, *line);
  *line = p->line;
}

/* The next line into p->buf, its section header noted.  False at the
 * end of the file or for a line that is refused.
 */
static bool
next_line (struct parser *p)
{
  ssize_t n = getline (&p->buf, &p->cap, p->f);
  const char *s = p->buf;

  if (n <= 0) {
    if (ferror (p->f))
      fail_at (p, p->line + 1, "%s", strerror (errno));
    return false;
  }
  p->line++;
  p->len = n;
  p->fed = 0;
  /* inih would see the line end at a NUL and the next line begin
   * after it: not a text file.
   */
  if (memchr (s, '\0', n) != NULL)
    fail_at (p, p->line, "a NUL byte: not a text file");
  else if (n > LINE_MAX_BYTES)
    fail_at (p, p->line, "a line longer than %d bytes", LINE_MAX_BYTES);
  if (p->failed)
    return false;
  /* What inih skips before a header: a UTF-8 BOM, then white space. */
  if (p->line == 1 && strncmp (s, "\xEF\xBB\xBF", 3) == 0)
    s += 3;
  while (isspace ((unsigned char) *s))
    s++;
  if (*s == '[')
    section (p, s + 1);
  return !p->failed;
}

/* inih's reader: the file line by line, each handed over whole, in as
 * many pieces as inih's buffer takes (it grows it until the line
 * ends).  An error stops the parse (as if the file ended).
 */
static char *
read_chunk (char *str, int num, void *stream)
{
  struct parser *p = stream;
  size_t n;

  if (p->failed || num < 2 || (p->fed == p->len && !next_line (p)))
    return NULL;
  n = p->len - p->fed;
  if (n > (size_t) num - 1)
    n = num - 1;
  memcpy (str, p->buf + p->fed, n);
  str[n] = '\0';
  p->fed += n;
  return str;
}

static int
set_key (struct parser *p, const char *sect, const struct key *keys,
         void *base, uint64_t *seen, const char *name, const char *value)
{
  char msg[512];

  for (int i = 0; keys[i].name; i++) {
    if (strcmp (keys[i].name, name) != 0)
      continue;
    if ((*seen & (1ull << i)) && !keys[i].repeat) {
      fail_at (p, p->line, "[%s] %s given twice", sect, name);
      return 0;
    }
    *seen |= 1ull << i;
    if (*value == '\0') {
      fail_at (p, p->line, "[%s] %s: no value", sect, name);
      return 0;
    }
    if (keys[i].parse (value, (char *) base + keys[i].off, msg,
                       sizeof msg) == -1) {
      fail_at (p, p->line, "[%s] %s = %s: %s", sect, name, value, msg);
      return 0;
    }
    return 1;
  }
  return -1;                  /* not one of these */
}

static int
handler (void *user, const char *inih_sect, const char *name,
         const char *value)
{
  struct parser *p = user;
  struct bwd_config *c = p->c;
  const char *sect = p->sect;
  struct bwd_disk *d;
  int r = -1;

  (void) inih_sect;           /* cut at 49 bytes: see struct parser */
  if (sect == NULL) {
    fail_at (p, p->line, "%s = ...: outside any section", name);
    return 0;
  }
  if (strcmp (sect, "appliance") == 0)
    r = set_key (p, sect, appliance_keys, c, &c->seen, name, value);
  else if (strcmp (sect, "broker") == 0)
    r = set_key (p, sect, broker_keys, &c->broker, &c->broker.seen, name,
                 value);
  else if (strcmp (sect, "policy") == 0)
    r = set_key (p, sect, policy_keys, &c->policy, &c->policy.seen, name,
                 value);
  else if (strncmp (sect, "disk ", 5) == 0 &&
           (d = find_disk (c, sect + 5)) != NULL) {
    r = set_key (p, sect, disk_keys, d, &d->seen, name, value);
    if (r == -1)
      r = set_key (p, sect, policy_keys, &d->policy, &d->policy.seen, name,
                   value);
  }
  if (r == -1)
    fail_at (p, p->line, "[%s]: unknown key '%s' (see docs/appliance.md)",
             sect, name);
  return r == 1;
}

static bool
given (uint64_t seen, const struct key *keys, const char *name)
{
  for (int i = 0; keys[i].name; i++)
    if (strcmp (keys[i].name, name) == 0)
      return seen & (1ull << i);
  abort ();                   /* a name not in the table: a bug here */
}

/* *d = a copy of g, unless the disk gave the list itself. */
static int
inherit_list (struct bwd_list *d, const struct bwd_list *g, uint64_t seen,
              const char *key)
{
  if (given (seen, policy_keys, key) || g->n == 0)
    return 0;
  if ((d->v = calloc (g->n, sizeof *d->v)) == NULL)
    return -1;
  for (; d->n < g->n; d->n++)
    if ((d->v[d->n] = strdup (g->v[d->n])) == NULL)
      return -1;
  return 0;
}

/* Unset policies of a disk from [policy].  Those unset in both stay
 * unset: the plugin and the introspector have their own defaults.
 */
static int
inherit_policy (struct bwd_policy *d, const struct bwd_policy *g)
{
  if (!given (d->seen, policy_keys, "tap-buffer"))
    d->tap_buffer = g->tap_buffer;
  d->has_tap_drain = given (d->seen | g->seen, policy_keys, "tap-drain");
  if (!given (d->seen, policy_keys, "tap-drain"))
    d->tap_drain_ms = g->tap_drain_ms;
  if (!given (d->seen, policy_keys, "tap-overflow") && g->tap_overflow &&
      (d->tap_overflow = strdup (g->tap_overflow)) == NULL)
    return -1;
  if (!given (d->seen, policy_keys, "data") && g->data &&
      (d->data = strdup (g->data)) == NULL)
    return -1;
  if (inherit_list (&d->include, &g->include, d->seen, "include") == -1 ||
      inherit_list (&d->exclude, &g->exclude, d->seen, "exclude") == -1 ||
      inherit_list (&d->type, &g->type, d->seen, "type") == -1 ||
      inherit_list (&d->not_type, &g->not_type, d->seen, "not-type") == -1 ||
      inherit_list (&d->data_for, &g->data_for, d->seen, "data-for") == -1)
    return -1;
  d->seen |= g->seen;
  return 0;
}

/* The iscsi keys of a disk, together. */
static void
check_iscsi (struct parser *p, struct bwd_disk *d, bool tls)
{
  const struct bwd_iscsi *i = &d->iscsi;

  if (i->target == NULL) {
    if (i->portal.port || i->chap_user || i->chap_password_file ||
        i->addresses || i->names)
      fail_at (p, d->line, "[disk %s]: iscsi-* keys without iscsi = IQN",
               d->name);
    return;
  }
  if (d->listen.socket || d->listen.port)
    fail_at (p, d->line, "[disk %s]: listen and iscsi: a disk is exported "
             "once, over NBD or over iSCSI", d->name);
  else if (i->portal.port == 0)
    fail_at (p, d->line, "[disk %s]: iscsi needs iscsi-portal", d->name);
  else if (!i->chap_user != !i->chap_password_file)
    fail_at (p, d->line, "[disk %s]: iscsi-chap-user and "
             "iscsi-chap-password-file go together", d->name);
  else if (tls)
    fail_at (p, d->line, "[disk %s]: tls is for the NBD listen address; an "
             "iSCSI disk authenticates initiators with CHAP", d->name);
}

/* What a disk needs that no single key can say. */
static void
check_disk (struct parser *p, struct bwd_disk *d)
{
  struct bwd_config *c = p->c;
  bool tls = d->tls && strcmp (d->tls, "off") != 0;

  if (d->vm == NULL || d->backend == NULL ||
      (d->listen.socket == NULL && d->listen.port == NULL &&
       d->iscsi.target == NULL)) {
    fail_at (p, d->line, "[disk %s]: needs vm, backend and listen (or iscsi)",
             d->name);
    return;
  }
  check_iscsi (p, d, tls);
  /* Only the NBD backend reconnects; elsewhere the key would be
   * silently ignored.
   */
  d->has_reconnect_timeout = given (d->seen, disk_keys, "reconnect-timeout");
  if (d->has_reconnect_timeout && storage_kind (d->backend) != STORAGE_NBD)
    fail_at (p, d->line, "[disk %s]: reconnect-timeout is for NBD storage "
             "(nbd://, nbds://, nbd+unix://, nbds+unix://), not backend %s",
             d->name, d->backend);
  if (tls && !d->tls_certificates == !d->tls_psk)
    fail_at (p, d->line, "[disk %s]: tls = %s needs tls-certificates or "
             "tls-psk (one of them)", d->name, d->tls);
  else if (!tls && (d->tls_certificates || d->tls_psk || d->tls_verify_peer))
    fail_at (p, d->line, "[disk %s]: TLS settings without tls = on or "
             "require", d->name);
  else if (d->tls_verify_peer && d->tls_certificates == NULL)
    fail_at (p, d->line, "[disk %s]: tls-verify-peer needs "
             "tls-certificates", d->name);
  if (inherit_policy (&d->policy, &c->policy) == -1)
    fail_at (p, d->line, "out of memory");
  if (d->policy.has_tap_drain &&
      d->policy.tap_drain_ms >= c->stop_timeout_s * 1000ull)
    fail_at (p, d->line, "[disk %s]: tap-drain (%u ms) must be shorter than "
             "stop-timeout (%u s)", d->name, d->policy.tap_drain_ms,
             c->stop_timeout_s);
}

static bool
same (const char *a, const char *b)
{
  return a && b && strcmp (a, b) == 0;
}

/* The TCP port a disk listens on (NBD's or the iSCSI portal's), and
 * the address as bytes in addr (16, zero for every address).  False:
 * none.
 */
static bool
tcp_port (const struct bwd_disk *d, unsigned *port, unsigned char addr[16])
{
  const char *a = d->listen.address;

  memset (addr, 0, 16);
  if (d->iscsi.target) {
    *port = d->iscsi.portal.port;
    a = d->iscsi.portal.address;
  }
  else if (d->listen.port)
    *port = atoi (d->listen.port);
  else
    return false;
  if (a && inet_pton (AF_INET, a, addr) != 1)
    inet_pton (AF_INET6, a, addr);
  return true;
}

/* Two disks listening on one port, where one has every address or
 * both the same one.
 */
static bool
same_port (const struct bwd_disk *a, const struct bwd_disk *b)
{
  static const unsigned char any[16];
  unsigned char x[16], y[16];
  unsigned px, py;

  return tcp_port (a, &px, x) && tcp_port (b, &py, y) && px == py &&
         (memcmp (x, any, 16) == 0 || memcmp (y, any, 16) == 0 ||
          memcmp (x, y, 16) == 0);
}

/* Two disks cannot share an export, an iSCSI name or an events file. */
static void
check_clashes (struct parser *p)
{
  struct bwd_config *c = p->c;

  for (size_t i = 0; i < c->ndisks; i++)
    for (size_t j = 0; j < i; j++) {
      struct bwd_disk *a = &c->disks[j], *b = &c->disks[i];
      if (same (a->listen.socket, b->listen.socket) || same_port (a, b))
        fail_at (p, b->line, "[disk %s]: listens where [disk %s] does",
                 b->name, a->name);
      if (same (a->iscsi.target, b->iscsi.target))
        fail_at (p, b->line, "[disk %s]: iscsi names [disk %s]'s target",
                 b->name, a->name);
      if (same (a->events_file, b->events_file))
        fail_at (p, b->line, "[disk %s]: events-file is [disk %s]'s",
                 b->name, a->name);
      if (same (a->record_trace, b->record_trace))
        fail_at (p, b->line, "[disk %s]: record-trace is [disk %s]'s",
                 b->name, a->name);
    }
}

/* Whether a policy chooses what is published. */
static bool
selects (const struct bwd_policy *pol)
{
  return pol->include.n || pol->exclude.n || pol->type.n ||
         pol->not_type.n || pol->data_for.n;
}

static void
check_broker (struct parser *p)
{
  struct bwd_config *c = p->c;
  struct bwd_broker *b = &c->broker;

  /* Without a broker nothing is published to choose from. */
  if (p->broker_line == 0) {
    if (selects (&c->policy))
      fail_at (p, p->policy_line, "[policy]: include, exclude, type, "
               "not-type and data-for choose what is published: they need "
               "[broker]");
    for (size_t i = 0; i < c->ndisks; i++)
      if (selects (&c->disks[i].policy))
        fail_at (p, c->disks[i].line, "[disk %s]: include, exclude, type, "
                 "not-type and data-for choose what is published: they "
                 "need [broker]", c->disks[i].name);
    return;
  }
  if (b->uri == NULL)
    fail_at (p, p->broker_line, "[broker]: needs uri");
  else if (!b->cert != !b->key)
    fail_at (p, p->broker_line, "[broker]: cert and key go together");
  else if (strncmp (b->uri, "mqtt://", 7) == 0 && !b->plaintext)
    fail_at (p, p->broker_line, "[broker]: uri %s is not TLS: say "
             "plaintext = yes to allow it (loopback tests only)", b->uri);
  else if (b->expiry > 0 && b->mqtt_version &&
           strcmp (b->mqtt_version, "5") != 0)
    fail_at (p, p->broker_line, "[broker]: expiry needs mqtt-version 5");
  /* An introspector that stops gets stop-timeout to deliver the rest. */
  else if ((b->drain >= 0 ? b->drain : BWD_BRIDGE_DRAIN_S) >=
           c->stop_timeout_s)
    fail_at (p, p->broker_line, "[broker]: drain (%lld s) must be shorter "
             "than stop-timeout (%u s)", (long long) (b->drain >= 0
             ? b->drain : BWD_BRIDGE_DRAIN_S), c->stop_timeout_s);
}

/* The length of path without its trailing slashes. */
static size_t
dir_len (const char *path)
{
  size_t n = strlen (path);

  while (n > 1 && path[n - 1] == '/')
    n--;
  return n;
}

/* Directory a is b or one of its ancestors. */
static bool
nested (const char *a, const char *b)
{
  size_t n = dir_len (a), m = dir_len (b);

  return n <= m && strncmp (a, b, n) == 0 &&
         (n == m || b[n] == '/' || a[n - 1] == '/');
}

/* A program: beside blockwatchd if it is there (a build tree, or an
 * install that keeps them together), else found the usual way.
 */
static char *
program (const char *self_dir, const char *file, const char *fallback)
{
  char *path;

  if (self_dir && asprintf (&path, "%s/%s", self_dir, file) != -1) {
    if (access (path, R_OK) == 0)
      return path;
    free (path);
  }
  return strdup (fallback);
}

static int
defaults (struct parser *p, const char *self_dir)
{
  struct bwd_config *c = p->c;
  char host[256];

  if (c->group.name && c->user.name == NULL) {
    fail_at (p, p->appliance_line, "[appliance]: group needs user");
    return 0;
  }
  if (c->group.name)
    c->user.gid = c->group.gid;
  /* The page takes a password: never over plain HTTP. */
  if (c->web && (c->web_cert == NULL || c->web_key == NULL)) {
    fail_at (p, p->appliance_line, "[appliance]: web needs web-cert and "
             "web-key (the page is served over HTTPS only)");
    return 0;
  }
  if (c->web_dir == NULL &&
      (c->web_dir = strdup (BWD_DEFAULT_WEB_DIR)) == NULL)
    return -1;

  if (c->host == NULL) {
    if (gethostname (host, sizeof host) == -1)
      return -1;
    host[sizeof host - 1] = '\0';
    if ((c->host = strdup (host)) == NULL)
      return -1;
  }
  if (!given (c->seen, appliance_keys, "metrics") &&
      (c->metrics = strdup (BWD_DEFAULT_METRICS)) == NULL)
    return -1;
  if (c->run_dir == NULL && (c->run_dir = strdup (BWD_DEFAULT_RUN_DIR)) == NULL)
    return -1;
  if (c->state_dir == NULL &&
      (c->state_dir = strdup (BWD_DEFAULT_STATE_DIR)) == NULL)
    return -1;
  if (nested (c->run_dir, c->state_dir) || nested (c->state_dir, c->run_dir)) {
    fail_at (p, p->appliance_line, "[appliance]: state-dir (%s) and run-dir "
             "(%s) overlap: the state must outlive the run directories, "
             "and each has one directory per disk", c->state_dir,
             c->run_dir);
    return 0;
  }
  if (c->nbdkit == NULL && (c->nbdkit = strdup ("nbdkit")) == NULL)
    return -1;
  /* nbdkit finds an installed plugin by its short name. */
  if (c->plugin == NULL &&
      (c->plugin = program (self_dir, "nbdkit-blockwatch-plugin.so",
                            "blockwatch")) == NULL)
    return -1;
  if (c->blockwatch == NULL &&
      (c->blockwatch = program (self_dir, "blockwatch", "blockwatch"))
      == NULL)
    return -1;
  return 0;
}

struct bwd_config *
bwd_config_load (const char *path, const char *self_dir, char *err,
                 size_t errlen)
{
  struct bwd_config *c = calloc (1, sizeof *c);
  struct parser p = { .c = c, .err = err, .errlen = errlen };
  int r;

  if (c == NULL || (c->path = strdup (path)) == NULL) {
    snprintf (err, errlen, "out of memory");
    free (c);
    return NULL;
  }
  c->log_level = BWD_LOG_INFO;
  c->stop_timeout_s = 30;
  c->start_wait_s = 30;
  c->introspector_nice = 10;
  c->introspector_oom = 500;
  c->broker.qos = -1;
  c->broker.window = c->broker.buffer_messages = c->broker.buffer_bytes = -1;
  c->broker.expiry = c->broker.stats_interval = c->broker.drain = -1;
  p.f = fopen (path, "re");
  if (p.f == NULL) {
    snprintf (err, errlen, "%s: %s", path, strerror (errno));
    bwd_config_free (c);
    return NULL;
  }
  /* Values are whole lines (URIs and passwords may hold ';'), lines may
   * be as long as they like, and an indented line is not a
   * continuation: fewer surprises.
   */
  ini_use_stack = false;
  ini_allow_realloc = true;
  ini_max_line = LINE_MAX_BYTES + 3;
  ini_allow_multiline = false;
  ini_allow_inline_comments = false;
  ini_stop_on_first_error = true;
  r = ini_parse_stream (read_chunk, &p, handler, &p);
  fclose (p.f);
  free (p.buf);
  free (p.sect);
  if (r > 0)
    fail_at (&p, r, "expected [section], key = value, or a comment "
             "(# or ; first)");
  else if (r < 0 && !p.failed)
    fail_at (&p, p.line, "out of memory");
  for (size_t i = 0; i < c->ndisks; i++)
    check_disk (&p, &c->disks[i]);
  check_clashes (&p);
  check_broker (&p);
  if (!p.failed && c->ndisks == 0)
    snprintf (err, errlen, "%s: no [disk NAME] section", path);
  else if (!p.failed && defaults (&p, self_dir) == -1)
    snprintf (err, errlen, "%s: %s", path, strerror (errno));
  else if (!p.failed)
    return c;
  bwd_config_free (c);
  return NULL;
}

void
bwd_broker_clear (struct bwd_broker *b)
{
  free (b->uri);
  free (b->ca_file);
  free (b->ca_path);
  free (b->cert);
  free (b->key);
  free (b->ciphers);
  free (b->mqtt_version);
  memset (b, 0, sizeof *b);
}

static bool
copy_string (char **dst, const char *src)
{
  *dst = src ? strdup (src) : NULL;
  return src == NULL || *dst != NULL;
}

int
bwd_broker_copy (struct bwd_broker *dst, const struct bwd_broker *src)
{
  bool ok;

  *dst = *src;
  /* Every copy is made even after one failed (see command.c). */
  ok = copy_string (&dst->uri, src->uri);
  ok = copy_string (&dst->ca_file, src->ca_file) && ok;
  ok = copy_string (&dst->ca_path, src->ca_path) && ok;
  ok = copy_string (&dst->cert, src->cert) && ok;
  ok = copy_string (&dst->key, src->key) && ok;
  ok = copy_string (&dst->ciphers, src->ciphers) && ok;
  ok = copy_string (&dst->mqtt_version, src->mqtt_version) && ok;
  if (ok)
    return 0;
  bwd_broker_clear (dst);
  return -1;
}

static void
free_list (struct bwd_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    free (l->v[i]);
  free (l->v);
}

static void
free_policy (struct bwd_policy *p)
{
  free (p->tap_overflow);
  free (p->data);
  free_list (&p->include);
  free_list (&p->exclude);
  free_list (&p->type);
  free_list (&p->not_type);
  free_list (&p->data_for);
}

void
bwd_config_free (struct bwd_config *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->ndisks; i++) {
    struct bwd_disk *d = &c->disks[i];
    free (d->name);
    free (d->vm);
    free (d->backend);
    free (d->listen.socket);
    free (d->listen.address);
    free (d->listen.port);
    free (d->tls);
    free (d->tls_certificates);
    free (d->tls_psk);
    free (d->events_file);
    free (d->record_trace);
    free (d->iscsi.target);
    free (d->iscsi.chap_user);
    free (d->iscsi.chap_password_file);
    free (d->iscsi.addresses);
    free (d->iscsi.names);
    free_policy (&d->policy);
  }
  free (c->disks);
  free_policy (&c->policy);
  bwd_broker_clear (&c->broker);
  free (c->path);
  free (c->host);
  free (c->run_dir);
  free (c->state_dir);
  free (c->metrics);
  free (c->web);
  free (c->web_cert);
  free (c->web_key);
  free (c->web_dir);
  free (c->user.name);
  free (c->group.name);
  free (c->nbdkit);
  free (c->plugin);
  free (c->blockwatch);
  free (c);
}

const char *
bwd_log_level_name (enum bwd_log_level l)
{
  static const char *const names[] = { "error", "warning", "info", "debug" };

  return names[l];
}
