/* The tap: a bounded buffer between the data path and a consumer.
 *
 * Request threads put records after the backend acknowledged a
 * write/zero/trim/flush and before nbdkit replies to the client, so
 * the sequence order is the backend completion order and a request
 * the client issued after seeing a reply always gets a later number.
 * One sender thread moves the bytes to the consumer and frees them
 * when the consumer acknowledges; nothing it does can block a request
 * thread for longer than the configured overflow policy allows.
 */
#ifndef BLOCKWATCH_TAP_RING_H
#define BLOCKWATCH_TAP_RING_H

#include <stddef.h>
#include <stdint.h>

#include "tap/tap-format.h"

/* Tokens of tap_ring_begin that are not slots (tap-defer.h). */
#define TAP_DEFER_OFF       (-1)    /* deferral not in use */
#define TAP_DEFER_BLIND     (-2)    /* counted, range unknown to others */

enum tap_sink { TAP_SINK_UNIX, TAP_SINK_RECORD };

struct tap_config {
  enum tap_sink sink;
  const char *path;           /* socket or trace file */
  size_t buffer_bytes;        /* ring capacity */
  int block_ms;               /* <0: drop at once; else wait up to this long */
  unsigned drain_ms;          /* how long shutdown waits for the consumer */
  struct tap_header header;   /* disk facts; instance/first_seq/time filled in */
  /* A read-only descriptor of the storage, or -1: with one, a socket
   * consumer gets large writes without their bytes (tap-defer.h).  The
   * ring owns it from tap_ring_new on, success or not.
   */
  int source_fd;
};

/* Smallest useful buffer: a few maximal records. */
#define TAP_MIN_BUFFER (4 * (TAP_MAX_PAYLOAD + TAP_RECORD_HDR))

struct tap_stats {
  uint64_t records;           /* put into the ring */
  uint64_t bytes;             /* payload bytes put into the ring */
  uint64_t dropped;           /* sequence numbers lost to overflow */
  uint64_t overflows;         /* overflow records emitted */
  uint64_t connects;          /* consumer (re)connections */
  uint64_t acked_seq;         /* highest seq the consumer acknowledged */
  size_t depth;               /* bytes waiting in the ring */
  uint64_t deferred;          /* writes sent without their bytes */
  uint64_t kept;              /* of those, kept before being overwritten */
  uint64_t keep_failed;       /* of those, unreadable when they had to be */
};

struct tap_ring;

/* Logging is injected so the ring can run outside nbdkit (unit tests,
 * benchmarks).  level: 0 error, 1 debug.
 */
typedef void (*tap_log_fn) (int level, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* Opens a record file at once (so start-up reports a bad path); a
 * socket consumer may come and go at any time later.
 */
struct tap_ring *tap_ring_new (const struct tap_config *cfg, tap_log_fn log,
                               char *err, size_t errlen);
/* Starts the sender thread: call after nbdkit forked. */
int tap_ring_start (struct tap_ring *r);
/* Waits up to drain_ms for the consumer to take everything, then stops
 * and frees.  Safe on a ring that was never started.
 */
void tap_ring_free (struct tap_ring *r);

/* Around a write, zero or trim: before it goes to the backend, and
 * after its record is put (or it failed).  The token goes to
 * tap_ring_put; TAP_DEFER_OFF is a valid token for a request that
 * wants its payload copied whatever happens.
 */
int tap_ring_begin (struct tap_ring *r, uint64_t offset, uint64_t len);
void tap_ring_end (struct tap_ring *r, int token);

/* Puts one record (WRITE: data of length len, split into several
 * records when longer than TAP_MAX_PAYLOAD).  Never fails: when the
 * buffer is full beyond the policy the record is dropped and an
 * overflow record reports the lost range.
 */
void tap_ring_put (struct tap_ring *r, int token, unsigned type,
                   unsigned flags, uint64_t offset, uint64_t len,
                   const void *data);

void tap_ring_get_stats (struct tap_ring *r, struct tap_stats *s);

#endif /* BLOCKWATCH_TAP_RING_H */
