/* blockwatch replay BASE_IMAGE TRACE [--json] [--data=POLICY]
 *
 * Offline introspection, for forensics and tests: a scratch copy of the
 * base image is crawled, then each record of the trace is applied to it
 * and fed to the same engine that runs online; the events go to stdout.
 * The base image itself is never written.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "engine/engine.h"
#include "ext4/ext4.h"
#include "event-sink.h"

/* A sparse copy: holes stay holes, so a big mostly empty image costs
 * what it holds.
 */
static int
copy_sparse (const char *from, int out, char *err, size_t errlen)
{
  int in = open (from, O_RDONLY | O_CLOEXEC);
  struct stat st;
  off_t data = 0, hole;

  if (in == -1 || fstat (in, &st) == -1) {
    snprintf (err, errlen, "%s: %s", from, strerror (errno));
    goto fail;
  }
  if (ftruncate (out, st.st_size) == -1) {
    snprintf (err, errlen, "scratch copy: %s", strerror (errno));
    goto fail;
  }
  while ((data = lseek (in, data, SEEK_DATA)) >= 0) {
    hole = lseek (in, data, SEEK_HOLE);
    if (hole < 0)
      hole = st.st_size;
    while (data < hole) {
      loff_t src = data, dst = data;
      ssize_t n = copy_file_range (in, &src, out, &dst, hole - data, 0);
      if (n <= 0) {
        snprintf (err, errlen, "copying %s: %s", from,
                  n == 0 ? "short copy" : strerror (errno));
        goto fail;
      }
      data += n;
    }
  }
  close (in);
  return 0;
 fail:
  if (in >= 0)
    close (in);
  return -1;
}

struct feed {
  struct engine *e;
  unsigned long long records, write_bytes;
  char err[256];
};

static int
feed_item (const struct tap_item *it, void *opaque)
{
  struct feed *f = opaque;

  if (it->kind == TAP_ITEM_RECORD) {
    f->records++;
    if (it->rec.type == TAP_WRITE)
      f->write_bytes += it->rec.length;
  }
  return engine_item (f->e, it, f->err, sizeof f->err);
}

/* Machine-readable numbers for benchmarks: key=value on stderr. */
static void
print_stats (struct engine *e, const struct feed *f)
{
  struct ext4_stats st;
  struct rusage ru;

  engine_stats (e, &st);
  getrusage (RUSAGE_SELF, &ru);
  fprintf (stderr, "stats: records=%llu write_bytes=%llu data_bytes_reported=%llu "
           "metadata_diffed=%llu inodes=%llu names=%llu extents=%llu "
           "model_bytes=%llu journal_txns=%llu journal_blocks=%llu "
           "journal_images=%llu cpu_s=%.3f maxrss_kb=%ld\n",
           f->records, f->write_bytes,
           (unsigned long long) st.data_bytes_seen,
           (unsigned long long) st.metadata_blocks_diffed,
           (unsigned long long) st.inodes, (unsigned long long) st.names,
           (unsigned long long) st.extents,
           (unsigned long long) st.model_bytes,
           (unsigned long long) st.journal_txns,
           (unsigned long long) st.journal_blocks,
           (unsigned long long) st.journal_images,
           ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
           ru.ru_maxrss);
}

static int
usage (void)
{
  fprintf (stderr, "usage: blockwatch replay [--json] "
           "[--data=none|hash|bytes[:N]] [--scratch DIR] [--stats]\n"
           "       [--no-journal] BASE_IMAGE TRACE\n");
  return 2;
}

int
cmd_replay (int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },
    { "data", required_argument, NULL, 'd' },
    { "scratch", required_argument, NULL, 's' },
    { "stats", no_argument, NULL, 'S' },
    { "no-journal", no_argument, NULL, 'J' },
    { "help", no_argument, NULL, 'h' },
    { 0 }
  };
  struct printer p;
  const char *scratch_dir = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
  char scratch[4096], err[256];
  struct bw_reader *disk = NULL;
  struct engine *e = NULL;
  struct feed f = { 0 };
  bool stats = false, no_journal = false;
  int c, fd, ret = 1;

  printer_init (&p, stdout);
  while ((c = getopt_long (argc, argv, "jd:s:SJh", opts, NULL)) != -1) {
    switch (c) {
    case 'j': p.json = true; break;
    case 'd':
      if (parse_data_policy (optarg, &p.policy) == -1) {
        fprintf (stderr, "blockwatch replay: --data=%s: expected none, hash, "
                 "bytes or bytes:N\n", optarg);
        return 2;
      }
      break;
    case 's': scratch_dir = optarg; break;
    case 'S': stats = true; break;
    case 'J': no_journal = true; break;
    case 'h': usage (); return 0;
    default: return usage ();
    }
  }
  if (optind != argc - 2)
    return usage ();

  snprintf (scratch, sizeof scratch, "%s/blockwatch-replay.XXXXXX",
            scratch_dir);
  fd = mkstemp (scratch);
  if (fd == -1) {
    fprintf (stderr, "blockwatch replay: scratch copy in %s: %s\n",
             scratch_dir, strerror (errno));
    return 1;
  }
  unlink (scratch);           /* gone when we are, however we end */
  if (copy_sparse (argv[optind], fd, err, sizeof err) == -1)
    goto out;
  snprintf (scratch, sizeof scratch, "/proc/self/fd/%d", fd);
  disk = bw_reader_open_file (scratch, true, err, sizeof err);
  if (disk == NULL)
    goto out;
  {
    struct engine_cfg cfg = {
      .sink = &p.sink, .apply = true, .log = log_stderr,
      .data_max = data_needed (&p.policy),
      .opaque = (void *) "blockwatch replay", .no_journal = no_journal,
    };
    e = engine_open (disk, &cfg, err, sizeof err);
  }
  if (e == NULL)
    goto out;
  f.e = e;
  if (tap_read_file (argv[optind + 1], feed_item, &f, err, sizeof err) == -1) {
    if (f.err[0])
      snprintf (err, sizeof err, "%s", f.err);
    goto out;
  }
  engine_finish (e);
  fflush (stdout);
  fprintf (stderr, "blockwatch replay: %llu events\n", p.events);
  if (stats)
    print_stats (e, &f);
  ret = 0;

 out:
  if (ret)
    fprintf (stderr, "blockwatch replay: %s\n", err);
  engine_close (e);
  bw_reader_close (disk);
  close (fd);
  return ret;
}
