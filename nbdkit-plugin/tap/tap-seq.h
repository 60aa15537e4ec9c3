/* Sequence accounting for tap consumers.
 *
 * Every sequence number the plugin hands out is accounted for exactly
 * once: by a record, or by an overflow record whose lost range covers
 * it.  After a reconnect the plugin re-sends what was not yet
 * acknowledged, so a consumer sees duplicates it must skip.  This
 * tracker turns those rules into one decision per record, so the
 * receiver, the trace checker and the introspector agree on them.
 */
#ifndef BLOCKWATCH_TAP_SEQ_H
#define BLOCKWATCH_TAP_SEQ_H

#include <stdbool.h>
#include <stdint.h>

#include "tap-format.h"

struct tap_seq {
  bool started;
  uint64_t instance;
  uint64_t expected;          /* next sequence number not yet accounted for */
  uint64_t lost;              /* overflow ranges, and writes whose bytes were lost */
  bool ended;                 /* the current instance sent its end record */
  uint64_t unfinished;        /* earlier instances that never sent one */
};

enum tap_seq_verdict {
  TAP_SEQ_NEW,                /* apply it */
  TAP_SEQ_DUPLICATE,          /* already seen on an earlier connection */
  TAP_SEQ_GAP,                /* something was lost silently: a bug or a foreign trace */
};

/* A stream header: a new instance restarts the count.  An instance
 * that went away without its end record may have lost records at its
 * end that nobody could report: that is counted in unfinished.
 */
enum tap_seq_verdict tap_seq_header (struct tap_seq *t,
                                     const struct tap_header *h);
enum tap_seq_verdict tap_seq_record (struct tap_seq *t,
                                     const struct tap_record *r);

/* The lowest sequence number a record accounts for. */
static inline uint64_t
tap_seq_first (const struct tap_record *r)
{
  return r->type == TAP_OVERFLOW ? r->offset : r->seq;
}

#endif /* BLOCKWATCH_TAP_SEQ_H */
