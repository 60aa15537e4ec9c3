/* mqtt-emit: events from stdin through the MQTT bridge, for the tests
 * that need the bridge without a disk behind it (TLS, the firewall,
 * a broker restart).
 *
 *   mqtt-emit --host H --vm V --disk D [MQTT OPTIONS] < EVENTS.jsonl
 *
 * Each line, the JSON of an event, is read back into an event (host,
 * vm and disk made H, V and D) and given to the bridge the moment it is
 * read, so that a test can pace them through a FIFO.  At the end of the
 * input the bridge is closed (it delivers what it can within --drain)
 * and the counts go to stderr:
 *   mqtt-emit: E events, then the line blockwatch watch prints
 *   (bw_mqtt_stats_text: published, filtered out, dropped, refused)
 * Exit 0 if every event was published or filtered, 1 if not.
 */

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static void
log_line (void *opaque, const char *fmt, ...)
{
  va_list ap;

  (void) opaque;
  fputs ("mqtt-emit: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}

int
main (int argc, char **argv)
{
  enum { OPT_HOST = OPT_MQTT_LAST, OPT_VM, OPT_DISK };
  static const struct option opts[] = {
    MQTT_CONN_OPTIONS,
    MQTT_PUBLISH_OPTIONS,
    { "host", required_argument, NULL, OPT_HOST },
    { "vm", required_argument, NULL, OPT_VM },
    { "disk", required_argument, NULL, OPT_DISK },
    { 0 }
  };
  struct bw_mqtt_cfg cfg;
  struct bw_mqtt_bridge *b;
  struct bw_mqtt_stats st;
  struct bw_parsed_event pe;
  char err[512], text[256], *line = NULL;
  size_t cap = 0;
  ssize_t n;
  int c;

  bw_mqtt_cfg_init (&cfg);
  cfg.log = log_line;
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case OPT_HOST: cfg.host = optarg; break;
    case OPT_VM: cfg.vm = optarg; break;
    case OPT_DISK: cfg.disk = optarg; break;
    default:
      if (mqtt_publish_option (c, optarg, &cfg, "mqtt-emit") != 1) {
        fprintf (stderr, "usage: mqtt-emit --host H --vm V --disk D "
                 "--mqtt URI [OPTIONS] < EVENTS.jsonl\n");
        bw_filter_free (&cfg.filter);
        return 2;
      }
    }
  }
  b = bw_mqtt_open (&cfg, err, sizeof err);
  if (b == NULL) {
    fprintf (stderr, "mqtt-emit: %s\n", err);
    bw_filter_free (&cfg.filter);
    return 1;
  }
  while ((n = getline (&line, &cap, stdin)) > 0) {
    if (bw_event_from_json (line, n, &pe, err, sizeof err) == -1) {
      fprintf (stderr, "mqtt-emit: not an event: %s\n", err);
      continue;
    }
    pe.ev.host = cfg.host;
    pe.ev.vm = cfg.vm;
    pe.ev.disk = cfg.disk;
    bw_mqtt_sink (b)->emit (bw_mqtt_sink (b), &pe.ev);
    bw_parsed_event_free (&pe);
  }
  free (line);
  bw_mqtt_close (b, &st);
  bw_filter_free (&cfg.filter);
  bw_mqtt_stats_text (&st, text, sizeof text);
  fprintf (stderr, "mqtt-emit: %" PRIu64 " events, %s\n", st.events, text);
  return st.published + st.filtered == st.events ? 0 : 1;
}
