/* The appliance's own connection to the broker (see broker.h). */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The bridge's messages: its connection made, and its troubles. */
static void __attribute__ ((format (printf, 2, 3)))
bridge_log (void *opaque, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;

  (void) opaque;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  log_msg (strncmp (msg, "mqtt: connected to ", 19) == 0 ? BWD_LOG_INFO
           : BWD_LOG_WARNING, "appliance status: %s", msg);
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
