/* Checksums of ext4 metadata made to hold again (see ext4-fixup.h),
 * with libext2fs's own setters: an implementation apart from the
 * introspector's inode_csum_ok, which this checks.
 */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "disk/reader-mem.h"
#include "ext4/ext2-io.h"
#include "ext4-fixup.h"
#include "jbd2-fixup.h"

/* What a block of the image is, by what the image says now. */
enum kind { K_NONE, K_GDT, K_ITABLE, K_DIR, K_EXTENT, K_JOURNAL };

struct fixer {
  ext2_filsys fs;
  uint8_t *image;
  unsigned bs, isz;
  uint64_t nblk;              /* blocks both the file system and image hold */
  uint8_t *kind;              /* per block: enum kind */
  uint32_t *num;              /* per block: the group (K_ITABLE), the
                               * descriptor block (K_GDT), or the inode */
  uint32_t *jmap;             /* the journal's blocks, in its order */
  uint32_t jn;
  bool journal;               /* fixing a copy in the journal */
  struct ext4_fixup_report *r;
};

static void *
xcalloc (size_t n, size_t size)
{
  void *p = calloc (n ? n : 1, size);

  if (p == NULL)
    abort ();
  return p;
}

/* ---- what owns each block ------------------------------------------ */

struct walk {
  struct fixer *x;
  uint32_t ino;
  bool dir, extents, journal;
  uint64_t calls, max_calls;  /* a map of loops ends somewhere */
};

static int
block_cb (ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
          blk64_t ref_blk, int ref_offset, void *priv)
{
  struct walk *w = priv;
  struct fixer *x = w->x;
  uint64_t b = *blocknr;

  (void) fs; (void) ref_blk; (void) ref_offset;
  if (++w->calls > w->max_calls)
    return BLOCK_ABORT;
  if (b >= x->nblk)
    return 0;
  if (w->journal && blockcnt >= 0 && (uint64_t) blockcnt < x->nblk) {
    if ((uint64_t) blockcnt >= x->jn)
      x->jn = blockcnt + 1;
    x->jmap[blockcnt] = b;
    x->kind[b] = K_JOURNAL;
  }
  else if (blockcnt < 0 && w->extents)
    x->kind[b] = K_EXTENT;
  else if (blockcnt >= 0 && w->dir)
    x->kind[b] = K_DIR;
  else
    return 0;
  x->num[b] = w->ino;
  return 0;
}

static void
mark_fixed_layout (struct fixer *x)
{
  ext2_filsys fs = x->fs;
  uint32_t per = fs->blocksize / EXT2_DESC_SIZE (fs->super);

  for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
    blk64_t t = ext2fs_inode_table_loc (fs, g);
    for (uint64_t i = 0; i < fs->inode_blocks_per_group; i++)
      if (t + i < x->nblk) {
        x->kind[t + i] = K_ITABLE;
        x->num[t + i] = g;
      }
    if (g % per == 0) {
      blk64_t d = ext2fs_descriptor_block_loc2 (fs, fs->super->s_first_data_block,
                                                g / per);
      if (d < x->nblk) {
        x->kind[d] = K_GDT;
        x->num[d] = g / per;
      }
    }
  }
}

static void
mark_owned (struct fixer *x)
{
  ext2_filsys fs = x->fs;
  ext2_inode_scan scan;
  uint8_t *raw = xcalloc (1, x->isz);
  struct ext2_inode_large *in = (void *) raw;
  /* no more inodes than the image could hold */
  uint64_t left = x->nblk * x->bs / EXT2_GOOD_OLD_INODE_SIZE;
  ext2_ino_t ino;
  errcode_t rc;

  if (ext2fs_open_inode_scan (fs, 0, &scan)) {
    free (raw);
    return;
  }
  ext2fs_inode_scan_flags (scan, EXT2_SF_SKIP_MISSING_ITABLE, 0);
  while (left--) {
    struct walk w = { .x = x, .max_calls = 2 * x->nblk + 64 };

    rc = ext2fs_get_next_inode_full (scan, &ino, (struct ext2_inode *) raw,
                                     x->isz);
    if (rc == EXT2_ET_INODE_IS_GARBAGE)
      continue;
    if (rc || ino == 0)
      break;
    if (in->i_links_count == 0 && ino != fs->super->s_journal_inum)
      continue;
    if ((in->i_flags & EXT4_INLINE_DATA_FL) ||
        !ext2fs_inode_has_valid_blocks2 (fs, (struct ext2_inode *) in))
      continue;
    w.ino = ino;
    w.journal = ino == fs->super->s_journal_inum;
    w.dir = LINUX_S_ISDIR (in->i_mode);
    w.extents = in->i_flags & EXT4_EXTENTS_FL;
    if (w.journal || w.dir || w.extents)
      ext2fs_block_iterate3 (fs, ino, BLOCK_FLAG_READ_ONLY, NULL, block_cb,
                             &w);
  }
  ext2fs_close_inode_scan (scan);
  free (raw);
}

/* ---- fixing a block ------------------------------------------------- */

static void fix_block (struct fixer *x, uint64_t blk, uint8_t *buf);

/* An inode's checksum changed: its generation may have, which seeds
 * its blocks' checksums (at home: a copy in the journal leaves them).
 */
static void
inode_fixed (struct fixer *x, uint32_t ino)
{
  x->r->inodes++;
  if (x->r->inode)
    x->r->inode (x->r->opaque, ino, x->journal);
  if (x->journal)
    return;
  for (uint64_t b = 0; b < x->nblk; b++)
    if ((x->kind[b] == K_DIR || x->kind[b] == K_EXTENT) && x->num[b] == ino)
      fix_block (x, b, x->image + b * x->bs);
}

static void
fix_inodes (struct fixer *x, uint64_t blk, uint8_t *buf)
{
  ext2_filsys fs = x->fs;
  uint32_t g = x->num[blk], ipg = fs->super->s_inodes_per_group;
  uint64_t first = (blk - ext2fs_inode_table_loc (fs, g)) * (x->bs / x->isz);

  for (unsigned i = 0; i < x->bs / x->isz && first + i < ipg; i++) {
    uint8_t *raw = buf + (size_t) i * x->isz, was[4];
    uint32_t ino = g * ipg + first + i + 1;
    struct ext2_inode_large *in = (void *) raw;
    unsigned z = 0;

    while (z < EXT2_GOOD_OLD_INODE_SIZE && raw[z] == 0)
      z++;
    if (z == EXT2_GOOD_OLD_INODE_SIZE)
      continue;               /* never written: no checksum to hold */
    x->r->set.inodes += ext2fs_has_feature_metadata_csum (fs->super);
    memcpy (was, &in->i_checksum_lo, 2);
    if (x->isz > EXT2_GOOD_OLD_INODE_SIZE)
      memcpy (was + 2, &in->i_checksum_hi, 2);
    ext2fs_inode_csum_set (fs, ino, in);
    if (memcmp (was, &in->i_checksum_lo, 2) != 0 ||
        (x->isz > EXT2_GOOD_OLD_INODE_SIZE &&
         memcmp (was + 2, &in->i_checksum_hi, 2) != 0))
      inode_fixed (x, ino);
  }
}

static void
fix_gdt (struct fixer *x, uint64_t blk, uint8_t *buf)
{
  ext2_filsys fs = x->fs;
  unsigned dsz = EXT2_DESC_SIZE (fs->super), per = x->bs / dsz;
  bool changed = false;

  for (unsigned i = 0; i < per; i++) {
    dgrp_t g = x->num[blk] * per + i;
    struct ext2_group_desc *d;
    if (g >= fs->group_desc_count)
      break;
    /* the descriptor as the buffer has it, its checksum set */
    d = ext2fs_group_desc (fs, fs->group_desc, g);
    memcpy (d, buf + (size_t) i * dsz, dsz);
    ext2fs_group_desc_csum_set (fs, g);
    changed |= memcmp (d, buf + (size_t) i * dsz, dsz) != 0;
    memcpy (buf + (size_t) i * dsz, d, dsz);
  }
  x->r->gdt += changed;
  x->r->set.gdt += ext2fs_has_group_desc_csum (fs);
}

static void
report_names (struct fixer *x, const uint8_t *buf)
{
  for (unsigned off = 0; off + 8 <= x->bs; ) {
    struct ext2_dir_entry *d = (void *) (buf + off);
    unsigned rec_len;
    if (ext2fs_get_rec_len (x->fs, d, &rec_len) || rec_len < 8 ||
        rec_len > x->bs - off)
      break;
    if (d->inode && x->r->named)
      x->r->named (x->r->opaque, d->inode, x->journal);
    off += rec_len;
  }
}

/* The extents of a leaf block (buf), of inode ino. */
static void
report_extents (struct fixer *x, uint32_t ino, const uint8_t *buf)
{
  const struct ext3_extent_header *eh = (const void *) buf;
  const struct ext3_extent *ex = (const void *) (eh + 1);
  unsigned n = ext2fs_le16_to_cpu (eh->eh_entries);

  if (x->r->extent == NULL || eh->eh_depth != 0)
    return;
  if (n > (x->bs - sizeof *eh) / sizeof *ex)
    n = (x->bs - sizeof *eh) / sizeof *ex;
  for (unsigned i = 0; i < n; i++) {
    uint32_t len = ext2fs_le16_to_cpu (ex[i].ee_len);
    /* (past EXT_INIT_MAX_LEN: unwritten, the rest its length) */
    if (len > EXT_INIT_MAX_LEN)
      len -= EXT_INIT_MAX_LEN;
    x->r->extent (x->r->opaque, ino, ext2fs_le32_to_cpu (ex[i].ee_block),
                  len, (uint64_t) ext2fs_le16_to_cpu (ex[i].ee_start_hi) << 32 |
                       ext2fs_le32_to_cpu (ex[i].ee_start));
  }
}

/* Block blk's checksums, its bytes in buf (the block itself, or a copy
 * of it in the journal).
 */
static void
fix_block (struct fixer *x, uint64_t blk, uint8_t *buf)
{
  ext2_filsys fs = x->fs;
  uint8_t *was = xcalloc (1, x->bs);
  uint64_t *count = NULL;
  bool csum = ext2fs_has_feature_metadata_csum (fs->super);

  memcpy (was, buf, x->bs);
  if (blk * x->bs <= SUPERBLOCK_OFFSET &&
      SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE <= (blk + 1) * x->bs) {
    ext2fs_superblock_csum_set (fs, (void *) (buf + SUPERBLOCK_OFFSET -
                                              blk * x->bs));
    count = &x->r->sb;
    x->r->set.sb += csum;
  }
  else if (blk < x->nblk)
    switch (x->kind[blk]) {
    case K_GDT:
      fix_gdt (x, blk, buf);
      break;
    case K_ITABLE:
      fix_inodes (x, blk, buf);
      break;
    case K_DIR:
      /* (libext2fs finds the tail, or the dx tail, or no room for one) */
      ext2fs_dir_block_csum_set (fs, x->num[blk], (void *) buf);
      count = &x->r->dir_blocks;
      x->r->set.dir_blocks += csum;
      break;
    case K_EXTENT: {
      struct ext3_extent_header *eh = (void *) buf;
      /* (the tail is where eh_max says: a hostile one is past the end) */
      if (ext2fs_le16_to_cpu (eh->eh_magic) == EXT3_EXT_MAGIC &&
          sizeof *eh + ext2fs_le16_to_cpu (eh->eh_max) *
          sizeof (struct ext3_extent) + 4 <= x->bs) {
        ext2fs_extent_block_csum_set (fs, x->num[blk], eh);
        x->r->set.extent_blocks += csum;
      }
      count = &x->r->extent_blocks;
      break;
    }
    default:
      break;
    }
  if (count && memcmp (was, buf, x->bs) != 0) {
    (*count)++;
    if (count == &x->r->dir_blocks)
      report_names (x, buf);
    if (count == &x->r->extent_blocks)
      report_extents (x, x->num[blk], buf);
  }
  free (was);
}

/* ---- the journal ---------------------------------------------------- */

static uint8_t *
jblock (void *opaque, uint32_t jblk)
{
  struct fixer *x = opaque;

  if (jblk >= x->jn || x->jmap[jblk] == 0)
    return NULL;
  return x->image + (size_t) x->jmap[jblk] * x->bs;
}

static void
jcopy (void *opaque, uint64_t home, uint8_t *buf)
{
  struct fixer *x = opaque;
  uint8_t *was = xcalloc (1, x->bs);

  memcpy (was, buf, x->bs);
  x->journal = true;
  fix_block (x, home, buf);
  x->journal = false;
  x->r->journal_blocks += memcmp (was, buf, x->bs) != 0;
  free (was);
}

/* ---- the whole -------------------------------------------------------- */

unsigned
ext4_fixup (uint8_t *image, size_t size, uint64_t off, uint64_t len,
            struct ext4_fixup_report *r)
{
  struct fixer x = { .image = image, .r = r };
  struct bw_reader *disk;
  char name[64], err[256];
  bool journal = false;
  unsigned bs = 0;

  disk = bw_reader_open_memory (image, size, 512, err, sizeof err);
  if (disk == NULL)
    return 0;
  bw_io_name (disk, name, sizeof name);
  /* (Checksums are what is being fixed: none is checked.) */
  if (ext2fs_open2 (name, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP |
                    EXT2_FLAG_IGNORE_CSUM_ERRORS, 0, 0, bw_io_manager,
                    &x.fs))
    goto out;
  bs = x.bs = x.fs->blocksize;
  x.isz = EXT2_INODE_SIZE (x.fs->super);
  x.nblk = ext2fs_blocks_count (x.fs->super);
  if (x.nblk > size / bs)
    x.nblk = size / bs;
  if (len == 0 || off >= x.nblk * bs || x.isz < EXT2_GOOD_OLD_INODE_SIZE ||
      x.isz > bs)
    goto close;
  if (len > x.nblk * bs - off)
    len = x.nblk * bs - off;
  x.kind = xcalloc (x.nblk, 1);
  x.num = xcalloc (x.nblk, sizeof *x.num);
  x.jmap = xcalloc (x.nblk, sizeof *x.jmap);
  mark_fixed_layout (&x);
  mark_owned (&x);
  for (uint64_t b = off / bs; b <= (off + len - 1) / bs; b++) {
    journal |= x.kind[b] == K_JOURNAL;
    fix_block (&x, b, image + b * bs);
  }
  if (journal) {
    struct jbd2_fixup j = {
      .block = jblock, .copy = jcopy, .opaque = &x, .nblocks = x.jn,
      .bs = bs, .set = &r->set.journal,
    };
    r->journal_blocks += jbd2_fixup (&j);
  }
  free (x.kind);
  free (x.num);
  free (x.jmap);
 close:
  ext2fs_close_free (&x.fs);
 out:
  bw_reader_close (disk);
  return bs;
}
