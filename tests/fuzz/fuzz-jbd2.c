/* libFuzzer target: arbitrary bytes as a jbd2 journal.
 *
 * The first byte is flags: bit 0 has the journal's checksums made to
 * hold before the log is read (jbd2-fixup.h: the superblock's, and in
 * the log as the superblock lays it out, each copy's tag, descriptor
 * and revoke tails, commit blocks), so the fuzzer gets past the
 * checksums into the tags, counts and sequence numbers instead of only
 * ever testing the crc.  The rest is the journal, in 1 KiB blocks, block 0
 * its superblock.  The follower reads the log, applies what it finds to
 * an overlay, re-reads the superblock (tail moves, emptied log) and
 * reads the log again; then the overlay's view is read end to end.
 * Any crash, sanitizer report or hang is a bug.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk/reader-mem.h"
#include "jbd2/log.h"
#include "jbd2-fixup.h"

#define BS 1024
#define FS_BLOCKS 32768       /* the file system the tags point into */
#define READ_BACK 1024        /* blocks of the view read at the end */

struct journal {
  uint8_t *blocks;
  size_t n;
};

static int
read_jblk (void *opaque, uint32_t jblk, uint8_t *buf)
{
  const struct journal *j = opaque;

  if (jblk >= j->n)
    return -1;
  memcpy (buf, j->blocks + (size_t) jblk * BS, BS);
  return 0;
}

static uint8_t *
jblock (void *opaque, uint32_t jblk)
{
  struct journal *j = opaque;

  return jblk < j->n ? j->blocks + (size_t) jblk * BS : NULL;
}

static void
ignore (void *opaque, const struct jbd2_txn *t, const uint64_t *changed,
        size_t n)
{
  (void) opaque; (void) t; (void) changed; (void) n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static uint8_t fsbuf[FS_BLOCKS * BS];
  struct journal j;
  struct bw_reader *fs;
  struct overlay *ov;
  struct jbd2_log log;
  uint8_t *copy, buf[BS];
  char err[256];

  if (size < 1 + BS)
    return 0;
  j.n = (size - 1) / BS;
  copy = malloc (j.n * BS);
  if (copy == NULL)
    return 0;
  memcpy (copy, data + 1, j.n * BS);
  j.blocks = copy;
  if (data[0] & 1) {
    struct jbd2_fixup fix = {
      .block = jblock, .opaque = &j, .nblocks = j.n, .bs = BS,
    };
    jbd2_fixup (&fix);
  }
  fs = bw_reader_open_memory (fsbuf, sizeof fsbuf, 512, err, sizeof err);
  ov = overlay_new (fs, BS);
  if (jbd2_log_open (&log, BS, FS_BLOCKS, read_jblk, &j, ov, err,
                     sizeof err) == 0) {
    jbd2_log_advance (&log, ignore, NULL, err, sizeof err);
    jbd2_log_super (&log, NULL, NULL, err, sizeof err);
    jbd2_log_advance (&log, ignore, NULL, err, sizeof err);
    for (uint64_t b = 0; b < READ_BACK; b++)
      bw_pread (overlay_view (ov), buf, BS, b * BS, err, sizeof err);
    jbd2_log_close (&log);
  }
  overlay_free (ov);
  bw_reader_close (fs);
  free (copy);
  return 0;
}
