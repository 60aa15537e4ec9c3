/* What blockwatchd's two HTTP servers (libmicrohttpd) share: the
 * metrics endpoint (metrics.h) and the web view's page (web.h).
 */
#ifndef BLOCKWATCHD_MHD_UTIL_H
#define BLOCKWATCHD_MHD_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <microhttpd.h>

/* IPV4:PORT or [IPV6]:PORT (checked by the configuration already) as a
 * socket address: its family, or -1.
 */
int mhd_sockaddr (const char *addr, struct sockaddr_storage *ss);

/* MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's messages as warnings,
 * after the prefix given as cls ("metrics").
 */
void mhd_log (void *cls, const char *fmt, va_list ap);

/* The start of a request handler: GET and HEAD only (anything else:
 * *ret MHD_NO, which closes the connection, nothing is posted to us),
 * and libmicrohttpd's first call, which has the headers only (*ret
 * MHD_YES).  Whether to answer now; if not, the handler returns *ret.
 */
bool mhd_ready (const char *method, void **req, enum MHD_Result *ret);

#endif /* BLOCKWATCHD_MHD_UTIL_H */
