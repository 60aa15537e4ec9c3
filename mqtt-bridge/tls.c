/* TLS for the broker connection: the minimum protocol version for the
 * process, the certificate and key files checked before connecting, and
 * a handshake of our own that says why a connection fails.
 *
 * Paho reports a failed TLS connection as "TCP/TLS connect failure" at
 * best, and says nothing of a host name that does not match or of a
 * broker that wants a client certificate (TLS 1.3 tells the client so
 * only after its handshake is done).  Repeating the handshake with the
 * same settings through OpenSSL itself gives the reason.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mqtt-conn.h"

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "OpenSSL 3 is needed (NCONF_load_bio applied to every SSL_CTX)"
#endif

#define PROBE_MS 5000         /* TCP connect, handshake */
#define ALERT_MS 1000         /* a TLS 1.3 alert after the handshake */

static pthread_once_t policy_once = PTHREAD_ONCE_INIT;
static char policy_err[256];

/* OpenSSL applies the "system_default" section of its configuration to
 * every SSL_CTX it makes, Paho's included: the one way to set the
 * minimum version of a context we never see.  This replaces such a
 * section of the system's openssl.cnf (Debian's has none).
 */
static void
load_policy (void)
{
  static const char conf[] =
    "openssl_conf = blockwatch_init\n"
    "[blockwatch_init]\n"
    "ssl_conf = blockwatch_ssl\n"
    "[blockwatch_ssl]\n"
    "system_default = blockwatch_tls\n"
    "[blockwatch_tls]\n"
    "MinProtocol = TLSv1.2\n";
  CONF *c = NULL;
  BIO *b = NULL;
  long line;

  /* No OpenSSL cleanup at exit: Paho's threads end after
   * MQTTAsync_destroy has returned, and one ending while the cleanup
   * runs leaves its per-thread state behind (LeakSanitizer saw it).
   * The end of the process frees everything anyway.  First of all
   * OpenSSL calls, so that it holds.
   */
  if (OPENSSL_init_crypto (OPENSSL_INIT_NO_ATEXIT, NULL) != 1 ||
      OPENSSL_init_ssl (0, NULL) != 1 ||
      (c = NCONF_new (NULL)) == NULL ||
      (b = BIO_new_mem_buf (conf, -1)) == NULL ||
      NCONF_load_bio (c, b, &line) <= 0 ||
      CONF_modules_load (c, NULL, 0) <= 0)
    snprintf (policy_err, sizeof policy_err,
              "cannot set TLS 1.2 as the minimum: %s",
              ERR_reason_error_string (ERR_get_error ()) ?: "OpenSSL error");
  ERR_clear_error ();
  BIO_free (b);
  NCONF_free (c);
}

int
bw_tls_policy (char *err, size_t errlen)
{
  pthread_once (&policy_once, load_policy);
  if (policy_err[0]) {
    snprintf (err, errlen, "%s", policy_err);
    return -1;
  }
  return 0;
}

/* OpenSSL's reason for the oldest error queued (the root cause), then
 * the queue emptied.
 */
static const char *
ossl_reason (void)
{
  unsigned long e = ERR_peek_error ();
  /* A file that cannot be opened is an errno, which OpenSSL has no
   * string for.
   */
  const char *r = ERR_SYSTEM_ERROR (e) ? strerror (ERR_GET_REASON (e))
                                       : ERR_reason_error_string (e);

  ERR_clear_error ();
  return r ? r : "unknown OpenSSL error";
}

/* A client context as Paho's will be: trust, client certificate and
 * key, ciphers; NULL with a message in err.
 */
static SSL_CTX *
make_ctx (const struct bw_mqtt_conn *c, char *err, size_t errlen)
{
  SSL_CTX *ctx = SSL_CTX_new (TLS_client_method ());
  const char *key = c->key_file ? c->key_file : c->cert_file;

  ERR_clear_error ();
  if (ctx == NULL) {
    snprintf (err, errlen, "TLS: %s", ossl_reason ());
    return NULL;
  }
  SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER, NULL);
  if (c->ca_file || c->ca_path) {
    if (SSL_CTX_load_verify_locations (ctx, c->ca_file, c->ca_path) != 1) {
      snprintf (err, errlen, "CA %s %s: %s", c->ca_file ? "file" : "directory",
                c->ca_file ? c->ca_file : c->ca_path, ossl_reason ());
      goto fail;
    }
  }
  else if (SSL_CTX_set_default_verify_paths (ctx) != 1) {
    snprintf (err, errlen, "the system's CA certificates: %s", ossl_reason ());
    goto fail;
  }
  if (c->key_file && c->cert_file == NULL) {
    snprintf (err, errlen, "a client key (%s) needs its certificate",
              c->key_file);
    goto fail;
  }
  if (c->cert_file) {
    if (SSL_CTX_use_certificate_chain_file (ctx, c->cert_file) != 1) {
      snprintf (err, errlen, "client certificate %s: %s", c->cert_file,
                ossl_reason ());
      goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file (ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key (ctx) != 1) {
      const char *r = ossl_reason ();

      if (strstr (r, "mismatch") || strcmp (r, "unknown OpenSSL error") == 0)
        snprintf (err, errlen, "client key %s does not belong to the "
                  "certificate %s", key, c->cert_file);
      else
        snprintf (err, errlen, "client key %s: %s", key, r);
      goto fail;
    }
  }
  if (c->ciphers && SSL_CTX_set_cipher_list (ctx, c->ciphers) != 1) {
    snprintf (err, errlen, "cipher list '%s': %s", c->ciphers,
              ossl_reason ());
    goto fail;
  }
  return ctx;

 fail:
  SSL_CTX_free (ctx);
  return NULL;
}

int
bw_tls_check (const struct bw_mqtt_conn *c, char *err, size_t errlen)
{
  SSL_CTX *ctx = make_ctx (c, err, errlen);

  SSL_CTX_free (ctx);
  return ctx ? 0 : -1;
}

/* A TCP connection to host:port within PROBE_MS; -1 with a message. */
static int
tcp_connect (const char *host, int port, char *out, size_t outlen)
{
  struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
  struct timeval tv = { PROBE_MS / 1000, 0 };
  char service[16];
  int fd = -1, r, e = 0;

  snprintf (service, sizeof service, "%d", port);
  r = getaddrinfo (host, service, &hints, &ai);
  if (r != 0) {
    snprintf (out, outlen, "cannot resolve %s: %s", host, gai_strerror (r));
    return -1;
  }
  for (a = ai; a && fd == -1; a = a->ai_next) {
    fd = socket (a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd == -1)
      continue;
    /* Bounded: connect, reads and writes alike. */
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect (fd, a->ai_addr, a->ai_addrlen) == -1) {
      e = errno;
      close (fd);
      fd = -1;
    }
  }
  freeaddrinfo (ai);
  if (fd == -1)
    snprintf (out, outlen, "cannot connect to %s port %d: %s", host, port,
              strerror (e == EINPROGRESS ? ETIMEDOUT : e));
  return fd;
}

static bool
has (const char *s, const char *what)
{
  return strstr (s, what) != NULL;
}

/* A failed handshake, or an alert just after one (after), in words. */
static void
say_failure (const struct bw_mqtt_conn *c, SSL *ssl, const char *host,
             bool after, char *out, size_t outlen)
{
  long v = SSL_get_verify_result (ssl);
  const char *r;

  if (v == X509_V_ERR_HOSTNAME_MISMATCH ||
      v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    snprintf (out, outlen, "the broker's certificate is not for %s (%s)",
              host, X509_verify_cert_error_string (v));
    ERR_clear_error ();
    return;
  }
  if (v != X509_V_OK) {
    snprintf (out, outlen, "the broker's certificate is not trusted: %s "
              "(check the CA file)", X509_verify_cert_error_string (v));
    ERR_clear_error ();
    return;
  }
  r = ERR_peek_error () ? ossl_reason () : "the broker closed the connection";
  if (has (r, "protocol version") || has (r, "unsupported protocol") ||
      has (r, "no protocols available"))
    snprintf (out, outlen, "no TLS version both sides accept: blockwatch "
              "requires TLS 1.2 or later (%s)", r);
  else if (c->cert_file == NULL &&
           (has (r, "certificate required") || has (r, "handshake failure") ||
            (after && (has (r, "closed the connection") ||
                       has (r, "unexpected eof")))))
    snprintf (out, outlen, "the broker wants a client certificate, and none "
              "is configured (%s)", r);
  else if (has (r, "bad certificate") || has (r, "unknown ca") ||
           has (r, "certificate unknown") || has (r, "certificate expired") ||
           has (r, "certificate revoked") || has (r, "access denied"))
    snprintf (out, outlen, "the broker refused the client certificate (%s)",
              r);
  else if (has (r, "wrong version number") || has (r, "packet length") ||
           (!after && (has (r, "closed the connection") ||
                       has (r, "unexpected eof"))))
    snprintf (out, outlen, "no TLS handshake with %s: is this a TLS port? "
              "(%s)", host, r);
  else
    snprintf (out, outlen, "TLS handshake failed: %s", r);
}

void
bw_tls_diagnose (const struct bw_mqtt_conn *c, const char *host, int port,
                 bool tls, char *out, size_t outlen)
{
  unsigned char addr[16];
  SSL_CTX *ctx = NULL;
  SSL *ssl = NULL;
  int fd;
  bool ip = inet_pton (AF_INET, host, addr) == 1 ||
            inet_pton (AF_INET6, host, addr) == 1;

  out[0] = '\0';
  fd = tcp_connect (host, port, out, outlen);
  if (fd == -1 || !tls)
    goto out;
  if ((ctx = make_ctx (c, out, outlen)) == NULL ||
      (ssl = SSL_new (ctx)) == NULL || SSL_set_fd (ssl, fd) != 1) {
    if (out[0] == '\0')
      snprintf (out, outlen, "TLS: %s", ossl_reason ());
    goto out;
  }
  /* What Paho checks with verify=1. */
  if (ip)
    X509_VERIFY_PARAM_set1_ip_asc (SSL_get0_param (ssl), host);
  else {
    SSL_set_tlsext_host_name (ssl, host);
    SSL_set1_host (ssl, host);
  }
  ERR_clear_error ();
  if (SSL_connect (ssl) != 1) {
    say_failure (c, ssl, host, false, out, outlen);
    goto out;
  }
  /* TLS 1.3: a refused client certificate is an alert after the
   * handshake; the broker says nothing else before our CONNECT.
   */
  {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char byte;

    if (poll (&p, 1, ALERT_MS) == 1 && SSL_read (ssl, &byte, 1) <= 0)
      say_failure (c, ssl, host, true, out, outlen);
  }

 out:
  SSL_free (ssl);
  SSL_CTX_free (ctx);
  if (fd >= 0)
    close (fd);
  ERR_clear_error ();
}
