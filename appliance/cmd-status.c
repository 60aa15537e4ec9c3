/* blockwatch status: what blockwatchd is doing, for people.
 *
 *   blockwatch status [-c CONFIG | --url URL]
 *
 * Reads the daemon's metrics endpoint (the address in its
 * configuration file, by default /etc/blockwatch/blockwatch.conf, or
 * http://127.0.0.1:9810 without one) and prints one line per disk.
 * The numbers are the ones Prometheus gets: there is one source.
 * Exit status: 0 everything runs, 1 a disk's process is down, 2 the
 * daemon cannot be asked.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "blockwatchd/config.h"
#include "commands.h"
#include "events/event.h"
#include "status-metrics.h"

static size_t
collect (char *data, size_t size, size_t n, void *out)
{
  return fwrite (data, size, n, out);
}

/* GET url into a new string.  NULL with err. */
static char *
fetch (const char *url, char *err, size_t errlen)
{
  CURL *curl = curl_easy_init ();
  char *body = NULL, cerr[CURL_ERROR_SIZE] = "";
  size_t len = 0;
  FILE *out = open_memstream (&body, &len);
  long code = 0;
  CURLcode r = CURLE_FAILED_INIT;

  if (curl && out) {
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, out);
    curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 10L);
    r = curl_easy_perform (curl);
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
  }
  if (out)
    fclose (out);
  if (curl)
    curl_easy_cleanup (curl);
  if (r != CURLE_OK || code != 200) {
    if (r != CURLE_OK)
      snprintf (err, errlen, "%s: %s", url,
                cerr[0] ? cerr : curl_easy_strerror (r));
    else
      snprintf (err, errlen, "%s: HTTP status %ld", url, code);
    free (body);
    return NULL;
  }
  return body;
}

static void
human_bytes (unsigned long long n, char *buf, size_t len)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  double v = n;
  int u = 0;

  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  snprintf (buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static const char *
state (int up)
{
  return up < 0 ? "?" : up ? "up" : "DOWN";
}

/* Prints the table; returns how many disks have a process down. */
static int
print (const struct status *st, const char *url)
{
  int down = 0, n = 0;

  /* Disks being removed have no disk_info (and no vm) any more. */
  for (int i = 0; i < st->n; i++)
    if (st->d[i].vm[0]) {
      down += st->d[i].up[0] == 0 || st->d[i].up[1] == 0 ||
              st->d[i].up[2] == 0;
      n++;
    }
  printf ("blockwatchd at %s: %d disks, %d down%s\n\n", url, n, down,
          st->broker < 0 ? "" : st->broker ? "; broker connected"
          : "; broker NOT CONNECTED");
  printf ("%-16s %-12s %-6s %-14s %-5s %-4s %9s %-22s %8s %10s  %s\n", "DISK",
          "VM", "NBDKIT", "INTROSPECTOR", "ISCSI", "MQTT", "EVENTS",
          "TAP BUFFER", "DROPPED", "WRITTEN", "RESTARTS");
  for (int i = 0; i < st->n; i++) {
    const struct disk_status *d = &st->d[i];
    char intro[32], tap[48], used[16], size[16], written[16], iscsi[32] = "";
    char *name, *vm;
    if (d->vm[0] == '\0')
      continue;
    /* The labels are whatever answered at the URL wrote: escaped the
     * events' way, so that no control character reaches the terminal.
     */
    name = bw_escape_bytes (d->name, strlen (d->name));
    vm = bw_escape_bytes (d->vm, strlen (d->vm));
    snprintf (intro, sizeof intro, "%s", state (d->up[0]));
    if (d->up[0] == 1 && d->crawling)
      snprintf (intro, sizeof intro, "crawling %.0f%%",
                d->crawl_total ? 100.0 * d->crawl_done / d->crawl_total : 0);
    else if (d->up[0] == 1)
      snprintf (intro, sizeof intro, "following");
    human_bytes (d->tap_used, used, sizeof used);
    human_bytes (d->tap_size, size, sizeof size);
    snprintf (tap, sizeof tap, "%s of %s", used, size);
    human_bytes (d->written, written, sizeof written);
    if (d->up[2] >= 0)
      snprintf (iscsi, sizeof iscsi, ", iscsi %llu", d->restarts[2]);
    /* An introspector that does not publish says nothing of MQTT. */
    printf ("%-16s %-12s %-6s %-14s %-5s %-4s %9llu %-22s %8llu %10s  "
            "nbdkit %llu, introspector %llu%s\n", name ? name : "?",
            vm ? vm : "?",
            state (d->up[1]), intro, d->up[2] < 0 ? "-" : state (d->up[2]),
            d->mqtt < 0 ? "-" : state (d->mqtt), d->events,
            d->up[1] == 1 ? tap : "-", d->dropped, written,
            d->restarts[1], d->restarts[0], iscsi);
    free (name);
    free (vm);
  }
  return down;
}

/* The endpoint in the configuration file; NULL with err if it has
 * none, or cannot be read (then say where from).
 */
static char *
url_from_config (const char *path, char *err, size_t errlen)
{
  struct bwd_config *c = bwd_config_load (path, NULL, err, errlen);
  char *url = NULL;

  if (c == NULL)
    return NULL;
  if (c->metrics == NULL)
    snprintf (err, errlen, "%s: metrics = off: no endpoint to ask", path);
  else if (asprintf (&url, "http://%s/metrics", c->metrics) == -1) {
    snprintf (err, errlen, "out of memory");
    url = NULL;
  }
  bwd_config_free (c);
  return url;
}

int
cmd_status (int argc, char **argv)
{
  static const struct option opts[] = {
    { "config", required_argument, NULL, 'c' },
    { "url", required_argument, NULL, 'u' },
    { "help", no_argument, NULL, 'h' },
    { 0 }
  };
  const char *config = NULL, *url = NULL;
  char *own_url = NULL, *body, err[1024];
  struct status *st;
  int c, down;

  while ((c = getopt_long (argc, argv, "c:u:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c': config = optarg; break;
    case 'u': url = optarg; break;
    case 'h':
    default:
      fprintf (c == 'h' ? stdout : stderr,
               "usage: blockwatch status [-c CONFIG | --url URL]\n");
      return c == 'h' ? 0 : 2;
    }
  }
  if (optind != argc || (config && url)) {
    fprintf (stderr, "usage: blockwatch status [-c CONFIG | --url URL]\n");
    return 2;
  }
  if (url == NULL) {
    if (config == NULL && access (BWD_DEFAULT_CONFIG, F_OK) != 0)
      url = "http://" BWD_DEFAULT_METRICS "/metrics";
    else {
      own_url = url_from_config (config ? config : BWD_DEFAULT_CONFIG, err,
                                 sizeof err);
      if (own_url == NULL) {
        fprintf (stderr, "blockwatch status: %s\n", err);
        return 2;
      }
      url = own_url;
    }
  }
  body = fetch (url, err, sizeof err);
  st = calloc (1, sizeof *st);
  if (st)
    st->broker = -1;
  if (body == NULL || st == NULL) {
    fprintf (stderr, "blockwatch status: %s (is blockwatchd running?)\n",
             body ? "out of memory" : err);
    free (body);
    free (own_url);
    return 2;
  }
  status_parse (st, body);
  down = print (st, url);
  free (st);
  free (body);
  free (own_url);
  return down ? 1 : 0;
}
