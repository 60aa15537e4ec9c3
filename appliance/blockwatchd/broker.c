/* The appliance's own connection to the broker (see broker.h). */

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker.h"
#include "log.h"
#include "mqtt-bridge.h"

struct broker {
  struct bw_mqtt_bridge *bridge;
  /* The bridge borrows its strings, and a reload frees the
   * configuration they came from: the host and [broker], copied.
   */
  char *host;
  struct bwd_broker own;
};

/* The bridge's messages: its connection made or renewed (a rotation),
 * and its troubles.
 */
static void __attribute__ ((format (printf, 2, 3)))
bridge_log (void *opaque, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;

  (void) opaque;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  log_msg (strncmp (msg, "mqtt: connected to ", 19) == 0 ||
           strncmp (msg, "mqtt: certificate files renewed", 31) == 0
           ? BWD_LOG_INFO : BWD_LOG_WARNING, "appliance status: %s", msg);
}

/* The connection settings of [broker], borrowing its strings. */
static void
conn_of (const struct bwd_broker *b, struct bw_mqtt_conn *conn)
{
  bw_mqtt_conn_init (conn);
  conn->uri = b->uri;
  conn->allow_plaintext = b->plaintext;
  conn->ca_file = b->ca_file;
  conn->ca_path = b->ca_path;
  conn->cert_file = b->cert;
  conn->key_file = b->key;
  conn->ciphers = b->ciphers;
  if (b->mqtt_version && strcmp (b->mqtt_version, "3.1.1") == 0)
    conn->version = 4;
}

/* path as seen from root (NULL: as it is); free what it returns. */
static char *
under (const char *root, const char *path)
{
  char *p;

  if (path == NULL || root == NULL)
    return path ? strdup (path) : NULL;
  return asprintf (&p, "%s/%s", root, path) == -1 ? NULL : p;
}

int
broker_check (const struct bwd_config *c, const char *root, char *err,
              size_t errlen)
{
  struct bw_mqtt_conn conn;
  char why[512], *ca, *capath, *cert, *key;
  int r = 0;

  conn_of (&c->broker, &conn);
  conn.ca_file = ca = under (root, conn.ca_file);
  conn.ca_path = capath = under (root, conn.ca_path);
  conn.cert_file = cert = under (root, conn.cert_file);
  conn.key_file = key = under (root, conn.key_file);
  if (bw_mqtt_conn_check (&conn, why, sizeof why) == -1) {
    snprintf (err, errlen, "[broker]: %s", why);
    r = -1;
  }
  free (ca);
  free (capath);
  free (cert);
  free (key);
  return r;
}

static void
free_broker (struct broker *b)
{
  free (b->host);
  bwd_broker_clear (&b->own);
  free (b);
}

struct broker *
broker_open (const struct bwd_config *c, char *err, size_t errlen)
{
  struct broker *b = calloc (1, sizeof *b);
  struct bw_mqtt_cfg cfg;
  char why[512];

  if (b == NULL || (b->host = strdup (c->host)) == NULL ||
      bwd_broker_copy (&b->own, &c->broker) == -1) {
    snprintf (err, errlen, "out of memory");
    if (b)
      free_broker (b);
    return NULL;
  }
  bw_mqtt_cfg_init (&cfg);
  conn_of (&b->own, &cfg.conn);
  cfg.host = b->host;
  /* Only $status: no events, no $stats, nothing to deliver at close. */
  cfg.stats_interval = 0;
  cfg.drain_ms = 0;
  cfg.log = bridge_log;
  b->bridge = bw_mqtt_open (&cfg, why, sizeof why);
  if (b->bridge == NULL) {
    snprintf (err, errlen, "[broker]: %s", why);
    free_broker (b);
    return NULL;
  }
  return b;
}

void
broker_close (struct broker *b)
{
  if (b == NULL)
    return;
  bw_mqtt_close (b->bridge, NULL);
  free_broker (b);
}

bool
broker_connected (struct broker *b)
{
  struct bw_mqtt_stats s;

  bw_mqtt_get_stats (b->bridge, &s);
  return s.connected;
}

static bool
same (const char *a, const char *b)
{
  return a == b || (a && b && strcmp (a, b) == 0);
}

void
broker_renew (struct broker *b)
{
  bw_mqtt_renew (b->bridge);
}

/* path's line of a stamp, to f; a file that cannot be seen is one too. */
static void
stamp_file (FILE *f, const char *dir, const char *path)
{
  struct stat st;
  char *full = NULL;

  if (dir && asprintf (&full, "%s/%s", dir, path) == -1)
    full = NULL;
  if (dir && full == NULL)
    return;                   /* no memory: open_memstream says so */
  if (stat (full ? full : path, &st) == -1)
    fprintf (f, "%s -\n", full ? full : path);
  else
    fprintf (f, "%s %ju %jd %jd.%09ld %jd.%09ld\n", full ? full : path,
             (uintmax_t) st.st_ino, (intmax_t) st.st_size,
             (intmax_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
             (intmax_t) st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
  free (full);
}

char *
broker_files_stamp (const struct bwd_broker *b)
{
  const char *files[] = { b->ca_file, b->cert, b->key };
  struct dirent **names;
  char *s = NULL;
  size_t len;
  FILE *f = open_memstream (&s, &len);
  int n;

  if (f == NULL)
    return NULL;
  for (size_t i = 0; i < sizeof files / sizeof *files; i++)
    if (files[i])
      stamp_file (f, NULL, files[i]);
  if (b->ca_path) {
    stamp_file (f, NULL, b->ca_path);
    n = scandir (b->ca_path, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
      if (names[i]->d_name[0] != '.')
        stamp_file (f, b->ca_path, names[i]->d_name);
      free (names[i]);
    }
    if (n > 0)
      free (names);
  }
  if (fclose (f) == EOF) {
    free (s);
    return NULL;
  }
  return s;
}

bool
broker_same (const struct bwd_config *a, const struct bwd_config *b)
{
  const struct bwd_broker *x = &a->broker, *y = &b->broker;

  return same (a->host, b->host) && same (x->uri, y->uri) &&
         x->plaintext == y->plaintext && same (x->ca_file, y->ca_file) &&
         same (x->ca_path, y->ca_path) && same (x->cert, y->cert) &&
         same (x->key, y->key) && same (x->ciphers, y->ciphers) &&
         same (x->mqtt_version, y->mqtt_version);
}
