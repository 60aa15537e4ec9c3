/* An inode's block map, re-read from the disk into the owner map.
 *
 * Extent trees are walked from the inode we decoded ourselves; indirect
 * maps through libext2fs after dropping its inode cache.  Every range
 * is checked against the file system's size (a hostile map must not
 * claim blocks that do not exist), and ranges that were written before
 * this map existed (gaps) become write events now.
 */

#include <stdlib.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "ext4-impl.h"

/* An inode cannot own more ranges than this; a map that claims more is
 * corrupt or hostile, and the rest of it is ignored.
 */
#define MAX_RANGES (1u << 20)

/* Nor can all of them together own more ranges than the file system has
 * blocks: in a sane file system a block has one owner.  Twice that
 * leaves room for blocks that change hands within a barrier (the new
 * owner's map may be read before the old one's).  Maps that share
 * blocks (indirect blocks that all point at one block, in inode after
 * inode) are hostile, and what they claim beyond this is ignored.
 */
static bool
owners_full (const struct ext4fs *fs)
{
  return fs->m.owners.nodes >= 2 * fs->nblocks;
}

struct loader {
  struct ext4fs *fs;
  uint32_t ino;
  enum bm_kind data_kind;
  unsigned ranges;
  uint64_t pointers;          /* indirect maps: block pointers seen */
  /* run being collected (indirect maps give one block at a time) */
  uint64_t run_start, run_lblk;
  uint32_t run_len;
  enum bm_kind run_kind;
};

static void
gap_to_write (uint64_t start, uint64_t len, uint64_t seq, void *opaque)
{
  struct loader *l = opaque;
  struct ext4fs *fs = l->fs;
  /* run_* still describe the range being added */
  uint64_t file_blk = l->run_lblk + (start - l->run_start);

  queue_write (fs, l->ino, file_blk * fs->bs, len * fs->bs,
               start * fs->bs, seq, fs->time_ns);
}

static void
add_range (struct loader *l, uint64_t start, uint32_t len, uint64_t lblk,
           enum bm_kind kind)
{
  struct ext4fs *fs = l->fs;

  if (len == 0 || start < fs->fs->super->s_first_data_block ||
      start >= fs->nblocks || len > fs->nblocks - start ||
      l->ranges >= MAX_RANGES || owners_full (fs))
    return;
  /* Logical blocks are 32-bit in ext4: a map that claims more is
   * corrupt, and no file offset could reach such blocks.
   */
  if (lblk + len > (uint64_t) UINT32_MAX + 1)
    return;
  l->ranges++;
  model_add_block (&fs->m, l->ino, start, len, lblk, kind);
  l->run_start = start;
  l->run_lblk = lblk;
  /* Blocks written before they were preallocated are not the file's
   * content until the file writes them (the range becomes written):
   * their gaps wait for that.
   */
  if (kind != BM_UNWRITTEN)
    bm_gap_cut (&fs->m.gaps, start, len,
                kind == BM_DATA ? gap_to_write : NULL, l);
}

static void
flush_run (struct loader *l)
{
  if (l->run_len)
    add_range (l, l->run_start, l->run_len, l->run_lblk, l->run_kind);
  l->run_len = 0;
}

static void
add_block (struct loader *l, uint64_t blk, uint64_t lblk, enum bm_kind kind)
{
  if (l->run_len && kind == l->run_kind && blk == l->run_start + l->run_len &&
      (kind == BM_MAP || lblk == l->run_lblk + l->run_len) &&
      l->run_len < UINT32_MAX) {
    l->run_len++;
    return;
  }
  flush_run (l);
  l->run_start = blk;
  l->run_lblk = lblk;
  l->run_len = 1;
  l->run_kind = kind;
}

static int
load_extents (struct loader *l, struct ext2_inode_large *in)
{
  struct ext4fs *fs = l->fs;
  ext2_extent_handle_t h;
  struct ext2fs_extent e;
  errcode_t rc;
  int op = EXT2_EXTENT_ROOT;

  rc = ext2fs_extent_open2 (fs->fs, l->ino, (struct ext2_inode *) in, &h);
  if (rc)
    return rc == EXT2_ET_INODE_NOT_EXTENT ? 0 : -1;
  while ((rc = ext2fs_extent_get (h, op, &e)) == 0) {
    op = EXT2_EXTENT_NEXT;
    if (e.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT)
      continue;
    if (e.e_flags & EXT2_EXTENT_FLAGS_LEAF)
      add_range (l, e.e_pblk, e.e_len, e.e_lblk,
                 l->data_kind == BM_DATA &&
                 (e.e_flags & EXT2_EXTENT_FLAGS_UNINIT) ? BM_UNWRITTEN
                                                        : l->data_kind);
    else
      add_range (l, e.e_pblk, 1, 0, BM_MAP);  /* an index or leaf block */
    if (l->ranges >= MAX_RANGES || owners_full (fs))
      break;
  }
  ext2fs_extent_free (h);
  /* EXT2_ET_EXTENT_NO_NEXT ends a walk; anything else is a broken tree,
   * of which we keep what we could read.
   */
  return 0;
}

static int
indirect_cb (ext2_filsys e, blk64_t *blocknr, e2_blkcnt_t blockcnt,
             blk64_t ref_blk, int ref_offset, void *priv)
{
  struct loader *l = priv;

  (void) e; (void) ref_blk; (void) ref_offset;
  if (blockcnt < 0)
    add_block (l, *blocknr, 0, BM_MAP);
  else
    add_block (l, *blocknr, blockcnt, l->data_kind);
  /* A file cannot map more blocks than there are; pointers that lead
   * nowhere take no range, so they are counted apart.
   */
  return ++l->pointers > l->fs->nblocks || l->ranges >= MAX_RANGES ||
         owners_full (l->fs) ? BLOCK_ABORT : 0;
}

static int
load_map (struct ext4fs *fs, uint32_t ino, struct inode_rec *r,
          struct ext2_inode_large *in)
{
  struct loader l = { .fs = fs, .ino = ino };

  model_clear_blocks (&fs->m, r);
  if (ino == fs->journal_ino)
    l.data_kind = BM_JOURNAL;
  else if (S_ISDIR (in->i_mode))
    l.data_kind = BM_DIR;
  else
    l.data_kind = BM_DATA;
  if ((in->i_flags & EXT4_INLINE_DATA_FL) ||
      !ext2fs_inode_has_valid_blocks2 (fs->fs, (struct ext2_inode *) in))
    return 0;
  /* libext2fs reads the inode itself: for an indirect map, and for the
   * generation that extent block checksums cover.  Make it read the
   * disk, not an inode it cached earlier (a stale generation fails
   * every checksum, and the tree below the root would be lost).
   */
  ext2fs_flush_icache (fs->fs);
  if (in->i_flags & EXT4_EXTENTS_FL) {
    /* An extent tree with no entries (an empty file: most of a fresh
     * crawl) maps nothing; libext2fs would allocate a handle to say so.
     */
    const struct ext3_extent_header *eh = (const void *) in->i_block;
    if (ext2fs_le16_to_cpu (eh->eh_magic) == EXT3_EXT_MAGIC &&
        eh->eh_entries == 0)
      return 0;
    return load_extents (&l, in);
  }
  ext2fs_block_iterate3 (fs->fs, ino, BLOCK_FLAG_READ_ONLY, NULL,
                         indirect_cb, &l);
  flush_run (&l);
  return 0;
}

/* The file ranges an inode's written data blocks cover, in file
 * order (preallocated blocks read as zeroes, like holes).
 */
struct span { uint64_t lblk, len, pblk; };

static int
by_lblk (const void *a, const void *b)
{
  const struct span *x = a, *y = b;

  return x->lblk < y->lblk ? -1 : x->lblk > y->lblk;
}

static struct span *
kind_spans (const struct ext4fs *fs, const struct inode_rec *r,
            enum bm_kind kind, size_t *n)
{
  size_t cap = 0;
  struct span *v = NULL;

  *n = 0;
  for (uint32_t id = r->blocks; id; ) {
    const struct bm_node *b = bm_get (&fs->m.owners, id);

    id = b->next;
    if (b->kind != kind)
      continue;
    v = bw_grow (v, &cap, *n, sizeof *v);
    v[(*n)++] = (struct span) { b->lblk, b->len, b->start };
  }
  if (*n)
    qsort (v, *n, sizeof *v, by_lblk);
  return v;
}

static struct span *
data_spans (const struct ext4fs *fs, const struct inode_rec *r, size_t *n)
{
  return kind_spans (fs, r, BM_DATA, n);
}

/* File ranges that had written blocks and have none now (a truncate
 * and regrow, a punched hole, a range zeroed by making its blocks
 * unwritten again) read as zeroes: that is a change of content, and the
 * only sign of it may be the block map, so it is reported as a write of
 * zeroes.
 */
static void
queue_new_holes (struct ext4fs *fs, uint32_t ino, const struct inode_rec *r,
                 const struct span *old, size_t nold)
{
  size_t nnew, j = 0;
  struct span *now = data_spans (fs, r, &nnew);

  for (size_t i = 0; i < nold; i++) {
    uint64_t a = old[i].lblk, end = old[i].lblk + old[i].len;
    while (a < end) {
      while (j < nnew && now[j].lblk + now[j].len <= a)
        j++;
      uint64_t b = j < nnew && now[j].lblk < end ? now[j].lblk : end;
      if (b > a)
        queue_write (fs, ino, a * fs->bs, (b - a) * fs->bs, ZERO_WRITE,
                     fs->seq, fs->time_ns);
      a = j < nnew && now[j].lblk < end ? now[j].lblk + now[j].len : end;
    }
  }
  free (now);
}

static int
by_pblk (const void *a, const void *b)
{
  const struct span *x = a, *y = b;

  return x->pblk < y->pblk ? -1 : x->pblk > y->pblk;
}

/* Calls fn for each piece of disk [a, b) that a span of was and a span
 * of now both map, with the file blocks it is at in each.  A hostile
 * map may give one block many offsets: the pieces looked at are
 * bounded.
 */
static void
each_overlap (struct span *was, size_t nwas, const struct span *now,
              size_t nnow, void (*fn) (void *, uint64_t, uint64_t, uint64_t,
                                       uint64_t), void *opaque)
{
  size_t budget = 4 * (nwas + nnow);

  qsort (was, nwas, sizeof *was, by_pblk);
  for (size_t i = 0; i < nnow && budget; i++) {
    uint64_t start = now[i].pblk, end = start + now[i].len;
    size_t lo = 0, hi = nwas;
    while (lo < hi) {         /* the first span of was that ends past start */
      size_t mid = lo + (hi - lo) / 2;
      if (was[mid].pblk + was[mid].len <= start)
        lo = mid + 1;
      else
        hi = mid;
    }
    for (size_t j = lo; j < nwas && was[j].pblk < end && budget; j++, budget--) {
      uint64_t a = was[j].pblk > start ? was[j].pblk : start;
      uint64_t b = was[j].pblk + was[j].len < end ? was[j].pblk + was[j].len : end;
      if (b > a)
        fn (opaque, a, b, was[j].lblk + (a - was[j].pblk),
            now[i].lblk + (a - start));
    }
  }
}

struct reload {
  struct ext4fs *fs;
  uint32_t ino;
  const struct span *q;       /* queue_now_written: the bytes of the
                               * disk the writes waiting cover (pblk,
                               * len: in bytes here), disjoint */
  size_t nq;
};

static void
moved (void *opaque, uint64_t a, uint64_t b, uint64_t was, uint64_t is)
{
  struct reload *c = opaque;
  struct ext4fs *fs = c->fs;

  if (was != is)
    queue_write (fs, c->ino, is * fs->bs, (b - a) * fs->bs, a * fs->bs,
                 fs->seq, fs->time_ns);
}

/* Written blocks the file had at one offset and has at another now
 * (fallocate's collapse and insert range shift the extents; nothing
 * writes their bytes) make the file read differently there: that is a
 * change of content whose only sign is the block map, so it is
 * reported as a write of what the blocks hold.  Blocks new to the file
 * are not: their writes are reported as they come.
 */
static void
queue_moved_blocks (struct ext4fs *fs, uint32_t ino, const struct inode_rec *r,
                    struct span *old, size_t nold)
{
  size_t nnew;
  struct span *now = data_spans (fs, r, &nnew);
  struct reload c = { fs, ino, NULL, 0 };

  each_overlap (old, nold, now, nnew, moved, &c);
  free (now);
}

static void
now_written (void *opaque, uint64_t a, uint64_t b, uint64_t was, uint64_t is)
{
  struct reload *c = opaque;
  struct ext4fs *fs = c->fs;
  size_t k = 0, top = c->nq;
  uint64_t x = a * fs->bs, end = b * fs->bs, x0 = x;

  if (was != is)
    return;
  /* [a, b) went from unwritten to written: less the bytes writes cover.
   * Bytes, not blocks: a write held past the end of the file covers
   * the rest of a block whose start was reported before the zeroes.
   */
  while (k < top) {           /* the first write run that ends past x */
    size_t mid = k + (top - k) / 2;
    if (c->q[mid].pblk + c->q[mid].len <= x)
      k = mid + 1;
    else
      top = mid;
  }
  while (x < end) {
    uint64_t stop = k < c->nq && c->q[k].pblk < end ? c->q[k].pblk : end;
    if (stop > x)
      queue_write (fs, c->ino, is * fs->bs + (x - x0), stop - x, x, fs->seq,
                   fs->time_ns);
    if (stop == end)
      break;
    x = c->q[k].pblk + c->q[k].len;
    k++;
  }
}

/* Preallocated blocks marked written (the same blocks at the same
 * offsets) read what they hold now.  Their data is normally a write
 * held until then, and reported with it.  But data written into blocks
 * made unwritten by a zero range of the same transaction can reach the
 * disk before that transaction's commit: it was reported while the map
 * still said written, then the range's zeroes over it, and nothing
 * after.  So what of the blocks marked written no waiting write covers
 * is reported as a write of what it holds.
 */
static void
queue_now_written (struct ext4fs *fs, uint32_t ino, const struct inode_rec *r,
                   struct span *was, size_t nwas)
{
  size_t nnow, nq = 0;
  struct span *now = data_spans (fs, r, &nnow);
  struct span *q = malloc ((fs->nwq + 1) * sizeof *q);
  struct reload c;

  if (q == NULL)
    abort ();
  for (size_t i = 0; i < fs->nwq; i++)
    if (fs->wq[i].ino == ino && fs->wq[i].len &&
        fs->wq[i].disk_off < INLINE_WRITE)
      q[nq++] = (struct span) {
        .pblk = fs->wq[i].disk_off, .len = fs->wq[i].len,
      };
  qsort (q, nq, sizeof *q, by_pblk);
  if (nq) {                   /* merged: disjoint, in order */
    size_t m = 0;
    for (size_t i = 1; i < nq; i++) {
      uint64_t end = q[m].pblk + q[m].len;
      if (q[i].pblk <= end) {
        if (q[i].pblk + q[i].len > end)
          q[m].len = q[i].pblk + q[i].len - q[m].pblk;
      }
      else
        q[++m] = q[i];
    }
    nq = m + 1;
  }
  c = (struct reload) { fs, ino, q, nq };
  each_overlap (was, nwas, now, nnow, now_written, &c);
  free (q);
  free (now);
}

/* Writes waiting (held until their blocks are written or the file is
 * named) follow their blocks to where the file has them now: given the
 * offset they had, a shift of the extents (insert or collapse range)
 * made them fail still_owned, and the data was dropped.  Each is split
 * where its blocks are no longer in one run.  Any of its blocks may
 * have moved, not only the first: a collapse range frees the blocks of
 * the range and shifts those after it, and a write into both kept
 * none (still_owned failed at its first block, and the rest went with
 * it).
 */
static void
follow_queued_writes (struct ext4fs *fs, uint32_t ino)
{
  size_t n = fs->nwq;

  for (size_t i = 0; i < n; i++) {
    struct queued_write q = fs->wq[i];
    uint64_t off = q.disk_off, end = q.disk_off + q.len;
    const struct bm_node *b;
    if (q.ino != ino || q.disk_off >= INLINE_WRITE)
      continue;
    b = bm_find (&fs->m.owners, off / fs->bs);
    if (b && bm_file_data (b->kind) && b->ino == ino &&
        (b->lblk + (off / fs->bs - b->start)) * fs->bs + off % fs->bs
        == q.file_off && (b->start + b->len) * fs->bs >= end)
      continue;               /* where it was, all of it */
    fs->wq[i].len = 0;
    while (off < end) {
      uint64_t blk = off / fs->bs, stop;
      b = bm_find (&fs->m.owners, blk);
      stop = b ? (b->start + b->len) * fs->bs : (blk + 1) * fs->bs;
      if (stop > end)
        stop = end;
      if (b && bm_file_data (b->kind) && b->ino == ino)
        queue_write (fs, ino, (b->lblk + (blk - b->start)) * fs->bs
                     + off % fs->bs, stop - off, off, q.seq, q.time_ns);
      off = stop;
    }
  }
}

/* A truncate into a block leaves the bytes past the new end of file in
 * it, which the kernel zeroes, and which a consumer takes for zeroes.
 * Data written there after the truncate (an append) can reach the disk
 * before the commit that makes the file shorter: reported then, in a
 * block below the old end of file, and cut off by the truncate event
 * after it; the size that covers it again comes with no write.  So
 * those bytes are a write, past end of file: held until the file grows
 * over them (zeroes are not).
 */
void
blocks_truncated (struct ext4fs *fs, uint32_t ino, uint64_t size)
{
  const struct inode_rec *r = model_inode (&fs->m, ino);
  uint64_t lblk = size / fs->bs, in = size % fs->bs;

  if (r == NULL || in == 0 || !S_ISREG (r->a.mode))
    return;
  for (uint32_t id = r->blocks; id; ) {
    const struct bm_node *b = bm_get (&fs->m.owners, id);

    id = b->next;
    if (b->kind == BM_DATA && b->lblk <= lblk && lblk - b->lblk < b->len) {
      queue_write (fs, ino, size, fs->bs - in,
                   (b->start + (lblk - b->lblk)) * fs->bs + in, fs->seq,
                   fs->time_ns);
      return;
    }
  }
}

int
blocks_reload (struct ext4fs *fs, uint32_t ino, struct ext2_inode_large *in)
{
  struct inode_rec *r = model_inode (&fs->m, ino);
  size_t nold = 0;
  struct span *old = S_ISREG (r->a.mode) ? data_spans (fs, r, &nold) : NULL;
  size_t nunw = 0;
  struct span *unw = S_ISREG (r->a.mode)
                     ? kind_spans (fs, r, BM_UNWRITTEN, &nunw) : NULL;
  int ret;

  ret = load_map (fs, ino, r, in);
  follow_queued_writes (fs, ino);
  if (nold) {
    queue_new_holes (fs, ino, r, old, nold);
    queue_moved_blocks (fs, ino, r, old, nold);
  }
  if (nunw)
    queue_now_written (fs, ino, r, unw, nunw);
  free (old);
  free (unw);
  return ret;
}

