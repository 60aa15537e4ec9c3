/* The consumer's end of a tap connection (see tap-client.h). */

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tap-client.h"
#include "tap-shm.h"

/* A deferred payload read into the shadow, until its record is
 * acknowledged.
 */
struct shadowed { uint64_t seq, end; };

struct tap_client {
  int fd;
  struct tap_shm shm;
  /* Deferred payloads: the storage, and where its bytes are read to so
   * that they stay put until acknowledged.  The shadow is used as a
   * queue from its start, which it goes back to whenever everything in
   * it is acknowledged: a consumer that keeps up touches only the
   * first few megabytes of it, not all of it as it would if payloads
   * sat where the ring has their records.
   */
  int source_fd;
  struct tap_shm shadow;
  uint64_t shadow_head, shadow_tail;
  struct shadowed *live;      /* in the shadow, oldest first */
  size_t live_first, live_n, live_cap;
  bool skip_deferred;
  char loss_reason[200];      /* why the last payload was lost */
  struct tap_header hdr;
  bool header_given;
  uint64_t cursor;            /* ring position of the next record */
  uint64_t head;              /* complete up to here (last doorbell) */
  uint8_t in[TAP_WORD_LEN * 64];
  size_t in_len;
};

/* Takes the complete doorbells out of the input buffer. */
static int
take_doorbells (struct tap_client *c, char *err, size_t errlen)
{
  size_t off = 0;

  while (c->in_len - off >= TAP_WORD_LEN) {
    uint64_t head;
    if (tap_decode_word (c->in + off, TAP_WORD_LEN, TAP_DOORBELL_MAGIC, &head,
                         err, errlen) != 1)
      return -1;
    /* A doorbell never goes back, and never announces more than the
     * ring holds beyond what we have not consumed yet.
     */
    if (head < c->head || head - c->cursor > c->shm.size) {
      snprintf (err, errlen, "doorbell at position %llu is impossible (we "
                "are at %llu, the ring holds %zu bytes)",
                (unsigned long long) head, (unsigned long long) c->cursor,
                c->shm.size);
      return -1;
    }
    c->head = head;
    off += TAP_WORD_LEN;
  }
  memmove (c->in, c->in + off, c->in_len - off);
  c->in_len -= off;
  return 0;
}


/* Reads the hello: header, ring descriptor, and the ring's descriptor
 * attached to its first byte.
 */
static int
read_hello (struct tap_client *c, int timeout_ms, char *err, size_t errlen)
{
  uint8_t buf[TAP_HEADER_FIXED + TAP_DISK_ID_MAX + TAP_RING_DESC_LEN];
  size_t have = 0, used = 0;
  int ring_fd = -1, r;
  struct tap_ring_desc d;
  struct stat st;

  for (;;) {
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    char cbuf[CMSG_SPACE (2 * sizeof (int))];
    struct iovec iov = { buf + have, sizeof buf - have };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    ssize_t n;

    if (poll (&p, 1, timeout_ms) != 1) {
      snprintf (err, errlen, "no hello from the plugin within %d ms",
                timeout_ms);
      goto fail;
    }
    n = recvmsg (c->fd, &m, MSG_CMSG_CLOEXEC);
    if (n <= 0) {
      snprintf (err, errlen, "the plugin left during its hello");
      goto fail;
    }
    /* The ring's descriptor, then maybe the storage's; anything else
     * is closed.
     */
    for (struct cmsghdr *h = CMSG_FIRSTHDR (&m); h; h = CMSG_NXTHDR (&m, h))
      if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
        size_t n = (h->cmsg_len - CMSG_LEN (0)) / sizeof (int);
        for (size_t i = 0; i < n; i++) {
          int fd;
          memcpy (&fd, CMSG_DATA (h) + i * sizeof fd, sizeof fd);
          if (ring_fd == -1)
            ring_fd = fd;
          else if (c->source_fd == -1)
            c->source_fd = fd;
          else
            close (fd);
        }
      }
    have += n;
    if (used == 0) {
      r = tap_decode_header (buf, have, &c->hdr, &used, err, errlen);
      if (r == -1)
        goto fail;
      if (r == 0)
        continue;
    }
    r = tap_decode_ring_desc (buf + used, have - used, &d, err, errlen);
    if (r == -1)
      goto fail;
    if (r == 1)
      break;
  }
  /* Doorbells may follow the hello in the same read. */
  used += TAP_RING_DESC_LEN;
  if (have - used > sizeof c->in) {
    snprintf (err, errlen, "the plugin sent too much after its hello");
    goto fail;
  }
  memcpy (c->in, buf + used, have - used);
  c->in_len = have - used;
  if (ring_fd == -1) {
    snprintf (err, errlen, "the plugin's hello carried no ring descriptor");
    goto fail;
  }
  /* The mapping owns the descriptor from here, mapped or not. */
  r = tap_shm_map_readonly (&c->shm, ring_fd, d.size, err, errlen);
  ring_fd = -1;
  if (r == -1)
    goto fail;
  if ((c->hdr.flags & TAP_HDR_DEFERRED) &&
      (c->source_fd == -1 || fstat (c->source_fd, &st) == -1 ||
       !(S_ISREG (st.st_mode) || S_ISBLK (st.st_mode)))) {
    snprintf (err, errlen, "the plugin defers payloads but its hello "
              "carried no file or block device to read them from");
    goto fail;
  }
  c->cursor = c->head = d.start;
  return take_doorbells (c, err, errlen);

 fail:
  if (ring_fd >= 0)
    close (ring_fd);
  return -1;
}

int
tap_client_listen (const char *path, char *err, size_t errlen)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  struct stat sb;
  int fd;

  if (strlen (path) >= sizeof sa.sun_path) {
    snprintf (err, errlen, "socket path too long: %s", path);
    return -1;
  }
  strcpy (sa.sun_path, path);
  if (lstat (path, &sb) == 0 && S_ISSOCK (sb.st_mode))
    unlink (path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 || bind (fd, (struct sockaddr *) &sa, sizeof sa) == -1 ||
      listen (fd, 4) == -1) {
    snprintf (err, errlen, "listen on %s: %s", path, strerror (errno));
    if (fd >= 0)
      close (fd);
    return -1;
  }
  return fd;
}

struct tap_client *
tap_client_accept (int listen_fd, int timeout_ms, char *err, size_t errlen)
{
  struct tap_client *c = calloc (1, sizeof *c);

  if (c == NULL) {
    snprintf (err, errlen, "out of memory");
    return NULL;
  }
  c->shm.fd = -1;
  c->shadow.fd = -1;
  c->source_fd = -1;
  c->fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c->fd == -1) {
    snprintf (err, errlen, "accept: %s", strerror (errno));
    free (c);
    return NULL;
  }
  if (read_hello (c, timeout_ms, err, errlen) == -1) {
    tap_client_close (c);
    return NULL;
  }
  return c;
}

void
tap_client_close (struct tap_client *c)
{
  if (c == NULL)
    return;
  if (c->fd >= 0)
    close (c->fd);
  if (c->source_fd >= 0)
    close (c->source_fd);
  tap_shm_destroy (&c->shm);
  tap_shm_destroy (&c->shadow);
  free (c->live);
  free (c);
}

int
tap_client_fd (const struct tap_client *c)
{
  return c->fd;
}

int
tap_client_receive (struct tap_client *c, bool *closed,
                    char *err, size_t errlen)
{
  *closed = false;
  for (;;) {
    size_t room = sizeof c->in - c->in_len;
    ssize_t n = recv (c->fd, c->in + c->in_len, room, MSG_DONTWAIT);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1 && errno == EAGAIN)
      break;
    if (n <= 0) {
      *closed = n == 0;
      snprintf (err, errlen, "%s", n == 0 ? "the plugin closed the connection"
                                          : strerror (errno));
      return -1;
    }
    c->in_len += n;
    /* A full buffer may mean more is waiting: make room and read on
     * (a zero-length read would look like the plugin closing).
     */
    if (take_doorbells (c, err, errlen) == -1)
      return -1;
    if ((size_t) n < room)
      break;
  }
  return 0;
}

void
tap_client_skip_deferred (struct tap_client *c)
{
  c->skip_deferred = true;
}

const char *
tap_client_loss_reason (const struct tap_client *c)
{
  return c->loss_reason;
}

/* Reads n bytes at offset from the storage; -1 with err. */
static int
read_storage (struct tap_client *c, uint8_t *dst, size_t n, uint64_t offset,
              char *err, size_t errlen)
{
  size_t done = 0;

  while (done < n) {
    ssize_t r = pread (c->source_fd, dst + done, n - done, offset + done);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0) {
      snprintf (err, errlen, "reading a deferred payload at %llu+%zu from "
                "the storage: %s", (unsigned long long) offset, n,
                r == 0 ? "end of file" : strerror (errno));
      return -1;
    }
    done += r;
  }
  return 0;
}

/* Room in the shadow for len bytes of the record seq; NULL with err.
 * Records not yet acknowledged are in the ring too, which is as large
 * as the shadow, so an honest plugin's never overfill it.
 */
static uint8_t *
shadow_take (struct tap_client *c, uint64_t seq, uint32_t len, char *err,
             size_t errlen)
{
  if (c->shadow.base == NULL &&
      tap_shm_create (&c->shadow, c->shm.size, err, errlen) == -1)
    return NULL;
  if (len > c->shadow.size - (c->shadow_head - c->shadow_tail)) {
    snprintf (err, errlen, "record seq %llu: deferred payloads not yet "
              "acknowledged would exceed the ring", (unsigned long long) seq);
    return NULL;
  }
  if (c->live_first + c->live_n == c->live_cap) {
    if (c->live_first > 0) {
      memmove (c->live, c->live + c->live_first, c->live_n * sizeof *c->live);
      c->live_first = 0;
    }
    else {
      size_t cap = c->live_cap ? 2 * c->live_cap : 64;
      struct shadowed *p = realloc (c->live, cap * sizeof *p);
      if (p == NULL) {
        snprintf (err, errlen, "out of memory");
        return NULL;
      }
      c->live = p;
      c->live_cap = cap;
    }
  }
  return c->shadow.base + c->shadow_head % c->shadow.size;
}

/* The bytes shadow_take made room for are the record's now. */
static void
shadow_keep (struct tap_client *c, uint64_t seq, uint32_t len)
{
  c->shadow_head += len;
  c->live[c->live_first + c->live_n++] = (struct shadowed) {
    seq, c->shadow_head,
  };
}

/* Frees the shadow's bytes of records up to seq. */
static void
shadow_release (struct tap_client *c, uint64_t seq)
{
  while (c->live_n && c->live[c->live_first].seq <= seq) {
    c->shadow_tail = c->live[c->live_first].end;
    c->live_first++;
    c->live_n--;
  }
  if (c->live_n == 0)
    c->live_first = c->shadow_head = c->shadow_tail = 0;
}

size_t
tap_client_shadow_resident (const struct tap_client *c)
{
  struct stat st;

  if (c->shadow.base == NULL || fstat (c->shadow.fd, &st) == -1)
    return 0;
  return (size_t) st.st_blocks * 512;
}

/* A write whose bytes nobody could read: delivered as such, so that
 * the consumer reports a loss and the stream goes on (failing instead
 * would fail again on the same record after every reconnect).
 */
static void
payload_lost (struct tap_client *c, struct tap_item *item, const char *why)
{
  snprintf (c->loss_reason, sizeof c->loss_reason, "%s", why);
  item->rec.flags |= TAP_F_PAYLOAD_LOST;
  item->rec.payload_len = 0;
  item->payload = NULL;
}

/* Points a deferred record's item at its bytes: in the storage unless
 * the plugin kept them in the ring because they were about to be
 * overwritten.  The storage is read first and the state after: if it
 * still says "in the storage", no overwrite had begun before the read
 * ended (the plugin stores the state before it lets one begin).
 */
static int
materialize (struct tap_client *c, const uint8_t *rec, struct tap_item *item,
             char *err, size_t errlen)
{
  const _Atomic uint32_t *state = (const _Atomic uint32_t *) (rec + 4);
  uint32_t len = item->rec.payload_len, s;
  uint8_t *dst;
  char why[sizeof c->loss_reason];

  item->rec.flags &= ~TAP_F_DEFERRED;
  if ((uintptr_t) state % 4 != 0) {
    snprintf (err, errlen, "record seq %llu: deferred but not aligned",
              (unsigned long long) item->rec.seq);
    return -1;
  }
  s = atomic_load_explicit (state, memory_order_acquire);
  if (s == TAP_PAYLOAD_IN_STORAGE && c->skip_deferred) {
    item->payload = NULL;
    return 0;
  }
  if (s == TAP_PAYLOAD_IN_STORAGE) {
    dst = shadow_take (c, item->rec.seq, len, err, errlen);
    if (dst == NULL)
      return -1;
    if (read_storage (c, dst, len, item->rec.offset, why, sizeof why) == -1) {
      /* Kept meanwhile: the ring has them after all. */
      s = atomic_load_explicit (state, memory_order_acquire);
      if (s == TAP_PAYLOAD_IN_STORAGE) {
        payload_lost (c, item, why);
        return 0;
      }
    }
    else {
      atomic_thread_fence (memory_order_seq_cst);
      s = atomic_load_explicit (state, memory_order_acquire);
      if (s == TAP_PAYLOAD_IN_STORAGE) {
        shadow_keep (c, item->rec.seq, len);
        item->payload = dst;
      }
    }
  }
  if (s == TAP_PAYLOAD_LOST) {
    payload_lost (c, item, "the plugin could not keep the bytes before they "
                  "were overwritten (its log says why)");
    return 0;
  }
  if (s != TAP_PAYLOAD_IN_STORAGE && s != TAP_PAYLOAD_IN_RING) {
    snprintf (err, errlen, "record seq %llu: unknown payload state %u",
              (unsigned long long) item->rec.seq, s);
    return -1;
  }
  /* In the ring: tap_parse_record pointed payload there already. */
  return 0;
}

int
tap_client_next (struct tap_client *c, struct tap_item *item,
                 char *err, size_t errlen)
{
  const uint8_t *p = c->shm.base + c->cursor % c->shm.size;
  uint64_t avail = c->head - c->cursor;
  int r;

  if (!c->header_given) {
    c->header_given = true;
    *item = (struct tap_item) { .kind = TAP_ITEM_HEADER, .hdr = &c->hdr };
    return 1;
  }
  if (avail == 0)
    return 0;
  r = tap_parse_record (p, avail, &c->hdr, item, err, errlen);
  if (r == 0)
    snprintf (err, errlen, "the doorbell ends inside a record");
  if (r != 1)
    return -1;
  if ((item->rec.flags & TAP_F_DEFERRED) &&
      materialize (c, p, item, err, errlen) == -1)
    return -1;
  c->cursor += item->raw_len;
  return 1;
}

int
tap_client_ack (struct tap_client *c, uint64_t seq)
{
  uint8_t buf[TAP_WORD_LEN];

  shadow_release (c, seq);
  tap_encode_word (buf, TAP_ACK_MAGIC, seq);
  return send (c->fd, buf, sizeof buf, MSG_NOSIGNAL) == sizeof buf ? 0 : -1;
}
