/* What blockwatchd's HTTP servers share (see mhd-util.h). */

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mhd-util.h"

int
mhd_sockaddr (const char *addr, struct sockaddr_storage *ss)
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

void
mhd_log (void *cls, const char *fmt, va_list ap)
{
  char msg[512];

  vsnprintf (msg, sizeof msg, fmt, ap);
  msg[strcspn (msg, "\n")] = '\0';
  log_warning ("%s: %s", (const char *) cls, msg);
}

bool
mhd_ready (const char *method, void **req, enum MHD_Result *ret)
{
  static int headers_seen;

  if (strcmp (method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp (method, MHD_HTTP_METHOD_HEAD) != 0) {
    *ret = MHD_NO;
    return false;
  }
  if (*req != &headers_seen) {
    *req = &headers_seen;
    *ret = MHD_YES;
    return false;
  }
  return true;
}
