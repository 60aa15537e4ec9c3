/* blockwatch replay BASE_IMAGE TRACE [--json] [--data=POLICY] [--ahead N]
 *                  [--exact-metadata SIZE] [--exact-data SIZE]
 *                  [--model-max SIZE]
 *
 * Offline introspection, for forensics and tests: a scratch copy of the
 * base image is crawled, then each record of the trace is applied to it
 * and fed to the same engine that runs online; the events go to stdout.
 * The base image itself is never written.
 *
 * --ahead N models the online introspector, which reads the storage as
 * it is now, while the tap's records reach it later: each record is
 * applied to the scratch copy N records before the engine sees it; the
 * engine then keeps the last handled writes as watch does, with the
 * same bounds (--exact-metadata, --exact-data: memory-options.h).
 * --model-max: a file system whose model takes more is given up.
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
#include "memory-options.h"
#include "disk/reader-trace.h"

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

/* An item held back (--ahead): copies of what the reader lends. */
struct held {
  struct tap_item it;
  struct tap_header hdr;
  uint8_t *payload;
};

struct feed {
  struct engine *e;
  struct trace_view *scratch;
  struct bw_reader *disk;
  unsigned long long at;      /* the trace file's offset of the next item */
  unsigned long long records, write_bytes;
  size_t ahead;               /* records applied before the engine sees
                               * them (0: the engine applies each) */
  struct held *q;             /* a ring of ahead + 1 */
  size_t head, n;
  char err[256];
};

static int
hand_on (struct feed *f, const struct tap_item *it)
{
  return engine_item (f->e, it, f->err, sizeof f->err);
}

/* The oldest held item to the engine. */
static int
release (struct feed *f)
{
  struct held *h = &f->q[f->head];
  int r;

  h->it.hdr = &h->hdr;
  h->it.payload = h->payload;
  r = hand_on (f, &h->it);
  free (h->payload);
  f->head = (f->head + 1) % (f->ahead + 1);
  f->n--;
  return r;
}

static int
hold (struct feed *f, const struct tap_item *it)
{
  struct held *h = &f->q[(f->head + f->n) % (f->ahead + 1)];

  if (it->kind == TAP_ITEM_RECORD &&
      engine_apply (f->disk, &it->rec, it->payload, f->err,
                    sizeof f->err) == -1)
    return -1;
  h->it = *it;
  h->hdr = *it->hdr;
  h->it.raw = NULL;
  h->it.raw_len = 0;
  h->payload = NULL;
  if (it->kind == TAP_ITEM_RECORD && it->rec.payload_len) {
    h->payload = malloc (it->rec.payload_len);
    if (h->payload == NULL) {
      snprintf (f->err, sizeof f->err, "out of memory");
      return -1;
    }
    memcpy (h->payload, it->payload, it->rec.payload_len);
  }
  f->n++;
  return f->n > f->ahead ? release (f) : 0;
}

static int
feed_item (const struct tap_item *it, void *opaque)
{
  struct feed *f = opaque;

  if (it->kind == TAP_ITEM_RECORD) {
    f->records++;
    if (it->rec.type == TAP_WRITE && it->payload) {
      f->write_bytes += it->rec.length;
      trace_view_expect (f->scratch, it->payload, it->rec.length,
                             it->rec.offset,
                             f->at + (it->payload - it->raw));
    }
  }
  f->at += it->raw_len;       /* the items lie back to back */
  return f->ahead ? hold (f, it) : hand_on (f, it);
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
           "metadata_diffed=%llu name_probes=%llu id_probes=%llu "
           "block_probes=%llu owner_depth=%u inodes=%llu names=%llu "
           "extents=%llu model_bytes=%llu journal_txns=%llu "
           "journal_blocks=%llu journal_images=%llu exact_blocks=%llu "
           "exact_bytes=%llu "
           "exact_evicted=%llu exact_evicted_reads=%llu held_dropped=%llu "
           "data_unread=%llu cpu_s=%.3f "
           "maxrss_kb=%ld\n",
           f->records, f->write_bytes,
           (unsigned long long) st.data_bytes_seen,
           (unsigned long long) st.metadata_blocks_diffed,
           (unsigned long long) st.name_probes,
           (unsigned long long) st.id_probes,
           (unsigned long long) st.block_probes,
           (unsigned) engine_owner_depth (e),
           (unsigned long long) st.inodes, (unsigned long long) st.names,
           (unsigned long long) st.extents,
           (unsigned long long) st.model_bytes,
           (unsigned long long) st.journal_txns,
           (unsigned long long) st.journal_blocks,
           (unsigned long long) st.journal_images,
           (unsigned long long) st.exact_blocks,
           (unsigned long long) st.exact_bytes,
           (unsigned long long) st.exact_evicted,
           (unsigned long long) st.exact_evicted_reads,
           (unsigned long long) st.held_dropped,
           (unsigned long long) st.data_unread,
           ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
           ru.ru_maxrss);
}

static int
usage (void)
{
  fprintf (stderr, "usage: blockwatch replay [--json] "
           "[--data=none|hash|bytes[:N]] [--scratch DIR] [--stats]\n"
           "       [--no-journal] [--ahead N [--exact-metadata SIZE] "
           "[--exact-data SIZE]] [--model-max SIZE]\n"
           "       BASE_IMAGE TRACE\n"
           MEMORY_USAGE);
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
    { "ahead", required_argument, NULL, 'A' },
    { "help", no_argument, NULL, 'h' },
    MEMORY_OPTIONS,
    { 0 }
  };
  struct printer p;
  char *end;
  const char *scratch_dir = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
  char scratch[4096], err[256];
  struct trace_view *view = NULL;
  struct bw_reader *disk;
  struct engine *e = NULL;
  struct feed f = { 0 };
  struct engine_cfg cfg = {
    .sink = &p.sink, .offline = true, .log = log_stderr,
    .opaque = (void *) "blockwatch replay",
  };
  bool stats = false;
  int c, fd, ret = 1;

  printer_init (&p, stdout);
  while ((c = getopt_long (argc, argv, "jd:s:SJA:h", opts, NULL)) != -1) {
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
    case 'J': cfg.no_journal = true; break;
    case 'A':
      f.ahead = strtoul (optarg, &end, 10);
      if (*end || f.ahead > 1000000) {
        fprintf (stderr, "blockwatch replay: --ahead %s: expected a number "
                 "of records up to 1000000\n", optarg);
        return 2;
      }
      break;
    case 'h': usage (); return 0;
    default:
      switch (memory_option (c, optarg, &cfg, "blockwatch replay")) {
      case -1: return 2;
      case 0: return usage ();
      }
    }
  }
  if (optind != argc - 2)
    return usage ();
  /* Without --ahead the engine reads the disk as of each record: no
   * writes are kept.
   */
  if (f.ahead == 0 && (cfg.exact_meta_bytes || cfg.exact_data_bytes)) {
    fprintf (stderr, "blockwatch replay: --exact-metadata and --exact-data "
             "are for --ahead N\n");
    return 2;
  }

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
  if (disk == NULL ||
      (view = trace_view_new (disk, argv[optind + 1], err,
                                  sizeof err)) == NULL)
    goto out;
  disk = trace_view_disk (view);
  cfg.apply = f.ahead == 0;
  cfg.ahead = f.ahead != 0;
  cfg.data_max = data_needed (&p.policy);
  e = engine_open (disk, &cfg, err, sizeof err);
  if (e == NULL)
    goto out;
  f.e = e;
  f.scratch = view;
  f.disk = disk;
  if (f.ahead && (f.q = calloc (f.ahead + 1, sizeof *f.q)) == NULL) {
    snprintf (err, sizeof err, "out of memory");
    goto out;
  }
  if (tap_read_file (argv[optind + 1], feed_item, &f, err, sizeof err) == -1) {
    if (f.err[0])
      snprintf (err, sizeof err, "%s", f.err);
    goto out;
  }
  while (f.n)
    if (release (&f) == -1) {
      snprintf (err, sizeof err, "%s", f.err);
      goto out;
    }
  engine_finish (e);
  if (!printer_flush (&p) || p.unwritten) {
    snprintf (err, sizeof err, "%llu of %llu events could not be written",
              p.unwritten, p.events);
    goto out;
  }
  fprintf (stderr, "blockwatch replay: %llu events\n", p.events);
  if (stats)
    print_stats (e, &f);
  ret = 0;

 out:
  if (ret)
    fprintf (stderr, "blockwatch replay: %s\n", err);
  for (; f.n; f.n--, f.head = (f.head + 1) % (f.ahead + 1))
    free (f.q[f.head].payload);
  free (f.q);
  engine_close (e);
  printer_free (&p);
  trace_view_free (view);
  close (fd);
  return ret;
}
