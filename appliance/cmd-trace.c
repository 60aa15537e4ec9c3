/* blockwatch trace dump|check|apply: offline tools for tap traces.
 *
 * apply is the replay oracle of the proxy tests: a copy of the initial
 * image plus every recorded write, zero and trim must equal the
 * backend byte for byte.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "tap-print.h"
#include "tap/tap-seq.h"

struct walk {
  struct tap_seq seq;
  const char *path;
  /* apply */
  int img;
  uint64_t img_size;
  bool allow_loss;
  /* counts */
  unsigned long long streams, records, dups, bytes, by_type[TAP_END + 1];
  unsigned long long undefined_trims, unknown;
};

/* Accounts for an item; -1 on a sequence violation. */
static int
account (struct walk *w, const struct tap_item *it, bool *is_new)
{
  *is_new = false;
  if (it->kind == TAP_ITEM_HEADER) {
    w->streams++;
    if (tap_seq_header (&w->seq, it->hdr) == TAP_SEQ_GAP) {
      fprintf (stderr, "blockwatch trace: %s: stream resumes at seq %" PRIu64
               " but %" PRIu64 " is missing\n", w->path, it->hdr->first_seq,
               w->seq.expected);
      return -1;
    }
    return 0;
  }
  switch (tap_seq_record (&w->seq, &it->rec)) {
  case TAP_SEQ_DUPLICATE:
    w->dups++;
    return 0;
  case TAP_SEQ_GAP:
    fprintf (stderr, "blockwatch trace: %s: seq %" PRIu64 " follows %" PRIu64
             " with no overflow record for the gap\n", w->path, it->rec.seq,
             w->seq.expected - 1);
    return -1;
  case TAP_SEQ_NEW:
    break;
  }
  *is_new = true;
  w->records++;
  w->bytes += it->rec.payload_len;
  if (it->rec.type <= TAP_END)
    w->by_type[it->rec.type]++;
  else
    w->unknown++;
  return 0;
}

static int
dump_item (const struct tap_item *it, void *opaque)
{
  (void) opaque;
  tap_print_item (stdout, it);
  return 0;
}

static int
check_item (const struct tap_item *it, void *opaque)
{
  bool is_new;

  return account (opaque, it, &is_new);
}

static int
write_all (int fd, const void *buf, size_t n, uint64_t off)
{
  const char *p = buf;

  while (n > 0) {
    ssize_t r = pwrite (fd, p, n, off);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += r;
    n -= r;
    off += r;
  }
  return 0;
}

static int
write_zeroes (int fd, uint64_t off, uint64_t len)
{
  static const uint8_t zero[65536];

  while (len > 0) {
    size_t n = len < sizeof zero ? len : sizeof zero;
    if (write_all (fd, zero, n, off) == -1)
      return -1;
    off += n;
    len -= n;
  }
  return 0;
}

static int
apply_item (const struct tap_item *it, void *opaque)
{
  struct walk *w = opaque;
  const struct tap_record *r = &it->rec;
  bool is_new;
  int e = 0;

  if (account (w, it, &is_new) == -1)
    return -1;
  if (it->kind == TAP_ITEM_HEADER) {
    if (it->hdr->disk_size != w->img_size) {
      fprintf (stderr, "blockwatch trace apply: the trace is of a %" PRIu64
               "-byte disk, the image has %" PRIu64 " bytes\n",
               it->hdr->disk_size, w->img_size);
      return -1;
    }
    return 0;
  }
  if (!is_new)
    return 0;
  switch (r->type) {
  case TAP_WRITE:
    if (r->flags & TAP_F_PAYLOAD_LOST) {
      if (!w->allow_loss) {
        fprintf (stderr, "blockwatch trace apply: %s: the bytes of write seq "
                 "%" PRIu64 " (%" PRIu64 "+%" PRIu64 ") were lost: the result "
                 "would not be the disk's content (use --allow-loss to apply "
                 "anyway)\n", w->path, r->seq, r->offset, r->length);
        return -1;
      }
      break;
    }
    e = write_all (w->img, it->payload, r->payload_len, r->offset);
    break;
  case TAP_ZERO:
    e = write_zeroes (w->img, r->offset, r->length);
    break;
  case TAP_TRIM:
    if (r->flags & TAP_F_READS_ZERO)
      e = write_zeroes (w->img, r->offset, r->length);
    else
      w->undefined_trims++;
    break;
  case TAP_OVERFLOW:
    if (!w->allow_loss) {
      fprintf (stderr, "blockwatch trace apply: %s lost %" PRIu64 " records "
               "(seq %" PRIu64 "..%" PRIu64 "): the result would not be the "
               "disk's content (use --allow-loss to apply anyway)\n", w->path,
               r->length, r->offset, r->offset + r->length - 1);
      return -1;
    }
    break;
  default:
    break;
  }
  if (e == -1) {
    fprintf (stderr, "blockwatch trace apply: writing image: %s\n",
             strerror (errno));
    return -1;
  }
  return 0;
}

static void
summary (const struct walk *w, const char *what)
{
  printf ("%s: %llu streams, %llu records (%llu write, %llu zero, %llu trim, "
          "%llu flush, %llu overflow), %llu data bytes, %llu lost, %llu "
          "duplicates skipped\n", what, w->streams, w->records,
          w->by_type[TAP_WRITE], w->by_type[TAP_ZERO], w->by_type[TAP_TRIM],
          w->by_type[TAP_FLUSH], w->by_type[TAP_OVERFLOW], w->bytes,
          (unsigned long long) w->seq.lost, w->dups);
}

static int
usage (void)
{
  fprintf (stderr, "usage: blockwatch trace dump TRACE\n"
           "       blockwatch trace check [--no-loss] TRACE\n"
           "         (--no-loss: fail unless nothing was lost and every\n"
           "         plugin instance ended cleanly)\n"
           "       blockwatch trace apply [--allow-loss] TRACE IMAGE\n");
  return 2;
}

int
cmd_trace (int argc, char **argv)
{
  struct walk w = { .img = -1 };
  const char *verb;
  char err[256];
  bool no_loss = false;
  int i = 2, ret;

  if (argc < 3)
    return usage ();
  verb = argv[1];
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp (argv[i], "--allow-loss") == 0)
      w.allow_loss = true;
    else if (strcmp (argv[i], "--no-loss") == 0)
      no_loss = true;
    else
      return usage ();
  }
  if (i >= argc)
    return usage ();
  w.path = argv[i];

  if (strcmp (verb, "dump") == 0 && i == argc - 1)
    ret = tap_read_file (w.path, dump_item, &w, err, sizeof err);
  else if (strcmp (verb, "check") == 0 && i == argc - 1) {
    ret = tap_read_file (w.path, check_item, &w, err, sizeof err);
    if (ret == 0) {
      summary (&w, "trace OK");
      if (w.seq.unfinished + !w.seq.ended)
        printf ("note: %llu plugin instances ended without an end record; "
                "records at their end may be missing\n",
                (unsigned long long) (w.seq.unfinished + !w.seq.ended));
      if (no_loss && (w.seq.lost || w.seq.unfinished || !w.seq.ended)) {
        fprintf (stderr, "blockwatch trace check: the trace is not complete "
                 "(%llu records lost, %llu streams cut short)\n",
                 (unsigned long long) w.seq.lost,
                 (unsigned long long) (w.seq.unfinished + !w.seq.ended));
        return 1;
      }
    }
  }
  else if (strcmp (verb, "apply") == 0 && i == argc - 2) {
    struct stat sb;
    w.img = open (argv[i + 1], O_RDWR | O_CLOEXEC);
    if (w.img == -1 || fstat (w.img, &sb) == -1) {
      fprintf (stderr, "blockwatch trace apply: %s: %s\n", argv[i + 1],
               strerror (errno));
      return 1;
    }
    w.img_size = sb.st_size;
    ret = tap_read_file (w.path, apply_item, &w, err, sizeof err);
    if (fsync (w.img) == -1)
      ret = -1;
    close (w.img);
    if (ret == 0) {
      summary (&w, "applied");
      if (w.undefined_trims)
        printf ("note: %llu trims left content the backend did not define; "
                "the image keeps the old bytes there\n", w.undefined_trims);
    }
  }
  else
    return usage ();

  if (ret == -1) {
    fprintf (stderr, "blockwatch trace %s: %s: %s\n", verb, w.path, err);
    return 1;
  }
  return 0;
}
