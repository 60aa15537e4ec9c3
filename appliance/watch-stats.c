/* blockwatch watch's stats file (see watch-stats.h). */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "ext4/ext4.h"
#include "watch-stats.h"

static void
count_event (struct bw_sink *sink, const struct bw_event *ev)
{
  struct watch_stats *s = (struct watch_stats *) sink;

  if ((unsigned) ev->type < WATCH_EVENT_TYPES)
    s->events[ev->type]++;
  if (ev->type == BW_EV_OVERFLOW) {
    s->lost += ev->length;
    s->lost_writes += ev->lost_writes;
  }
  s->next->emit (s->next, ev);
}

/* The engine's memory: its models and kept writes (the exact view,
 * docs/introspector.md).
 */
static void
add_engine (struct watch_stats *s)
{
  struct ext4_stats x;

  engine_stats (s->engine, &x);
  const struct { const char *key; uint64_t value; } v[] = {
    { "model.bytes", x.model_bytes },
    { "exact.blocks", x.exact_blocks },
    { "exact.bytes", x.exact_bytes },
    { "exact.evicted", x.exact_evicted },
    { "exact.evicted_reads", x.exact_evicted_reads },
  };
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    stats_writer_add (&s->w, v[i].key, v[i].value);
}

static int
write_file (struct watch_stats *s, char *err, size_t errlen)
{
  char key[STATS_KEY_MAX + 1];

  stats_writer_begin (&s->w);
  /* Every type there is, counted or not: a rate needs a zero first. */
  for (unsigned t = 1; t < WATCH_EVENT_TYPES; t++) {
    const char *name = bw_event_type_name (t);
    if (strcmp (name, "unknown") == 0)
      break;
    snprintf (key, sizeof key, "events.%s", name);
    stats_writer_add (&s->w, key, s->events[t]);
  }
  stats_writer_add (&s->w, "lost_records", s->lost);
  stats_writer_add (&s->w, "lost_writes", s->lost_writes);
  /* (0 until the printer is known, and without one.) */
  stats_writer_add (&s->w, "events_unwritten",
                    s->unwritten ? *s->unwritten : 0);
  stats_writer_add (&s->w, "crawling", s->crawling);
  stats_writer_add (&s->w, "crawl.inodes_done", s->crawl_done);
  stats_writer_add (&s->w, "crawl.inodes_total", s->crawl_total);
  /* Followed once the crawl is done; asked each time, as one may be
   * given up (model-max).
   */
  stats_writer_add (&s->w, "filesystems",
                    s->engine ? engine_filesystems (s->engine) : 0);
  stats_writer_add (&s->w, "tap.connects", s->connects);
  stats_writer_add (&s->w, "tap.records", s->records);
  stats_writer_add (&s->w, "tap.seq", s->seq);
  stats_writer_add (&s->w, "tap.shadow_bytes", s->shadow_bytes);
  if (s->engine)
    add_engine (s);
  if (s->bridge) {
    struct bw_mqtt_stats m;
    bw_mqtt_get_stats (s->bridge, &m);
    stats_writer_add (&s->w, "mqtt.connected", m.connected);
    stats_writer_add (&s->w, "mqtt.connects", m.connects);
    stats_writer_add (&s->w, "mqtt.published", m.published);
    stats_writer_add (&s->w, "mqtt.filtered", m.filtered);
    stats_writer_add (&s->w, "mqtt.dropped", m.dropped);
    stats_writer_add (&s->w, "mqtt.dropped_unconfirmed",
                      m.dropped_unconfirmed);
    stats_writer_add (&s->w, "mqtt.refused", m.refused);
    stats_writer_add (&s->w, "mqtt.queued", m.queued);
    stats_writer_add (&s->w, "mqtt.in_flight", m.in_flight);
    stats_writer_add (&s->w, "mqtt.buffered_bytes", m.bytes);
  }
  s->written_ns = now_ns ();
  return stats_writer_commit (&s->w, err, errlen);
}

int
watch_stats_open (struct watch_stats *s, const char *path,
                  struct bw_sink *next, struct bw_mqtt_bridge *bridge,
                  char *err, size_t errlen)
{
  memset (s, 0, sizeof *s);
  s->sink.emit = count_event;
  s->next = next;
  s->bridge = bridge;
  s->crawling = true;
  if (path == NULL)
    return 0;
  if (stats_writer_init (&s->w, path, err, errlen) == -1)
    return -1;
  if (write_file (s, err, errlen) == -1) {
    stats_writer_close (&s->w, false);
    return -1;
  }
  s->on = true;
  return 0;
}

void
watch_stats_tick (struct watch_stats *s)
{
  char err[512];

  if (!s->on || now_ns () - s->written_ns < 1000000000)
    return;
  /* Said once: the file is for metrics, the events go on. */
  if (write_file (s, err, sizeof err) == -1 && !s->warned) {
    fprintf (stderr, "blockwatch watch: %s (will keep trying)\n", err);
    s->warned = true;
  }
}

void
watch_stats_crawl (void *opaque, uint64_t done, uint64_t total)
{
  struct watch_stats *s = opaque;

  s->crawl_done = done;
  s->crawl_total = total;
  watch_stats_tick (s);
}

void
watch_stats_close (struct watch_stats *s)
{
  if (s->on)
    stats_writer_close (&s->w, true);
  s->on = false;
}
