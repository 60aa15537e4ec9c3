/* Internals shared by the two halves of the tap: tap-ring.c (request
 * threads put records) and tap-sender.c (one thread hands them on).
 *
 * The ring holds encoded records back to back in a memfd mapped twice
 * (tap/tap-shm.h), so every record is contiguous in memory.  Positions
 * are 64-bit byte counts that only grow; pos % cap is the offset.
 *
 * Putting a record costs a request thread one short critical section
 * and, while the tap is busy, no system call:
 *
 *  - Under the lock it takes the record's sequence number and space
 *    together (ring order is sequence order is completion order),
 *    writes the header and notes the record's position in a free
 *    "filling" slot, then moves head.
 *  - Without the lock it copies the payload (a megabyte copy under the
 *    lock would serialize every request thread) and frees its slot
 *    with a release store, which publishes the record.
 *
 * Records are complete up to "ready": the lowest position in a filling
 * slot, or head.  The sender computes it without the lock and owns
 * [tail, ready), because only the sender moves tail and nobody
 * rewrites complete bytes.
 *
 * The sender is not woken per record.  While records keep coming it
 * runs once per tick, announcing everything complete in one doorbell
 * and taking the consumer's acknowledgements; between ticks it sleeps
 * without being disturbed by new records.  A request thread wakes it
 * (one eventfd write) only when it sleeps idle, or when request
 * threads are about to run short of space (see tap_ring_nudge).
 */
#ifndef BLOCKWATCH_TAP_RING_IMPL_H
#define BLOCKWATCH_TAP_RING_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "tap-defer.h"
#include "tap-ring.h"
#include "tap/tap-shm.h"

/* Request threads copying at the same time; beyond this they copy
 * under the lock (nbdkit runs 16 threads by default).
 */
#define TAP_FILLERS 64
#define TAP_SLOT_FREE UINT64_MAX

/* How the sender sleeps, which says what must wake it. */
enum tap_sleep {
  TAP_AWAKE,                  /* running: nobody needs to wake it */
  TAP_TICKING,                /* busy, sleeping until its next tick */
  TAP_IDLE,                   /* nothing to do: any new record wakes it */
};

/* A record being copied: its position, or TAP_SLOT_FREE. */
struct tap_filling {
  _Alignas (64) _Atomic uint64_t pos;
};

struct tap_ring {
  struct tap_config cfg;
  char *path;
  tap_log_fn log;
  struct tap_shm shm;
  struct tap_defer defer;
  uint8_t *buf;               /* shm.base */
  size_t cap;                 /* shm.size */
  int wake_fd;                /* eventfd: wakes the sender */
  int sink_fd;                /* sender-owned; a record file is opened early */
  pthread_t thread;
  bool started;

  /* Everything below is protected by lock; head and waiting are
   * written under it but also read without it.  What every put writes
   * shares the lock's cache line (40 bytes on glibc x86-64), so that a
   * put moves one line from the other CPU, not three; the rest, which
   * the sender writes, is on other lines.
   */
  _Alignas (64) pthread_mutex_t lock;
  _Atomic uint64_t head;
  uint64_t next_seq;
  uint64_t bytes;             /* stats.bytes: payload bytes put */

  _Alignas (64) uint64_t tail;
  pthread_cond_t space;       /* signalled when tail moves */
  uint64_t lost_first;        /* pending overflow: lost range not yet reported */
  uint64_t lost_count;
  atomic_uint waiting;        /* request threads waiting for space */
  bool stopping;
  uint64_t drop_log_ns;       /* when the last overflow was logged */
  struct tap_stats stats;     /* but records and bytes: tap_ring_get_stats */

  /* Lock-free.  Each filling slot owns a cache line, and each request
   * thread claims the one it had last (tap-ring.c): with two CPUs
   * taking turns at neighbouring slots, every claim and release moved
   * a line from the other CPU.
   */
  struct tap_filling filling[TAP_FILLERS];
  _Alignas (64) _Atomic uint64_t announced; /* written by the sender */
  atomic_int sleep;           /* enum tap_sleep */
};

/* Records are complete up to here.  Head is read first: a slot claimed
 * before head moved past its record is then seen, or seen freed (or
 * claimed again), and a freed slot's release makes its payload visible
 * (through a later claim too: see reserve_locked).
 */
static inline uint64_t
tap_ring_ready (struct tap_ring *r)
{
  uint64_t ready = atomic_load_explicit (&r->head, memory_order_acquire);

  for (unsigned i = 0; i < TAP_FILLERS; i++) {
    uint64_t p = atomic_load_explicit (&r->filling[i].pos,
                                       memory_order_acquire);
    if (p < ready)
      ready = p;
  }
  return ready;
}

/* Whether request threads need a ticking sender now rather than at its
 * next tick: one of them waits for space, or a quarter of the ring is
 * complete but not yet announced (a burst that could fill a small ring
 * within a tick).
 */
static inline bool
tap_ring_hurry (struct tap_ring *r)
{
  uint64_t head = atomic_load (&r->head);

  return atomic_load (&r->waiting) > 0 ||
         head - atomic_load (&r->announced) > r->cap / 4;
}

static inline uint64_t
tap_now_ns (clockid_t clk)
{
  struct timespec ts;

  clock_gettime (clk, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* The record whose header starts at pos (a position the caller owns;
 * we wrote these bytes ourselves, so decoding cannot fail), with its
 * check field as 0 (a deferred record's state word: see tap-ring.c).
 */
void tap_ring_record_at (const struct tap_ring *r, uint64_t pos,
                         struct tap_record *rec);

/* Queues the overflow record for a pending loss if it fits (lock held). */
void tap_ring_flush_loss_locked (struct tap_ring *r);

void tap_ring_wake_sender (struct tap_ring *r);

/* After publishing a record or starting to wait for space: wakes the
 * sender if its way of sleeping says this matters to it.  The sender
 * sets its sleep state and then looks for work, request threads
 * publish and then look at the state, each with a full barrier in
 * between, so one of the two always sees the other.
 */
void tap_ring_nudge (struct tap_ring *r);

/* The sender thread (tap-sender.c). */
void *tap_sender_main (void *ring);

#endif /* BLOCKWATCH_TAP_RING_IMPL_H */
