/* The bridge's own buffer of messages: bounded, in order, and loud
 * about what it drops.
 *
 * Paho has an offline buffer too (100 messages by default, dropping
 * without a word); the bridge never hands Paho a message it cannot send
 * at once, so that every message waits here, where the limits are the
 * bridge's and every drop is counted and reported.
 *
 * A message is queued (waiting its turn) or in flight (handed to Paho,
 * not yet acknowledged).  Messages go out from the head of the queue;
 * when the connection fails, those in flight go back to the head, in
 * the order they were sent, so that the broker sees everything in the
 * original order (some twice: QoS 1 is at least once).  When the queue
 * is over its limits the oldest queued message is dropped and counted
 * as lost; the publisher reports the loss as an overflow event placed
 * where the gap is, ahead of the rest.
 *
 * A message that was in flight when a connection broke may have
 * reached the broker all the same (QoS 1 cannot tell a lost PUBLISH
 * from a lost PUBACK): dropped later, it is counted apart, as
 * unconfirmed, so that the report says how many of the events it
 * counts the subscriber may have had after all.
 *
 * Not thread-safe: the publisher holds its lock around every call.
 */
#ifndef BLOCKWATCH_MQTT_BUFFER_H
#define BLOCKWATCH_MQTT_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "events/event.h"

struct bw_msg {
  TAILQ_ENTRY (bw_msg) link;
  uint64_t serial;            /* unique in the buffer, given by push */
  char *topic;
  char *payload;
  size_t len;
  /* What MQTT 5 user properties say; type 0 for messages that are not
   * events.
   */
  enum bw_event_type type;
  uint64_t seq, txn;
  /* It was in flight when a connection broke: the broker may have it. */
  bool sent;
  /* An overflow report: how many events it tells of, and how many of
   * those unconfirmed.  Dropping it puts them back among the losses
   * still to report.
   */
  uint64_t reports, reports_unconfirmed;
};

TAILQ_HEAD (bw_msg_list, bw_msg);

struct bw_buffer {
  struct bw_msg_list queued, inflight;
  size_t nqueued, ninflight;
  size_t qbytes;              /* payloads and topics queued */
  size_t fbytes;              /* ... in flight */
  size_t max_msgs, max_bytes; /* limits of the queue */
  uint64_t next_serial;
  uint64_t dropped;           /* events dropped, in all */
  uint64_t dropped_sent;      /* ... of them once in flight (m->sent) */
  uint64_t unreported;        /* events dropped not yet told in an
                               * overflow report */
  /* ... of them, how many the subscriber may have had after all: those
   * once in flight, and those of a dropped report that was (it may
   * have told of them already).
   */
  uint64_t unreported_unconfirmed;
  uint64_t last_seq, last_txn;  /* the newest event dropped */
  /* Being handed to Paho, unlocked: not to be dropped meanwhile (only
   * compared, never followed: it may be gone).
   */
  const struct bw_msg *pinned;
};

void bw_buffer_init (struct bw_buffer *b, size_t max_msgs, size_t max_bytes);
/* Frees every message. */
void bw_buffer_clear (struct bw_buffer *b);

/* A message of topic and payload (both malloc'd, taken over). */
struct bw_msg *bw_msg_new (char *topic, char *payload, size_t len);
void bw_msg_free (struct bw_msg *m);

/* At the tail of the queue, then the oldest queued messages dropped
 * while the queue is over a limit (the new one too, should it alone be
 * over the byte limit).  Returns how many events were dropped.
 */
uint64_t bw_buffer_push (struct bw_buffer *b, struct bw_msg *m);
/* At the head of the queue, not counted against the limits: the
 * overflow report, which belongs where the gap is.
 */
void bw_buffer_push_head (struct bw_buffer *b, struct bw_msg *m);

/* The head of the queue, moved to the tail of the in-flight list;
 * NULL if the queue is empty.
 */
struct bw_msg *bw_buffer_next (struct bw_buffer *b);
/* The in-flight message SERIAL taken out of the buffer (delivered, or
 * refused for good) for the caller to free; NULL if it is not in flight.
 */
struct bw_msg *bw_buffer_done (struct bw_buffer *b, uint64_t serial);
/* The last message bw_buffer_next gave back to the head of the queue:
 * Paho did not take it.
 */
void bw_buffer_unsend_last (struct bw_buffer *b);
/* Every message in flight back to the head of the queue, in order,
 * each marked sent: the connection is gone.
 */
void bw_buffer_requeue_all (struct bw_buffer *b);

#endif /* BLOCKWATCH_MQTT_BUFFER_H */
