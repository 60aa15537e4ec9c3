/* The tap ring: request threads put records, and the ring's life cycle
 * (see tap-ring.h and tap-ring-impl.h; the sender is tap-sender.c).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "tap-ring-impl.h"

/* Overflow episodes are logged at most this often, with totals. */
#define DROP_LOG_INTERVAL_NS (10ull * 1000000000)

/* Copies a payload into the ring.  Nobody reads it soon (a consumer
 * looks at it a tick later, if at all), so on x86 a large one bypasses
 * the cache: that spares reading the ring's cold lines before
 * overwriting them (a 1 MiB copy took 47 us instead of 95 us), and
 * keeps tens of megabytes of ring from evicting the data the guest's
 * requests are working with.  The fence that makes the bytes visible
 * before the record is published waits for them to reach memory,
 * which costs more than it saves below 4 KiB (0.43 us instead of
 * 0.13 us for 512 bytes); at 4 KiB the two ways cost the same.
 */
static void
copy_payload (uint8_t *dst, const uint8_t *src, size_t n)
{
#ifdef __SSE2__
  size_t head = -(uintptr_t) dst & 15;

  if (n < 4096) {
    memcpy (dst, src, n);
    return;
  }
  memcpy (dst, src, head);
  dst += head;
  src += head;
  n -= head;
  for (; n >= 64; n -= 64, dst += 64, src += 64) {
    __m128i a = _mm_loadu_si128 ((const __m128i *) src);
    __m128i b = _mm_loadu_si128 ((const __m128i *) (src + 16));
    __m128i c = _mm_loadu_si128 ((const __m128i *) (src + 32));
    __m128i d = _mm_loadu_si128 ((const __m128i *) (src + 48));
    _mm_stream_si128 ((__m128i *) dst, a);
    _mm_stream_si128 ((__m128i *) (dst + 16), b);
    _mm_stream_si128 ((__m128i *) (dst + 32), c);
    _mm_stream_si128 ((__m128i *) (dst + 48), d);
  }
  memcpy (dst, src, n);
  _mm_sfence ();
#else
  memcpy (dst, src, n);
#endif
}

/* The header's check field (bytes 4-7) is left out, as zero: in a
 * deferred record it is the state word that a request thread keeping
 * the record stores atomically at any moment (tap-defer.c), and a plain
 * read of it here would race with that store.  Nobody here needs it.
 */
void
tap_ring_record_at (const struct tap_ring *r, uint64_t pos,
                    struct tap_record *rec)
{
  const uint8_t *at = r->buf + pos % r->cap;
  uint8_t hdr[TAP_RECORD_HDR] = { 0 };
  struct tap_header any = { .disk_size = UINT64_MAX >> 1 };
  char err[8];

  memcpy (hdr, at, 4);
  memcpy (hdr + 8, at + 8, TAP_RECORD_HDR - 8);
  (void) tap_decode_record (hdr, TAP_RECORD_HDR, &any, rec, err, sizeof err);
}

void
tap_ring_wake_sender (struct tap_ring *r)
{
  uint64_t one = 1;

  if (write (r->wake_fd, &one, sizeof one) == -1 && errno != EAGAIN)
    r->log (0, "tap: cannot wake sender: %m");
}

void
tap_ring_nudge (struct tap_ring *r)
{
  int s;

  atomic_thread_fence (memory_order_seq_cst);
  s = atomic_load_explicit (&r->sleep, memory_order_relaxed);
  /* Only the thread that ends the sleep writes the eventfd. */
  if ((s == TAP_IDLE || (s == TAP_TICKING && tap_ring_hurry (r))) &&
      atomic_compare_exchange_strong (&r->sleep, &s, TAP_AWAKE))
    tap_ring_wake_sender (r);
}

/* The filling slot this thread had last (see struct tap_ring): nbdkit's
 * request threads live as long as their connection.  Only a hint.
 */
static __thread unsigned fill_hint;

/* Room left in the ring (lock held). */
static uint64_t
room_locked (const struct tap_ring *r)
{
  return r->cap - (atomic_load_explicit (&r->head, memory_order_relaxed)
                   - r->tail);
}

/* Writes a record's header at head and reserves its payload's space.
 * A large write's payload may stay in the storage (tap-defer.h); any
 * other is copied later, without the lock: its position goes into a
 * free filling slot, whose index is returned (*payload: where the
 * bytes go, contiguous because the ring is mapped twice).  When every
 * slot is taken, data is copied here, under the lock.  -1 when there
 * is nothing left to copy.
 */
static int
reserve_locked (struct tap_ring *r, int token, unsigned type,
                unsigned flags, uint64_t offset, uint64_t len,
                uint64_t time_ns, const void *data, uint8_t **payload)
{
  uint64_t head = atomic_load_explicit (&r->head, memory_order_relaxed);
  uint8_t *at = r->buf + head % r->cap;
  struct tap_record rec = {
    .seq = r->next_seq++, .time_ns = time_ns,
    .offset = offset, .length = len, .type = type, .flags = flags,
    .payload_len = type == TAP_WRITE ? len : 0,
    .check = TAP_PAYLOAD_IN_STORAGE,
  };
  bool deferred = false;
  size_t copy;
  int slot = -1;

  *payload = at + TAP_RECORD_HDR;
  /* The header goes first: once tap_defer_try listed the record, a
   * write that overlaps it may store its state word.
   */
  if (type == TAP_WRITE && token != TAP_DEFER_OFF && len >= TAP_DEFER_MIN) {
    rec.flags |= TAP_F_DEFERRED;
    tap_encode_record (at, &rec);
    deferred = tap_defer_try (&r->defer, token, head, offset, len);
    rec.flags &= ~TAP_F_DEFERRED;
  }
  if (!deferred)
    tap_encode_record (at, &rec);
  /* A deferred payload's space stays reserved but is not filled. */
  copy = deferred ? 0 : rec.payload_len;
  for (unsigned k = 0; copy && slot == -1 && k < TAP_FILLERS;
       k++) {
    unsigned i = (fill_hint + k) % TAP_FILLERS;
    if (atomic_load_explicit (&r->filling[i].pos, memory_order_relaxed)
        == TAP_SLOT_FREE) {
      /* The sender may read this claim instead of the release that
       * freed the slot, and then takes the earlier record as complete:
       * it must still see that record's payload.  A read-modify-write
       * continues the release's sequence (a plain store would end it),
       * and acquire hands it on through our releases of head and of
       * the slot.
       */
      (void) atomic_exchange_explicit (&r->filling[i].pos, head,
                                       memory_order_acquire);
      fill_hint = i;
      slot = i;
    }
  }
  if (copy && slot == -1)
    copy_payload (*payload, data, len);
  /* Release: whoever sees the new head sees the header and the slot. */
  atomic_store_explicit (&r->head, head + TAP_RECORD_HDR + rec.payload_len,
                         memory_order_release);
  return slot;
}

void
tap_ring_flush_loss_locked (struct tap_ring *r)
{
  uint8_t *unused;

  if (r->lost_count == 0 || room_locked (r) < TAP_RECORD_HDR)
    return;
  reserve_locked (r, TAP_DEFER_OFF, TAP_OVERFLOW, 0, r->lost_first,
                  r->lost_count, tap_now_ns (CLOCK_REALTIME), NULL, &unused);
  r->log (1, "tap: reported %llu lost records from seq %llu",
          (unsigned long long) r->lost_count,
          (unsigned long long) r->lost_first);
  r->stats.overflows++;
  r->lost_count = 0;
}

static bool
have_room_locked (struct tap_ring *r, size_t need, int wait_ms)
{
  struct timespec deadline;
  bool room = true;

  if (room_locked (r) >= need)
    return true;
  if (wait_ms < 0)
    return false;
  clock_gettime (CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += wait_ms / 1000;
  deadline.tv_nsec += (long) (wait_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_sec++;
    deadline.tv_nsec -= 1000000000;
  }
  /* A waiter makes the sender hurry: it listens for acknowledgements
   * instead of ticking.
   */
  atomic_fetch_add (&r->waiting, 1);
  while (room_locked (r) < need) {
    tap_ring_nudge (r);
    if (pthread_cond_timedwait (&r->space, &r->lock, &deadline)
        == ETIMEDOUT) {
      room = room_locked (r) >= need;
      break;
    }
  }
  atomic_fetch_sub (&r->waiting, 1);
  return room;
}

/* A consumer that cannot keep up starts an overflow episode after
 * every catch-up; one line per episode would flood the log, so there
 * is one line per DROP_LOG_INTERVAL_NS with what happened since.
 */
static void
log_drop_locked (struct tap_ring *r)
{
  uint64_t now = tap_now_ns (CLOCK_MONOTONIC);

  if (r->drop_log_ns && now - r->drop_log_ns < DROP_LOG_INTERVAL_NS)
    return;
  r->log (0, "tap: buffer full (%zu bytes), dropping records from seq %llu; "
          "the consumer gets an overflow record (%llu records lost in %llu "
          "overflows before this)", r->cap,
          (unsigned long long) r->next_seq,
          (unsigned long long) r->stats.dropped,
          (unsigned long long) r->stats.overflows);
  r->drop_log_ns = now;
}

/* Puts one record: returns its filling slot (see reserve_locked), or
 * -1 when nothing is left to copy (no payload, copied, or dropped).
 */
static int
put_one_locked (struct tap_ring *r, int wait_ms, int token, unsigned type,
                unsigned flags, uint64_t offset, uint64_t len,
                uint64_t time_ns, const void *data, uint8_t **payload)
{
  size_t need = TAP_RECORD_HDR + (type == TAP_WRITE ? len : 0);

  /* Once something is lost, everything is lost until the overflow
   * record itself fits: the lost range stays one contiguous run.
   */
  if (r->lost_count)
    need += TAP_RECORD_HDR;
  if (!have_room_locked (r, need, wait_ms)) {
    if (r->lost_count == 0) {
      r->lost_first = r->next_seq;
      log_drop_locked (r);
    }
    r->next_seq++;
    r->lost_count++;
    r->stats.dropped++;
    return -1;
  }
  tap_ring_flush_loss_locked (r);
  if (type == TAP_WRITE)
    r->bytes += len;
  return reserve_locked (r, token, type, flags, offset, len, time_ns, data,
                         payload);
}

int
tap_ring_begin (struct tap_ring *r, uint64_t offset, uint64_t len)
{
  return tap_defer_begin (&r->defer, offset, len);
}

void
tap_ring_end (struct tap_ring *r, int token)
{
  tap_defer_end (&r->defer, token);
}

void
tap_ring_put (struct tap_ring *r, int token, unsigned type, unsigned flags,
              uint64_t offset, uint64_t len, const void *data)
{
  do {
    uint64_t n = len;
    uint8_t *payload;
    int slot;
    /* Read before the lock, which is then held that much shorter: the
     * request is complete either way.
     */
    uint64_t now = tap_now_ns (CLOCK_REALTIME);

    if (type == TAP_WRITE && n > TAP_MAX_PAYLOAD)
      n = TAP_MAX_PAYLOAD;
    pthread_mutex_lock (&r->lock);
    /* Once the policy gave up waiting, later requests do not wait
     * again until the consumer is back: a dead consumer costs the
     * guest one bounded stall, not one per request.
     */
    slot = put_one_locked (r, r->lost_count ? -1 : r->cfg.block_ms, token,
                           type, flags, offset, n, now, data, &payload);
    pthread_mutex_unlock (&r->lock);
    if (slot >= 0) {
      copy_payload (payload, data, n);
      atomic_store_explicit (&r->filling[slot].pos, TAP_SLOT_FREE,
                             memory_order_release);
    }
    /* Per piece: the sender may need to free space for the next. */
    tap_ring_nudge (r);
    if (type != TAP_WRITE)
      break;
    offset += n;
    len -= n;
    data = (const uint8_t *) data + n;
  } while (len > 0);
}

void
tap_ring_get_stats (struct tap_ring *r, struct tap_stats *s)
{
  pthread_mutex_lock (&r->lock);
  *s = r->stats;
  /* Every sequence number went to a record put, a record lost or an
   * overflow record: counting puts would write one more line a put.
   */
  s->records = r->next_seq - 1 - r->stats.dropped - r->stats.overflows;
  s->bytes = r->bytes;
  s->depth = r->cap - room_locked (r);
  s->deferred = atomic_load (&r->defer.deferred);
  s->kept = atomic_load (&r->defer.kept);
  s->keep_failed = atomic_load (&r->defer.keep_failed);
  pthread_mutex_unlock (&r->lock);
}

/* ---- life cycle ------------------------------------------------- */

struct tap_ring *
tap_ring_new (const struct tap_config *cfg, tap_log_fn log,
              char *err, size_t errlen)
{
  /* Aligned: the tap-defer slots each own a cache line. */
  size_t size = (sizeof (struct tap_ring) + 63) / 64 * 64;
  struct tap_ring *r = aligned_alloc (64, size);
  size_t cap;
  pthread_condattr_t ca;
  pthread_mutexattr_t ma;

  if (r == NULL) {
    snprintf (err, errlen, "tap: out of memory");
    if (cfg->source_fd >= 0)
      close (cfg->source_fd);
    return NULL;
  }
  memset (r, 0, size);
  r->cfg = *cfg;
  /* Until the ring exists, deferral stays off and the descriptor is
   * only ours to close.
   */
  tap_defer_init (&r->defer, cfg->source_fd, NULL, 0, log);
  r->log = log;
  r->sink_fd = -1;
  r->wake_fd = -1;
  r->shm.fd = -1;
  cap = tap_shm_round (cfg->buffer_bytes < TAP_MIN_BUFFER ? TAP_MIN_BUFFER
                                                           : cfg->buffer_bytes);
  r->path = strdup (cfg->path);
  if (r->path == NULL) {
    snprintf (err, errlen, "tap: out of memory");
    goto fail;
  }
  if (tap_shm_create (&r->shm, cap, err, errlen) == -1)
    goto fail;
  r->buf = r->shm.base;
  r->cap = r->shm.size;
  r->defer.ring = r->buf;
  r->defer.cap = r->cap;
  if (getrandom (&r->cfg.header.instance, sizeof r->cfg.header.instance, 0)
      != sizeof r->cfg.header.instance) {
    snprintf (err, errlen, "tap: getrandom: %s", strerror (errno));
    goto fail;
  }
  /* Sequence numbers start at 1 so that "acknowledged up to 0" means
   * nothing yet.
   */
  r->next_seq = 1;
  for (unsigned i = 0; i < TAP_FILLERS; i++)
    atomic_init (&r->filling[i].pos, TAP_SLOT_FREE);
  if (cfg->sink == TAP_SINK_UNIX) {
    struct sockaddr_un sa;
    if (strlen (cfg->path) >= sizeof sa.sun_path) {
      snprintf (err, errlen, "tap: socket path too long (max %zu bytes): %s",
                sizeof sa.sun_path - 1, cfg->path);
      goto fail;
    }
    if (r->defer.source_fd >= 0)
      r->cfg.header.flags |= TAP_HDR_DEFERRED;
  }
  else {
    /* Trace files outlive the process, so their records carry a
     * checksum; a consumer reads the shared ring and needs none.
     */
    r->cfg.header.flags |= TAP_HDR_CHECK;
    /* The file must hold the bytes themselves. */
    tap_defer_destroy (&r->defer);
    tap_defer_init (&r->defer, -1, r->buf, r->cap, log);
    r->sink_fd = open (cfg->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                       0644);
    if (r->sink_fd == -1) {
      snprintf (err, errlen, "tap: cannot open trace file %s: %s",
                cfg->path, strerror (errno));
      goto fail;
    }
  }
  r->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->wake_fd == -1) {
    snprintf (err, errlen, "tap: eventfd: %s", strerror (errno));
    goto fail;
  }
  /* The lock is held for a few hundred nanoseconds at a time by many
   * request threads: spinning briefly beats sleeping in the kernel.
   */
  pthread_mutexattr_init (&ma);
  pthread_mutexattr_settype (&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
  pthread_mutex_init (&r->lock, &ma);
  pthread_mutexattr_destroy (&ma);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&r->space, &ca);
  pthread_condattr_destroy (&ca);
  return r;

 fail:
  if (r->sink_fd >= 0)
    close (r->sink_fd);
  tap_defer_destroy (&r->defer);
  tap_shm_destroy (&r->shm);
  free (r->path);
  free (r);
  return NULL;
}

int
tap_ring_start (struct tap_ring *r)
{
  int e = pthread_create (&r->thread, NULL, tap_sender_main, r);

  if (e) {
    r->log (0, "tap: cannot start sender thread: %s", strerror (e));
    return -1;
  }
  /* Named so that top, perf and gdb show the tap's share apart. */
  pthread_setname_np (r->thread, "blockwatch-tap");
  r->started = true;
  return 0;
}

void
tap_ring_free (struct tap_ring *r)
{
  if (r == NULL)
    return;
  if (r->started) {
    pthread_mutex_lock (&r->lock);
    /* The end record tells the consumer nothing more will come, so
     * a stream without one is known to be cut short.
     */
    uint8_t *unused;
    put_one_locked (r, r->cfg.drain_ms, TAP_DEFER_OFF, TAP_END, 0, 0, 0,
                    tap_now_ns (CLOCK_REALTIME), NULL, &unused);
    r->stopping = true;
    pthread_mutex_unlock (&r->lock);
    tap_ring_wake_sender (r);
    pthread_join (r->thread, NULL);
  }
  if (r->sink_fd >= 0)
    close (r->sink_fd);
  close (r->wake_fd);
  tap_defer_destroy (&r->defer);
  pthread_mutex_destroy (&r->lock);
  pthread_cond_destroy (&r->space);
  tap_shm_destroy (&r->shm);
  free (r->path);
  free (r);
}
