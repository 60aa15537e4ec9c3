/* The plugin's counters and their stats file (see plugin-stats.h). */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "plugin-stats.h"
#include "tap/stats-file.h"
#include "tap/tap-shm.h"

#define PERIOD_S 1

static const char *const op_names[STATS_NOPS] = {
  "read", "write", "zero", "trim", "flush", "cache", "extents",
};

static uint64_t requests[STATS_NOPS], bytes[STATS_NOPS],
  failures[STATS_NOPS];
static unsigned max_in_flight;

static const char *path;
static struct stats_writer writer;
static uint64_t tap_capacity;
static struct tap_ring *ring;
static pthread_t thread;
static bool running, stopping;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;

void
plugin_stats_done (enum stats_op op, uint64_t n)
{
  __atomic_fetch_add (&requests[op], 1, __ATOMIC_RELAXED);
  __atomic_fetch_add (&bytes[op], n, __ATOMIC_RELAXED);
}

void
plugin_stats_failed (enum stats_op op)
{
  __atomic_fetch_add (&failures[op], 1, __ATOMIC_RELAXED);
}

void
plugin_stats_in_flight (unsigned n)
{
  unsigned max = __atomic_load_n (&max_in_flight, __ATOMIC_RELAXED);

  while (n > max &&
         !__atomic_compare_exchange_n (&max_in_flight, &max, n, true,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    ;
}

void
plugin_stats_path (const char *p)
{
  path = p;
}

static void
add_counters (const char *prefix, const uint64_t *v)
{
  char key[STATS_KEY_MAX + 1];

  for (int i = 0; i < STATS_NOPS; i++) {
    snprintf (key, sizeof key, "%s.%s", prefix, op_names[i]);
    stats_writer_add (&writer, key,
                      __atomic_load_n (&v[i], __ATOMIC_RELAXED));
  }
}

static int
write_stats (char *err, size_t errlen)
{
  stats_writer_begin (&writer);
  add_counters ("requests", requests);
  add_counters ("bytes", bytes);
  add_counters ("failures", failures);
  stats_writer_add (&writer, "backend.max_in_flight",
                    __atomic_load_n (&max_in_flight, __ATOMIC_RELAXED));
  if (ring) {
    struct tap_stats s;
    tap_ring_get_stats (ring, &s);
    stats_writer_add (&writer, "tap.records", s.records);
    stats_writer_add (&writer, "tap.bytes", s.bytes);
    stats_writer_add (&writer, "tap.dropped", s.dropped);
    stats_writer_add (&writer, "tap.overflows", s.overflows);
    stats_writer_add (&writer, "tap.connects", s.connects);
    stats_writer_add (&writer, "tap.acked_seq", s.acked_seq);
    stats_writer_add (&writer, "tap.depth_bytes", s.depth);
    stats_writer_add (&writer, "tap.capacity_bytes", tap_capacity);
    stats_writer_add (&writer, "tap.deferred", s.deferred);
    stats_writer_add (&writer, "tap.kept", s.kept);
    stats_writer_add (&writer, "tap.keep_failed", s.keep_failed);
  }
  return stats_writer_commit (&writer, err, errlen);
}

int
plugin_stats_ready (const struct tap_config *tap)
{
  char err[512];

  if (path == NULL)
    return 0;
  if (tap) {
    size_t b = tap->buffer_bytes;
    tap_capacity = tap_shm_round (b < TAP_MIN_BUFFER ? TAP_MIN_BUFFER : b);
  }
  if (stats_writer_init (&writer, path, err, sizeof err) == -1 ||
      write_stats (err, sizeof err) == -1) {
    nbdkit_error ("stats=%s: %s", path, err);
    stats_writer_close (&writer, false);
    path = NULL;
    return -1;
  }
  return 0;
}

static void *
writer_main (void *arg)
{
  struct timespec next;
  bool warned = false;
  char err[512];

  (void) arg;
  clock_gettime (CLOCK_MONOTONIC, &next);
  next.tv_sec += PERIOD_S;
  pthread_mutex_lock (&lock);
  while (!stopping) {
    if (pthread_cond_timedwait (&wake, &lock, &next) != ETIMEDOUT)
      continue;               /* woken: stopping, or spurious */
    next.tv_sec += PERIOD_S;
    pthread_mutex_unlock (&lock);
    /* One failure is worth a message, not one a second. */
    if (write_stats (err, sizeof err) == -1 && !warned) {
      nbdkit_error ("%s (will keep trying)", err);
      warned = true;
    }
    pthread_mutex_lock (&lock);
  }
  pthread_mutex_unlock (&lock);
  return NULL;
}

int
plugin_stats_start (struct tap_ring *tap)
{
  pthread_condattr_t ca;
  int r;

  if (path == NULL)
    return 0;
  ring = tap;
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&wake, &ca);
  pthread_condattr_destroy (&ca);
  r = pthread_create (&thread, NULL, writer_main, NULL);
  if (r != 0) {
    nbdkit_error ("stats: cannot start its thread: %s", strerror (r));
    return -1;
  }
  running = true;
  return 0;
}

void
plugin_stats_stop (void)
{
  if (running) {
    pthread_mutex_lock (&lock);
    stopping = true;
    pthread_cond_signal (&wake);
    pthread_mutex_unlock (&lock);
    pthread_join (thread, NULL);
    running = false;
  }
  if (path) {
    stats_writer_close (&writer, true);
    path = NULL;
  }
  ring = NULL;
}
