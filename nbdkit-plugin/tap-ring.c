/* The tap ring buffer and its sender thread (see tap-ring.h).
 *
 * The ring holds encoded records back to back, so the bytes between
 * the send cursor and the head are exactly what goes on the wire.
 * Positions are 64-bit byte counts that only grow; pos % cap is the
 * place in the buffer.  Request threads own [head, tail + cap) while
 * they hold the lock; the sender owns [tail, head) without it, because
 * only the sender moves tail and nobody rewrites committed bytes.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "tap-ring.h"
#include "tap/tap-seq.h"

struct tap_ring {
  struct tap_config cfg;
  char *path;
  tap_log_fn log;
  uint8_t *buf;
  size_t cap;
  int wake_fd;                /* eventfd: wakes the sender */
  int sink_fd;                /* sender-owned; record file is opened early */
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
  struct tap_stats stats;
};

static uint64_t
now_ns (clockid_t clk)
{
  struct timespec ts;

  clock_gettime (clk, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void
ring_copy_in (struct tap_ring *r, uint64_t pos, const void *src, size_t n)
{
  size_t at = pos % r->cap;
  size_t first = n < r->cap - at ? n : r->cap - at;

  memcpy (r->buf + at, src, first);
  memcpy (r->buf, (const uint8_t *) src + first, n - first);
}

static void
ring_copy_out (const struct tap_ring *r, uint64_t pos, void *dst, size_t n)
{
  size_t at = pos % r->cap;
  size_t first = n < r->cap - at ? n : r->cap - at;

  memcpy (dst, r->buf + at, first);
  memcpy ((uint8_t *) dst + first, r->buf, n - first);
}

/* The record whose header starts at pos (a position the caller owns). */
static void
ring_record_at (const struct tap_ring *r, uint64_t pos, uint8_t hdr[TAP_RECORD_HDR],
                struct tap_record *rec)
{
  struct tap_header any = { .disk_size = UINT64_MAX >> 1 };
  char err[8];

  ring_copy_out (r, pos, hdr, TAP_RECORD_HDR);
  /* We wrote these bytes ourselves; decoding cannot fail. */
  (void) tap_decode_record (hdr, TAP_RECORD_HDR, &any, rec, err, sizeof err);
}

static void
wake_sender (struct tap_ring *r)
{
  uint64_t one = 1;

  if (write (r->wake_fd, &one, sizeof one) == -1 && errno != EAGAIN)
    r->log (0, "tap: cannot wake sender: %m");
}

/* ---- request-thread side ---------------------------------------- */

static void
append_locked (struct tap_ring *r, unsigned type, unsigned flags,
               uint64_t offset, uint64_t len, const void *data)
{
  uint8_t hdr[TAP_RECORD_HDR];
  struct tap_record rec = {
    .seq = r->next_seq++, .time_ns = now_ns (CLOCK_REALTIME),
    .offset = offset, .length = len, .type = type, .flags = flags,
    .payload_len = type == TAP_WRITE ? len : 0,
  };

  tap_encode_record (hdr, &rec);
  ring_copy_in (r, r->head, hdr, TAP_RECORD_HDR);
  if (rec.payload_len)
    ring_copy_in (r, r->head + TAP_RECORD_HDR, data, rec.payload_len);
  r->head += TAP_RECORD_HDR + rec.payload_len;
}

/* Reports a pending loss as soon as its record fits. */
static void
flush_loss_locked (struct tap_ring *r)
{
  if (r->lost_count == 0 || r->cap - (r->head - r->tail) < TAP_RECORD_HDR)
    return;
  append_locked (r, TAP_OVERFLOW, 0, r->lost_first, r->lost_count, NULL);
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

  if (r->cap - (r->head - r->tail) >= need)
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
  while (r->cap - (r->head - r->tail) < need) {
    if (r->sender_idle) {
      r->sender_idle = false;
      wake_sender (r);
    }
    if (pthread_cond_timedwait (&r->space, &r->lock, &deadline) == ETIMEDOUT)
      return r->cap - (r->head - r->tail) >= need;
  }
  return true;
}

static void
put_one_locked (struct tap_ring *r, int wait_ms, unsigned type,
                unsigned flags, uint64_t offset, uint64_t len,
                const void *data)
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
      r->log (0, "tap: buffer full (%zu bytes), dropping records from seq "
              "%llu; the consumer will get an overflow record", r->cap,
              (unsigned long long) r->next_seq);
    }
    r->next_seq++;
    r->lost_count++;
    r->stats.dropped++;
    return;
  }
  flush_loss_locked (r);
  append_locked (r, type, flags, offset, len, data);
  r->stats.records++;
  if (type == TAP_WRITE)
    r->stats.bytes += len;
}

void
tap_ring_put (struct tap_ring *r, unsigned type, unsigned flags,
              uint64_t offset, uint64_t len, const void *data)
{
  pthread_mutex_lock (&r->lock);
  do {
    uint64_t n = len;

    if (type == TAP_WRITE && n > TAP_MAX_PAYLOAD)
      n = TAP_MAX_PAYLOAD;
    /* Once the policy gave up waiting, later requests do not wait
     * again until the consumer is back: a dead consumer costs the
     * guest one bounded stall, not one per request.
     */
    put_one_locked (r, r->lost_count ? -1 : r->cfg.block_ms, type, flags,
                    offset, n, data);
    if (type != TAP_WRITE)
      break;
    offset += n;
    len -= n;
    data = (const uint8_t *) data + n;
  } while (len > 0);
  if (r->sender_idle) {
    r->sender_idle = false;
    wake_sender (r);
  }
  pthread_mutex_unlock (&r->lock);
}

void
tap_ring_get_stats (struct tap_ring *r, struct tap_stats *s)
{
  pthread_mutex_lock (&r->lock);
  *s = r->stats;
  s->depth = r->head - r->tail;
  pthread_mutex_unlock (&r->lock);
}

/* ---- sender side ------------------------------------------------ */

struct sender {
  struct tap_ring *r;
  bool connected;
  uint64_t head;              /* snapshot */
  uint64_t tail;              /* mirror of r->tail (we are its only writer) */
  uint64_t sent;
  uint64_t check_pos;         /* records before this have their checksum set */
  uint8_t hello[TAP_HEADER_FIXED + TAP_DISK_ID_MAX];
  size_t hello_len, hello_off;
  uint8_t ackbuf[TAP_ACK_LEN * 64];
  size_t ack_len;
  bool warned_sink;
};

static void
fill_checks (struct sender *s)
{
  struct tap_ring *r = s->r;

  /* The checksum is computed here, not on the request thread, to keep
   * the guest's path to a lock and a memcpy.
   */
  while (s->check_pos < s->head) {
    uint8_t hdr[TAP_RECORD_HDR];
    struct tap_record rec;
    uint64_t p = s->check_pos + TAP_RECORD_HDR;
    size_t at = p % r->cap, n1, n2;

    ring_record_at (r, s->check_pos, hdr, &rec);
    n1 = rec.payload_len < r->cap - at ? rec.payload_len : r->cap - at;
    n2 = rec.payload_len - n1;
    tap_set_record_check (hdr, tap_record_check (hdr, r->buf + at, n1,
                                                 r->buf, n2));
    ring_copy_in (r, s->check_pos + 4, hdr + 4, 4);
    s->check_pos += TAP_RECORD_HDR + rec.payload_len;
  }
}

/* Frees acknowledged bytes and lets waiting request threads go on. */
static void
publish_tail (struct sender *s, uint64_t acked_seq)
{
  struct tap_ring *r = s->r;

  pthread_mutex_lock (&r->lock);
  r->tail = s->tail;
  if (acked_seq > r->stats.acked_seq)
    r->stats.acked_seq = acked_seq;
  flush_loss_locked (r);
  s->head = r->head;
  pthread_cond_broadcast (&r->space);
  pthread_mutex_unlock (&r->lock);
}

static void
disconnect (struct sender *s, const char *why)
{
  struct tap_ring *r = s->r;

  if (r->cfg.sink == TAP_SINK_UNIX) {
    r->log (0, "tap: consumer %s disconnected (%s); %llu bytes kept for "
            "re-sending", s->r->path, why,
            (unsigned long long) (s->head - s->tail));
    close (r->sink_fd);
    r->sink_fd = -1;
  }
  s->connected = false;
}

static bool
connect_sink (struct sender *s)
{
  struct tap_ring *r = s->r;
  struct tap_header h = r->cfg.header;

  if (r->cfg.sink == TAP_SINK_UNIX) {
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd == -1) {
      r->log (0, "tap: socket: %m");
      return false;
    }
    strncpy (sa.sun_path, r->path, sizeof sa.sun_path - 1);
    if (connect (fd, (struct sockaddr *) &sa, sizeof sa) == -1) {
      if (!s->warned_sink)
        r->log (0, "tap: cannot reach consumer %s: %m (will keep trying)",
                r->path);
      s->warned_sink = true;
      close (fd);
      return false;
    }
    r->sink_fd = fd;
  }
  s->warned_sink = false;

  /* A new stream starts with everything not yet acknowledged. */
  pthread_mutex_lock (&r->lock);
  s->head = r->head;
  if (r->tail < r->head) {
    uint8_t hdr[TAP_RECORD_HDR];
    struct tap_record rec;

    ring_record_at (r, r->tail, hdr, &rec);
    h.first_seq = tap_seq_first (&rec);
  }
  else
    h.first_seq = r->lost_count ? r->lost_first : r->next_seq;
  r->stats.connects++;
  pthread_mutex_unlock (&r->lock);

  h.time_ns = now_ns (CLOCK_REALTIME);
  s->hello_len = tap_encode_header (s->hello, &h);
  s->hello_off = 0;
  s->sent = s->tail;
  s->ack_len = 0;
  s->connected = true;
  r->log (1, "tap: consumer %s connected, resuming at seq %llu", r->path,
          (unsigned long long) h.first_seq);
  return true;
}

/* Sends what it can without blocking; false on a broken sink. */
static bool
send_some (struct sender *s)
{
  struct tap_ring *r = s->r;
  struct iovec iov[3];
  int n = 0;
  ssize_t w;

  if (s->hello_off < s->hello_len)
    iov[n++] = (struct iovec) { s->hello + s->hello_off,
                                s->hello_len - s->hello_off };
  if (s->sent < s->head) {
    size_t at = s->sent % r->cap;
    uint64_t left = s->head - s->sent;
    size_t first = left < r->cap - at ? left : r->cap - at;

    iov[n++] = (struct iovec) { r->buf + at, first };
    if (left > first)
      iov[n++] = (struct iovec) { r->buf, left - first };
  }
  if (n == 0)
    return true;

  if (r->cfg.sink == TAP_SINK_UNIX) {
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = n };
    w = sendmsg (r->sink_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  else
    w = writev (r->sink_fd, iov, n);
  if (w == -1) {
    if (errno == EAGAIN || errno == EINTR)
      return true;
    r->log (0, "tap: writing to %s: %m", r->path);
    return false;
  }
  if (s->hello_off < s->hello_len) {
    size_t h = s->hello_len - s->hello_off;
    if ((size_t) w < h) {
      s->hello_off += w;
      return true;
    }
    s->hello_off = s->hello_len;
    w -= h;
  }
  s->sent += w;
  if (r->cfg.sink == TAP_SINK_RECORD && s->sent > s->tail) {
    /* A trace file acknowledges by having taken the bytes. */
    s->tail = s->sent;
    publish_tail (s, 0);
  }
  return true;
}

/* Reads acknowledgements; false on a broken or misbehaving consumer. */
static bool
read_acks (struct sender *s)
{
  struct tap_ring *r = s->r;
  ssize_t n = read (r->sink_fd, s->ackbuf + s->ack_len,
                    sizeof s->ackbuf - s->ack_len);
  uint64_t acked = 0;
  size_t off = 0;

  if (n == -1 && (errno == EAGAIN || errno == EINTR))
    return true;
  if (n <= 0) {
    disconnect (s, n == 0 ? "closed" : strerror (errno));
    return false;
  }
  s->ack_len += n;
  while (s->ack_len - off >= TAP_ACK_LEN) {
    char err[64];
    if (tap_decode_ack (s->ackbuf + off, TAP_ACK_LEN, &acked, err,
                        sizeof err) != 1) {
      disconnect (s, err);
      return false;
    }
    off += TAP_ACK_LEN;
  }
  memmove (s->ackbuf, s->ackbuf + off, s->ack_len - off);
  s->ack_len -= off;
  if (off == 0)
    return true;

  /* Free whole records the consumer has handled, never beyond what
   * this connection actually sent.
   */
  while (s->tail < s->sent) {
    uint8_t hdr[TAP_RECORD_HDR];
    struct tap_record rec;

    ring_record_at (r, s->tail, hdr, &rec);
    if (rec.seq > acked)
      break;
    s->tail += TAP_RECORD_HDR + rec.payload_len;
  }
  publish_tail (s, acked);
  return true;
}

static void
drain_wake (struct tap_ring *r)
{
  uint64_t v;

  if (read (r->wake_fd, &v, sizeof v) == -1 && errno != EAGAIN)
    r->log (0, "tap: reading wake-up: %m");
}

static void *
sender_main (void *arg)
{
  struct tap_ring *r = arg;
  struct sender s = { .r = r, .connected = r->cfg.sink == TAP_SINK_RECORD };
  unsigned backoff_ms = 50;
  uint64_t deadline = 0;

  if (s.connected) {
    s.connected = false;
    connect_sink (&s);        /* record file: writes the stream header */
  }

  for (;;) {
    struct pollfd pfd[2];
    int timeout = -1, np = 0;
    bool stopping, pending;

    pthread_mutex_lock (&r->lock);
    s.head = r->head;
    stopping = r->stopping;
    pending = r->lost_count > 0;
    pthread_mutex_unlock (&r->lock);

    if (stopping) {
      uint64_t now = now_ns (CLOCK_MONOTONIC);
      if (deadline == 0)
        deadline = now + (uint64_t) r->cfg.drain_ms * 1000000;
      if (s.tail == s.head && !pending && s.hello_off == s.hello_len)
        break;
      if (now >= deadline) {
        r->log (0, "tap: shutting down with %llu bytes not taken by the "
                "consumer %s", (unsigned long long) (s.head - s.tail),
                r->path);
        break;
      }
      timeout = (deadline - now) / 1000000 + 1;
    }

    if (!s.connected) {
      if (connect_sink (&s))
        backoff_ms = 50;
      else {
        pfd[0] = (struct pollfd) { .fd = r->wake_fd, .events = POLLIN };
        poll (pfd, 1, timeout >= 0 && (unsigned) timeout < backoff_ms
                      ? timeout : (int) backoff_ms);
        if (pfd[0].revents & POLLIN)
          drain_wake (r);
        if (backoff_ms < 2000)
          backoff_ms *= 2;
        continue;
      }
    }

    fill_checks (&s);
    if (!send_some (&s)) {
      if (r->cfg.sink == TAP_SINK_UNIX)
        disconnect (&s, "write failed");
      else {
        /* A failing trace file (disk full): keep the bytes, retry
         * later; the ring overflows visibly if this lasts.
         */
        pfd[0] = (struct pollfd) { .fd = r->wake_fd, .events = POLLIN };
        poll (pfd, 1, 1000);
      }
      continue;
    }

    /* Nothing left to send: sleep until a request thread wakes us. */
    if (s.sent == s.head && s.hello_off == s.hello_len) {
      pthread_mutex_lock (&r->lock);
      if (r->head == s.head && !r->stopping)
        r->sender_idle = true;
      else
        timeout = 0;
      pthread_mutex_unlock (&r->lock);
      pfd[np++] = (struct pollfd) { .fd = r->wake_fd, .events = POLLIN };
    }
    if (r->cfg.sink == TAP_SINK_UNIX) {
      pfd[np] = (struct pollfd) { .fd = r->sink_fd, .events = POLLIN };
      if (s.sent < s.head || s.hello_off < s.hello_len)
        pfd[np].events |= POLLOUT;
      np++;
    }
    if (np == 0)
      continue;
    if (poll (pfd, np, timeout) == -1 && errno != EINTR) {
      r->log (0, "tap: poll: %m");
      continue;
    }
    for (int i = 0; i < np; i++) {
      if (pfd[i].fd == r->wake_fd && (pfd[i].revents & POLLIN))
        drain_wake (r);
      else if (pfd[i].fd == r->sink_fd &&
               (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
        read_acks (&s);
    }
  }

  if (r->cfg.sink == TAP_SINK_RECORD && fdatasync (r->sink_fd) == -1)
    r->log (0, "tap: fdatasync %s: %m", r->path);
  return NULL;
}

/* ---- life cycle ------------------------------------------------- */

struct tap_ring *
tap_ring_new (const struct tap_config *cfg, tap_log_fn log,
              char *err, size_t errlen)
{
  struct tap_ring *r = calloc (1, sizeof *r);
  pthread_condattr_t ca;

  if (r == NULL) {
    snprintf (err, errlen, "tap: out of memory");
    return NULL;
  }
  r->cfg = *cfg;
  r->log = log;
  r->cap = cfg->buffer_bytes < TAP_MIN_BUFFER ? TAP_MIN_BUFFER
                                               : cfg->buffer_bytes;
  r->sink_fd = -1;
  r->wake_fd = -1;
  r->path = strdup (cfg->path);
  r->buf = malloc (r->cap);
  if (r->path == NULL || r->buf == NULL) {
    snprintf (err, errlen, "tap: cannot allocate a %zu-byte buffer", r->cap);
    goto fail;
  }
  if (getrandom (&r->cfg.header.instance, sizeof r->cfg.header.instance, 0)
      != sizeof r->cfg.header.instance) {
    snprintf (err, errlen, "tap: getrandom: %s", strerror (errno));
    goto fail;
  }
  r->cfg.header.flags |= TAP_HDR_CHECK;
  /* Sequence numbers start at 1 so that "acknowledged up to 0" means
   * nothing yet.
   */
  r->next_seq = 1;
  if (cfg->sink == TAP_SINK_UNIX) {
    struct sockaddr_un sa;
    if (strlen (cfg->path) >= sizeof sa.sun_path) {
      snprintf (err, errlen, "tap: socket path too long (max %zu bytes): %s",
                sizeof sa.sun_path - 1, cfg->path);
      goto fail;
    }
  }
  else {
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
  pthread_mutex_init (&r->lock, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&r->space, &ca);
  pthread_condattr_destroy (&ca);
  return r;

 fail:
  if (r->sink_fd >= 0)
    close (r->sink_fd);
  free (r->buf);
  free (r->path);
  free (r);
  return NULL;
}

int
tap_ring_start (struct tap_ring *r)
{
  int e = pthread_create (&r->thread, NULL, sender_main, r);

  if (e) {
    r->log (0, "tap: cannot start sender thread: %s", strerror (e));
    return -1;
  }
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
    put_one_locked (r, r->cfg.drain_ms, TAP_END, 0, 0, 0, NULL);
    r->stopping = true;
    pthread_mutex_unlock (&r->lock);
    wake_sender (r);
    pthread_join (r->thread, NULL);
  }
  if (r->sink_fd >= 0)
    close (r->sink_fd);
  close (r->wake_fd);
  pthread_mutex_destroy (&r->lock);
  pthread_cond_destroy (&r->space);
  free (r->buf);
  free (r->path);
  free (r);
}
