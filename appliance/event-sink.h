/* A sink that prints events: one JSON object per line, or one
 * human-readable line; shared by the commands that produce events.
 */
#ifndef BLOCKWATCH_EVENT_SINK_H
#define BLOCKWATCH_EVENT_SINK_H

#include <stdbool.h>
#include <stdio.h>

#include "events/event.h"

struct printer {
  struct bw_sink sink;
  FILE *out;
  bool json;
  struct bw_data_policy_cfg policy;
  unsigned long long events;
};

void printer_init (struct printer *p, FILE *out);

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
