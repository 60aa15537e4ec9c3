/* NBD backend (libnbd): the storage is another NBD server, reached by
 * any URI nbd_connect_uri understands (nbd://, nbds://, nbd+unix://,
 * nbds+unix://, nbd+vsock://, nbds+vsock://), TLS included.
 *
 * Every nbdkit connection gets its own upstream connection, so the
 * upstream sees one client per client and its multi-conn promise (if
 * any) carries over unchanged.  Requests are issued with libnbd's aio
 * API so that all of nbdkit's worker threads for a connection can have
 * requests in flight at once: the submitting thread sleeps on a
 * semaphore and one reader thread per connection drives the socket
 * and wakes it from the completion callback.
 *
 * A connection that breaks (the server restarted, the network hiccuped)
 * is made again, for up to reconnect-timeout seconds, and the requests
 * that were in flight or arrive meanwhile are sent on the new one: the
 * client sees a pause, not an error.  Sending again is safe because
 * none of them was acknowledged to the client: writes, zeroes and
 * trims put the same bytes in the same place, reads fill the same
 * buffer.  A flush sent again covers the writes the old connection
 * acknowledged only if the server kept them, as a server process over
 * a file or a block device does (the kernel holds them); one that loses
 * acknowledged writes when it dies cannot be told apart by any client.
 * Once the time is up the requests fail with EIO, and later ones try
 * once more, at once, until the server is back.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>

#include "backend.h"
#include "storage/storage-uri.h"

static char *uri;
static char *password;          /* from nbd://USER:PASSWORD@..., never shown */
static int64_t export_size;     /* what the server said at setup */
static unsigned reconnect_ms;   /* how long a broken connection is retried */

struct conn {
  /* Held shared while a request is submitted and waited for, and
   * exclusively while the connection is made again.
   */
  pthread_rwlock_t lock;
  struct nbd_handle *nbd;       /* NULL: lost, and not made again yet */
  unsigned gen;                 /* connections made */
  bool gave_up;                 /* the last reconnection ran out of time */
  int kick;                     /* eventfd: wakes the reader from poll */
  pthread_t reader;
  atomic_bool closing;          /* upstream_close asked for the end */
};

/* nbdkit_error with the backend's name in front and the password out:
 * libnbd quotes the URI in some of its messages.
 */
static void __attribute__ ((format (printf, 1, 2)))
upstream_error (const char *fmt, ...)
{
  va_list ap;
  char *msg;
  int r;

  va_start (ap, fmt);
  r = vasprintf (&msg, fmt, ap);
  va_end (ap);
  if (r == -1) {
    nbdkit_error ("nbd backend: out of memory formatting an error");
    return;
  }
  msg = storage_scrub (msg, password);
  nbdkit_error ("nbd backend: %s", msg);
  free (msg);
}

/* A connected handle with base:allocation requested, or NULL with the
 * error reported.
 */
static struct nbd_handle *
connect_upstream (void)
{
  struct nbd_handle *nbd = nbd_create ();

  if (nbd == NULL) {
    upstream_error ("nbd_create: %s", nbd_get_error ());
    return NULL;
  }
  /* The URI comes from the administrator's command line, so the
   * tls-psk-file= and tls-certificates= it names are meant to be read.
   */
  if (nbd_set_uri_allow_local_file (nbd, true) == -1 ||
      nbd_add_meta_context (nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1 ||
      nbd_connect_uri (nbd, uri) == -1) {
    upstream_error ("cannot connect to %s: %s", uri, nbd_get_error ());
    nbd_close (nbd);
    return NULL;
  }
  return nbd;
}

static int
upstream_setup (const struct backend_config *cfg, struct backend_info *info)
{
  struct nbd_handle *nbd;
  int64_t size, min;

  if (cfg->user || cfg->password || cfg->initiator) {
    nbdkit_error ("nbd backend: user, password and initiator apply only to "
                  "iscsi:// backends (an NBD URI names its TLS user itself: "
                  "nbds://USER@HOST/EXPORT)");
    return -1;
  }
  free (uri);
  free (password);
  uri = strdup (cfg->uri);
  password = storage_uri_password (cfg->uri);
  if (uri == NULL) {
    nbdkit_error ("nbd backend: strdup: %m");
    return -1;
  }

  nbd = connect_upstream ();
  if (nbd == NULL)
    return -1;
  size = nbd_get_size (nbd);
  min = nbd_get_block_size (nbd, LIBNBD_SIZE_MINIMUM);
  if (size == -1 || min == -1) {
    upstream_error ("%s: %s", uri, nbd_get_error ());
    nbd_close (nbd);
    return -1;
  }
  info->size = export_size = size;
  reconnect_ms = cfg->reconnect_timeout_ms;
  /* The tap's sector is the upstream's minimum I/O size when it names
   * a real sector (512 or more), else the traditional 512.
   */
  info->sector_size = min >= 512 ? min : 512;
  if (nbd_shutdown (nbd, 0) == -1)
    nbdkit_debug ("nbd backend: disconnecting: %s", nbd_get_error ());
  nbd_close (nbd);
  return 0;
}

static void
upstream_unload (void)
{
  free (uri);
  free (password);
  uri = password = NULL;
}

/* Wakes the reader so it polls with the direction libnbd wants now. */
static void
kick (struct conn *c)
{
  static const uint64_t one = 1;

  /* An eventfd write fails only when 2^64-1 kicks are unread. */
  if (write (c->kick, &one, sizeof one) == -1)
    nbdkit_debug ("nbd backend: eventfd write: %m");
}

static void
drain_kicks (struct conn *c)
{
  uint64_t n;

  if (read (c->kick, &n, sizeof n) == -1)
    nbdkit_debug ("nbd backend: eventfd read: %m");
}

/* Runs libnbd's state machine for one connection: the only thread that
 * waits for the socket.  Submitting threads send what they can
 * themselves; replies, and sends the socket could not take at once,
 * are handled here.  Ends when the connection is closed or dead, by
 * which point libnbd has completed every command (with ENOTCONN if the
 * connection died), so no submitter is left waiting.
 */
static void *
reader (void *cv)
{
  struct conn *c = cv;

  while (!nbd_aio_is_dead (c->nbd) && !nbd_aio_is_closed (c->nbd)) {
    struct pollfd fds[2] = {
      { .fd = nbd_aio_get_fd (c->nbd) },
      { .fd = c->kick, .events = POLLIN },
    };
    unsigned dir = nbd_aio_get_direction (c->nbd);
    int r = 0;

    if (dir & LIBNBD_AIO_DIRECTION_READ)
      fds[0].events |= POLLIN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE)
      fds[0].events |= POLLOUT;
    if (poll (fds, 2, -1) == -1) {
      if (errno == EINTR)
        continue;
      /* Unable to wait any more: cut the connection so that libnbd's
       * next read or write fails at once and it fails every request
       * in flight, instead of leaving them hanging.
       */
      nbdkit_error ("nbd backend: poll: %m; dropping the upstream "
                    "connection");
      shutdown (fds[0].fd, SHUT_RDWR);
      fds[0].revents = POLLIN | POLLOUT;
    }
    if (fds[1].revents & POLLIN)
      drain_kicks (c);

    /* A submitter may have moved the state machine on meanwhile. */
    dir = nbd_aio_get_direction (c->nbd);
    if ((dir & LIBNBD_AIO_DIRECTION_READ) &&
        (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
      r = nbd_aio_notify_read (c->nbd);
    else if ((dir & LIBNBD_AIO_DIRECTION_WRITE) &&
             (fds[0].revents & (POLLOUT | POLLHUP | POLLERR)))
      r = nbd_aio_notify_write (c->nbd);
    if (r == -1)
      upstream_error ("upstream connection: %s", nbd_get_error ());
  }
  /* libnbd calls a server hanging up between requests "closed", not
   * "dead", so only upstream_close tells a lost connection apart.
   */
  if (!atomic_load (&c->closing))
    upstream_error ("connection to %s lost; reconnecting", uri);
  return NULL;
}

static int
start_reader (struct conn *c)
{
  sigset_t all, old;
  int e;

  /* nbdkit's signals (SIGTERM, SIGINT, ...) belong to its own threads. */
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  e = pthread_create (&c->reader, NULL, reader, c);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (e) {
    errno = e;
    nbdkit_error ("nbd backend: pthread_create: %m");
    return -1;
  }
  return 0;
}

static struct nbd_handle *reconnect_upstream (struct conn *c);

static void *
upstream_open (int readonly)
{
  struct conn *c = calloc (1, sizeof *c);
  pthread_rwlockattr_t ra;

  /* Nothing to do for readonly: nbdkit sends no writes then. */
  (void) readonly;
  if (c == NULL) {
    nbdkit_error ("nbd backend: calloc: %m");
    return NULL;
  }
  c->kick = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (c->kick == -1) {
    nbdkit_error ("nbd backend: eventfd: %m");
    free (c);
    return NULL;
  }
  c->nbd = connect_upstream ();
  /* The server may be restarting: a new client waits for it as the
   * requests of the others do, up to reconnect-timeout.
   */
  if (c->nbd == NULL)
    c->nbd = reconnect_upstream (c);
  if (c->nbd == NULL || start_reader (c) == -1) {
    nbd_close (c->nbd);
    close (c->kick);
    free (c);
    return NULL;
  }
  /* A reconnection waits for the requests in flight to fail; the
   * requests that come meanwhile wait for it, not the other way round.
   */
  pthread_rwlockattr_init (&ra);
  pthread_rwlockattr_setkind_np (&ra,
                                 PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init (&c->lock, &ra);
  pthread_rwlockattr_destroy (&ra);
  return c;
}

static void
upstream_close (void *cv)
{
  struct conn *c = cv;

  /* nbdkit closes a connection only once its requests are done, so
   * this queues NBD_CMD_DISC behind nothing, and the reader, which
   * polls the socket anyway, sees it through to the close (where
   * nbd_shutdown would poll the same socket from this thread too).
   * On a dead connection this fails and the reader is ending.
   */
  atomic_store (&c->closing, true);
  if (c->nbd) {
    if (nbd_aio_disconnect (c->nbd, 0) == -1)
      nbdkit_debug ("nbd backend: disconnect: %s", nbd_get_error ());
    kick (c);
    pthread_join (c->reader, NULL);
    nbd_close (c->nbd);
  }
  pthread_rwlock_destroy (&c->lock);
  close (c->kick);
  free (c);
}

static uint64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/* A new connection to the server, tried until reconnect-timeout has
 * passed (once only, after an earlier attempt ran out of time); the
 * export must be the one it was.  Lock held exclusively.
 */
static struct nbd_handle *
reconnect_upstream (struct conn *c)
{
  uint64_t start = now_ms (), until = start + (c->gave_up ? 0 : reconnect_ms);
  unsigned delay = 50;

  for (;;) {
    struct nbd_handle *nbd = connect_upstream ();

    if (nbd && nbd_get_size (nbd) != export_size) {
      upstream_error ("%s: the export is no longer of %lld bytes: not "
                      "reconnecting", uri, (long long) export_size);
      nbd_close (nbd);
      return NULL;
    }
    if (nbd) {
      c->gave_up = false;
      /* Said as an error: nbdkit logs nothing else without --verbose,
       * and the loss was one.
       */
      upstream_error ("reconnected to %s after %.1f s", uri,
                      (now_ms () - start) / 1000.0);
      return nbd;
    }
    if (now_ms () >= until)
      break;
    usleep (delay * 1000);
    delay = delay * 2 < 1000 ? delay * 2 : 1000;
  }
  if (!c->gave_up)
    upstream_error ("%s: no connection within %u s; requests fail with EIO "
                    "until the server is back", uri, reconnect_ms / 1000);
  c->gave_up = true;
  return NULL;
}

/* The connection of generation gen broke: make it again, unless a
 * request that found out earlier already did.  -1 if it cannot be made.
 */
static int
reconnect (struct conn *c, unsigned gen)
{
  int r = 0;

  pthread_rwlock_wrlock (&c->lock);
  if (c->gen == gen) {
    if (c->nbd) {
      /* libnbd has failed every request of the dead handle, so the
       * reader is ending or ended.
       */
      kick (c);
      pthread_join (c->reader, NULL);
      nbd_close (c->nbd);
      c->nbd = NULL;
      c->gen++;
    }
    c->nbd = reconnect_upstream (c);
    if (c->nbd && start_reader (c) == -1) {
      nbd_close (c->nbd);
      c->nbd = NULL;
    }
    if (c->nbd)
      c->gen++;
    else
      r = -1;
  }
  pthread_rwlock_unlock (&c->lock);
  return r;
}

/* The errnos an NBD server can send back (libnbd turns the wire codes
 * into these).  Anything else was made up by libnbd because the
 * connection or the protocol broke, which a client can only be told
 * as EIO.
 */
static int
client_errno (int err)
{
  switch (err) {
  case EPERM: case EIO: case ENOMEM: case EINVAL: case ENOSPC:
  case EOVERFLOW: case ENOTSUP: case ESHUTDOWN:
    return err;
  default:
    return EIO;
  }
}

/* One request, as the client sent it. */
enum op_kind { OP_PREAD, OP_PWRITE, OP_FLUSH, OP_TRIM, OP_ZERO, OP_CACHE,
               OP_EXTENTS };
static const char *const op_names[] = {
  [OP_PREAD] = "pread", [OP_PWRITE] = "pwrite", [OP_FLUSH] = "flush",
  [OP_TRIM] = "trim", [OP_ZERO] = "zero", [OP_CACHE] = "cache",
  [OP_EXTENTS] = "block status",
};

struct op {
  enum op_kind kind;
  void *buf;                    /* pread, pwrite */
  uint32_t count;
  uint64_t offset;
  uint32_t flags;               /* LIBNBD_CMD_FLAG_* */
  struct nbdkit_extents *extents;
};

/* A request in flight, on its submitter's stack. */
struct request {
  sem_t done;
  int err;                      /* the completion callback's verdict */
  struct nbdkit_extents *extents;       /* block status only */
};

static int
request_done (void *rv, int *error)
{
  struct request *r = rv;

  r->err = *error;
  sem_post (&r->done);
  return 1;                     /* retire it: nobody asks for it again */
}

/* Runs in the reader thread, before the request's completion. */
static int
add_extents (void *rv, const char *context, uint64_t offset,
             uint32_t *entries, size_t n, int *error)
{
  struct request *r = rv;
  size_t i;

  /* base:allocation is all we asked for; ignore anything else. */
  if (strcmp (context, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  for (i = 0; i + 1 < n; i += 2) {
    uint32_t type = 0;

    if (entries[i + 1] & LIBNBD_STATE_HOLE)
      type |= NBDKIT_EXTENT_HOLE;
    if (entries[i + 1] & LIBNBD_STATE_ZERO)
      type |= NBDKIT_EXTENT_ZERO;
    if (nbdkit_add_extent (r->extents, offset, entries[i], type) == -1) {
      *error = errno ? errno : EIO;
      return -1;
    }
    offset += entries[i];
  }
  return 0;
}

/* Queues the request on nbd; the completion callback may run before
 * this even returns.  The cookie, or -1.
 */
static int64_t
submit (struct nbd_handle *nbd, const struct op *o, struct request *r)
{
  nbd_completion_callback done = { .callback = request_done, .user_data = r };
  nbd_extent_callback ext = { .callback = add_extents, .user_data = r };

  switch (o->kind) {
  case OP_PREAD:
    return nbd_aio_pread (nbd, o->buf, o->count, o->offset, done, o->flags);
  case OP_PWRITE:
    return nbd_aio_pwrite (nbd, o->buf, o->count, o->offset, done, o->flags);
  case OP_FLUSH:
    return nbd_aio_flush (nbd, done, o->flags);
  case OP_TRIM:
    return nbd_aio_trim (nbd, o->count, o->offset, done, o->flags);
  case OP_ZERO:
    return nbd_aio_zero (nbd, o->count, o->offset, done, o->flags);
  case OP_CACHE:
    return nbd_aio_cache (nbd, o->count, o->offset, done, o->flags);
  case OP_EXTENTS:
    return nbd_aio_block_status (nbd, o->count, o->offset, ext, done,
                                 o->flags);
  }
  abort ();
}

/* Sends the request on the current connection and waits for it.  0, or
 * the errno for the client, or -1 when the connection broke: it must be
 * sent again.  Lock held shared.
 */
static int
send_once (struct conn *c, const struct op *o)
{
  const char *op = op_names[o->kind];
  struct request r = { .extents = o->extents };
  int64_t cookie;
  int err = 0;

  if (c->nbd == NULL)
    return -1;
  sem_init (&r.done, 0, 0);
  cookie = submit (c->nbd, o, &r);
  if (cookie == -1) {
    /* The connection is gone, or libnbd refused the request (bounds,
     * flags) as the server would have.  libnbd calls a dead handle
     * EINVAL ("invalid state").
     */
    if (nbd_aio_is_dead (c->nbd) || nbd_aio_is_closed (c->nbd))
      err = -1;
    else {
      upstream_error ("%s: %s", op, nbd_get_error ());
      err = client_errno (nbd_get_errno ());
    }
  }
  else {
    /* The submitter sends what the socket takes at once; the rest is
     * the reader's to send, and it may be asleep polling for input.
     */
    if (nbd_aio_get_direction (c->nbd) & LIBNBD_AIO_DIRECTION_WRITE)
      kick (c);
    while (sem_wait (&r.done) == -1 && errno == EINTR)
      ;
    /* ENOTCONN: libnbd failed it because the connection died. */
    if (r.err == ENOTCONN)
      err = -1;
    else if (r.err) {
      /* ENOTSUP is an answer, not a failure: an upstream turning down
       * a fast zero, and nbdkit passes it on or falls back quietly.
       */
      if (r.err != ENOTSUP)
        upstream_error ("%s: upstream replied: %s", op, strerror (r.err));
      err = client_errno (r.err);
    }
  }
  sem_destroy (&r.done);
  /* When a submitter's send found the connection dead, libnbd closed
   * the socket in that thread, under the reader's poll: wake the
   * reader to notice and end.
   */
  if (err == -1)
    kick (c);
  return err;
}

/* The request, sent again on a new connection as long as one can be
 * made, in nbdkit's convention.
 */
static int
request (struct conn *c, const struct op *o)
{
  for (;;) {
    unsigned gen;
    int err;

    pthread_rwlock_rdlock (&c->lock);
    gen = c->gen;
    err = send_once (c, o);
    pthread_rwlock_unlock (&c->lock);
    if (err == 0)
      return 0;
    if (err == -1 && reconnect (c, gen) == 0)
      continue;
    if (err == -1) {
      upstream_error ("%s: no connection to upstream", op_names[o->kind]);
      err = EIO;
    }
    nbdkit_set_error (err);
    errno = err;
    return -1;
  }
}

static uint32_t
fua (uint32_t flags)
{
  return flags & NBDKIT_FLAG_FUA ? LIBNBD_CMD_FLAG_FUA : 0;
}

static int
upstream_pread (void *cv, void *buf, uint32_t count, uint64_t offset,
                uint32_t flags)
{
  (void) flags;
  return request (cv, &(struct op) { .kind = OP_PREAD, .buf = buf,
                                     .count = count, .offset = offset });
}

static int
upstream_pwrite (void *cv, const void *buf, uint32_t count, uint64_t offset,
                 uint32_t flags)
{
  return request (cv, &(struct op) { .kind = OP_PWRITE, .buf = (void *) buf,
                                     .count = count, .offset = offset,
                                     .flags = fua (flags) });
}

static int
upstream_flush (void *cv, uint32_t flags)
{
  (void) flags;
  return request (cv, &(struct op) { .kind = OP_FLUSH });
}

static int
upstream_trim (void *cv, uint32_t count, uint64_t offset, uint32_t flags)
{
  /* Success is 0, never 1: what a trimmed range reads as is the
   * upstream's business, so the tap must not promise zeroes.
   */
  return request (cv, &(struct op) { .kind = OP_TRIM, .count = count,
                                     .offset = offset,
                                     .flags = fua (flags) });
}

static int
upstream_zero (void *cv, uint32_t count, uint64_t offset, uint32_t flags)
{
  uint32_t f = fua (flags);

  /* nbdkit's MAY_TRIM is NBD's default: NBD spells its absence NO_HOLE. */
  if (!(flags & NBDKIT_FLAG_MAY_TRIM))
    f |= LIBNBD_CMD_FLAG_NO_HOLE;
  if (flags & NBDKIT_FLAG_FAST_ZERO)
    f |= LIBNBD_CMD_FLAG_FAST_ZERO;
  return request (cv, &(struct op) { .kind = OP_ZERO, .count = count,
                                     .offset = offset, .flags = f });
}

static int
upstream_cache (void *cv, uint32_t count, uint64_t offset, uint32_t flags)
{
  (void) flags;
  return request (cv, &(struct op) { .kind = OP_CACHE, .count = count,
                                     .offset = offset });
}

static int
upstream_extents (void *cv, uint32_t count, uint64_t offset, uint32_t flags,
                  struct nbdkit_extents *extents)
{
  return request (cv, &(struct op) {
                        .kind = OP_EXTENTS, .count = count, .offset = offset,
                        .flags = flags & NBDKIT_FLAG_REQ_ONE
                                 ? LIBNBD_CMD_FLAG_REQ_ONE : 0,
                        .extents = extents });
}

/* A libnbd answer about the connection: >= 0, or -1 reported. */
static int64_t
answer (int64_t r, const char *what)
{
  if (r == -1) {
    upstream_error ("%s: %s", what, nbd_get_error ());
    errno = client_errno (nbd_get_errno ());
  }
  return r;
}

static struct nbd_handle *
handle_of (void *cv)
{
  return ((struct conn *) cv)->nbd;
}

static int64_t
upstream_get_size (void *cv)
{
  return answer (nbd_get_size (handle_of (cv)), "get_size");
}

/* What the upstream advertised, as is; all zeroes if it did not. */
static int
upstream_block_size (void *cv, uint32_t *minimum, uint32_t *preferred,
                     uint32_t *maximum)
{
  struct nbd_handle *nbd = handle_of (cv);
  int64_t min = answer (nbd_get_block_size (nbd, LIBNBD_SIZE_MINIMUM),
                        "block size");
  int64_t pref = answer (nbd_get_block_size (nbd, LIBNBD_SIZE_PREFERRED),
                         "block size");
  int64_t max = answer (nbd_get_block_size (nbd, LIBNBD_SIZE_MAXIMUM),
                        "block size");

  if (min == -1 || pref == -1 || max == -1)
    return -1;
  *minimum = min;
  *preferred = pref;
  *maximum = max;
  return 0;
}

/* The upstream's own flags, so a client sees through the proxy exactly
 * what it would see connecting directly.
 */
#define FORWARD_FLAG(fn)                                  \
  static int                                              \
  upstream_##fn (void *cv)                                \
  {                                                       \
    return answer (nbd_##fn (handle_of (cv)), #fn);          \
  }
FORWARD_FLAG (can_flush)
FORWARD_FLAG (can_trim)
FORWARD_FLAG (can_zero)
FORWARD_FLAG (can_fast_zero)
FORWARD_FLAG (can_multi_conn)
FORWARD_FLAG (is_rotational)

static int
upstream_can_write (void *cv)
{
  int r = answer (nbd_is_read_only (handle_of (cv)), "is_read_only");

  return r == -1 ? -1 : !r;
}

/* Without native FUA upstream, NONE rather than EMULATE: the client
 * then sees no FUA, as it would connecting directly.
 */
static int
upstream_can_fua (void *cv)
{
  int r = answer (nbd_can_fua (handle_of (cv)), "can_fua");

  return r == -1 ? -1 : r ? NBDKIT_FUA_NATIVE : NBDKIT_FUA_NONE;
}

static int
upstream_can_cache (void *cv)
{
  int r = answer (nbd_can_cache (handle_of (cv)), "can_cache");

  return r == -1 ? -1 : r ? NBDKIT_CACHE_NATIVE : NBDKIT_CACHE_NONE;
}

static int
upstream_can_extents (void *cv)
{
  return answer (nbd_can_meta_context (handle_of (cv),
                                       LIBNBD_CONTEXT_BASE_ALLOCATION),
                 "can_meta_context");
}

const struct backend backend_nbd = {
  .name = "nbd",
  .thread_model = NBDKIT_THREAD_MODEL_PARALLEL,
  .setup = upstream_setup,
  .unload = upstream_unload,
  .open = upstream_open,
  .close = upstream_close,
  .get_size = upstream_get_size,
  .block_size = upstream_block_size,
  .can_write = upstream_can_write,
  .can_flush = upstream_can_flush,
  .can_fua = upstream_can_fua,
  .can_trim = upstream_can_trim,
  .can_zero = upstream_can_zero,
  .can_fast_zero = upstream_can_fast_zero,
  .can_extents = upstream_can_extents,
  .can_cache = upstream_can_cache,
  .can_multi_conn = upstream_can_multi_conn,
  .is_rotational = upstream_is_rotational,
  .pread = upstream_pread,
  .pwrite = upstream_pwrite,
  .flush = upstream_flush,
  .trim = upstream_trim,
  .zero = upstream_zero,
  .extents = upstream_extents,
  .cache = upstream_cache,
};
