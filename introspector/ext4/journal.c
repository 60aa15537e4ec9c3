/* The file system's jbd2 journal, followed as the authoritative stream
 * of metadata.
 *
 * ext3/ext4 put metadata into the journal first and write it home much
 * later; between the two, the home locations are stale.  So every
 * transaction is taken when its commit block reaches the disk: its
 * blocks go into the overlay (jbd2/overlay.h), which every read of the
 * file system goes through, and the blocks it changed are noted and
 * reconciled at once, as a barrier of their own whose events carry the
 * transaction's id.  The later checkpoint writes the same bytes home:
 * those writes are recognised and dropped, so nothing is reported
 * twice.  At open, committed transactions not yet checkpointed (a file
 * system in use, or not cleanly unmounted) are taken into the overlay
 * before the crawl, so the crawl sees what the kernel sees after its
 * replay.
 *
 * What is not followed, and said once: an external journal device, and
 * fast commits (the kernel's full commit, at most commit= seconds later,
 * carries the same changes, so they are reported then).
 */

#include <endian.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "ext4-impl.h"

void
ext4_say (struct ext4fs *fs, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  if (fs->em.log == NULL)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  fs->em.log (fs->em.log_opaque, "partition %d: %s", fs->em.part, msg);
}

/* ---- where the journal is ------------------------------------------ */

#define JRUNS_MAX (1u << 20)

struct jrun_builder {
  struct ext4fs *fs;
  size_t cap;
  bool bad;
};

static int
jmap_cb (ext2_filsys e, blk64_t *blocknr, e2_blkcnt_t blockcnt,
         blk64_t ref_blk, int ref_offset, void *priv)
{
  struct jrun_builder *b = priv;
  struct ext4fs *fs = b->fs;
  struct jrun *last = fs->njmap ? &fs->jmap[fs->njmap - 1] : NULL;

  (void) e; (void) ref_blk; (void) ref_offset;
  if (blockcnt < 0 || blockcnt > UINT32_MAX || *blocknr >= fs->nblocks) {
    b->bad = true;
    return BLOCK_ABORT;
  }
  if (last && last->lblk + last->len == blockcnt &&
      last->phys + last->len == *blocknr) {
    last->len++;
    return 0;
  }
  if (fs->njmap == JRUNS_MAX) {
    b->bad = true;
    return BLOCK_ABORT;
  }
  fs->jmap = bw_grow (fs->jmap, &b->cap, fs->njmap, sizeof *fs->jmap);
  fs->jmap[fs->njmap++] = (struct jrun) {
    .lblk = blockcnt, .phys = *blocknr, .len = 1,
  };
  return 0;
}

static int
by_phys (const void *a, const void *b)
{
  const struct jrun *x = a, *y = b;

  return x->phys < y->phys ? -1 : x->phys > y->phys;
}

static int
map_journal (struct ext4fs *fs, char *err, size_t errlen)
{
  struct jrun_builder b = { .fs = fs };
  errcode_t rc;

  /* The journal inode as the disk has it now. */
  ext2fs_flush_icache (fs->fs);
  rc = ext2fs_block_iterate3 (fs->fs, fs->journal_ino,
                              BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY,
                              NULL, jmap_cb, &b);
  if (rc || b.bad || fs->njmap == 0) {
    snprintf (err, errlen, "the journal inode's block map is %s",
              rc ? error_message (rc) : b.bad ? "corrupt" : "empty");
    return -1;
  }
  /* Runs come in logical order; a copy in block order answers "is this
   * block the journal's" for every write.
   */
  fs->jmap_phys = malloc (fs->njmap * sizeof *fs->jmap_phys);
  if (fs->jmap_phys == NULL)
    abort ();
  memcpy (fs->jmap_phys, fs->jmap, fs->njmap * sizeof *fs->jmap);
  qsort (fs->jmap_phys, fs->njmap, sizeof *fs->jmap_phys, by_phys);
  return 0;
}

/* The run of v (n runs sorted by key) whose key range holds x. */
static const struct jrun *
find_run (const struct jrun *v, size_t n, uint64_t x, bool phys)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint64_t start = phys ? v[mid].phys : v[mid].lblk;
    if (x < start)
      hi = mid;
    else if (x - start >= v[mid].len)
      lo = mid + 1;
    else
      return &v[mid];
  }
  return NULL;
}

bool
journal_block (const struct ext4fs *fs, uint64_t blk, uint32_t *jblk)
{
  const struct jrun *r = find_run (fs->jmap_phys, fs->njmap, blk, true);

  if (r == NULL)
    return false;
  *jblk = r->lblk + (uint32_t) (blk - r->phys);
  return true;
}

/* Journal blocks are read from the disk itself, never the overlay. */
static int
read_jblk (void *opaque, uint32_t jblk, uint8_t *buf)
{
  struct ext4fs *fs = opaque;
  const struct jrun *r = find_run (fs->jmap, fs->njmap, jblk, false);

  if (r == NULL)
    return -1;
  return bw_pread (fs->disk, buf, fs->bs, (r->phys + (jblk - r->lblk)) * fs->bs,
                   fs->err, sizeof fs->err);
}

/* ---- open ------------------------------------------------------------ */

static void
taken_at_open (void *opaque, const struct jbd2_txn *t,
               const uint64_t *changed, size_t n)
{
  (void) opaque; (void) t; (void) changed; (void) n;
}

int
journal_open (struct ext4fs *fs)
{
  struct ext2_super_block *sb = fs->fs->super;
  char err[256];
  int n;

  if (!ext2fs_has_feature_journal (sb))
    return 0;
  if (fs->em.no_journal) {
    ext4_say (fs, "the journal is not followed (as asked): events come "
              "when metadata reaches its home location");
    return 0;
  }
  if (sb->s_journal_inum == 0 || ext2fs_has_feature_journal_dev (sb)) {
    ext4_say (fs, "the journal is on an external device, which is not "
              "followed: events come when metadata reaches its home "
              "location");
    return 0;
  }
  if (map_journal (fs, err, sizeof err) == -1) {
    ext4_say (fs, "journal not followed: %s", err);
    return 0;
  }
  fs->ov = overlay_new (fs->disk, fs->bs);
  if (jbd2_log_open (&fs->log, fs->bs, fs->nblocks, read_jblk, fs, fs->ov,
                     err, sizeof err) == -1) {
    ext4_say (fs, "journal not followed: %s", err);
    overlay_free (fs->ov);
    fs->ov = NULL;
    return 0;
  }
  fs->journal_on = true;
  if (ext2fs_has_feature_fast_commit (sb) ||
      (fs->log.sb.incompat & JBD2_INCOMPAT_FAST_COMMIT))
    ext4_say (fs, "fast commits are not read: what a fast commit makes "
              "durable is reported at the next full commit");
  n = jbd2_log_advance (&fs->log, taken_at_open, NULL, err, sizeof err);
  if (n == -1)
    ext4_say (fs, "journal: %s; the transactions before it are taken", err);
  else if (n > 0)
    ext4_say (fs, "journal: %d committed transactions not yet written home "
              "are taken, as a replay would", n);
  return 0;
}

void
journal_close (struct ext4fs *fs)
{
  if (fs->journal_on)
    jbd2_log_close (&fs->log);
  overlay_free (fs->ov);
  free (fs->jmap);
  free (fs->jmap_phys);
}

/* ---- following ----------------------------------------------------- */

struct commit_ctx {
  struct ext4fs *fs;
  uint64_t seq, time_ns;
};

static void
on_commit (void *opaque, const struct jbd2_txn *t, const uint64_t *changed,
           size_t n)
{
  struct commit_ctx *c = opaque;
  struct ext4fs *fs = c->fs;

  for (size_t i = 0; i < n; i++)
    note_range (fs, changed[i] * fs->bs, fs->bs, c->seq, c->time_ns);
  reconcile_now (fs, c->seq, t->tid, c->time_ns);
}

static void
advance (struct ext4fs *fs, struct commit_ctx *c)
{
  char why[256];

  if (jbd2_log_advance (&fs->log, on_commit, c, why, sizeof why) == -1)
    ext4_say (fs, "journal: %s: not applied; events come at home-location "
              "writes until the journal superblock shows the log again",
              why);
}

void
journal_poll (struct ext4fs *fs, uint64_t seq, uint64_t time_ns)
{
  struct commit_ctx c = { .fs = fs, .seq = seq, .time_ns = time_ns };
  char why[256];

  fs->jlog_written = false;
  advance (fs, &c);
  if (!fs->jsb_written)
    return;
  fs->jsb_written = false;
  switch (jbd2_log_super (&fs->log, why, sizeof why)) {
  case JBD2_SB_MISSED:
    ext4_say (fs, "journal: its tail moved past transactions never seen; "
              "everything is re-read");
    ext4_note_loss (fs);
    advance (fs, &c);
    break;
  case JBD2_SB_FOUND:
    advance (fs, &c);
    break;
  case JBD2_SB_BAD:
    ext4_say (fs, "journal superblock: %s", why);
    break;
  case JBD2_SB_SAME: case JBD2_SB_TAIL: case JBD2_SB_EMPTY:
    break;
  }
}

bool
journal_commit_written (struct ext4fs *fs, uint64_t blk)
{
  uint32_t h[3];

  if (bw_pread (fs->disk, h, sizeof h, blk * fs->bs, fs->err,
                sizeof fs->err) == -1)
    return false;
  return be32toh (h[0]) == JBD2_MAGIC && be32toh (h[1]) == JBD2_COMMIT_BLOCK &&
         be32toh (h[2]) == fs->log.tid;
}

bool
journal_checkpointed (struct ext4fs *fs, uint64_t blk)
{
  const uint8_t *img = overlay_get (fs->ov, blk);
  uint8_t *now = malloc (fs->bs);
  bool same;

  if (now == NULL)
    abort ();
  same = bw_pread (fs->disk, now, fs->bs, blk * fs->bs, fs->err,
                   sizeof fs->err) == 0 && memcmp (now, img, fs->bs) == 0;
  free (now);
  overlay_drop (fs->ov, blk);
  return same;
}
