/* The connection to a broker, shared by the publisher (the bridge) and
 * subscribers (blockwatch sub): the URI, TLS and protocol settings, a
 * Paho MQTTAsync client made from them, and errors said in words.
 *
 * TLS is what the settings ask for and no less: the broker's
 * certificate is verified against the CA file or directory (else the
 * system's), its name must match the host of the URI (Paho's "verify",
 * off by default, is on), and TLS 1.2 is the minimum: Paho ignores its
 * own sslVersion with OpenSSL 1.1 and later, so bw_tls_policy sets the
 * minimum through OpenSSL's configuration, for every TLS context of the
 * process (blockwatch has no other OpenSSL user).
 */
#ifndef BLOCKWATCH_MQTT_CONN_H
#define BLOCKWATCH_MQTT_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <MQTTAsync.h>

struct bw_mqtt_conn {
  const char *uri;            /* mqtts://HOST[:PORT] (port 8883), or
                               * mqtt://HOST[:PORT] (1883) if allowed */
  bool allow_plaintext;       /* mqtt:// without TLS: tests on loopback */
  const char *ca_file, *ca_path;  /* whom to trust; neither: the system's */
  const char *cert_file;      /* client certificate chain (mutual TLS) */
  const char *key_file;       /* its key; NULL: in cert_file */
  const char *ciphers;        /* OpenSSL cipher list (TLS 1.2); NULL:
                               * OpenSSL's default */
  int version;                /* 4 = MQTT 3.1.1, 5 = MQTT 5 */
  const char *client_id;      /* NULL: "blockwatch-" and random digits */
  unsigned keepalive;         /* seconds */
  unsigned connect_timeout;   /* seconds */
};

/* Defaults: MQTT 5, keepalive 30 s, connect timeout 10 s. */
void bw_mqtt_conn_init (struct bw_mqtt_conn *c);
/* Checks what can be checked before connecting: the URI, the files
 * (readable, the key the certificate's), the cipher list; sets the TLS
 * policy.  -1 with a message in err.
 */
int bw_mqtt_conn_check (const struct bw_mqtt_conn *c, char *err, size_t errlen);

/* A Paho client and the options to connect it (they point into the
 * struct: keep it in place while connecting).  The caller sets owner
 * and the two functions the connect's outcome leads to (on Paho's
 * threads; props are the CONNACK's, NULL with MQTT 3.1.1; code, reason
 * and message are Paho's failure data, for bw_mqtt_explain), and adds
 * its will and window to opts.  Paho calls them for MQTTAsync_connect
 * only, not for its automatic reconnections (its connected callback
 * says nothing of the CONNACK).
 */
struct bw_mqtt_client {
  void *owner;
  void (*connected) (void *owner, MQTTProperties *props);
  void (*failed) (void *owner, int code, int reason, const char *message);
  bool session_present;       /* the CONNACK's flag, set before connected */
  MQTTAsync handle;
  MQTTAsync_connectOptions opts;
  MQTTAsync_SSLOptions ssl;
  char *uri, *client_id, *host;
  int port;
  bool tls;
  pthread_mutex_t lock;       /* guards ssl_error */
  char ssl_error[256];        /* OpenSSL's last word on a failed connect */
};

/* max_buffered: Paho's own queue of commands (it must hold the window
 * and a few more).  -1 with a message in err.
 */
int bw_mqtt_client_open (const struct bw_mqtt_conn *c,
                         struct bw_mqtt_client *cl, int max_buffered,
                         char *err, size_t errlen);
void bw_mqtt_client_close (struct bw_mqtt_client *cl);

/* Why a connect failed, from Paho's failure data (code, MQTT reason
 * code, message) and, when Paho cannot tell, a TLS handshake of our
 * own with the same settings.  May take a few seconds.
 */
void bw_mqtt_explain (const struct bw_mqtt_conn *c, struct bw_mqtt_client *cl,
                      int code, int reason, const char *message,
                      char *out, size_t outlen);

/* TLS (tls.c).  The policy (TLS 1.2 at least, OpenSSL's set-up) is
 * set once per process, before Paho makes its first client.
 */
int bw_tls_policy (char *err, size_t errlen);
int bw_tls_check (const struct bw_mqtt_conn *c, char *err, size_t errlen);
/* "" if a TLS handshake with HOST:PORT works with the settings (a
 * plain TCP connection for plaintext), else what fails, in words.
 */
void bw_tls_diagnose (const struct bw_mqtt_conn *c, const char *host,
                      int port, bool tls, char *out, size_t outlen);

#endif /* BLOCKWATCH_MQTT_CONN_H */
