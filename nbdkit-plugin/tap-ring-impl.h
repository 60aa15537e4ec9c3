/* Internals shared by the two halves of the tap: tap-ring.c (request
 * threads put records) and tap-sender.c (one thread hands them on).
 *
 * The ring holds encoded records back to back in a memfd mapped twice
 * (tap/tap-shm.h), so every record is contiguous in memory.  Positions
 * are 64-bit byte counts that only grow; pos % cap is the offset.
 * A request thread reserves a record's space and writes its header
 * under the lock, then copies the payload without it (a megabyte copy
 * under the lock would serialize every request thread), then takes the
 * lock again to say it is done.  Records are complete up to "ready":
 * the first record still being copied, or head.  The sender owns
 * [tail, ready) without the lock, because only the sender moves tail
 * and nobody rewrites complete bytes.
 */
#ifndef BLOCKWATCH_TAP_RING_IMPL_H
#define BLOCKWATCH_TAP_RING_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "tap-ring.h"
#include "tap/tap-shm.h"

/* Request threads copying at the same time; beyond this they copy
 * under the lock (nbdkit runs 16 threads by default).
 */
#define TAP_MAX_COPIERS 64

struct tap_ring {
  struct tap_config cfg;
  char *path;
  tap_log_fn log;
  struct tap_shm shm;
  uint8_t *buf;               /* shm.base */
  size_t cap;                 /* shm.size */
  int wake_fd;                /* eventfd: wakes the sender */
  int sink_fd;                /* sender-owned; a record file is opened early */
  pthread_t thread;
  bool started;

  pthread_mutex_t lock;
  pthread_cond_t space;       /* signalled when tail moves */
  /* Everything below is protected by lock. */
  uint64_t head;
  uint64_t tail;
  uint64_t next_seq;
  uint64_t lost_first;        /* pending overflow: lost range not yet reported */
  uint64_t lost_count;
  bool sender_idle;
  bool stopping;
  uint64_t drop_log_ns;       /* when the last overflow was logged */
  uint64_t copying[TAP_MAX_COPIERS];  /* positions of records being filled */
  unsigned ncopying;
  struct tap_stats stats;
};

/* Records are complete up to here (lock held). */
static inline uint64_t
tap_ring_ready_locked (const struct tap_ring *r)
{
  uint64_t ready = r->head;

  for (unsigned i = 0; i < r->ncopying; i++)
    if (r->copying[i] < ready)
      ready = r->copying[i];
  return ready;
}

static inline uint64_t
tap_now_ns (clockid_t clk)
{
  struct timespec ts;

  clock_gettime (clk, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* The record whose header starts at pos (a position the caller owns;
 * we wrote these bytes ourselves, so decoding cannot fail).
 */
void tap_ring_record_at (const struct tap_ring *r, uint64_t pos,
                         struct tap_record *rec);

/* Queues the overflow record for a pending loss if it fits (lock held). */
void tap_ring_flush_loss_locked (struct tap_ring *r);

void tap_ring_wake_sender (struct tap_ring *r);

/* The sender thread (tap-sender.c). */
void *tap_sender_main (void *ring);

#endif /* BLOCKWATCH_TAP_RING_IMPL_H */
