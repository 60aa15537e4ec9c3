/* The tap's sender thread: hands the ring's records to the consumer.
 *
 * A trace file (tap=record:) gets the bytes written to it.  A consumer
 * on a Unix socket (tap=unix:) gets a read-only descriptor of the ring
 * once per connection and then only doorbells ("complete up to
 * position P"); it answers with acknowledgements, and only those free
 * ring space.  Nothing here can block a request thread: they only ever
 * wait for space, and only as long as the overflow policy allows.
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "tap-ring-impl.h"
#include "tap/tap-seq.h"

/* While records keep coming, the sender runs once per tick: one
 * doorbell, one consumer wake-up and one look at the acknowledgements
 * per tick rather than per record.  A tick cost the sender and the
 * consumer some 40-50 us of CPU together on the benchmark machine
 * (wake-ups, three system calls each: docs/benchmarks.md), so 5 ms
 * keeps that under 1 % of one core; with 2 ms it was the largest part
 * of what the tap still cost a 1 MiB write once its bytes were no
 * longer copied (tap-defer.h).  A record waits at most this long to
 * be announced (the first one after a quiet spell goes at once),
 * nothing next to the seconds a journaling file system takes to
 * commit what the introspector reports.
 */
#define TICK_NS 5000000

struct sender {
  struct tap_ring *r;
  bool connected;
  uint64_t head;              /* snapshot of the ring's ready position */
  uint64_t tail;              /* mirror of r->tail (we are its only writer) */
  uint64_t sent;              /* written (file) or announced (socket) */
  uint64_t check_pos;         /* file: records below this have a checksum */
  /* Control bytes waiting to go out: the hello, then doorbells. */
  uint8_t out[TAP_HEADER_FIXED + TAP_DISK_ID_MAX + TAP_RING_DESC_LEN];
  size_t out_len, out_off;
  int hello_fd;               /* ring descriptor for the hello's first byte */
  uint8_t ackbuf[TAP_WORD_LEN * 64];
  size_t ack_len;
  bool warned_sink;
};

/* Trace files carry a checksum per record.  It is computed here, not
 * on the request thread, to keep the guest's path to a lock and a
 * memcpy.
 */
static void
fill_checks (struct sender *s)
{
  struct tap_ring *r = s->r;

  while (s->check_pos < s->head) {
    uint8_t *at = r->buf + s->check_pos % r->cap;
    struct tap_record rec;

    tap_ring_record_at (r, s->check_pos, &rec);
    tap_set_record_check (at, tap_record_check (at, at + TAP_RECORD_HDR,
                                                rec.payload_len, NULL, 0));
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
  tap_ring_flush_loss_locked (r);
  if (atomic_load (&r->waiting))
    pthread_cond_broadcast (&r->space);
  pthread_mutex_unlock (&r->lock);
}

/* Everything up to s->sent is in the consumer's hands (announced, or
 * written to the trace file): request threads judge by this whether a
 * ticking sender must hurry.
 */
static void
set_sent (struct sender *s, uint64_t sent)
{
  s->sent = sent;
  atomic_store (&s->r->announced, sent);
}

static void
disconnect (struct sender *s, const char *why)
{
  struct tap_ring *r = s->r;

  r->log (0, "tap: consumer %s disconnected (%s); %llu bytes kept for it",
          r->path, why, (unsigned long long) (s->head - s->tail));
  close (r->sink_fd);
  r->sink_fd = -1;
  if (s->hello_fd >= 0)
    close (s->hello_fd);
  s->hello_fd = -1;
  s->connected = false;
}

static int
connect_socket (struct sender *s)
{
  struct tap_ring *r = s->r;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd == -1) {
    r->log (0, "tap: socket: %m");
    return -1;
  }
  strncpy (sa.sun_path, r->path, sizeof sa.sun_path - 1);
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) == -1) {
    if (!s->warned_sink)
      r->log (0, "tap: cannot reach consumer %s: %m (will keep trying)",
              r->path);
    s->warned_sink = true;
    close (fd);
    return -1;
  }
  s->hello_fd = tap_shm_readonly_fd (&r->shm);
  if (s->hello_fd == -1) {
    r->log (0, "tap: cannot reopen the ring read-only: %m");
    close (fd);
    return -1;
  }
  return fd;
}

/* Starts a stream: everything not yet acknowledged is offered again. */
static bool
start_stream (struct sender *s)
{
  struct tap_ring *r = s->r;
  struct tap_header h = r->cfg.header;

  if (r->cfg.sink == TAP_SINK_UNIX) {
    int fd = connect_socket (s);
    if (fd == -1)
      return false;
    r->sink_fd = fd;
  }
  s->warned_sink = false;

  pthread_mutex_lock (&r->lock);
  s->head = tap_ring_ready (r);
  /* A record being filled already has its header. */
  if (s->tail < atomic_load (&r->head)) {
    struct tap_record rec;
    tap_ring_record_at (r, s->tail, &rec);
    h.first_seq = tap_seq_first (&rec);
  }
  else
    h.first_seq = r->lost_count ? r->lost_first : r->next_seq;
  r->stats.connects++;
  pthread_mutex_unlock (&r->lock);

  h.time_ns = tap_now_ns (CLOCK_REALTIME);
  s->out_len = tap_encode_header (s->out, &h);
  if (r->cfg.sink == TAP_SINK_UNIX) {
    struct tap_ring_desc d = { .size = r->cap, .start = s->tail };
    tap_encode_ring_desc (s->out + s->out_len, &d);
    s->out_len += TAP_RING_DESC_LEN;
  }
  s->out_off = 0;
  set_sent (s, s->tail);
  s->ack_len = 0;
  s->connected = true;
  r->log (1, "tap: consumer %s connected, resuming at seq %llu", r->path,
          (unsigned long long) h.first_seq);
  return true;
}

/* Sends pending control bytes without blocking, the ring descriptor
 * (and, when payloads may be deferred, the storage's read-only one
 * after it) riding on the first byte of the hello.  False on a broken
 * socket.
 */
static bool
send_control (struct sender *s)
{
  struct tap_ring *r = s->r;
  struct iovec iov = { s->out + s->out_off, s->out_len - s->out_off };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
  char cbuf[CMSG_SPACE (2 * sizeof (int))];
  ssize_t w;

  if (s->hello_fd >= 0) {
    int fds[2] = { s->hello_fd, r->defer.source_fd };
    size_t nfds = r->defer.source_fd >= 0 ? 2 : 1;
    struct cmsghdr *c;
    memset (cbuf, 0, sizeof cbuf);
    m.msg_control = cbuf;
    m.msg_controllen = CMSG_SPACE (nfds * sizeof (int));
    c = CMSG_FIRSTHDR (&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN (nfds * sizeof (int));
    memcpy (CMSG_DATA (c), fds, nfds * sizeof (int));
  }
  w = sendmsg (r->sink_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (w == -1)
    return errno == EAGAIN || errno == EINTR;
  if (s->hello_fd >= 0) {
    close (s->hello_fd);      /* the consumer has its own copy now */
    s->hello_fd = -1;
  }
  s->out_off += w;
  if (s->out_off == s->out_len)
    s->out_off = s->out_len = 0;
  return true;
}

/* Trace file: the stream header, then the bytes themselves. */
static bool
write_file (struct sender *s)
{
  struct tap_ring *r = s->r;
  struct iovec iov[2];
  int n = 0;
  ssize_t w;

  fill_checks (s);
  if (s->out_off < s->out_len)
    iov[n++] = (struct iovec) { s->out + s->out_off, s->out_len - s->out_off };
  if (s->sent < s->head)
    iov[n++] = (struct iovec) { r->buf + s->sent % r->cap, s->head - s->sent };
  if (n == 0)
    return true;
  w = writev (r->sink_fd, iov, n);
  if (w == -1) {
    if (errno == EINTR)
      return true;
    r->log (0, "tap: writing %s: %m", r->path);
    return false;
  }
  if (s->out_off < s->out_len) {
    size_t c = s->out_len - s->out_off;
    if ((size_t) w < c) {
      s->out_off += w;
      return true;
    }
    s->out_off = s->out_len = 0;
    w -= c;
  }
  set_sent (s, s->sent + w);
  /* A trace file acknowledges by having taken the bytes. */
  s->tail = s->sent;
  publish_tail (s, 0);
  return true;
}

/* Reads the acknowledgements that have arrived, without waiting, and
 * frees what they cover; false on a broken or misbehaving consumer.
 */
static bool
read_acks (struct sender *s)
{
  struct tap_ring *r = s->r;
  uint64_t acked = 0;
  bool any = false;

  for (;;) {
    size_t room = sizeof s->ackbuf - s->ack_len, off = 0;
    ssize_t n = read (r->sink_fd, s->ackbuf + s->ack_len, room);

    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1 && errno == EAGAIN)
      break;
    if (n <= 0) {
      disconnect (s, n == 0 ? "closed" : strerror (errno));
      return false;
    }
    s->ack_len += n;
    while (s->ack_len - off >= TAP_WORD_LEN) {
      char err[64];
      if (tap_decode_word (s->ackbuf + off, TAP_WORD_LEN, TAP_ACK_MAGIC,
                           &acked, err, sizeof err) != 1) {
        disconnect (s, err);
        return false;
      }
      off += TAP_WORD_LEN;
      any = true;
    }
    memmove (s->ackbuf, s->ackbuf + off, s->ack_len - off);
    s->ack_len -= off;
    /* A short read took everything there was. */
    if ((size_t) n < room)
      break;
  }
  if (!any)
    return true;

  /* Free whole records the consumer has handled, never beyond what
   * this connection announced.
   */
  while (s->tail < s->sent) {
    struct tap_record rec;

    tap_ring_record_at (r, s->tail, &rec);
    if (rec.seq > acked)
      break;
    s->tail += TAP_RECORD_HDR + rec.payload_len;
  }
  /* Before the space can be reused: nothing may keep bytes there. */
  tap_defer_release (&r->defer, s->tail);
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

/* Sleeps until there is work: at most until the next tick while busy
 * (new records do not wake us then, unless request threads are short
 * of space), or until a new record, an acknowledgement or the timeout
 * when idle.  timeout_ns < 0: none.
 */
static void
wait_for_work (struct sender *s, bool busy, int64_t timeout_ns)
{
  struct tap_ring *r = s->r;
  struct pollfd pfd[2] = { { .fd = r->wake_fd, .events = POLLIN } };
  int np = 1, state = busy ? TAP_TICKING : TAP_IDLE;
  bool work;

  if (busy && (timeout_ns < 0 || timeout_ns > TICK_NS))
    timeout_ns = TICK_NS;
  /* A consumer's messages matter while idle (acknowledgements free the
   * ring, and a hang-up shows here), while a doorbell waits for room
   * in the socket, and while the consumer holds a quarter of the ring:
   * then every acknowledgement is worth taking at once.  Otherwise
   * they wait for the next tick.
   */
  if (r->cfg.sink == TAP_SINK_UNIX && s->connected &&
      (!busy || s->out_len || s->sent - s->tail > r->cap / 4 ||
       atomic_load (&r->waiting)))
    pfd[np++] = (struct pollfd) {
      .fd = r->sink_fd, .events = POLLIN | (s->out_len ? POLLOUT : 0),
    };

  atomic_store (&r->sleep, state);
  atomic_thread_fence (memory_order_seq_cst);
  work = busy ? tap_ring_hurry (r) : tap_ring_ready (r) != s->head;
  if (!work) {
    struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
    if (ppoll (pfd, np, timeout_ns < 0 ? NULL : &ts, NULL) == -1 &&
        errno != EINTR)
      r->log (0, "tap: ppoll: %m");
  }
  /* Whoever ended our sleep (by compare-and-swap) also wrote the
   * eventfd; if nobody did, this store ends it.
   */
  atomic_store (&r->sleep, TAP_AWAKE);
  if (!work && (pfd[0].revents & POLLIN))
    drain_wake (r);
}

/* Sends pending control bytes; false (disconnected) on a broken socket. */
static bool
flush_control (struct sender *s)
{
  if (!send_control (s)) {
    disconnect (s, strerror (errno));
    return false;
  }
  return true;
}

/* Rings the consumer's doorbell for whatever is new, after a hello or
 * a doorbell that earlier found the socket full.  True if something
 * new was announced.
 */
static bool
ring_doorbell (struct sender *s)
{
  uint64_t before = s->sent;

  if (s->out_len && !flush_control (s))
    return false;
  if (s->out_len == 0 && s->sent < s->head) {
    tap_encode_word (s->out, TAP_DOORBELL_MAGIC, s->head);
    s->out_len = TAP_WORD_LEN;
    set_sent (s, s->head);
    if (!flush_control (s))
      return false;
  }
  return s->sent != before;
}

void *
tap_sender_main (void *arg)
{
  struct tap_ring *r = arg;
  struct sender s = { .r = r, .hello_fd = -1 };
  unsigned backoff_ms = 50;
  uint64_t deadline = 0;

  for (;;) {
    int64_t timeout_ns = -1;
    bool stopping, pending, busy;

    pthread_mutex_lock (&r->lock);
    stopping = r->stopping;
    pending = r->lost_count > 0;
    pthread_mutex_unlock (&r->lock);
    if (s.connected && r->cfg.sink == TAP_SINK_UNIX && !read_acks (&s))
      continue;
    s.head = tap_ring_ready (r);

    if (stopping) {
      uint64_t now = tap_now_ns (CLOCK_MONOTONIC);
      if (deadline == 0)
        deadline = now + (uint64_t) r->cfg.drain_ms * 1000000;
      if (s.tail == s.head && !pending && s.out_len == 0)
        break;
      if (now >= deadline) {
        r->log (0, "tap: shutting down with %llu bytes not taken by the "
                "consumer %s", (unsigned long long) (s.head - s.tail),
                r->path);
        break;
      }
      timeout_ns = deadline - now;
    }

    if (!s.connected) {
      if (start_stream (&s))
        backoff_ms = 50;
      else {
        struct pollfd pfd = { .fd = r->wake_fd, .events = POLLIN };
        int t = timeout_ns >= 0 && timeout_ns / 1000000 < backoff_ms
                ? timeout_ns / 1000000 + 1 : (int) backoff_ms;
        poll (&pfd, 1, t);
        if (pfd.revents & POLLIN)
          drain_wake (r);
        if (backoff_ms < 2000)
          backoff_ms *= 2;
        continue;
      }
    }

    if (r->cfg.sink == TAP_SINK_RECORD) {
      uint64_t before = s.sent;
      if (!write_file (&s)) {
        /* A failing trace file (disk full): keep the bytes and retry;
         * the ring overflows visibly if this lasts.
         */
        struct pollfd pfd = { .fd = r->wake_fd, .events = POLLIN };
        poll (&pfd, 1, 1000);
        continue;
      }
      busy = s.sent != before;
    }
    else if (!(busy = ring_doorbell (&s)) && !s.connected)
      continue;
    /* Stopping: nothing new comes, so there is no tick to wait for.
     * A trace file has taken everything by now; a consumer has yet to
     * acknowledge it.
     */
    if (stopping && r->cfg.sink == TAP_SINK_RECORD)
      continue;
    wait_for_work (&s, busy && !stopping, timeout_ns);
  }

  if (r->cfg.sink == TAP_SINK_RECORD && fdatasync (r->sink_fd) == -1)
    r->log (0, "tap: fdatasync %s: %m", r->path);
  if (s.hello_fd >= 0)
    close (s.hello_fd);
  return NULL;
}
