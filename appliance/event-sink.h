/* A sink that prints events: one JSON object per line, or one
 * human-readable line; shared by the commands that produce events.
 */
#ifndef BLOCKWATCH_EVENT_SINK_H
#define BLOCKWATCH_EVENT_SINK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "events/event.h"

/* Events that cannot be written (the events file's disk full, the
 * reader of a pipe gone) are counted, never lost unsaid: the first is
 * said on stderr, and once the output takes lines again an overflow
 * event (lost_events: how many) stands in it where they are missing;
 * a line the failure cut short is cut off (a file) or ended.
 */
struct printer {
  struct bw_sink sink;
  int fd;                         /* the output */
  bool json;
  struct bw_data_policy_cfg policy;
  unsigned long long events;      /* handed to it */
  unsigned long long unwritten;   /* of those, not written, ever */
  unsigned long long unreported;  /* not written, and not yet said in it */
  unsigned long long pending;     /* in buf */
  char *buf;                      /* lines not yet written */
  size_t len, cap;
  size_t torn;                    /* the output ends in that many bytes
                                   * of a line cut short */
  uint64_t id_base;               /* its own overflow events' ids */
  uint32_t id_count;
  const char *path;               /* printer_follow's */
  dev_t dev;                      /* the file the output is */
  ino_t ino;
  uint64_t looked_ms;             /* when path was last looked at */
};

/* Prints to out's descriptor (out itself is flushed first, and is best
 * left alone after).
 */
void printer_init (struct printer *p, FILE *out);
/* An event as a line of the caller's (without its newline), instead of
 * the sink's own format.
 */
void printer_line (struct printer *p, const struct bw_event *ev,
                   const char *line, size_t n);
/* After a batch of events (it also writes by itself every megabyte):
 * they reach the output, or count as unwritten.  True when every event
 * so far is written or said missing in the output.
 */
bool printer_flush (struct printer *p);
/* The output is the file at path, appended to: when that path names
 * another file (the old one renamed, a new one made: logrotate's
 * create), the output moves to it, looked for once a second, before a
 * flush.  Without a new file the old one goes on taking the events.
 */
void printer_follow (struct printer *p, const char *path);
void printer_free (struct printer *p);

/* Every event to two sinks (print and publish). */
struct tee {
  struct bw_sink sink;
  struct bw_sink *a, *b;
};

void tee_init (struct tee *t, struct bw_sink *a, struct bw_sink *b);
/* --data=none|hash|bytes|bytes:N; -1 if s is none of these. */
int parse_data_policy (const char *s, struct bw_data_policy_cfg *p);
/* How many bytes of write data the policy needs (engine_cfg.data_max). */
uint64_t data_needed (const struct bw_data_policy_cfg *p);
/* The log callback of the engine: a line on stderr with a prefix. */
void log_stderr (void *prefix, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

#endif /* BLOCKWATCH_EVENT_SINK_H */
