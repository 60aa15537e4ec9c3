/* blockwatchd's web view server: the live web view's static files
 * (appliance/web/, docs/web-view.md) over HTTPS, when [appliance] says
 * web = ADDRESS:PORT.
 *
 *   GET /          index.html
 *   GET /NAME      a file of the directory, by a plain name with a known
 *                  extension (html, js, css, png, svg); nothing else
 *
 * The page then talks MQTT over WebSockets to mosquitto, not to us.
 * Why blockwatchd serves it and not mosquitto's http_dir: Debian 12's
 * mosquitto (2.0.11, with libwebsockets' HTTP/2) offers h2 on its TLS
 * WebSockets listener, and its file server answers in HTTP/1, which
 * browsers refuse (ERR_HTTP2_PROTOCOL_ERROR); libmicrohttpd speaks
 * HTTP/1.1 only.
 *
 * It runs in a thread of its own: it reads nothing of the daemon's
 * state, only the files.
 */
#ifndef BLOCKWATCHD_WEB_H
#define BLOCKWATCHD_WEB_H

#include <stddef.h>

struct web;

/* Listens on addr (IPV4:PORT or [IPV6]:PORT) with the certificate and
 * key of those PEM files, serving dir.  NULL with err.
 */
struct web *web_start (const char *addr, const char *cert, const char *key,
                       const char *dir, char *err, size_t errlen);
void web_stop (struct web *w);

#endif /* BLOCKWATCHD_WEB_H */
