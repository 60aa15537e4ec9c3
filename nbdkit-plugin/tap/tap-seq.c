/* Sequence accounting for tap consumers (see tap-seq.h). */

#include "tap-seq.h"

enum tap_seq_verdict
tap_seq_header (struct tap_seq *t, const struct tap_header *h)
{
  if (!t->started || t->instance != h->instance) {
    if (t->started && !t->ended)
      t->unfinished++;
    t->started = true;
    t->ended = false;
    t->instance = h->instance;
    t->expected = h->first_seq;
    return TAP_SEQ_NEW;
  }
  /* Same plugin instance, new connection: it may repeat what we have
   * (not yet acknowledged) but must not start beyond what we have.
   */
  return h->first_seq <= t->expected ? TAP_SEQ_NEW : TAP_SEQ_GAP;
}

enum tap_seq_verdict
tap_seq_record (struct tap_seq *t, const struct tap_record *r)
{
  if (r->seq < t->expected)
    return TAP_SEQ_DUPLICATE;
  if (tap_seq_first (r) != t->expected)
    return TAP_SEQ_GAP;
  if (r->type == TAP_OVERFLOW)
    t->lost += r->length;
  if (r->type == TAP_WRITE && (r->flags & TAP_F_PAYLOAD_LOST))
    t->lost++;
  if (r->type == TAP_END)
    t->ended = true;
  t->expected = r->seq + 1;
  return TAP_SEQ_NEW;
}
