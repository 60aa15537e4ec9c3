/* nbdkit-blockwatch-plugin: an inline proxy that forwards every request
 * to a backend unchanged and tees acknowledged writes to the tap.
 *
 * The data path is: nbdkit request thread -> backend -> (on success)
 * tap_ring_put -> reply.  The tap never fails a request and waits at
 * most tap-overflow=block:MS for buffer space, so a slow or dead
 * consumer cannot hurt the guest beyond that bound.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "plugin-stats.h"
#include "tap-ring.h"

#define DEFAULT_TAP_BUFFER (64u * 1024 * 1024)
#define DEFAULT_DRAIN_MS   5000

static struct backend_config cfg = {
  .reconnect_timeout_ms = 30 * 1000,
};
static const struct backend *be;

static enum { TAP_NONE, TAP_ON } tap_mode = TAP_NONE;
static struct tap_config tapcfg = {
  .buffer_bytes = DEFAULT_TAP_BUFFER,
  .block_ms = -1,
  .drain_ms = DEFAULT_DRAIN_MS,
  .source_fd = -1,
};
static const char *disk_id;
static char *default_disk_id;
static struct tap_ring *tap;

static void
tap_log (int level, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  if (level == 0)
    nbdkit_verror (fmt, ap);
  else
    nbdkit_vdebug (fmt, ap);
  va_end (ap);
}

static int
parse_tap (const char *value)
{
  if (strcmp (value, "none") == 0) {
    tap_mode = TAP_NONE;
    return 0;
  }
  if (strncmp (value, "unix:", 5) == 0 && value[5]) {
    tapcfg.sink = TAP_SINK_UNIX;
    tapcfg.path = value + 5;
  }
  else if (strncmp (value, "record:", 7) == 0 && value[7]) {
    tapcfg.sink = TAP_SINK_RECORD;
    tapcfg.path = value + 7;
  }
  else {
    nbdkit_error ("tap=%s: expected none, unix:PATH or record:FILE", value);
    return -1;
  }
  tap_mode = TAP_ON;
  return 0;
}

static int
parse_overflow (const char *value)
{
  unsigned ms;

  if (strcmp (value, "drop") == 0) {
    tapcfg.block_ms = -1;
    return 0;
  }
  if (strcmp (value, "block") == 0) {
    tapcfg.block_ms = 1000;
    return 0;
  }
  if (strncmp (value, "block:", 6) == 0 &&
      nbdkit_parse_unsigned ("tap-overflow", value + 6, &ms) == 0 &&
      ms <= 3600000) {
    tapcfg.block_ms = ms;
    return 0;
  }
  nbdkit_error ("tap-overflow=%s: expected drop, block or block:MS "
                "(MS at most 3600000)", value);
  return -1;
}

static int
bw_config (const char *key, const char *value)
{
  if (strcmp (key, "backend") == 0) {
    if (cfg.uri) {
      nbdkit_error ("backend given twice ('%s' and '%s')", cfg.uri, value);
      return -1;
    }
    cfg.uri = value;
  }
  else if (strcmp (key, "tap") == 0)
    return parse_tap (value);
  else if (strcmp (key, "tap-buffer") == 0) {
    int64_t n = nbdkit_parse_size (value);
    if (n == -1)
      return -1;
    if (n < TAP_MIN_BUFFER || n > (int64_t) 1 << 40) {
      nbdkit_error ("tap-buffer=%s: must be between %u bytes and 1T", value,
                    (unsigned) TAP_MIN_BUFFER);
      return -1;
    }
    tapcfg.buffer_bytes = n;
  }
  else if (strcmp (key, "tap-overflow") == 0)
    return parse_overflow (value);
  else if (strcmp (key, "tap-drain") == 0)
    return nbdkit_parse_unsigned ("tap-drain", value, &tapcfg.drain_ms);
  else if (strcmp (key, "disk-id") == 0) {
    if (strlen (value) > TAP_DISK_ID_MAX) {
      nbdkit_error ("disk-id: longer than %d bytes", TAP_DISK_ID_MAX);
      return -1;
    }
    disk_id = value;
  }
  else if (strcmp (key, "user") == 0)
    cfg.user = value;
  else if (strcmp (key, "password") == 0) {
    free (cfg.password);
    if (nbdkit_read_password (value, &cfg.password) == -1)
      return -1;
  }
  else if (strcmp (key, "initiator") == 0)
    cfg.initiator = value;
  else if (strcmp (key, "reconnect-timeout") == 0) {
    unsigned secs;
    if (nbdkit_parse_unsigned ("reconnect-timeout", value, &secs) == -1)
      return -1;
    if (secs > 3600) {
      nbdkit_error ("reconnect-timeout=%s: at most 3600 seconds", value);
      return -1;
    }
    cfg.reconnect_timeout_ms = secs * 1000;
  }
  else if (strcmp (key, "stats") == 0)
    plugin_stats_path (value);
  else {
    nbdkit_error ("unknown parameter '%s' (see nbdkit %s --help)", key,
                  "blockwatch");
    return -1;
  }
  return 0;
}

/* True for query parameters that carry secrets (libiscsi's
 * target_password=, or anything named like it).
 */
static bool
secret_param (const char *p, size_t n)
{
  return memmem (p, n, "password", 8) || memmem (p, n, "secret", 6);
}

/* The URI without credentials (user:password@ and secret query
 * parameters): a stable name for the disk that is safe to put into
 * traces and events.
 */
static char *
redact_uri (const char *uri)
{
  const char *scheme_end = strstr (uri, "://");
  const char *authority = scheme_end ? scheme_end + 3 : uri;
  const char *path = authority + strcspn (authority, "/?");
  const char *at = memchr (authority, '@', path - authority);
  const char *query = strchr (path, '?');
  char *out = malloc (strlen (uri) + 1), *o = out;
  char sep = '?';

  if (scheme_end == NULL || out == NULL) {   /* a plain path: keep it */
    free (out);
    return strdup (uri);
  }
  o = mempcpy (o, uri, authority - uri);
  if (at)
    authority = at + 1;
  o = mempcpy (o, authority, (query ? query : path + strlen (path)) - authority);
  if (query) {
    for (const char *p = query + 1; *p; ) {
      size_t n = strcspn (p, "&");
      if (!secret_param (p, n)) {
        *o++ = sep;
        o = mempcpy (o, p, n);
        sep = '&';
      }
      p += n + (p[n] == '&');
    }
  }
  *o = '\0';
  return out;
}

static int
bw_config_complete (void)
{
  if (cfg.uri == NULL) {
    nbdkit_error ("no backend: give a path or a URI, e.g. "
                  "backend=disk.img or backend=nbd+unix:///?socket=S");
    return -1;
  }
  be = backend_for_uri (cfg.uri);
  return be ? 0 : -1;
}

static int
bw_thread_model (void)
{
  /* nbdkit --dump-plugin asks without configuring: no backend yet. */
  return be ? be->thread_model : NBDKIT_THREAD_MODEL_PARALLEL;
}

static int
bw_get_ready (void)
{
  struct backend_info info = { .source_fd = -1 };
  char err[512];

  if (be->setup (&cfg, &info) == -1)
    return -1;
  tapcfg.source_fd = info.source_fd;
  if (tap_mode != TAP_ON && info.source_fd >= 0) {
    close (info.source_fd);
    tapcfg.source_fd = -1;
  }
  nbdkit_debug ("%s backend: size %llu, sector %u", be->name,
                (unsigned long long) info.size, info.sector_size);
  if (plugin_stats_ready (tap_mode == TAP_ON ? &tapcfg : NULL) == -1)
    goto fail;
  if (tap_mode == TAP_NONE)
    return 0;

  if (disk_id == NULL) {
    default_disk_id = redact_uri (cfg.uri);
    if (default_disk_id == NULL) {
      nbdkit_error ("out of memory");
      goto fail;
    }
    disk_id = default_disk_id;
  }
  tapcfg.header.disk_size = info.size;
  tapcfg.header.sector_size = info.sector_size;
  tapcfg.header.disk_id_len = strlen (disk_id) > TAP_DISK_ID_MAX
                              ? TAP_DISK_ID_MAX : strlen (disk_id);
  memcpy (tapcfg.header.disk_id, disk_id, tapcfg.header.disk_id_len);
  /* The ring owns the storage's descriptor from here, success or not. */
  tap = tap_ring_new (&tapcfg, tap_log, err, sizeof err);
  if (tap == NULL) {
    nbdkit_error ("%s", err);
    return -1;
  }
  return 0;

 fail:
  if (tapcfg.source_fd >= 0)
    close (tapcfg.source_fd);
  return -1;
}

static int
bw_after_fork (void)
{
  if (tap && tap_ring_start (tap) == -1)
    return -1;
  return plugin_stats_start (tap);
}

static void
bw_cleanup (void)
{
  plugin_stats_stop ();
  if (tap) {
    struct tap_stats s;
    tap_ring_get_stats (tap, &s);
    nbdkit_debug ("tap: %llu records, %llu bytes, %llu dropped in %llu "
                  "overflows, %llu connects, acked up to seq %llu",
                  (unsigned long long) s.records, (unsigned long long) s.bytes,
                  (unsigned long long) s.dropped,
                  (unsigned long long) s.overflows,
                  (unsigned long long) s.connects,
                  (unsigned long long) s.acked_seq);
    tap_ring_free (tap);
    tap = NULL;
  }
}

static void
bw_unload (void)
{
  if (be && be->unload)
    be->unload ();
  free (cfg.password);
  free (default_disk_id);
}

static void *
bw_open (int readonly)
{
  return be->open (readonly);
}

static void
bw_close (void *h)
{
  be->close (h);
}

static int64_t
bw_get_size (void *h)
{
  return be->get_size (h);
}

static int
bw_block_size (void *h, uint32_t *minimum, uint32_t *preferred,
               uint32_t *maximum)
{
  if (be->block_size)
    return be->block_size (h, minimum, preferred, maximum);
  *minimum = *preferred = *maximum = 0;   /* no constraints */
  return 0;
}

/* Capability questions: a missing callback means the backend cannot. */
#define FORWARD_CAN(fn)                          \
  static int                                     \
  bw_##fn (void *h)                              \
  {                                              \
    return be->fn ? be->fn (h) : 0;              \
  }
FORWARD_CAN (can_write)
FORWARD_CAN (can_flush)
FORWARD_CAN (can_fua)
FORWARD_CAN (can_trim)
FORWARD_CAN (can_zero)
FORWARD_CAN (can_fast_zero)
FORWARD_CAN (can_extents)
FORWARD_CAN (can_cache)
FORWARD_CAN (can_multi_conn)
FORWARD_CAN (is_rotational)

/* Counts a completed request (r == 0) or a failed one. */
static int
counted (int r, enum stats_op op, uint64_t bytes)
{
  if (r == -1)
    plugin_stats_failed (op);
  else
    plugin_stats_done (op, bytes);
  return r;
}

static int
bw_pread (void *h, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
  return counted (be->pread (h, buf, count, offset, flags), STATS_READ,
                  count);
}

static unsigned
fua_flag (uint32_t flags)
{
  return flags & NBDKIT_FLAG_FUA ? TAP_F_FUA : 0;
}

/* Every request that changes the storage is announced to the tap
 * before it starts and until its record is in the ring, so that bytes
 * the consumer has yet to read from the storage are kept first
 * (tap-defer.h): tap_changing before, tap_changed after.
 */
static int
tap_changing (uint64_t offset, uint32_t count)
{
  return tap ? tap_ring_begin (tap, offset, count) : TAP_DEFER_OFF;
}

/* The record of a change that succeeded (ok), and the announcement's
 * end whether or not it did.
 */
static void
tap_changed (int token, bool ok, unsigned type, unsigned flags,
             uint64_t offset, uint32_t count, const void *data)
{
  if (tap == NULL)
    return;
  if (ok)
    tap_ring_put (tap, token, type, flags, offset, count, data);
  tap_ring_end (tap, token);
}

static int
bw_pwrite (void *h, const void *buf, uint32_t count, uint64_t offset,
           uint32_t flags)
{
  int t = tap_changing (offset, count);
  int r = counted (be->pwrite (h, buf, count, offset, flags), STATS_WRITE,
                   count);

  tap_changed (t, r == 0, TAP_WRITE, fua_flag (flags), offset, count, buf);
  return r;
}

static int
bw_flush (void *h, uint32_t flags)
{
  if (counted (be->flush (h, flags), STATS_FLUSH, 0) == -1)
    return -1;
  if (tap)
    tap_ring_put (tap, TAP_DEFER_OFF, TAP_FLUSH, 0, 0, 0, NULL);
  return 0;
}

static int
bw_trim (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  int t = tap_changing (offset, count);
  int r = be->trim (h, count, offset, flags);

  tap_changed (t, counted (r, STATS_TRIM, count) != -1, TAP_TRIM,
               fua_flag (flags) | (r == 1 ? TAP_F_READS_ZERO : 0),
               offset, count, NULL);
  return r == -1 ? -1 : 0;
}

static int
bw_zero (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  int t = tap_changing (offset, count);
  int r = counted (be->zero (h, count, offset, flags), STATS_ZERO, count);

  tap_changed (t, r == 0, TAP_ZERO,
               fua_flag (flags) |
               (flags & NBDKIT_FLAG_MAY_TRIM ? TAP_F_MAY_TRIM : 0),
               offset, count, NULL);
  return r;
}

static int
bw_extents (void *h, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents *extents)
{
  return counted (be->extents (h, count, offset, flags, extents),
                  STATS_EXTENTS, 0);
}

static int
bw_cache (void *h, uint32_t count, uint64_t offset, uint32_t flags)
{
  return counted (be->cache (h, count, offset, flags), STATS_CACHE, count);
}

#define bw_config_help \
  "[backend=]URI          Storage to proxy: PATH, file:PATH, nbd://HOST[:PORT]/EXPORT,\n" \
  "                       nbds://..., nbd+unix:///EXPORT?socket=SOCK, nbds+unix://...,\n" \
  "                       iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN\n" \
  "tap=none|unix:PATH|record:FILE\n" \
  "                       Where acknowledged writes go (default none).\n" \
  "tap-buffer=SIZE        Tap buffer, e.g. 64M (default 64M, min ~4M).\n" \
  "tap-overflow=drop|block[:MS]\n" \
  "                       When the buffer is full: drop records (reported by an\n" \
  "                       overflow record) or wait up to MS ms (default 1000)\n" \
  "                       for the consumer, then drop.  Default drop.\n" \
  "tap-drain=MS           At shutdown, wait this long for the consumer (5000).\n" \
  "disk-id=NAME           Disk name in the tap header (default: the URI\n" \
  "                       without credentials).\n" \
  "user=USER              iSCSI CHAP user name.\n" \
  "password=PASSWORD      iSCSI CHAP password (- to prompt, +FILE, -FD).\n" \
  "initiator=IQN          iSCSI initiator name.\n" \
  "reconnect-timeout=S    NBD backends: how long a lost server is retried\n" \
  "                       while requests wait (default 30; 0: one try).\n" \
  "stats=PATH             Rewrite PATH every second with the request and\n" \
  "                       tap counters (for blockwatchd's metrics)."

static struct nbdkit_plugin plugin = {
  .name = "blockwatch",
  .longname = "blockwatch inline proxy with write tap",
  .version = "1.0",
  .description = "Forwards NBD requests to a file, NBD or iSCSI backend and "
                 "tees acknowledged writes to a blockwatch introspector",
  .magic_config_key = "backend",
  .config = bw_config,
  .config_complete = bw_config_complete,
  .config_help = bw_config_help,
  .thread_model = bw_thread_model,
  .get_ready = bw_get_ready,
  .after_fork = bw_after_fork,
  .cleanup = bw_cleanup,
  .unload = bw_unload,
  .open = bw_open,
  .close = bw_close,
  .get_size = bw_get_size,
  .block_size = bw_block_size,
  .can_write = bw_can_write,
  .can_flush = bw_can_flush,
  .can_fua = bw_can_fua,
  .can_trim = bw_can_trim,
  .can_zero = bw_can_zero,
  .can_fast_zero = bw_can_fast_zero,
  .can_extents = bw_can_extents,
  .can_cache = bw_can_cache,
  .can_multi_conn = bw_can_multi_conn,
  .is_rotational = bw_is_rotational,
  .pread = bw_pread,
  .pwrite = bw_pwrite,
  .flush = bw_flush,
  .trim = bw_trim,
  .zero = bw_zero,
  .extents = bw_extents,
  .cache = bw_cache,
  .errno_is_preserved = 1,
};

/* The real model comes from the backend through .thread_model. */
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
NBDKIT_REGISTER_PLUGIN (plugin)
