/* blockwatch watch --stats-file PATH: what the introspector shows
 * blockwatchd (its metrics) and people (`cat`).
 *
 * A sink in front of the real one counts events by type, and the
 * records and writes that overflow events say were lost; the command notes the
 * crawl's progress and the tap records it takes, and once the crawl is
 * done, the engine's kept writes are asked (exact.*: the exact view,
 * docs/introspector.md).  With the MQTT
 * bridge, its connection and counters are written too (mqtt.*).  The file
 * (tap/stats-file.h) is rewritten at most once a second: from the
 * crawl's progress callback while the crawl runs (the command's loop
 * is not running yet), from the command's loop after.  No thread.
 */
#ifndef BLOCKWATCH_WATCH_STATS_H
#define BLOCKWATCH_WATCH_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"
#include "events/event.h"
#include "mqtt-bridge.h"
#include "tap/stats-file.h"

#define WATCH_EVENT_TYPES 32  /* more than enum bw_event_type has */

struct watch_stats {
  struct bw_sink sink;        /* counts, then hands the event to next */
  struct bw_sink *next;
  bool on;                    /* a file was asked for */
  bool warned;                /* a write failed and was said */
  struct stats_writer w;
  uint64_t written_ns;        /* CLOCK_MONOTONIC of the last write */
  uint64_t events[WATCH_EVENT_TYPES];
  uint64_t lost;              /* tap records overflow events said were lost */
  uint64_t lost_writes;       /* writes overflow events said were given up */
  bool crawling;
  uint64_t crawl_done, crawl_total;   /* inodes, of the file system crawled */
  uint64_t connects;          /* plugin connections taken */
  uint64_t records, seq;      /* tap records taken; the last one's seq */
  uint64_t shadow_bytes;      /* tap_client_shadow_resident */
  struct bw_mqtt_bridge *bridge;  /* publishing: asked at each write */
  const unsigned long long *unwritten;  /* the printer's, if it prints */
  const struct engine *engine;    /* once crawled: asked at each write */
};

/* Starts counting in front of next; path NULL: count, write nothing.
 * bridge: the one publishing, or NULL.  -1 with err if the file cannot
 * be written.
 */
int watch_stats_open (struct watch_stats *s, const char *path,
                      struct bw_sink *next, struct bw_mqtt_bridge *bridge,
                      char *err, size_t errlen);
/* The engine's crawl_progress callback (opaque: the watch_stats). */
void watch_stats_crawl (void *opaque, uint64_t done, uint64_t total);
/* Writes the file if a second has passed since the last time. */
void watch_stats_tick (struct watch_stats *s);
/* Removes the file (a clean exit leaves none). */
void watch_stats_close (struct watch_stats *s);

#endif /* BLOCKWATCH_WATCH_STATS_H */
