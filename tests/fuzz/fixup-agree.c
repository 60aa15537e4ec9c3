/* Whether the fix-up of checksums (ext4-fixup.h, jbd2-fixup.h) agrees
 * with the tools that wrote a file system or journal right: applied to
 * every block of one, it must change nothing.  So a fix-up that gets a
 * checksum wrong is caught even where the fuzzer never needs it
 * (tests/parsers-fuzz.sh runs this over the seeds).
 *   fixup-agree [--ext4 | --ext4-tail | --jbd2] SEED...
 * Each option says what the seeds after it are:
 *   --ext4       fuzz-ext4 seeds: the image (ext4-feed.h: before its
 *                tail), as mke2fs, e2fsck and debugfs wrote it; the
 *                default
 *   --ext4-tail  the same, and again at each FLUSH of its tail, whose
 *                operations must be writes, copies and zeroes with no
 *                fix-up (as jbd2-blocks.py and debugfs wrote them)
 *   --jbd2       fuzz-jbd2 seeds: the journal (fuzz-jbd2.c: after the
 *                flags byte), as the kernel wrote it
 * Prints what the fix-up set over all the seeds ("NAME COUNT" lines),
 * for the caller to require each kind; exits 1 at the first seed whose
 * blocks the fix-up changed, saying which.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext4-feed.h"
#include "ext4-fixup.h"
#include "jbd2-fixup.h"

#define JBD2_BS 1024          /* fuzz-jbd2's block size */

static struct ext4_fixup_report total;

static void __attribute__ ((noreturn, format (printf, 1, 2)))
die (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  exit (1);
}

static uint8_t *
read_seed (const char *path, size_t *size)
{
  FILE *fp = fopen (path, "rb");
  uint8_t *buf = NULL;
  size_t cap = 0, n = 0, got;

  if (fp == NULL)
    die ("%s: cannot open", path);
  do {
    if (n == cap && (buf = realloc (buf, cap = cap ? 2 * cap : 1 << 20)) == NULL)
      die ("out of memory");
    got = fread (buf + n, 1, cap - n, fp);
    n += got;
  } while (got);
  if (ferror (fp))
    die ("%s: cannot read", path);
  fclose (fp);
  *size = n;
  return buf;
}

/* The blocks of bs bytes that differ between a and b (size bytes). */
static void
changed (const char *seed, const char *when, const uint8_t *a,
         const uint8_t *b, size_t size, unsigned bs)
{
  bool any = false;

  for (size_t blk = 0; blk < size / bs; blk++)
    if (memcmp (a + blk * bs, b + blk * bs, bs) != 0) {
      fprintf (stderr, "%s%s: the fix-up changed block %zu\n", seed, when,
               blk);
      any = true;
    }
  if (any)
    exit (1);
}

/* The fix-up over the whole image: nothing may change. */
static void
agree_ext4 (const char *seed, const char *when, const uint8_t *image,
            size_t size)
{
  uint8_t *fixed = malloc (size ? size : 1);
  struct ext4_fixup_report r = { 0 };
  unsigned bs;

  if (fixed == NULL)
    die ("out of memory");
  memcpy (fixed, image, size);
  bs = ext4_fixup (fixed, size, 0, size, &r);
  if (bs == 0)
    die ("%s%s: libext2fs does not open the image", seed, when);
  changed (seed, when, image, fixed, size, bs);
  total.set.sb += r.set.sb;
  total.set.gdt += r.set.gdt;
  total.set.inodes += r.set.inodes;
  total.set.dir_blocks += r.set.dir_blocks;
  total.set.extent_blocks += r.set.extent_blocks;
  total.set.journal.sb += r.set.journal.sb;
  total.set.journal.descriptors_v2 += r.set.journal.descriptors_v2;
  total.set.journal.descriptors_v3 += r.set.journal.descriptors_v3;
  total.set.journal.revokes += r.set.journal.revokes;
  total.set.journal.commits += r.set.journal.commits;
  total.set.journal.commits_crc32 += r.set.journal.commits_crc32;
  free (fixed);
}

/* The tail's writes, copies and zeroes applied to image as the feed
 * applies them (ext4-feed.h), the image checked at each FLUSH.
 */
static void
agree_tail (const char *seed, uint8_t *image, size_t size, const uint8_t *p,
            const uint8_t *end)
{
  unsigned flushes = 0;
  char when[64];

  while (p < end) {
    struct ext4_feed_op o;

    ext4_feed_op (&p, end, size, &o);
    if (o.op > 3 || o.fix)
      die ("%s: operation %u%s in the tail, not a write, copy, zero or "
           "FLUSH without fix-up", seed, o.op, o.fix ? " with a fix-up" : "");
    /* (as the records cut them) */
    if (o.len > size - o.off)
      o.len = size - o.off;
    switch (o.op) {
    case 0:
      memcpy (image + o.off, o.bytes, o.len);
      break;
    case 1:
      memmove (image + o.off, image + o.src, o.len);
      break;
    case 2:
      memset (image + o.off, 0, o.len);
      break;
    case 3:
      snprintf (when, sizeof when, " (at FLUSH %u of its tail)", ++flushes);
      agree_ext4 (seed, when, image, size);
      break;
    }
  }
}

static void
ext4_seed (const char *seed, bool tail)
{
  size_t size, n = 0;
  uint8_t *data = read_seed (seed, &size);

  if (size >= 2) {
    n = data[size - 2] | (size_t) data[size - 1] << 8;
    size -= 2;
    if (n > size)
      n = 0;
  }
  size -= n;
  if (size == 0)
    die ("%s: no image", seed);
  agree_ext4 (seed, "", data, size);
  if (tail)
    agree_tail (seed, data, size, data + size, data + size + n);
  free (data);
}

struct journal {
  uint8_t *blocks;
  size_t n;
};

static uint8_t *
jblock (void *opaque, uint32_t jblk)
{
  struct journal *j = opaque;

  return jblk < j->n ? j->blocks + (size_t) jblk * JBD2_BS : NULL;
}

static void
jbd2_seed (const char *seed)
{
  size_t size;
  uint8_t *data = read_seed (seed, &size);
  struct journal jn;
  struct jbd2_fixup j = {
    .block = jblock, .opaque = &jn, .bs = JBD2_BS,
    .set = &total.set.journal,
  };

  if (size < 1 + JBD2_BS)
    die ("%s: no journal", seed);
  jn.n = j.nblocks = (size - 1) / JBD2_BS;
  jn.blocks = malloc (jn.n * JBD2_BS);
  if (jn.blocks == NULL)
    die ("out of memory");
  memcpy (jn.blocks, data + 1, jn.n * JBD2_BS);
  jbd2_fixup (&j);
  changed (seed, "", data + 1, jn.blocks, jn.n * JBD2_BS, JBD2_BS);
  free (jn.blocks);
  free (data);
}

int
main (int argc, char **argv)
{
  enum { EXT4, EXT4_TAIL, JBD2 } kind = EXT4;

  if (argc < 2)
    die ("usage: fixup-agree [--ext4 | --ext4-tail | --jbd2] SEED...");
  for (int i = 1; i < argc; i++)
    if (strcmp (argv[i], "--ext4") == 0)
      kind = EXT4;
    else if (strcmp (argv[i], "--ext4-tail") == 0)
      kind = EXT4_TAIL;
    else if (strcmp (argv[i], "--jbd2") == 0)
      kind = JBD2;
    else if (kind == JBD2)
      jbd2_seed (argv[i]);
    else
      ext4_seed (argv[i], kind == EXT4_TAIL);
  printf ("sb %llu\ngdt %llu\ninodes %llu\ndir_blocks %llu\n"
          "extent_blocks %llu\njournal_sb %u\ndescriptors_v2 %u\n"
          "descriptors_v3 %u\nrevokes %u\ncommits %u\ncommits_crc32 %u\n",
          (unsigned long long) total.set.sb,
          (unsigned long long) total.set.gdt,
          (unsigned long long) total.set.inodes,
          (unsigned long long) total.set.dir_blocks,
          (unsigned long long) total.set.extent_blocks,
          total.set.journal.sb, total.set.journal.descriptors_v2,
          total.set.journal.descriptors_v3, total.set.journal.revokes,
          total.set.journal.commits, total.set.journal.commits_crc32);
  return 0;
}
