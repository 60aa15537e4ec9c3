/* blockwatchd's metrics: a Prometheus text endpoint (libmicrohttpd),
 * on loopback unless configured otherwise.
 *
 *   GET /metrics   the exposition (metrics-text.c)
 *   GET /healthz   200 "ok" when every wanted process of every disk
 *                  runs, else 503 and what is down (for probes)
 *
 * The server runs in the main loop (MHD's epoll descriptor is polled
 * with the rest): a scrape reads the daemon's state without locks.
 */
#ifndef BLOCKWATCHD_METRICS_H
#define BLOCKWATCHD_METRICS_H

#include <stddef.h>
#include <stdio.h>

struct daemon;
struct metrics;

/* Listens on addr (IPV4:PORT or [IPV6]:PORT).  NULL with err. */
struct metrics *metrics_start (const char *addr, struct daemon *dm,
                               char *err, size_t errlen);
void metrics_stop (struct metrics *m);
/* To poll for input, and for how long at most (-1: no limit). */
int metrics_fd (struct metrics *m);
int metrics_timeout_ms (struct metrics *m);
/* Serves what has arrived. */
void metrics_run (struct metrics *m);

/* The exposition text (metrics-text.c). */
void metrics_write (FILE *out, const struct daemon *dm);
/* What is down ("disk a: nbdkit\n"...) into out; whether anything is. */
bool metrics_down (FILE *out, const struct daemon *dm);

#endif /* BLOCKWATCHD_METRICS_H */
