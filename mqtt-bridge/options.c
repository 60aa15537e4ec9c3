/* The bridge's command-line options (see options.h). */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

long
mqtt_number (const char *arg, const char *what, const char *cmd)
{
  char *end;
  long n;

  errno = 0;
  n = strtol (arg, &end, 10);
  if (errno || end == arg || *end || n < 0 || n > INT_MAX) {
    fprintf (stderr, "%s: %s: '%s' is not a number\n", cmd, what, arg);
    return -1;
  }
  return n;
}

int
mqtt_conn_option (int c, const char *arg, struct bw_mqtt_conn *conn,
                  int *qos, const char *cmd)
{
  switch (c) {
  case OPT_MQTT: conn->uri = arg; return 1;
  case OPT_PLAINTEXT: conn->allow_plaintext = true; return 1;
  case OPT_CAFILE: conn->ca_file = arg; return 1;
  case OPT_CAPATH: conn->ca_path = arg; return 1;
  case OPT_CERT: conn->cert_file = arg; return 1;
  case OPT_KEY: conn->key_file = arg; return 1;
  case OPT_CIPHERS: conn->ciphers = arg; return 1;
  case OPT_CLIENT_ID: conn->client_id = arg; return 1;
  case OPT_MQTT_VERSION:
    if (strcmp (arg, "5") == 0)
      conn->version = 5;
    else if (strcmp (arg, "3.1.1") == 0 || strcmp (arg, "4") == 0)
      conn->version = 4;
    else {
      fprintf (stderr, "%s: --mqtt-version %s: 5 or 3.1.1\n", cmd, arg);
      return -1;
    }
    return 1;
  case OPT_QOS:
    if (strcmp (arg, "0") != 0 && strcmp (arg, "1") != 0) {
      fprintf (stderr, "%s: --qos %s: 0 or 1\n", cmd, arg);
      return -1;
    }
    *qos = arg[0] - '0';
    return 1;
  default:
    return 0;
  }
}

int
mqtt_publish_option (int c, const char *arg, struct bw_mqtt_cfg *m,
                     const char *cmd)
{
  static const enum bw_filter_list lists[] = {
    [OPT_INCLUDE - OPT_INCLUDE] = BW_FILTER_INCLUDE,
    [OPT_EXCLUDE - OPT_INCLUDE] = BW_FILTER_EXCLUDE,
    [OPT_TYPE - OPT_INCLUDE] = BW_FILTER_TYPE,
    [OPT_NOT_TYPE - OPT_INCLUDE] = BW_FILTER_NOT_TYPE,
  };
  long n = 0;
  int r = mqtt_conn_option (c, arg, &m->conn, &m->qos, cmd);

  if (r != 0)
    return r;
  if (c >= OPT_WINDOW && c <= OPT_DRAIN &&
      (n = mqtt_number (arg, "option", cmd)) == -1)
    return -1;
  switch (c) {
  case OPT_WINDOW: m->window = n; return 1;
  case OPT_BUF_MSGS: m->buffer_messages = n; return 1;
  case OPT_BUF_BYTES: m->buffer_bytes = n; return 1;
  case OPT_EXPIRY: m->expiry = n; return 1;
  case OPT_STATS: m->stats_interval = n; return 1;
  case OPT_DRAIN: m->drain_ms = n * 1000; return 1;
  case OPT_INCLUDE: case OPT_EXCLUDE: case OPT_TYPE: case OPT_NOT_TYPE:
    if (bw_filter_add (&m->filter, lists[c - OPT_INCLUDE], arg) == -1) {
      fprintf (stderr, "%s: %s: %s\n", cmd, arg, errno == EINVAL
               ? "a path glob starts with '/'" : strerror (errno));
      return -1;
    }
    return 1;
  default:
    return 0;
  }
}
