/* Deferred payloads (see tap-defer.h). */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tap-defer.h"

void
tap_defer_init (struct tap_defer *d, int source_fd, uint8_t *ring,
                size_t cap, tap_log_fn log)
{
  memset (d, 0, sizeof *d);
  d->source_fd = source_fd;
  d->ring = ring;
  d->cap = cap;
  d->log = log;
  pthread_mutex_init (&d->lock, NULL);
  pthread_cond_init (&d->kept_cond, NULL);
}

void
tap_defer_destroy (struct tap_defer *d)
{
  if (d->source_fd >= 0)
    close (d->source_fd);
  d->source_fd = -1;
  pthread_mutex_destroy (&d->lock);
  pthread_cond_destroy (&d->kept_cond);
}

static bool
overlaps (uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
  return a < b + blen && b < a + alen;
}

/* The record's state word: the check field, 4 bytes into its header
 * (tap_defer_try only defers records whose header is 4-aligned).
 */
static _Atomic uint32_t *
state_word (struct tap_defer *d, uint64_t pos)
{
  return (_Atomic uint32_t *) (d->ring + pos % d->cap + 4);
}

/* Copies a deferred record's bytes from the storage into its reserved
 * space, then says so in its state word (without the lock: the record
 * is in the keeping set meanwhile).
 */
static void
keep (struct tap_defer *d, const struct tap_deferred *e)
{
  uint8_t *dst = d->ring + (e->pos + TAP_RECORD_HDR) % d->cap;
  size_t done = 0;
  uint32_t state = TAP_PAYLOAD_IN_RING;

  while (done < e->len) {
    ssize_t n = pread (d->source_fd, dst + done, e->len - done,
                       e->offset + done);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      d->log (0, "tap: cannot keep the bytes of a write at %llu+%u before "
              "they are overwritten: %s: the consumer will be told they are "
              "lost", (unsigned long long) e->offset, e->len,
              n == 0 ? "end of file" : strerror (errno));
      state = TAP_PAYLOAD_LOST;
      atomic_fetch_add (&d->keep_failed, 1);
      break;
    }
    done += n;
  }
  /* Release: a consumer that sees the state sees the bytes. */
  atomic_store_explicit (state_word (d, e->pos), state, memory_order_release);
  if (state == TAP_PAYLOAD_IN_RING)
    atomic_fetch_add (&d->kept, 1);
}

/* Removes entry i (lock held). */
static void
remove_at (struct tap_defer *d, unsigned i)
{
  unsigned n = atomic_load_explicit (&d->count, memory_order_relaxed);

  d->list[i] = d->list[n - 1];
  atomic_store (&d->count, n - 1);
}

/* Whether a record being kept overlaps [offset, offset+len) of the
 * disk (lock held).
 */
static bool
keeping_over (struct tap_defer *d, uint64_t offset, uint64_t len)
{
  unsigned n = atomic_load_explicit (&d->nkeeping, memory_order_relaxed);

  for (unsigned i = 0; i < n; i++)
    if (overlaps (d->keeping[i].offset, d->keeping[i].len, offset, len))
      return true;
  return false;
}

/* Whether a record being kept sits before ring position tail (lock
 * held).
 */
static bool
keeping_before (struct tap_defer *d, uint64_t tail)
{
  unsigned n = atomic_load_explicit (&d->nkeeping, memory_order_relaxed);

  for (unsigned i = 0; i < n; i++)
    if (d->keeping[i].pos < tail)
      return true;
  return false;
}

/* Keeps every listed record that [offset, offset+len) overlaps, and
 * returns once no record it overlaps is being kept by anyone.
 */
static void
keep_overlapping (struct tap_defer *d, uint64_t offset, uint64_t len)
{
  struct tap_deferred mine[TAP_DEFER_MAX];
  unsigned k = 0, n;

  pthread_mutex_lock (&d->lock);
  /* Another request's keep of what we are about to overwrite must end
   * before we start.
   */
  while (keeping_over (d, offset, len))
    pthread_cond_wait (&d->kept_cond, &d->lock);
  n = atomic_load_explicit (&d->nkeeping, memory_order_relaxed);
  for (unsigned i = 0; i < atomic_load_explicit (&d->count,
                                                 memory_order_relaxed); ) {
    if (overlaps (d->list[i].offset, d->list[i].len, offset, len)) {
      /* Counted as being kept before it leaves the list, so that a
       * look without the lock always finds it in one or the other.
       */
      mine[k++] = d->keeping[n] = d->list[i];
      atomic_store (&d->nkeeping, ++n);
      remove_at (d, i);
    }
    else
      i++;
  }
  pthread_mutex_unlock (&d->lock);
  if (k == 0)
    return;

  for (unsigned i = 0; i < k; i++)
    keep (d, &mine[i]);

  pthread_mutex_lock (&d->lock);
  for (unsigned i = 0; i < k; i++) {
    unsigned m = atomic_load_explicit (&d->nkeeping, memory_order_relaxed);
    for (unsigned j = 0; j < m; j++)
      if (d->keeping[j].pos == mine[i].pos) {
        d->keeping[j] = d->keeping[m - 1];
        atomic_store (&d->nkeeping, m - 1);
        break;
      }
  }
  pthread_cond_broadcast (&d->kept_cond);
  pthread_mutex_unlock (&d->lock);
}

/* Marks slot i and every other announced modification that overlaps
 * it as disturbed; a blind one (i < 0) disturbs them all.
 */
static void
look_around (struct tap_defer *d, int i, uint64_t offset, uint64_t len)
{
  bool hit = i >= 0 && atomic_load (&d->blind) > 0;
  int used = atomic_load (&d->used);

  for (int j = 0; j < used; j++) {
    if (j == i || atomic_load (&d->active[j].state) != 2)
      continue;
    uint64_t lo = atomic_load_explicit (&d->active[j].lo,
                                        memory_order_relaxed);
    uint64_t hi = atomic_load_explicit (&d->active[j].hi,
                                        memory_order_relaxed);
    if (i < 0 || overlaps (lo, hi - lo, offset, len)) {
      atomic_store (&d->active[j].disturbed, true);
      hit = true;
    }
  }
  if (hit && i >= 0)
    atomic_store (&d->active[i].disturbed, true);
}

/* The slot this thread had last: nbdkit's request threads live as long
 * as their connection, so each finds its own slot free again and
 * claims it without touching another thread's line.  Only a hint (the
 * claim is a compare-and-swap), so it needs no care across rings.
 */
static __thread int slot_hint;

int
tap_defer_begin (struct tap_defer *d, uint64_t offset, uint64_t len)
{
  bool big = len >= TAP_DEFER_MIN;
  int token = TAP_DEFER_BLIND;

  if (d->source_fd < 0)
    return TAP_DEFER_OFF;
  for (int k = 0; k < TAP_DEFER_ACTIVE; k++) {
    int i = (slot_hint + k) % TAP_DEFER_ACTIVE;
    unsigned free_slot = 0, used;
    if (atomic_load_explicit (&d->active[i].state, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_strong (&d->active[i].state, &free_slot, 1)) {
      /* Before the slot is announced, so a look that could miss it is
       * one that started before the announcement anyway.
       */
      used = atomic_load (&d->used);
      while (used < (unsigned) i + 1 &&
             !atomic_compare_exchange_weak (&d->used, &used, i + 1))
        ;
      slot_hint = i;
      atomic_store_explicit (&d->active[i].lo, offset, memory_order_relaxed);
      atomic_store_explicit (&d->active[i].hi, offset + len,
                             memory_order_relaxed);
      /* Relaxed: the announcement below (sequentially consistent)
       * publishes them with the range.  A look still finishing with the
       * slot's previous owner may set disturbed again afterwards, which
       * only costs this request its deferral.
       */
      atomic_store_explicit (&d->active[i].big, big, memory_order_relaxed);
      atomic_store_explicit (&d->active[i].disturbed, false,
                             memory_order_relaxed);
      token = i;
      break;
    }
  }
  /* Announce, then look: the announcement (the slot's state) and the
   * look's loads of the states are sequentially consistent, so of two
   * overlapping modifications the later one's look sees the earlier's
   * announcement.  The range (lo, hi) is relaxed: it is written before
   * the state that announces it.  A look may read a reused slot's new
   * range under its old owner's state; the old owner had finished and
   * is listed, which x86 and ARMv8 (multi-copy atomic) make the list's
   * count show; C11 alone would want lo and hi sequentially consistent
   * too, two more full barriers a request.  A short one looks only while
   * a long one is announced: the long one counts itself before it
   * announces, so if the short one missed the count, the long one's
   * look sees the short one.
   */
  if (token == TAP_DEFER_BLIND) {
    atomic_fetch_add (&d->blind, 1);
    look_around (d, -1, offset, len);
  }
  else {
    if (big)
      atomic_fetch_add (&d->big, 1);
    atomic_store (&d->active[token].state, 2);
    if (big || atomic_load (&d->big) > 0 || atomic_load (&d->blind) > 0)
      look_around (d, token, offset, len);
  }
  /* Then the list: tap_defer_try adds to it, then reads its record's
   * disturbed flag, which our look stored before this load.
   */
  if (atomic_load (&d->count) == 0 && atomic_load (&d->nkeeping) == 0)
    return token;
  keep_overlapping (d, offset, len);
  /* The kept states are stored before our backend request starts
   * changing the storage, whichever CPU it runs on.
   */
  atomic_thread_fence (memory_order_seq_cst);
  return token;
}

void
tap_defer_end (struct tap_defer *d, int token)
{
  if (token == TAP_DEFER_BLIND)
    atomic_fetch_sub (&d->blind, 1);
  else if (token >= 0) {
    if (atomic_load (&d->active[token].big))
      atomic_fetch_sub (&d->big, 1);
    atomic_store_explicit (&d->active[token].state, 0, memory_order_release);
  }
}

bool
tap_defer_try (struct tap_defer *d, int token, uint64_t pos,
               uint64_t offset, uint32_t len)
{
  unsigned n;
  bool ok = false;

  /* A blind token's range is unknown to the others' looks. */
  if (token < 0 || pos % 4 != 0)
    return false;
  pthread_mutex_lock (&d->lock);
  n = atomic_load_explicit (&d->count, memory_order_relaxed);
  /* The list and the keeping set together hold at most TAP_DEFER_MAX,
   * so that moving the whole list to the set always fits.
   */
  if (n + atomic_load_explicit (&d->nkeeping, memory_order_relaxed)
      < TAP_DEFER_MAX) {
    /* Listed first, then the flag: a modification that begins later
     * either disturbed us before this load or finds us in the list.
     */
    d->list[n] = (struct tap_deferred) { pos, offset, len };
    atomic_store (&d->count, n + 1);
    if (atomic_load (&d->active[token].disturbed))
      remove_at (d, n);
    else
      ok = true;
  }
  pthread_mutex_unlock (&d->lock);
  if (ok)
    atomic_fetch_add (&d->deferred, 1);
  return ok;
}

void
tap_defer_release (struct tap_defer *d, uint64_t tail)
{
  if (d->source_fd < 0 ||
      (atomic_load (&d->count) == 0 && atomic_load (&d->nkeeping) == 0))
    return;
  pthread_mutex_lock (&d->lock);
  /* A record being kept is written to: its space must not be reused. */
  while (keeping_before (d, tail))
    pthread_cond_wait (&d->kept_cond, &d->lock);
  for (unsigned i = 0; i < atomic_load_explicit (&d->count,
                                                 memory_order_relaxed); ) {
    if (d->list[i].pos < tail)
      remove_at (d, i);
    else
      i++;
  }
  pthread_mutex_unlock (&d->lock);
}
