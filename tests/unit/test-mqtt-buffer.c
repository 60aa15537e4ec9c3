/* The bridge's buffer: order kept through sends, acknowledgements and
 * broken connections; the limits drop the oldest queued message and
 * count it; an overflow report sits where the gap is and, dropped in
 * turn, gives its count back; what was in flight when a connection
 * broke is counted unconfirmed when dropped.
 */

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buffer.h"

/* A message whose payload says its number: "m12". */
static struct bw_msg *
msg (int n)
{
  char *payload;
  struct bw_msg *m;

  assert_true (asprintf (&payload, "m%d", n) > 0);
  m = bw_msg_new (strdup ("t"), payload, strlen (payload));
  m->seq = n;
  m->txn = n / 10;
  return m;
}

/* The overflow report of the losses not yet told, at the head of the
 * queue (as the publisher makes it): its payload "lostN".
 */
static struct bw_msg *
report (struct bw_buffer *b)
{
  char *payload;
  struct bw_msg *r;

  assert_true (asprintf (&payload, "lost%" PRIu64, b->unreported) > 0);
  r = bw_msg_new (strdup ("t"), payload, strlen (payload));
  r->reports = b->unreported;
  r->reports_unconfirmed = b->unreported_unconfirmed;
  b->unreported = b->unreported_unconfirmed = 0;
  bw_buffer_push_head (b, r);
  return r;
}

/* The buffer's counts of losses: in all, and not reported yet; of each,
 * how many the broker may have had.
 */
static void
assert_losses (const struct bw_buffer *b, uint64_t dropped,
               uint64_t dropped_sent, uint64_t unreported,
               uint64_t unreported_unconfirmed)
{
  assert_int_equal (b->dropped, dropped);
  assert_int_equal (b->dropped_sent, dropped_sent);
  assert_int_equal (b->unreported, unreported);
  assert_int_equal (b->unreported_unconfirmed, unreported_unconfirmed);
}

/* The queue's payloads, "m1 m2 ...". */
static void
assert_queue (struct bw_buffer *b, const char *want)
{
  char got[1024] = "";
  struct bw_msg *m;

  TAILQ_FOREACH (m, &b->queued, link)
    snprintf (got + strlen (got), sizeof got - strlen (got), "%s%s",
              got[0] ? " " : "", m->payload);
  assert_string_equal (got, want);
}

static void
order_and_acks (void **state)
{
  struct bw_buffer b;
  struct bw_msg *m1, *m2, *m3;

  (void) state;
  bw_buffer_init (&b, 10, 1000);
  for (int i = 1; i <= 4; i++)
    assert_int_equal (bw_buffer_push (&b, msg (i)), 0);
  m1 = bw_buffer_next (&b);
  m2 = bw_buffer_next (&b);
  m3 = bw_buffer_next (&b);
  assert_string_equal (m1->payload, "m1");
  assert_string_equal (m3->payload, "m3");
  assert_int_equal (b.ninflight, 3);
  assert_queue (&b, "m4");
  /* Acknowledged out of order, found all the same. */
  assert_ptr_equal (bw_buffer_done (&b, m2->serial), m2);
  bw_msg_free (m2);
  assert_null (bw_buffer_done (&b, 999));
  /* The connection breaks: what was in flight goes first, in order. */
  bw_buffer_requeue_all (&b);
  assert_queue (&b, "m1 m3 m4");
  assert_int_equal (b.ninflight, 0);
  assert_int_equal (b.fbytes, 0);
  assert_int_equal (b.qbytes, 3 * (2 + 1));
  /* Paho refuses one: it goes back to the head. */
  m1 = bw_buffer_next (&b);
  bw_buffer_next (&b);
  bw_buffer_unsend_last (&b);
  assert_queue (&b, "m3 m4");
  assert_ptr_equal (bw_buffer_done (&b, m1->serial), m1);
  bw_msg_free (m1);
  assert_int_equal (b.dropped, 0);
  bw_buffer_clear (&b);
  assert_int_equal (b.nqueued, 0);
}

static void
limits_drop_oldest (void **state)
{
  struct bw_buffer b;
  uint64_t first;

  (void) state;
  bw_buffer_init (&b, 3, 1000);
  bw_buffer_push (&b, msg (1));
  first = bw_buffer_next (&b)->serial;  /* in flight: not the queue's */
  for (int i = 2; i <= 4; i++)
    assert_int_equal (bw_buffer_push (&b, msg (i)), 0);
  assert_int_equal (bw_buffer_push (&b, msg (5)), 1);
  assert_int_equal (bw_buffer_push (&b, msg (6)), 1);
  assert_queue (&b, "m4 m5 m6");
  assert_int_equal (b.dropped, 2);
  assert_int_equal (b.unreported, 2);
  assert_int_equal (b.last_seq, 3);

  /* Byte limit: each message here is 3 bytes (topic "t", payload "mN"). */
  b.max_bytes = 7;
  assert_int_equal (bw_buffer_push (&b, msg (7)), 2);
  assert_queue (&b, "m6 m7");
  /* One alone over the limit is dropped too. */
  b.max_bytes = 2;
  assert_int_equal (bw_buffer_push (&b, msg (8)), 3);
  assert_queue (&b, "");
  assert_int_equal (b.dropped, 7);

  /* The message Paho is copying is not dropped. */
  b.max_bytes = 1000;
  b.max_msgs = 2;
  bw_buffer_push (&b, msg (9));
  b.pinned = TAILQ_FIRST (&b.queued);
  bw_buffer_push (&b, msg (10));
  bw_buffer_push (&b, msg (11));
  assert_queue (&b, "m9 m11");
  b.pinned = NULL;
  bw_buffer_clear (&b);
  assert_null (bw_buffer_done (&b, first));
}

static void
reports (void **state)
{
  struct bw_buffer b;

  (void) state;
  bw_buffer_init (&b, 2, 1000);
  for (int i = 1; i <= 5; i++)
    bw_buffer_push (&b, msg (i));
  assert_int_equal (b.unreported, 3);
  /* The report goes ahead of what is left, past the limit. */
  report (&b);
  assert_queue (&b, "lost3 m4 m5");
  /* More losses: the report is the oldest and goes first, its count
   * back among the losses to tell, then m4 is lost as well.
   */
  assert_int_equal (bw_buffer_push (&b, msg (6)), 1);
  assert_queue (&b, "m5 m6");
  assert_int_equal (b.unreported, 4);
  assert_int_equal (b.dropped, 4);
  bw_buffer_clear (&b);
}

/* Messages in flight when the connection broke may have reached the
 * broker: dropped later, they are counted unconfirmed, and so are the
 * events of a report that was; what never left, or left only for Paho
 * to refuse it at once, is not.
 */
static void
unconfirmed (void **state)
{
  struct bw_buffer b;
  struct bw_msg *r;

  (void) state;
  bw_buffer_init (&b, 2, 1000);
  bw_buffer_push (&b, msg (1));
  bw_buffer_push (&b, msg (2));
  bw_buffer_next (&b);
  bw_buffer_requeue_all (&b);
  /* m2 handed to Paho, refused: it never left. */
  bw_buffer_next (&b);
  bw_buffer_next (&b);
  bw_buffer_unsend_last (&b);
  /* m1 was sent once: back in flight and refused, it still was. */
  bw_buffer_unsend_last (&b);
  assert_queue (&b, "m1 m2");
  assert_int_equal (bw_buffer_push (&b, msg (3)), 1);
  assert_losses (&b, 1, 1, 1, 1);
  bw_buffer_push (&b, msg (4));
  bw_buffer_push (&b, msg (5));
  assert_queue (&b, "m4 m5");
  assert_losses (&b, 3, 1, 3, 1);

  /* A report never sent, dropped: its counts back as they were. */
  report (&b);
  assert_int_equal (bw_buffer_push (&b, msg (6)), 1);
  assert_queue (&b, "m5 m6");
  assert_losses (&b, 4, 1, 4, 1);

  /* A report sent, dropped: the subscriber may have had it, so every
   * event it told of may be one it knows of already.
   */
  r = report (&b);
  assert_ptr_equal (bw_buffer_next (&b), r);
  bw_buffer_requeue_all (&b);
  assert_int_equal (bw_buffer_push (&b, msg (7)), 1);
  assert_queue (&b, "m6 m7");
  /* Events, not reports, in the totals. */
  assert_losses (&b, 5, 1, 5, 4);
  bw_buffer_clear (&b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (order_and_acks),
    cmocka_unit_test (limits_drop_oldest),
    cmocka_unit_test (reports),
    cmocka_unit_test (unconfirmed),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
