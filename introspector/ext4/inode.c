/* Inodes from raw bytes: the attributes events report, read straight
 * from the inode table as the disk has it now (libext2fs's inode cache
 * would give yesterday's answer).
 */

#include <endian.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <xxhash.h>

#include "common/crc32c.h"

#include "ext4-impl.h"

/* Does the inode's extra space reach the end of field f? */
#define HAS_EXTRA(in, isz, f)                                           \
  ((isz) > EXT2_GOOD_OLD_INODE_SIZE &&                                  \
   (size_t) EXT2_GOOD_OLD_INODE_SIZE + (in)->i_extra_isize >=           \
   offsetof (struct ext2_inode_large, f) + sizeof (in)->f)

/* A time as the inode has it; the nanoseconds kept modulo 10^9, so that
 * two times that read the same compare equal.
 */
static struct xtime
xtime (uint32_t sec, uint32_t extra, bool has_extra)
{
  uint32_t ns = (extra >> EXT4_EPOCH_BITS) % 1000000000;

  if (!has_extra)
    return (struct xtime) { sec, 0 };
  return (struct xtime) { sec, (extra & EXT4_EPOCH_MASK) |
                               ns << EXT4_EPOCH_BITS };
}

struct bw_value
attrs_time (struct xtime t)
{
  /* Seconds with the two epoch bits of the extra field. */
  return (struct bw_value) {
    .is_time = true,
    .sec = (int32_t) t.sec + ((int64_t) (t.extra & EXT4_EPOCH_MASK) << 32),
    .nsec = t.extra >> EXT4_EPOCH_BITS,
  };
}

void
attrs_decode (const struct ext4fs *fs, const struct ext2_inode_large *in,
              struct attrs *a)
{
  memset (a, 0, sizeof *a);
  a->mode = in->i_mode;
  a->links = in->i_links_count;
  a->uid = in->i_uid | (uint32_t) in->osd2.linux2.l_i_uid_high << 16;
  a->gid = in->i_gid | (uint32_t) in->osd2.linux2.l_i_gid_high << 16;
  a->flags = in->i_flags;
  a->generation = in->i_generation;
  a->size = in->i_size | (uint64_t) in->i_size_high << 32;
  a->atime = xtime (in->i_atime, in->i_atime_extra,
                    HAS_EXTRA (in, fs->isz, i_atime_extra));
  a->mtime = xtime (in->i_mtime, in->i_mtime_extra,
                    HAS_EXTRA (in, fs->isz, i_mtime_extra));
  a->ctime = xtime (in->i_ctime, in->i_ctime_extra,
                    HAS_EXTRA (in, fs->isz, i_ctime_extra));
  if (HAS_EXTRA (in, fs->isz, i_crtime_extra))
    a->crtime = xtime (in->i_crtime, in->i_crtime_extra, true);
  /* The map's root (extent header and root entries, or direct and
   * indirect pointers): when it changes, the block map is re-read.
   * (XXH3: this runs for every inode of every crawl and inode table
   * block read.)
   */
  a->sum = (uint32_t) XXH3_64bits (in->i_block, sizeof in->i_block);
}

bool
inode_csum_ok (const struct ext4fs *fs, uint32_t ino, const uint8_t *raw)
{
  const struct ext2_inode_large *in = (const void *) raw;
  size_t lo = offsetof (struct ext2_inode_large, i_checksum_lo);
  size_t hi = offsetof (struct ext2_inode_large, i_checksum_hi);
  static const uint8_t zero[2];
  bool has_hi;
  uint32_t want, crc, le_ino = htole32 (ino);
  size_t i;

  if (!ext2fs_has_feature_metadata_csum (fs->fs->super))
    return true;
  /* As libext2fs and the kernel compute it: the inode number, the
   * generation, then the inode with its checksum fields taken as zero.
   */
  has_hi = fs->isz > EXT2_GOOD_OLD_INODE_SIZE &&
           in->i_extra_isize >= EXT4_INODE_CSUM_HI_EXTRA_END;
  want = le16toh (in->i_checksum_lo);
  if (has_hi)
    want |= (uint32_t) le16toh (in->i_checksum_hi) << 16;
  crc = bw_crc32c (fs->fs->csum_seed, &le_ino, 4);
  crc = bw_crc32c (crc, &in->i_generation, 4);
  crc = bw_crc32c (crc, raw, lo);
  crc = bw_crc32c (crc, zero, 2);
  if (has_hi) {
    crc = bw_crc32c (crc, raw + lo + 2, hi - lo - 2);
    crc = bw_crc32c (crc, zero, 2);
    crc = bw_crc32c (crc, raw + hi + 2, fs->isz - hi - 2);
  }
  else {
    crc = bw_crc32c (crc, raw + lo + 2, fs->isz - lo - 2);
    crc &= 0xffff;
  }
  if (crc == want)
    return true;
  /* An inode of all zeroes (never written) has no checksum to hold. */
  for (i = 0; i < EXT2_GOOD_OLD_INODE_SIZE && raw[i] == 0; i++)
    ;
  return i == EXT2_GOOD_OLD_INODE_SIZE;
}

bool
inode_in_use (const struct ext2_inode_large *in)
{
  return in->i_mode != 0 && in->i_links_count > 0 && in->i_dtime == 0;
}

enum bw_file_type
attrs_file_type (const struct attrs *a)
{
  switch (a->mode & S_IFMT) {
  case S_IFREG: return BW_FT_REG;
  case S_IFDIR: return BW_FT_DIR;
  case S_IFLNK: return BW_FT_SYMLINK;
  case S_IFCHR: return BW_FT_CHR;
  case S_IFBLK: return BW_FT_BLK;
  case S_IFIFO: return BW_FT_FIFO;
  case S_IFSOCK: return BW_FT_SOCK;
  default: return BW_FT_UNKNOWN;
  }
}

void
inode_from_block (const struct ext4fs *fs, const uint8_t *blk, unsigned idx,
                  struct ext2_inode_large *in)
{
  size_t n = fs->isz < sizeof *in ? fs->isz : sizeof *in;

  memset (in, 0, sizeof *in);
  memcpy (in, blk + (size_t) idx * fs->isz, n);
  /* An i_extra_isize that claims more than the inode holds would make
   * HAS_EXTRA read fields that are not there.
   */
  if (EXT2_GOOD_OLD_INODE_SIZE + (size_t) in->i_extra_isize > fs->isz)
    in->i_extra_isize = 0;
}

int
inode_read (struct ext4fs *fs, uint32_t ino, struct ext2_inode_large *in)
{
  uint8_t raw[EXT2_MIN_BLOCK_SIZE];
  uint32_t group, idx;
  uint64_t table, off;

  if (ino == 0 || ino > fs->fs->super->s_inodes_count) {
    snprintf (fs->err, sizeof fs->err, "inode %u out of range", ino);
    return -1;
  }
  group = (ino - 1) / fs->ipg;
  idx = (ino - 1) % fs->ipg;
  table = ext2fs_inode_table_loc (fs->fs, group);
  off = (uint64_t) idx * fs->isz;
  if (table == 0 || table >= fs->nblocks ||
      off / fs->bs >= fs->fs->inode_blocks_per_group) {
    snprintf (fs->err, sizeof fs->err, "inode %u: bad inode table location",
              ino);
    return -1;
  }
  if (fs->isz > sizeof raw ||
      bw_pread (fs->view, raw, fs->isz, table * fs->bs + off, fs->err,
                sizeof fs->err) == -1)
    return -1;
  inode_from_block (fs, raw, 0, in);
  return 0;
}

ssize_t
inline_read (struct ext4fs *fs, uint32_t ino, struct ext2_inode_large *in,
             void *buf)
{
  struct ext2_xattr_handle *h;
  void *ea = NULL;
  size_t ea_len = 0;
  errcode_t rc;

  if (!(in->i_flags & EXT4_INLINE_DATA_FL))
    return -1;
  /* libext2fs reads the extended attributes by inode number.  The
   * bytes past i_block are the "system.data" attribute, read once with
   * its length (asking for the size first, then for the bytes, lets a
   * guest that rewrites the inode in between overflow buf).
   */
  ext2fs_flush_icache (fs->fs);
  if (ext2fs_xattrs_open (fs->fs, ino, &h))
    return -1;
  rc = ext2fs_xattrs_read (h);
  if (rc == 0)
    rc = ext2fs_xattr_get (h, "system.data", &ea, &ea_len);
  ext2fs_xattrs_close (&h);
  if (rc == EXT2_ET_EA_KEY_NOT_FOUND)
    rc = 0;
  if (rc || ea_len > fs->isz - EXT4_MIN_INLINE_DATA_SIZE) {
    ext2fs_free_mem (&ea);
    return -1;
  }
  memcpy (buf, in->i_block, EXT4_MIN_INLINE_DATA_SIZE);
  if (ea_len)
    memcpy ((uint8_t *) buf + EXT4_MIN_INLINE_DATA_SIZE, ea, ea_len);
  ext2fs_free_mem (&ea);
  return EXT4_MIN_INLINE_DATA_SIZE + ea_len;
}

void
attrs_inline (struct ext4fs *fs, uint32_t ino, struct ext2_inode_large *in,
              struct attrs *a)
{
  uint8_t buf[EXT2_MIN_BLOCK_SIZE];
  ssize_t n;

  if (!(S_ISREG (in->i_mode) || S_ISDIR (in->i_mode)) ||
      !(in->i_flags & EXT4_INLINE_DATA_FL) ||
      fs->isz > sizeof buf)
    return;
  n = inline_read (fs, ino, in, buf);
  /* The hash goes on from i_block's over the inline bytes. */
  if (n > 0)
    a->sum = (uint32_t) XXH3_64bits_withSeed (buf, n, a->sum);
}
