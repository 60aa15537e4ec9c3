/* Deferred payloads: large writes reach the consumer without a copy.
 *
 * Copying every written byte into the ring is what the tap costs a
 * large write (docs/benchmarks.md): 1 MiB takes some 40 us of the
 * request thread's CPU at memory bandwidth, all of it on the guest's
 * path.  When the storage is a file or a block device the plugin can
 * hand the consumer a read-only descriptor of it, and a write's bytes
 * are then already where the consumer can read them: the record goes
 * into the ring without its payload (its space is reserved but not
 * filled) and the consumer reads the range from the storage.
 *
 * That is only right until something overwrites the range, so every
 * write, zero and trim first looks for deferred records it overlaps
 * that the consumer has not acknowledged, and copies their bytes from
 * the storage into their reserved space ("keeps" them) before it goes
 * to the backend; the record's state word (the header's check field,
 * unused in the ring) then says where the bytes are.  The consumer
 * reads the storage, then the state: if the state still says "in the
 * storage", no overwrite had started before its read ended.  The cost
 * moves from every large write to the rare write that lands on bytes
 * the consumer has not read yet.
 *
 * Two modifications of overlapping ranges in flight at the same time
 * race at the backend, and either may land last, so the storage may
 * not hold a write's bytes even right after it completed: such a write
 * copies its bytes from its own buffer as before instead of being
 * deferred.  Every modification announces its range before it starts
 * and looks at the others announced; of two overlapping ones, at least
 * the later sees the earlier, and marks both "disturbed".
 */
#ifndef BLOCKWATCH_TAP_DEFER_H
#define BLOCKWATCH_TAP_DEFER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tap-ring.h"

/* Writes at least this long are deferred: below it the copy costs less
 * than the bookkeeping (and a list of records this long stays short:
 * a 64 MiB ring holds at most 512 of them).
 */
#define TAP_DEFER_MIN       (128u * 1024)
/* Deferred records not yet acknowledged, at most; past it, copied. */
#define TAP_DEFER_MAX       512
/* Modifications tracked by range at once; more are tracked by a count
 * that keeps every write copied while it is not zero.
 */
#define TAP_DEFER_ACTIVE    64

struct tap_deferred {
  uint64_t pos;               /* ring position of the record */
  uint64_t offset;
  uint32_t len;
};

/* One per cache line: every request writes its own, and a 4 KiB write
 * costs about a microsecond in all, so sharing lines would show.
 */
struct tap_defer_active {
  atomic_uint state;          /* 0 free, 1 being filled, 2 valid */
  _Atomic uint64_t lo, hi;    /* [lo, hi) */
  atomic_bool big;            /* long enough to be deferred */
  atomic_bool disturbed;      /* an overlapping one was in flight too */
} __attribute__ ((aligned (64)));

struct tap_defer {
  int source_fd;              /* read-only storage; -1: deferral off */
  uint8_t *ring;              /* the ring's writable mapping (twice) */
  size_t cap;
  tap_log_fn log;

  pthread_mutex_t lock;       /* the list and the keeping set */
  atomic_uint count;          /* entries in the list, read without lock */
  struct tap_deferred list[TAP_DEFER_MAX];
  /* Records being kept, without the lock (a pread of up to 1 MiB must
   * not hold up every other request): overlapping modifications and the
   * space's release wait for them on kept_cond.
   */
  atomic_uint nkeeping;
  struct tap_deferred keeping[TAP_DEFER_MAX];
  pthread_cond_t kept_cond;

  struct tap_defer_active active[TAP_DEFER_ACTIVE];
  atomic_uint used;           /* slots below this were ever claimed */
  atomic_uint blind;          /* modifications without a slot */
  /* Announced modifications long enough to be deferred: while there is
   * none, shorter ones need not look at the others.
   */
  atomic_uint big;

  _Atomic uint64_t deferred;  /* records sent without their bytes */
  _Atomic uint64_t kept;      /* of those, kept before an overwrite */
  _Atomic uint64_t keep_failed;       /* the storage would not give them */
};

/* source_fd < 0 turns deferral off (the struct is still usable). */
void tap_defer_init (struct tap_defer *d, int source_fd, uint8_t *ring,
                     size_t cap, tap_log_fn log);
void tap_defer_destroy (struct tap_defer *d);

/* Before a write, zero or trim of [offset, offset+len) goes to the
 * backend: announces it, and keeps the bytes of every deferred record
 * it overlaps.  The token goes to tap_defer_try and tap_defer_end.
 */
int tap_defer_begin (struct tap_defer *d, uint64_t offset, uint64_t len);
/* After the request's record is in the ring (or it failed). */
void tap_defer_end (struct tap_defer *d, int token);

/* Called with the ring's lock held for a WRITE record of at least
 * TAP_DEFER_MIN bytes, token from tap_defer_begin, whose header
 * (with TAP_F_DEFERRED, state TAP_PAYLOAD_IN_STORAGE) is already at
 * pos, before the record is published: true when its payload may stay
 * in the storage; false when it must be copied (the header must then
 * be written again without the flag).
 */
bool tap_defer_try (struct tap_defer *d, int token, uint64_t pos,
                    uint64_t offset, uint32_t len);

/* The consumer acknowledged every record before ring position tail. */
void tap_defer_release (struct tap_defer *d, uint64_t tail);

#endif /* BLOCKWATCH_TAP_DEFER_H */
