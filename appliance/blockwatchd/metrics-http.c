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
#include "mhd-util.h"

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
  enum MHD_Result ret;

  (void) version; (void) upload_data; (void) upload_size;
  if (!mhd_ready (method, req, &ret))
    return ret;
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

struct metrics *
metrics_start (const char *addr, struct daemon *dm, char *err, size_t errlen)
{
  struct metrics *m = calloc (1, sizeof *m);
  struct sockaddr_storage ss;
  int af = mhd_sockaddr (addr, &ss);

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
                             MHD_OPTION_EXTERNAL_LOGGER, mhd_log, "metrics",
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
