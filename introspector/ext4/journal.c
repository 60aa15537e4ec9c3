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
 * Online, the storage runs ahead of the records that reach us (by up to
 * the tap's buffer): it may hold transactions whose records have not
 * reached us, and the log may have wrapped over a transaction by the
 * time its commit is read.  So journal blocks are read as the tap
 * wrote them: each write into the journal is kept (jkept) until the
 * transaction it belongs to has been applied; the storage is read only
 * while opening.  A block is rewritten only after its transaction was
 * checkpointed, which follows its commit in the tap's order, so what
 * is kept is always what the log said then.  Below the overlay, the
 * disk is read as of the records handled (ext4-impl.h, fs->exact): a
 * committed image is laid over it whatever the storage holds now, and
 * the view never shows a write of a record not handled yet where the
 * records handled wrote before.  A transaction half written when we
 * opened is the exception: what of it is on the disk then is kept at
 * open, as if the tap had written it, since its records came before
 * ours.
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

/* Journal blocks as the tap wrote them.  From the disk itself (never
 * the overlay) only while opening: after that, the disk may hold
 * blocks of transactions whose records have not reached us yet.
 */
static int
read_jblk (void *opaque, uint32_t jblk, uint8_t *buf)
{
  struct ext4fs *fs = opaque;
  const struct jrun *r = find_run (fs->jmap, fs->njmap, jblk, false);
  const uint8_t *kept = overlay_get (fs->jkept, jblk);

  if (kept) {
    memcpy (buf, kept, fs->bs);
    return 0;
  }
  if (r == NULL || fs->journal_on)
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

static void
kept_at_open (void *opaque, uint32_t jblk, const uint8_t *buf)
{
  struct ext4fs *fs = opaque;

  overlay_put (fs->jkept, jblk, 0, buf);
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
  /* The same container as the overlay, keyed by journal block. */
  fs->jkept = overlay_new (fs->disk, fs->bs);
  fs->jscratch = bw_xcalloc (1, fs->bs);
  if (jbd2_log_open (&fs->log, fs->bs, fs->nblocks, read_jblk, fs, fs->ov,
                     err, sizeof err) == -1) {
    ext4_say (fs, "journal not followed: %s", err);
    overlay_free (fs->ov);
    overlay_free (fs->jkept);
    fs->ov = fs->jkept = NULL;
    return 0;
  }
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
  /* The transaction being written, as far as it is: the records of its
   * first blocks came before ours (a restarted introspector's
   * predecessor took them), so they are kept from the disk now, and
   * its commit is followed when it comes, not when the journal
   * superblock moves past it (at a checkpoint, maybe much later).
   */
  jbd2_log_partial (&fs->log, kept_at_open, fs);
  fs->journal_on = true;      /* from now on, the log as the tap wrote it */
  return 0;
}

void
journal_close (struct ext4fs *fs)
{
  if (fs->journal_on)
    jbd2_log_close (&fs->log);
  overlay_free (fs->ov);
  overlay_free (fs->jkept);
  free (fs->jscratch);
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
  /* Its blocks are read: what is kept of them can go. */
  for (uint32_t j = t->start; j != t->next; j = jbd2_next (&fs->log.sb, j))
    overlay_drop (fs->jkept, j);
  reconcile_now (fs, c->seq, t->tid, c->time_ns);
}

/* A committed image leaves the overlay because the journal says its
 * transaction is home.  If the disk holds other bytes there, the view
 * changed: that block is read again, as if written now.
 */
static void
image_dropped (void *opaque, uint64_t home, const uint8_t *image)
{
  struct commit_ctx *c = opaque;
  struct ext4fs *fs = c->fs;

  /* Online, the image is what the records handled left at home (the
   * kernel moves the tail only after its checkpoint, and a home write
   * handled since would have taken the image out already): the disk as
   * of the records, where the view keeps no handled write of its own.
   */
  if (fs->exact && !exact_has (fs->exact, home))
    exact_write (fs->exact, home, EXACT_META, image, home * fs->bs, fs->bs);
  if (bw_pread (fs->disk, fs->jscratch, fs->bs, home * fs->bs, fs->err,
                sizeof fs->err) == -1 ||
      memcmp (fs->jscratch, image, fs->bs) != 0)
    note_range (fs, home * fs->bs, fs->bs, c->seq, c->time_ns);
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
  switch (jbd2_log_super (&fs->log, image_dropped, &c, why, sizeof why)) {
  case JBD2_SB_MISSED:
    ext4_say (fs, "journal: its tail moved past transactions never seen; "
              "everything is re-read");
    need_resync (fs, "metadata re-read from the disk: the journal's tail "
                 "moved past transactions never seen");
    advance (fs, &c);
    break;
  case JBD2_SB_FOUND:
    advance (fs, &c);
    break;
  case JBD2_SB_BAD:
    if (!fs->jsb_bad_said)
      ext4_say (fs, "journal superblock: %s (said once, until it is "
                "good again)", why);
    fs->jsb_bad_said = true;
    return;
  case JBD2_SB_EMPTY:
    overlay_clear (fs->jkept, NULL, NULL);    /* of no transaction */
    break;
  case JBD2_SB_SAME: case JBD2_SB_TAIL:
    break;
  }
  if (fs->jsb_bad_said)
    ext4_say (fs, "journal superblock: good again");
  fs->jsb_bad_said = false;
}

void
journal_keep (struct ext4fs *fs, uint32_t jblk, uint64_t blk,
              const uint8_t *data, uint64_t off, uint64_t len)
{
  uint64_t bstart = blk * fs->bs, from, to;
  uint8_t *img = malloc (fs->bs);

  if (img == NULL)
    abort ();
  from = off > bstart ? off : bstart;
  to = off + len < bstart + fs->bs ? off + len : bstart + fs->bs;
  /* A part of a block (the kernel writes whole ones): the rest as kept
   * or as on the disk.
   */
  if (from > bstart || to < bstart + fs->bs) {
    const uint8_t *kept = overlay_get (fs->jkept, jblk);
    if (kept)
      memcpy (img, kept, fs->bs);
    else if (bw_pread (fs->disk, img, fs->bs, bstart, fs->err,
                       sizeof fs->err) == -1)
      memset (img, 0, fs->bs);
  }
  if (data)
    memcpy (img + (from - bstart), data + (from - off), to - from);
  else
    memset (img + (from - bstart), 0, to - from);
  overlay_put (fs->jkept, jblk, 0, img);
  free (img);
}

bool
journal_commit_written (struct ext4fs *fs, uint32_t jblk)
{
  uint32_t h[3];

  if (read_jblk (fs, jblk, fs->jscratch) == -1)
    return false;
  memcpy (h, fs->jscratch, sizeof h);
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
