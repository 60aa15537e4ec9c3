/* blockwatch crawl [--progress] [--list] [--no-journal] IMAGE
 *
 * The introspector's bootstrap alone, on an image opened read-only:
 * the partition table, then each ext2/3/4 file system crawled into the
 * model, with what the model holds and what it costs.  For sizing and
 * benchmarks, and to see whether blockwatch can follow a disk at all:
 * exit 1, with the reason on stderr, when a file system on it cannot be
 * crawled or there is none.
 *
 * stdout, one line each (the numbers are key=value, for scripts):
 *   table: gpt, 2 partitions
 *   partition 1: start=1048576 size=104857600 ext2/3/4 inodes=12 names=11
 *     extents=9 model_bytes=4321 bytes_per_file=360   (one line)
 *   partition 2: start=... size=... not followed: no ext2/3/4 file system
 *   total: filesystems=1 inodes=12 names=11 extents=9 model_bytes=4321
 *     bytes_per_file=360 seconds=0.01                 (one line)
 * and with --list, first, every name of every file system
 * followed (hard links once per name):
 *   list: PART TYPE MODE UID GID SIZE LINKS PATH
 *   e.g. "list: 1 file 0644 0 0 12 1 /etc/hostname"; MODE is the
 *   permission bits in octal, PATH escaped as in events (docs/events.md).
 *
 * --no-journal: the file system as its home locations have it, without
 * the committed transactions its journal still holds.
 *
 * IMAGE is a path or any storage URI the plugin's backends take
 * (nbd://..., iscsi://...): what the introspector would see there.
 */

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "commands.h"
#include "engine/engine.h"
#include "ext4/ext4.h"
#include "event-sink.h"

/* The bootstrap emits no events; a sink is still part of the engine. */
static void
no_emit (struct bw_sink *s, const struct bw_event *ev)
{
  (void) s; (void) ev;
}

static void
print_counts (const struct ext4_stats *st)
{
  printf ("inodes=%llu names=%llu extents=%llu model_bytes=%llu "
          "bytes_per_file=%llu",
          (unsigned long long) st->inodes, (unsigned long long) st->names,
          (unsigned long long) st->extents,
          (unsigned long long) st->model_bytes,
          (unsigned long long) (st->inodes ? st->model_bytes / st->inodes : 0));
  /* Committed transactions the journal still held, taken as a replay
   * would (docs/introspector.md, "The journal").
   */
  if (st->journal_txns)
    printf (" journal_txns=%llu journal_blocks=%llu",
            (unsigned long long) st->journal_txns,
            (unsigned long long) st->journal_blocks);
}

/* The summary; returns how many file systems could not be crawled. */
static int
summary (const char *image, struct engine *e, double secs)
{
  const struct part_table_info *t = engine_table (e);
  struct engine_part p;
  struct ext4_stats st;
  int refused = 0;

  printf ("table: %s, %d partitions\n", part_table_name (t->table), t->count);
  if (t->note[0])
    printf ("table note: %s\n", t->note);
  for (int i = 0; engine_part (e, i, &p); i++) {
    printf ("partition %d: start=%llu size=%llu ", p.number,
            (unsigned long long) p.start, (unsigned long long) p.size);
    if (p.fs) {
      ext4_get_stats (p.fs, &st);
      printf ("ext2/3/4 ");
      print_counts (&st);
      printf ("\n");
      continue;
    }
    printf ("not followed: %s\n", p.why);
    if (p.refused) {
      fprintf (stderr, "blockwatch crawl: %s: partition %d: %s\n", image,
               p.number, p.why);
      refused++;
    }
  }
  engine_stats (e, &st);
  printf ("total: filesystems=%d ", engine_filesystems (e));
  print_counts (&st);
  printf (" seconds=%.2f\n", secs);
  return refused;
}

static void
list_entry (const struct ext4_entry *en, void *opaque)
{
  int part = *(const int *) opaque;
  char *path = bw_escape_bytes (en->path, en->path_len);

  printf ("list: %d %s %04o %u %u %llu %u %s\n", part,
          bw_file_type_name (en->file_type), en->mode & 07777, en->uid,
          en->gid, (unsigned long long) en->size, en->links,
          path ? path : "?");
  free (path);
}

static void
list_all (struct engine *e)
{
  struct engine_part p;

  for (int i = 0; engine_part (e, i, &p); i++)
    if (p.fs)
      ext4_walk_tree (p.fs, list_entry, &p.number);
}

static int
usage (void)
{
  fprintf (stderr, "usage: blockwatch crawl [--progress] [--list] "
           "[--no-journal] IMAGE\n");
  return 2;
}

int
cmd_crawl (int argc, char **argv)
{
  static const struct option opts[] = {
    { "progress", no_argument, NULL, 'p' },
    { "list", no_argument, NULL, 'l' },
    { "no-journal", no_argument, NULL, 'J' },
    { "help", no_argument, NULL, 'h' },
    { 0 }
  };
  struct bw_sink sink = { .emit = no_emit };
  struct engine_cfg cfg = {
    .sink = &sink, .progress = log_stderr,
    .opaque = (void *) "blockwatch crawl",
  };
  struct bw_reader *disk;
  struct engine *e;
  struct timespec t0, t1;
  char err[256];
  int c, refused, followed;
  bool list = false;

  while ((c = getopt_long (argc, argv, "plJh", opts, NULL)) != -1) {
    switch (c) {
    case 'p': cfg.progress_always = true; break;
    case 'l': list = true; break;
    case 'J': cfg.no_journal = true; break;
    case 'h': usage (); return 0;
    default: return usage ();
    }
  }
  if (optind != argc - 1)
    return usage ();

  clock_gettime (CLOCK_MONOTONIC, &t0);
  disk = bw_reader_open_uri (argv[optind], false, BW_RECONNECT_DEFAULT_S,
                             err, sizeof err);
  if (disk == NULL) {
    fprintf (stderr, "blockwatch crawl: %s\n", err);
    return 1;
  }
  e = engine_open (disk, &cfg, err, sizeof err);
  if (e == NULL) {
    fprintf (stderr, "blockwatch crawl: %s: %s\n", argv[optind], err);
    bw_reader_close (disk);
    return 1;
  }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  if (list)
    list_all (e);
  refused = summary (argv[optind], e, (t1.tv_sec - t0.tv_sec) +
                     (t1.tv_nsec - t0.tv_nsec) / 1e9);
  followed = engine_filesystems (e);
  if (refused == 0 && followed == 0)
    fprintf (stderr, "blockwatch crawl: %s: no ext2/3/4 file system found\n",
             argv[optind]);
  engine_close (e);
  bw_reader_close (disk);
  return refused || followed == 0;
}
