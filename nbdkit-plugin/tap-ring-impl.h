/* Internals shared by the two halves of the tap: tap-ring.c (request
 * threads put records) and tap-sender.c (one thread hands them on).
 *
 * The ring holds encoded records back to back in a memfd mapped twice
 * (tap/tap-shm.h), so every record is contiguous in memory.  Positions
 * are 64-bit byte counts that only grow; pos % cap is the offset.
 * Request threads own [head, tail + cap) while they hold the lock; the
 * sender owns [tail, head) without it, because only the sender moves
 * tail and nobody rewrites committed bytes.
 */
#ifndef BLOCKWATCH_TAP_RING_IMPL_H
#define BLOCKWATCH_TAP_RING_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "tap-ring.h"
#include "tap/tap-shm.h"

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
  struct tap_stats stats;
};

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
