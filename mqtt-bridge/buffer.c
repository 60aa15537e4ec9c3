/* The bridge's bounded, ordered buffer (see buffer.h). */

#include <stdlib.h>
#include <string.h>

#include "buffer.h"

void
bw_buffer_init (struct bw_buffer *b, size_t max_msgs, size_t max_bytes)
{
  *b = (struct bw_buffer) { .max_msgs = max_msgs, .max_bytes = max_bytes,
                            .next_serial = 1 };
  TAILQ_INIT (&b->queued);
  TAILQ_INIT (&b->inflight);
}

struct bw_msg *
bw_msg_new (char *topic, char *payload, size_t len)
{
  struct bw_msg *m = calloc (1, sizeof *m);

  if (m == NULL)
    return NULL;
  m->topic = topic;
  m->payload = payload;
  m->len = len;
  return m;
}

void
bw_msg_free (struct bw_msg *m)
{
  if (m == NULL)
    return;
  free (m->topic);
  free (m->payload);
  free (m);
}

static size_t
msg_bytes (const struct bw_msg *m)
{
  return m->len + strlen (m->topic);
}

void
bw_buffer_clear (struct bw_buffer *b)
{
  struct bw_msg *m;

  bw_buffer_requeue_all (b);
  while ((m = TAILQ_FIRST (&b->queued)) != NULL) {
    TAILQ_REMOVE (&b->queued, m, link);
    bw_msg_free (m);
  }
  b->nqueued = b->qbytes = 0;
}

/* Drops the oldest queued message not being handed to Paho: false if
 * there is none.
 */
static bool
drop_oldest (struct bw_buffer *b)
{
  struct bw_msg *m;

  TAILQ_FOREACH (m, &b->queued, link)
    if (m != b->pinned)
      break;
  if (m == NULL)
    return false;
  TAILQ_REMOVE (&b->queued, m, link);
  b->nqueued--;
  b->qbytes -= msg_bytes (m);
  /* A lost overflow report is its losses unreported again; if it was
   * sent, the subscriber may have been told of them all already.
   */
  if (m->reports) {
    b->unreported += m->reports;
    b->unreported_unconfirmed += m->sent ? m->reports
                                         : m->reports_unconfirmed;
  }
  else {
    b->dropped++;
    b->unreported++;
    if (m->sent) {
      b->dropped_sent++;
      b->unreported_unconfirmed++;
    }
    b->last_seq = m->seq;
    b->last_txn = m->txn;
  }
  bw_msg_free (m);
  return true;
}

uint64_t
bw_buffer_push (struct bw_buffer *b, struct bw_msg *m)
{
  uint64_t before = b->dropped;

  m->serial = b->next_serial++;
  TAILQ_INSERT_TAIL (&b->queued, m, link);
  b->nqueued++;
  b->qbytes += msg_bytes (m);
  while ((b->nqueued > b->max_msgs || b->qbytes > b->max_bytes) &&
         drop_oldest (b))
    ;
  return b->dropped - before;
}

void
bw_buffer_push_head (struct bw_buffer *b, struct bw_msg *m)
{
  m->serial = b->next_serial++;
  TAILQ_INSERT_HEAD (&b->queued, m, link);
  b->nqueued++;
  b->qbytes += msg_bytes (m);
}

struct bw_msg *
bw_buffer_next (struct bw_buffer *b)
{
  struct bw_msg *m = TAILQ_FIRST (&b->queued);

  if (m == NULL)
    return NULL;
  TAILQ_REMOVE (&b->queued, m, link);
  b->nqueued--;
  b->qbytes -= msg_bytes (m);
  TAILQ_INSERT_TAIL (&b->inflight, m, link);
  b->ninflight++;
  b->fbytes += msg_bytes (m);
  return m;
}

struct bw_msg *
bw_buffer_done (struct bw_buffer *b, uint64_t serial)
{
  struct bw_msg *m;

  /* Acknowledgements come in the order of sending: usually the first. */
  TAILQ_FOREACH (m, &b->inflight, link)
    if (m->serial == serial)
      break;
  if (m == NULL)
    return NULL;
  TAILQ_REMOVE (&b->inflight, m, link);
  b->ninflight--;
  b->fbytes -= msg_bytes (m);
  return m;
}

void
bw_buffer_unsend_last (struct bw_buffer *b)
{
  struct bw_msg *m = TAILQ_LAST (&b->inflight, bw_msg_list);

  if (m == NULL)
    return;
  TAILQ_REMOVE (&b->inflight, m, link);
  b->ninflight--;
  b->fbytes -= msg_bytes (m);
  TAILQ_INSERT_HEAD (&b->queued, m, link);
  b->nqueued++;
  b->qbytes += msg_bytes (m);
}

void
bw_buffer_requeue_all (struct bw_buffer *b)
{
  struct bw_msg *m;

  /* Paho took them, so the broker may have them, unacknowledged.  (One
   * requeued while Paho was still copying it, unlocked, and then
   * refused, is marked too: counting it unconfirmed errs on the side of
   * the bounds.)
   */
  TAILQ_FOREACH (m, &b->inflight, link)
    m->sent = true;
  /* inflight + queued, in that order, becomes the queue. */
  TAILQ_CONCAT (&b->inflight, &b->queued, link);
  TAILQ_CONCAT (&b->queued, &b->inflight, link);
  b->nqueued += b->ninflight;
  b->qbytes += b->fbytes;
  b->ninflight = 0;
  b->fbytes = 0;
}
