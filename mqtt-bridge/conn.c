/* Broker connection settings made into a Paho client (see
 * mqtt-conn.h).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <MQTTReasonCodes.h>

#include "mqtt-conn.h"

void
bw_mqtt_conn_init (struct bw_mqtt_conn *c)
{
  *c = (struct bw_mqtt_conn) {
    .version = 5, .keepalive = 30, .connect_timeout = 10,
  };
}

/* mqtts://HOST[:PORT] or mqtt://...: host (IPv6 in brackets) and port. */
static int
parse_uri (const struct bw_mqtt_conn *c, char **host, int *port, bool *tls,
           char *err, size_t errlen)
{
  const char *p, *end;
  char *stop;
  long n;

  if (c->uri == NULL) {
    snprintf (err, errlen, "no broker URI (mqtts://HOST[:PORT])");
    return -1;
  }
  if (strncmp (c->uri, "mqtts://", 8) == 0) {
    *tls = true;
    p = c->uri + 8;
  }
  else if (strncmp (c->uri, "mqtt://", 7) == 0) {
    if (!c->allow_plaintext) {
      snprintf (err, errlen, "%s: mqtt:// is MQTT without TLS; use mqtts://, "
                "or allow plaintext explicitly (loopback tests)", c->uri);
      return -1;
    }
    *tls = false;
    p = c->uri + 7;
  }
  else {
    snprintf (err, errlen, "%s: not an MQTT URI (mqtts://HOST[:PORT])",
              c->uri);
    return -1;
  }
  if (*p == '[') {
    end = strchr (p, ']');
    if (end == NULL)
      goto bad;
    *host = strndup (p + 1, end - p - 1);
    end++;
  }
  else {
    end = p + strcspn (p, ":/");
    *host = strndup (p, end - p);
  }
  if (*host == NULL || **host == '\0')
    goto bad;
  *port = *tls ? 8883 : 1883;
  if (*end == ':') {
    errno = 0;
    n = strtol (end + 1, &stop, 10);
    if (errno || stop == end + 1 || n < 1 || n > 65535)
      goto bad;
    *port = n;
    end = stop;
  }
  if (*end != '\0' && strcmp (end, "/") != 0)
    goto bad;
  return 0;

 bad:
  free (*host);
  *host = NULL;
  snprintf (err, errlen, "%s: expected mqtts://HOST[:PORT] (IPv6 in [])",
            c->uri);
  return -1;
}

int
bw_mqtt_conn_check (const struct bw_mqtt_conn *c, char *err, size_t errlen)
{
  char *host = NULL;
  int port;
  bool tls;

  if (parse_uri (c, &host, &port, &tls, err, errlen) == -1)
    return -1;
  free (host);
  if (c->version != 4 && c->version != 5) {
    snprintf (err, errlen, "MQTT version %d: 3.1.1 (4) or 5 only", c->version);
    return -1;
  }
  /* OpenSSL is set up before Paho uses it, TLS or not (see tls.c). */
  if (bw_tls_policy (err, errlen) == -1)
    return -1;
  return tls ? bw_tls_check (c, err, errlen) : 0;
}

/* Paho's OpenSSL error lines, kept for the explanation of a failure:
 * of "C0E6...:error:0A000086:SSL routines:FUNCTION:REASON:FILE:LINE:"
 * the reason.
 */
static int
ssl_error (const char *str, size_t len, void *u)
{
  struct bw_mqtt_client *cl = u;
  const char *p = memmem (str, len, ":error:", 7), *end = str + len;
  int field;

  for (field = 0; p && field < 4; field++)
    p = memchr (p + 1, ':', end - p - 1);
  if (p == NULL)
    p = str;
  else
    p++;
  pthread_mutex_lock (&cl->lock);
  snprintf (cl->ssl_error, sizeof cl->ssl_error, "%.*s",
            (int) strcspn (p, ":\n"), p);
  pthread_mutex_unlock (&cl->lock);
  return 0;
}

static void
connect_ok (void *ctx, MQTTAsync_successData *r)
{
  struct bw_mqtt_client *cl = ctx;

  cl->session_present = r->alt.connect.sessionPresent;
  if (cl->connected)
    cl->connected (cl->owner, NULL);
}

static void
connect_ok5 (void *ctx, MQTTAsync_successData5 *r)
{
  struct bw_mqtt_client *cl = ctx;

  cl->session_present = r->alt.connect.sessionPresent;
  if (cl->connected)
    cl->connected (cl->owner, &r->properties);
}

static void
connect_bad (void *ctx, MQTTAsync_failureData *r)
{
  struct bw_mqtt_client *cl = ctx;

  if (cl->failed)
    cl->failed (cl->owner, r ? r->code : MQTTASYNC_FAILURE, 0,
                r ? r->message : NULL);
}

static void
connect_bad5 (void *ctx, MQTTAsync_failureData5 *r)
{
  struct bw_mqtt_client *cl = ctx;

  if (cl->failed)
    cl->failed (cl->owner, r ? r->code : MQTTASYNC_FAILURE,
                r ? r->reasonCode : 0, r ? r->message : NULL);
}

int
bw_mqtt_client_open (const struct bw_mqtt_conn *c, struct bw_mqtt_client *cl,
                     int max_buffered, char *err, size_t errlen)
{
  MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
  MQTTAsync_connectOptions v3 = MQTTAsync_connectOptions_initializer;
  MQTTAsync_connectOptions v5 = MQTTAsync_connectOptions_initializer5;
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
  unsigned char rnd[4] = { 0 };
  int rc;

  *cl = (struct bw_mqtt_client) { .port = 0 };
  pthread_mutex_init (&cl->lock, NULL);
  if (bw_mqtt_conn_check (c, err, errlen) == -1 ||
      parse_uri (c, &cl->host, &cl->port, &cl->tls, err, errlen) == -1)
    goto fail;
  /* Paho takes host:port; a v6 address keeps its brackets. */
  if (asprintf (&cl->uri, "%s://%s%s%s:%d", cl->tls ? "ssl" : "tcp",
                strchr (cl->host, ':') ? "[" : "", cl->host,
                strchr (cl->host, ':') ? "]" : "", cl->port) == -1)
    cl->uri = NULL;
  if (c->client_id)
    cl->client_id = strdup (c->client_id);
  else if (getrandom (rnd, sizeof rnd, 0) == -1 ||
           asprintf (&cl->client_id, "blockwatch-%02x%02x%02x%02x",
                     rnd[0], rnd[1], rnd[2], rnd[3]) == -1)
    cl->client_id = NULL;
  if (cl->uri == NULL || cl->client_id == NULL) {
    snprintf (err, errlen, "%s", strerror (ENOMEM));
    goto fail;
  }

  /* Messages are sent only while connected: the callers keep their
   * own buffer and never lean on Paho's (see buffer.h).
   */
  co.sendWhileDisconnected = 0;
  co.maxBufferedMessages = max_buffered;
  co.MQTTVersion = c->version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
  rc = MQTTAsync_createWithOptions (&cl->handle, cl->uri, cl->client_id,
                                    MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
  if (rc != MQTTASYNC_SUCCESS) {
    snprintf (err, errlen, "%s: cannot make an MQTT client: %s", c->uri,
              MQTTAsync_strerror (rc));
    cl->handle = NULL;
    goto fail;
  }

  cl->opts = c->version == 5 ? v5 : v3;
  cl->opts.MQTTVersion = co.MQTTVersion;
  cl->opts.keepAliveInterval = c->keepalive;
  cl->opts.connectTimeout = c->connect_timeout;
  /* A clean session: the caller's buffer is what survives a broken
   * connection, not the broker's memory of this client.
   */
  if (c->version == 5) {
    cl->opts.cleanstart = 1;
    cl->opts.onSuccess5 = connect_ok5;
    cl->opts.onFailure5 = connect_bad5;
  }
  else {
    cl->opts.cleansession = 1;
    cl->opts.onSuccess = connect_ok;
    cl->opts.onFailure = connect_bad;
  }
  cl->opts.context = cl;
  if (cl->tls) {
    cl->ssl = ssl;
    cl->ssl.trustStore = c->ca_file;
    cl->ssl.CApath = c->ca_path;
    cl->ssl.keyStore = c->cert_file;
    cl->ssl.privateKey = c->key_file;
    cl->ssl.enabledCipherSuites = c->ciphers;
    cl->ssl.enableServerCertAuth = 1;
    cl->ssl.verify = 1;                       /* the host name too */
    cl->ssl.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
    cl->ssl.ssl_error_cb = ssl_error;
    cl->ssl.ssl_error_context = cl;
    cl->opts.ssl = &cl->ssl;
  }
  return 0;

 fail:
  bw_mqtt_client_close (cl);
  return -1;
}

void
bw_mqtt_client_close (struct bw_mqtt_client *cl)
{
  if (cl->handle)
    MQTTAsync_destroy (&cl->handle);
  free (cl->uri);
  free (cl->client_id);
  free (cl->host);
  pthread_mutex_destroy (&cl->lock);
  cl->uri = cl->client_id = cl->host = NULL;
}

/* MQTT 3.1.1's CONNACK refusals (MQTT 5 has reason codes). */
static const char *
v3_refusal (int code)
{
  switch (code) {
  case 1: return "unacceptable protocol version";
  case 2: return "client identifier rejected";
  case 3: return "server unavailable";
  case 4: return "bad user name or password";
  case 5: return "not authorized";
  default: return NULL;
  }
}

void
bw_mqtt_explain (const struct bw_mqtt_conn *c, struct bw_mqtt_client *cl,
                 int code, int reason, const char *message,
                 char *out, size_t outlen)
{
  char probe[512], paho[640];

  /* Paho puts an MQTT 5 CONNACK's reason code in code, not reason
   * (its own codes are negative).
   */
  if (reason < 0x80 && code >= 0x80)
    reason = code;

  if (reason >= 0x80) {
    snprintf (out, outlen, "%s: the broker refused the connection: %s",
              c->uri, MQTTReasonCode_toString (reason));
    return;
  }
  if (v3_refusal (code)) {
    snprintf (out, outlen, "%s: the broker refused the connection: %s",
              c->uri, v3_refusal (code));
    return;
  }
  bw_tls_diagnose (c, cl->host, cl->port, cl->tls, probe, sizeof probe);
  pthread_mutex_lock (&cl->lock);
  snprintf (paho, sizeof paho, "%s%s%s", message ? message
            : MQTTAsync_strerror (code), cl->ssl_error[0] ? ": " : "",
            cl->ssl_error);
  cl->ssl_error[0] = '\0';
  pthread_mutex_unlock (&cl->lock);
  if (probe[0])
    snprintf (out, outlen, "%s: %s", c->uri, probe);
  else
    snprintf (out, outlen, "%s: connection failed (%s)", c->uri, paho);
}
