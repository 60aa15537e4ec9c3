/* libFuzzer target: bytes as a stats file (nbdkit-plugin/tap/
 * stats-file.h).  blockwatchd reads the files of the processes it
 * runs, which may run as a user of their own (a compromised nbdkit
 * would write what it likes) and serves their counters as metrics.
 *
 * A file that is read must give only entries of the format (keys of
 * [a-z0-9_.], at most STATS_KEY_MAX), and writing them again with
 * stats_writer must read back the same.  abort() on any difference,
 * so libFuzzer keeps the input; any crash, sanitizer report or leak is
 * a bug.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tap/stats-file.h"

static int fd = -1;
static char path[64], copy[64];

static void
check_keys (const struct stats_snapshot *s)
{
  for (size_t i = 0; i < s->n; i++) {
    size_t n = strlen (s->v[i].key);
    if (n == 0 || n > STATS_KEY_MAX ||
        strspn (s->v[i].key, "abcdefghijklmnopqrstuvwxyz0123456789_.") != n)
      abort ();
  }
}

/* s written by stats_writer (to a file beside the input) and read back. */
static void
check_round_trip (const struct stats_snapshot *s)
{
  struct stats_writer w;
  struct stats_snapshot back;
  char err[256];
  size_t need = 100;          /* the format line, pid and time */

  /* The writer's buffer is finite: a file it cannot hold is not one
   * blockwatch writes.
   */
  for (size_t i = 0; i < s->n; i++)
    need += snprintf (NULL, 0, "%s %" PRIu64 "\n", s->v[i].key,
                      s->v[i].value);
  if (need >= sizeof w.buf)
    return;
  if (stats_writer_init (&w, copy, err, sizeof err) == -1)
    abort ();
  stats_writer_begin (&w);
  for (size_t i = 0; i < s->n; i++)
    stats_writer_add (&w, s->v[i].key, s->v[i].value);
  if (stats_writer_commit (&w, err, sizeof err) == 0) {
    if (stats_read (copy, &back, err, sizeof err) == -1 ||
        back.n != s->n)
      abort ();
    for (size_t i = 0; i < s->n; i++)
      if (strcmp (back.v[i].key, s->v[i].key) != 0 ||
          back.v[i].value != s->v[i].value)
        abort ();
    stats_snapshot_free (&back);
  }
  stats_writer_close (&w, true);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct stats_snapshot s;
  uint64_t v;
  char err[256];

  if (fd == -1) {
    fd = memfd_create ("stats", 0);
    if (fd == -1)
      abort ();
    snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
    snprintf (copy, sizeof copy, "/tmp/fuzz-stats-file.%d", (int) getpid ());
  }
  if (ftruncate (fd, 0) == -1 ||
      (size && pwrite (fd, data, size, 0) != (ssize_t) size))
    abort ();
  if (stats_read (path, &s, err, sizeof err) == -1) {
    if (err[0] == '\0')
      abort ();
    return 0;
  }
  check_keys (&s);
  stats_get (&s, "requests.write", &v);
  check_round_trip (&s);
  stats_snapshot_free (&s);
  return 0;
}
