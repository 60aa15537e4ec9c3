/* Printing events (see event-sink.h). */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "event-print.h"
#include "event-sink.h"

static void
print_event (struct bw_sink *s, const struct bw_event *ev)
{
  struct printer *p = (struct printer *) s;

  p->events++;
  if (p->json) {
    char *line = bw_event_to_json (ev, &p->policy);
    if (line == NULL) {
      fprintf (stderr, "blockwatch: out of memory\n");
      exit (1);
    }
    fputs (line, p->out);
    fputc ('\n', p->out);
    free (line);
  }
  else
    event_print (p->out, ev);
}

void
printer_init (struct printer *p, FILE *out)
{
  *p = (struct printer) {
    .sink = { .emit = print_event }, .out = out,
    .policy = { .policy = BW_DATA_BYTES, .max_bytes = 4096 },
  };
}

static void
tee_event (struct bw_sink *s, const struct bw_event *ev)
{
  struct tee *t = (struct tee *) s;

  t->a->emit (t->a, ev);
  t->b->emit (t->b, ev);
}

void
tee_init (struct tee *t, struct bw_sink *a, struct bw_sink *b)
{
  *t = (struct tee) { .sink = { .emit = tee_event }, .a = a, .b = b };
}

int
parse_data_policy (const char *s, struct bw_data_policy_cfg *p)
{
  char *end;

  if (strcmp (s, "none") == 0)
    p->policy = BW_DATA_NONE;
  else if (strcmp (s, "hash") == 0)
    p->policy = BW_DATA_HASH;
  else if (strcmp (s, "bytes") == 0)
    p->policy = BW_DATA_BYTES;
  else if (strncmp (s, "bytes:", 6) == 0) {
    p->policy = BW_DATA_BYTES;
    errno = 0;
    p->max_bytes = strtoul (s + 6, &end, 10);
    if (errno || *end || end == s + 6)
      return -1;
  }
  else
    return -1;
  return 0;
}

uint64_t
data_needed (const struct bw_data_policy_cfg *p)
{
  switch (p->policy) {
  case BW_DATA_NONE: return 0;
  case BW_DATA_HASH: return UINT64_MAX;
  /* one more than shown, so that the JSON can say it was cut */
  case BW_DATA_BYTES: return p->max_bytes + 1;
  }
  return 0;
}

void
log_stderr (void *prefix, const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "%s: ", (const char *) prefix);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}
