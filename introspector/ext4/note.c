/* Tap records as they arrive: which metadata they dirtied, and which
 * bytes they wrote.  Nothing is decided here; the barrier's reconcile
 * reads the disk and decides.
 */

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "ext4-impl.h"

static void
add_pending (struct ext4fs *fs, uint64_t off, uint64_t len, uint64_t seq,
             uint64_t time_ns)
{
  struct pending *p;

  if (fs->npend) {
    p = &fs->pend[fs->npend - 1];
    if (p->off + p->len == off) {
      p->len += len;
      p->seq = seq;
      p->time_ns = time_ns;
      return;
    }
  }
  fs->pend = bw_grow (fs->pend, &fs->cappend, fs->npend, sizeof *fs->pend);
  fs->pend[fs->npend++] = (struct pending) {
    .off = off, .len = len, .seq = seq, .time_ns = time_ns,
  };
}

void
note_range (struct ext4fs *fs, uint64_t off, uint64_t len, uint64_t seq,
            uint64_t time_ns)
{
  uint64_t first, last;

  add_pending (fs, off, len, seq, time_ns);
  first = off / fs->bs;
  last = (off + len - 1) / fs->bs;
  for (uint64_t b = first; b <= last; ) {
    const struct region *rg = layout_find (fs, b);
    const struct bm_node *n;

    if (rg) {
      switch (rg->kind) {
      case R_SUPER: fs->sb_dirty = true; break;
      case R_GDT: fs->gdt_dirty = true; break;
      case R_ITABLE: numset_add (&fs->dirty_itable, b); break;
      default: break;         /* bitmaps, backups: state comes from inodes */
      }
      b++;
      continue;
    }
    n = bm_find (&fs->m.owners, b);
    if (n == NULL) {
      b++;                    /* unowned: its bytes are in pending */
      continue;
    }
    if (n->kind == BM_DIR)
      numset_add (&fs->dirty_dirs, n->ino);
    else if (n->kind == BM_MAP)
      numset_add (&fs->dirty_maps, n->ino);
    b = n->start + n->len;
  }
}

/* With a journal, a write is one of three things, block by block: the
 * log itself (kept as written, read at its commit, never data), a
 * checkpoint of a committed block (already reported), or anything else.
 */
static void
note_journaled (struct ext4fs *fs, uint64_t off, uint64_t len,
                const uint8_t *data, uint64_t seq, uint64_t time_ns)
{
  uint64_t end = off + len, from = off, commit_blk = UINT64_MAX;

  for (uint64_t b = off / fs->bs; b * fs->bs < end; b++) {
    uint64_t bstart = b * fs->bs, bend = bstart + fs->bs;
    uint32_t jblk;
    bool skip = false;

    if (journal_block (fs, b, &jblk)) {
      journal_keep (fs, jblk, b, data, off, len);
      if (jblk == 0)
        fs->jsb_written = true;
      else {
        fs->jlog_written = true;
        commit_blk = jblk;
      }
      skip = true;
    }
    else if (overlay_get (fs->ov, b))
      skip = journal_checkpointed (fs, b);
    if (!skip)
      continue;
    if (from < bstart)
      note_range (fs, from, bstart - from, seq, time_ns);
    from = bend < end ? bend : end;
  }
  if (from < end)
    note_range (fs, from, end - from, seq, time_ns);
  /* A commit block is the last the kernel writes of a transaction. */
  if (fs->jsb_written ||
      (commit_blk != UINT64_MAX && journal_commit_written (fs, commit_blk)))
    journal_poll (fs, seq, time_ns);
}

/* Online, the blocks a handled record wrote are kept as it left them
 * (fs->exact), so that every read sees the disk as of the records
 * handled, not the storage that runs ahead of them: by what they are
 * now, metadata read at barriers (the fixed metadata, directory and
 * extent or indirect blocks) in one class, file data and blocks of no
 * owner yet (new directory or extent blocks, or data before its
 * mapping) in the other.  Not kept: the journal's blocks (kept as
 * written until their transaction is read, journal.c) and backup
 * superblocks and descriptors, never read.  A block followed in the
 * same record by as many blocks as its class holds is forgotten at
 * once, not copied: they would push it out (a trim or a zeroing of
 * gigabytes stays cheap).
 *
 * File data is kept even when no event reads it (data_max 0): the
 * class is what the block is as of the last barrier, and a block kept
 * as data may be read as metadata later.  One of no owner yet is as
 * often a new directory or extent block, written home before its
 * mapping wherever no journal carries it (ext2, --no-journal, a
 * journal not followed or stopped); an owned one may have been freed
 * and given to a directory since the barrier; and under data=journal
 * a home write of file data is held against its commit image
 * (journal_checkpointed), which through the storage would make a
 * checkpoint look like a new write.  Needless only for owned blocks
 * under a followed journal in ordered or writeback mode, which cannot
 * be told here for sure; the copies are bounded by exact-data.
 */
static void
keep_exact (struct ext4fs *fs, uint64_t off, uint64_t len,
            const uint8_t *data)
{
  uint64_t last = (off + len - 1) / fs->bs;

  for (uint64_t b = off / fs->bs; b <= last; b++) {
    const struct region *rg = layout_find (fs, b);
    const struct bm_node *n = rg ? NULL : bm_find (&fs->m.owners, b);
    enum exact_class c =
      rg || (n && (n->kind == BM_DIR || n->kind == BM_MAP)) ? EXACT_META
                                                            : EXACT_DATA;

    if ((rg && rg->kind == R_BACKUP) || (n && n->kind == BM_JOURNAL))
      continue;
    if (last - b >= fs->exact_max[c])
      exact_forget (fs->exact, b);
    else
      exact_write (fs->exact, b, c, data, off, len);
  }
}

void
ext4_note_write (struct ext4fs *fs, uint64_t off, uint64_t len,
                 const uint8_t *data, uint64_t seq, uint64_t time_ns)
{
  if (len == 0 || off >= fs->nblocks * fs->bs)
    return;
  if (len > fs->nblocks * fs->bs - off)
    len = fs->nblocks * fs->bs - off;
  /* First: what follows reads the disk as of this record. */
  if (fs->exact)
    keep_exact (fs, off, len, data);
  if (fs->journal_on)
    note_journaled (fs, off, len, data, seq, time_ns);
  else
    note_range (fs, off, len, seq, time_ns);
}

#define LOST_RECORDS "metadata re-read from the disk after lost tap " \
  "records; data written while records were lost is not reported"

void
need_resync (struct ext4fs *fs, const char *why)
{
  if (!fs->full_resync || strcmp (why, LOST_RECORDS) == 0)
    fs->resync_why = why;
  fs->full_resync = true;
}

void
ext4_note_loss (struct ext4fs *fs)
{
  /* The records handled are no longer all that was written: the lost
   * ones may have written anything, the superblock (a mount, a mkfs)
   * and the group descriptors (a resize) too, which the resync's scan
   * of inode tables and directories does not read.
   */
  if (fs->exact)
    exact_clear (fs->exact);
  fs->sb_dirty = fs->gdt_dirty = true;
  need_resync (fs, LOST_RECORDS);
}
