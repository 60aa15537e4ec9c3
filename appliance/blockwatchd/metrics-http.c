/* blockwatchd's HTTP endpoint (see metrics.h): libmicrohttpd with
 * epoll, polled by the main loop.
 */

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"

struct metrics {
  struct MHD_Daemon *mhd;
  struct daemon *dm;
};

static enum MHD_Result
reply (struct MHD_Connection *conn, unsigned status, const char *type,
       char *body, size_t len)
{
  struct MHD_Response *r =
    MHD_create_response_from_buffer_with_free_callback (len, body, free);
  enum MHD_Result ret;

  if (r == NULL) {
    free (body);
    return MHD_NO;
  }
  MHD_add_response_header (r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  ret = MHD_queue_response (conn, status, r);
  MHD_destroy_response (r);
  return ret;
}

static enum MHD_Result
handle (void *cls, struct MHD_Connection *conn, const char *url,
        const char *method, const char *version, const char *upload_data,
        size_t *upload_size, void **req)
{
  struct metrics *m = cls;
  unsigned status = MHD_HTTP_OK;
  const char *type = "text/plain; charset=utf-8";
  char *body = NULL;
  size_t len = 0;
  FILE *out;

  static int headers_seen;

  (void) version; (void) upload_data; (void) upload_size;
  if (strcmp (method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp (method, MHD_HTTP_METHOD_HEAD) != 0)
    return MHD_NO;            /* closes the connection: nothing to post */
  /* The first call has the headers only: answer on the second. */
  if (*req != &headers_seen) {
    *req = &headers_seen;
    return MHD_YES;
  }
  out = open_memstream (&body, &len);
  if (out == NULL)
    return MHD_NO;
  if (strcmp (url, "/metrics") == 0) {
    type = "text/plain; version=0.0.4; charset=utf-8";
    metrics_write (out, m->dm);
  }
  else if (strcmp (url, "/healthz") == 0) {
    if (metrics_down (out, m->dm))
      status = MHD_HTTP_SERVICE_UNAVAILABLE;
    else
      fputs ("ok\n", out);
  }
  else {
    status = MHD_HTTP_NOT_FOUND;
    fputs ("not found: try /metrics or /healthz\n", out);
  }
  if (fclose (out) != 0) {
    free (body);
    return MHD_NO;
  }
  return reply (conn, status, type, body, len);
}

static void
mhd_log (void *cls, const char *fmt, va_list ap)
{
  char msg[512];

  (void) cls;
  vsnprintf (msg, sizeof msg, fmt, ap);
  msg[strcspn (msg, "\n")] = '\0';
  log_warning ("metrics: %s", msg);
}

/* IPV4:PORT or [IPV6]:PORT (checked by the configuration already). */
static int
parse_addr (const char *addr, struct sockaddr_storage *ss)
{
  const char *colon = strrchr (addr, ':');
  char host[INET6_ADDRSTRLEN + 2];
  int port = atoi (colon + 1);
  size_t n = colon - addr;

  memset (ss, 0, sizeof *ss);
  if (n >= sizeof host)
    return -1;
  if (*addr == '[') {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) ss;
    memcpy (host, addr + 1, n - 2);
    host[n - 2] = '\0';
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons (port);
    return inet_pton (AF_INET6, host, &s6->sin6_addr) == 1 ? AF_INET6 : -1;
  }
  struct sockaddr_in *s4 = (struct sockaddr_in *) ss;
  memcpy (host, addr, n);
  host[n] = '\0';
  s4->sin_family = AF_INET;
  s4->sin_port = htons (port);
  return inet_pton (AF_INET, host, &s4->sin_addr) == 1 ? AF_INET : -1;
}

struct metrics *
metrics_start (const char *addr, struct daemon *dm, char *err, size_t errlen)
{
  struct metrics *m = calloc (1, sizeof *m);
  struct sockaddr_storage ss;
  int af = parse_addr (addr, &ss);

  if (m == NULL || af == -1) {
    snprintf (err, errlen, "metrics: %s", m ? "bad address" : "no memory");
    free (m);
    return NULL;
  }
  m->dm = dm;
  /* A few connections at once is all a scraper and an operator need;
   * a slow client is dropped after 10 s.
   */
  m->mhd = MHD_start_daemon (MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                             (af == AF_INET6 ? MHD_USE_IPv6 : 0),
                             0, NULL, NULL, handle, m,
                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                             MHD_OPTION_CONNECTION_LIMIT, 16,
                             MHD_OPTION_CONNECTION_TIMEOUT, 10,
                             MHD_OPTION_END);
  if (m->mhd == NULL) {
    snprintf (err, errlen, "metrics: cannot listen on %s (in use?)", addr);
    free (m);
    return NULL;
  }
  return m;
}

void
metrics_stop (struct metrics *m)
{
  if (m == NULL)
    return;
  MHD_stop_daemon (m->mhd);
  free (m);
}

int
metrics_fd (struct metrics *m)
{
  const union MHD_DaemonInfo *i =
    MHD_get_daemon_info (m->mhd, MHD_DAEMON_INFO_EPOLL_FD);

  return i ? i->epoll_fd : -1;
}

int
metrics_timeout_ms (struct metrics *m)
{
  MHD_UNSIGNED_LONG_LONG t;

  if (MHD_get_timeout (m->mhd, &t) != MHD_YES)
    return -1;
  return t > 60000 ? 60000 : (int) t;
}

void
metrics_run (struct metrics *m)
{
  MHD_run (m->mhd);
}
