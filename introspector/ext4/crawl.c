/* Opening a file system and the first crawl: every inode in use, its
 * blocks and its names, into the model.
 */

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/crc32c.h"
#include "ext2-io.h"
#include "ext4-impl.h"

#define EXT_MAGIC_OFFSET (1024 + 56)

bool
ext4_probe (struct bw_reader *view)
{
  uint8_t m[2];
  char err[128];

  return view->size >= 2048 &&
         bw_pread (view, m, 2, EXT_MAGIC_OFFSET, err, sizeof err) == 0 &&
         m[0] == 0x53 && m[1] == 0xEF;
}

static void
identity_of (const struct ext2_super_block *sb, struct ext4_identity *id)
{
  *id = (struct ext4_identity) {
    .mkfs_time = sb->s_mkfs_time, .mkfs_time_hi = sb->s_mkfs_time_hi,
    .log_block_size = sb->s_log_block_size,
  };
  memcpy (id->hash_seed, sb->s_hash_seed, sizeof id->hash_seed);
}

bool
ext4_identity (struct bw_reader *view, struct ext4_identity *id)
{
  struct ext2_super_block sb;
  char err[128];

  if (!ext4_probe (view) ||
      bw_pread (view, &sb, sizeof sb, SUPERBLOCK_OFFSET, err, sizeof err) ||
      !sb_csum_ok (&sb))
    return false;
  identity_of (&sb, id);
  return true;
}

void
ext4_fs_identity (const struct ext4fs *fs, struct ext4_identity *id)
{
  identity_of (fs->fs->super, id);
}

/* The model past its bound (em.model_max): the crawl stops, ext4_open
 * fails with EFBIG.  Looked at every so many inodes and names, not at
 * each: model_bytes walks the model's leaves.
 */
#define BOUND_EVERY 65536

static bool
past_bound (struct ext4fs *fs, char *err, size_t errlen)
{
  size_t bytes;

  if (fs->em.model_max == 0 || (bytes = model_bytes (&fs->m)) <=
      fs->em.model_max)
    return false;
  snprintf (err, errlen, "its model takes more than %llu bytes (%zu so "
            "far, model-max)", (unsigned long long) fs->em.model_max, bytes);
  fs->too_big = true;
  return true;
}

/* Features that change what names or blocks mean in ways we cannot
 * follow; libext2fs refuses what it does not know at all.
 */
static int
check_features (ext2_filsys e, char *err, size_t errlen)
{
  static const struct { uint32_t bit; const char *name; } refused[] = {
    { EXT2_FEATURE_INCOMPAT_COMPRESSION, "compression" },
    { EXT4_FEATURE_INCOMPAT_DIRDATA, "dirdata" },
    { EXT4_FEATURE_INCOMPAT_ENCRYPT, "encrypt (file names are encrypted)" },
  };

  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    if (e->super->s_feature_incompat & refused[i].bit) {
      snprintf (err, errlen, "the file system uses the '%s' feature, which "
                "blockwatch cannot follow", refused[i].name);
      return -1;
    }
  if (e->blocksize < 1024 || e->blocksize > 65536 ||
      EXT2_INODE_SIZE (e->super) < EXT2_GOOD_OLD_INODE_SIZE ||
      EXT2_INODE_SIZE (e->super) > EXT2_MIN_BLOCK_SIZE) {
    snprintf (err, errlen, "unsupported geometry (block size %u, inode "
              "size %u)", e->blocksize, EXT2_INODE_SIZE (e->super));
    return -1;
  }
  return 0;
}

/* A superblock that says it has a checksum (metadata_csum) and fails it
 * is a write that did not land whole (a torn sector, a write the guest
 * never finished) or damage: the kernel would not mount it, libext2fs
 * would not open it, and what it says is not believed.  Its own flag
 * decides, as at a mount: the flag is in its first 512 bytes, with the
 * mount count, state and creation time.  The checksum is crc32c of what
 * precedes it, seeded with ~0, not with the UUID: tune2fs -U (or
 * metadata_csum_seed) leaves it as valid as any whole write.
 */
bool
sb_csum_ok (const struct ext2_super_block *sb)
{
  return !(sb->s_feature_ro_compat & EXT4_FEATURE_RO_COMPAT_METADATA_CSUM) ||
         sb->s_checksum ==
           bw_crc32c (~0u, sb, offsetof (struct ext2_super_block, s_checksum));
}

void
sb_facts_from (const struct ext2_super_block *sb, struct sb_facts *f)
{
  f->state = sb->s_state;
  f->mnt_count = sb->s_mnt_count;
  f->mtime = sb->s_mtime;
  f->incompat = sb->s_feature_incompat;
}

/* What a mkfs makes anew and nothing changes after: the time it was
 * made, and the directory hash seed (random; one that was null may be
 * given later, by tune2fs -O dir_index or e2fsck).  The UUID is not of
 * them: tune2fs -U changes it, and only that (with the checksums seeded
 * by it): every inode stays what it was, and its rewritten tables are
 * followed as changes (there are none).  A file system made anew is
 * another one, whatever its block size: its inode numbers name other
 * files, and the parts of its inode tables that mkfs marks unused
 * without zeroing them (lazy_itable_init) may hold the old inodes
 * still (a crawl's scan skips them, a diff of the blocks would not).
 */
bool
sb_made_anew (struct ext4fs *fs, const struct ext2_super_block *sb)
{
  static const uint32_t null_seed[4];
  const struct ext2_super_block *was = fs->fs->super;

  if (was->s_mkfs_time == sb->s_mkfs_time &&
      was->s_mkfs_time_hi == sb->s_mkfs_time_hi &&
      (memcmp (was->s_hash_seed, null_seed, sizeof null_seed) == 0 ||
       memcmp (was->s_hash_seed, sb->s_hash_seed, sizeof null_seed) == 0))
    return false;
  snprintf (fs->replaced, sizeof fs->replaced, "the file system was made "
            "anew (another creation time or hash seed)");
  return true;
}

/* (Re)opens the libext2fs handle: at start, and when the group
 * descriptors change under us.  A file system that cannot be opened
 * now leaves the handle we had (and its geometry) in place: the rest
 * of the code always has one.
 */
static int
open_handle (struct ext4fs *fs, char *err, size_t errlen)
{
  ext2_filsys e;
  char name[64];
  errcode_t rc;

  bw_io_name (fs->view, name, sizeof name);
  rc = ext2fs_open2 (name, NULL, EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP, 0, 0,
                     bw_io_manager, &e);
  fs->unmade = rc == EXT2_ET_BAD_MAGIC;
  if (rc) {
    snprintf (err, errlen, "not a usable ext2/3/4 file system: %s",
              error_message (rc));
    return -1;
  }
  if (check_features (e, err, errlen) == -1)
    goto refuse;
  /* What we keep is in blocks of the size we opened with (the model's
   * maps, the journal's buffers and images): a superblock that says
   * another size now makes no sense to us.  (Taken, it had the
   * journal's images copied at the new size, past their ends.)  It is
   * another file system, as is one made anew at the same size: the
   * engine follows it from a crawl of its own.
   */
  if (fs->fs && e->blocksize != fs->bs)
    snprintf (fs->replaced, sizeof fs->replaced,
              "the block size changed from %u to %u", fs->bs, e->blocksize);
  if (fs->fs && (fs->replaced[0] || sb_made_anew (fs, e->super))) {
    snprintf (err, errlen, "%s", fs->replaced);
    goto refuse;
  }
  if (ext2fs_blocks_count (e->super) > fs->view->size / e->blocksize) {
    snprintf (err, errlen, "the file system claims %llu blocks, but its "
              "partition holds only %llu",
              (unsigned long long) ext2fs_blocks_count (e->super),
              (unsigned long long) (fs->view->size / e->blocksize));
    goto refuse;
  }
  if (fs->fs)
    ext2fs_close_free (&fs->fs);
  fs->fs = e;
  fs->bs = e->blocksize;
  fs->nblocks = ext2fs_blocks_count (e->super);
  fs->isz = EXT2_INODE_SIZE (e->super);
  fs->ipg = e->super->s_inodes_per_group;
  fs->ngroups = e->group_desc_count;
  fs->first_ino = EXT2_FIRST_INODE (e->super);
  fs->journal_ino = e->super->s_journal_inum;
  return layout_build (fs, err, errlen);

 refuse:
  ext2fs_close_free (&e);
  return -1;
}

/* Inodes that take part in events: the root and everything from the
 * first ordinary inode on; the journal is tracked for its blocks only.
 */
static bool
watched (const struct ext4fs *fs, uint32_t ino)
{
  return ino == MODEL_ROOT_INO || ino >= fs->first_ino;
}

static int
crawl_inodes (struct ext4fs *fs,
              void (*progress) (uint64_t, uint64_t, void *), void *opaque,
              char *err, size_t errlen)
{
  ext2_inode_scan scan;
  struct ext2_inode_large in;
  uint8_t raw[EXT2_MIN_BLOCK_SIZE];   /* an inode is at most a block */
  ext2_ino_t ino;
  uint64_t done = 0, total = fs->fs->super->s_inodes_count;
  int saved_flags = fs->fs->flags;
  errcode_t rc;

  rc = ext2fs_open_inode_scan (fs->fs, 0, &scan);
  if (rc) {
    snprintf (err, errlen, "cannot scan inodes: %s", error_message (rc));
    return -1;
  }
  ext2fs_inode_scan_flags (scan, EXT2_SF_SKIP_MISSING_ITABLE, 0);
  /* Checksums are verified here, for the inodes in use only, and with
   * the CPU's crc32 (common/crc32c.h): libext2fs would check every inode
   * of the table in software, most of a crawl's time.
   */
  fs->fs->flags |= EXT2_FLAG_IGNORE_CSUM_ERRORS;
  for (;;) {
    struct attrs a;

    rc = ext2fs_get_next_inode_full (scan, &ino, (struct ext2_inode *) raw,
                                     fs->isz);
    if (rc == EXT2_ET_INODE_IS_GARBAGE)
      continue;               /* a damaged inode: not one we can report */
    if (rc || ino == 0)
      break;
    if (++done % BOUND_EVERY == 0) {
      if (progress)
        progress (done, total, opaque);
      if (past_bound (fs, err, errlen))
        break;
    }
    memset (&in, 0, sizeof in);
    memcpy (&in, raw, fs->isz < sizeof in ? fs->isz : sizeof in);
    if (EXT2_GOOD_OLD_INODE_SIZE + (size_t) in.i_extra_isize > fs->isz)
      in.i_extra_isize = 0;
    if (ino != fs->journal_ino &&
        (!watched (fs, ino) || !inode_in_use (&in)))
      continue;
    if (!inode_csum_ok (fs, ino, raw))
      continue;               /* a damaged inode: not one we can report */
    attrs_decode (fs, &in, &a);
    attrs_inline (fs, ino, &in, &a);
    if (ino == fs->journal_ino && !watched (fs, ino)) {
      model_add_inode (&fs->m, ino, &a);
      blocks_reload (fs, ino, &in);
      continue;
    }
    if (!inode_in_use (&in))
      continue;
    model_add_inode (&fs->m, ino, &a)->announced = true;
    blocks_reload (fs, ino, &in);
  }
  fs->fs->flags = saved_flags;
  ext2fs_close_inode_scan (scan);
  if (fs->too_big)
    return -1;
  if (rc && rc != EXT2_ET_BAD_BLOCK_IN_INODE_TABLE) {
    snprintf (err, errlen, "scanning inodes: %s", error_message (rc));
    return -1;
  }
  if (progress)
    progress (total, total, opaque);
  return 0;
}

/* Names: every directory's entries that lead to inodes in use. */
static int
crawl_names (struct ext4fs *fs, char *err, size_t errlen)
{
  struct dirent_list l = { 0 };
  struct ext2_inode_large in;
  uint64_t added = 0;

  for (uint32_t dir = model_next_inode (&fs->m, 0); dir && !fs->too_big;
       dir = model_next_inode (&fs->m, dir)) {
    if (!S_ISDIR (model_inode (&fs->m, dir)->a.mode) || !watched (fs, dir) ||
        inode_read (fs, dir, &in) == -1 || dir_read (fs, dir, &in, &l) == -1)
      continue;
    for (size_t j = 0; j < l.n; j++) {
      uint32_t child = l.v[j].ino;
      if (model_inode (&fs->m, child) && watched (fs, child) &&
          child != MODEL_ROOT_INO)
        model_add_name (&fs->m, dir, child, l.v[j].name, l.v[j].len);
      if (++added % BOUND_EVERY == 0 && past_bound (fs, err, errlen))
        break;
    }
  }
  free (l.v);
  return fs->too_big ? -1 : 0;
}

struct ext4fs *
ext4_open (struct bw_reader *view, const struct ext4_emit *em,
           void (*progress) (uint64_t, uint64_t, void *), void *opaque,
           struct ext4_identity *too_big_id, char *err, size_t errlen)
{
  struct ext4fs *fs = calloc (1, sizeof *fs);

  if (fs == NULL) {
    snprintf (err, errlen, "out of memory");
    return NULL;
  }
  /* error_message() has words for libext2fs's codes only once their
   * table is registered (it is done once, however often called).
   */
  initialize_ext2_error_table ();
  fs->disk = fs->view = view;
  fs->em = *em;
  model_init (&fs->m);
  if (!ext4_probe (view)) {
    snprintf (err, errlen, "no ext2/3/4 superblock");
    goto fail;
  }
  if (open_handle (fs, err, errlen) == -1)
    goto fail;
  /* Online, the storage may be ahead of the records: the disk is read
   * as the handled records left it, where they are kept.
   */
  if (em->ahead) {
    fs->exact_max[EXACT_META] =
      (em->exact_meta_bytes ? em->exact_meta_bytes : EXT4_EXACT_DEFAULT) /
      fs->bs;
    fs->exact_max[EXACT_DATA] =
      (em->exact_data_bytes ? em->exact_data_bytes : EXT4_EXACT_DEFAULT) /
      fs->bs;
    fs->exact = exact_new (view, fs->bs, fs->exact_max);
    fs->disk = fs->view = exact_reader (fs->exact);
  }
  if (journal_open (fs) == -1)
    goto fail;
  /* From now on the file system is read as the kernel sees it, with the
   * journal's committed blocks over the disk.
   */
  if (fs->journal_on)
    fs->view = overlay_view (fs->ov);
  if (fs->view != view && open_handle (fs, err, errlen) == -1)
    goto fail;
  if (crawl_inodes (fs, progress, opaque, err, errlen) == -1 ||
      crawl_names (fs, err, errlen) == -1 || past_bound (fs, err, errlen))
    goto fail;
  sb_facts_from (fs->fs->super, &fs->sb);
  return fs;

 fail:
  {
    bool too_big = fs->too_big;
    if (too_big)              /* set by the crawl: the handle is open */
      ext4_fs_identity (fs, too_big_id);
    ext4_close (fs);
    errno = too_big ? EFBIG : 0;
  }
  return NULL;
}

const char *
ext4_replaced (const struct ext4fs *fs)
{
  return fs->replaced[0] ? fs->replaced : NULL;
}

int
ext4_reopen (struct ext4fs *fs)
{
  return open_handle (fs, fs->err, sizeof fs->err);
}

void
ext4_close (struct ext4fs *fs)
{
  if (fs == NULL)
    return;
  if (fs->fs)
    ext2fs_close_free (&fs->fs);
  journal_close (fs);
  exact_free (fs->exact);
  model_free (&fs->m);
  numset_free (&fs->dirty_itable);
  numset_free (&fs->dirty_dirs);
  numset_free (&fs->dirty_maps);
  numset_free (&fs->dangling);
  numset_free (&fs->unreported);
  free (fs->pend);
  free (fs->wq);
  free (fs->regions);
  free (fs);
}

void
ext4_get_stats (const struct ext4fs *fs, struct ext4_stats *st)
{
  *st = fs->stats;
  st->inodes = fs->m.count;
  st->names = fs->m.dcount;
  st->extents = fs->m.owners.nodes;
  st->gap_ranges = fs->m.gaps.nodes;
  if (fs->journal_on) {
    st->journal_txns = fs->log.txns;
    st->journal_blocks = fs->log.blocks_applied;
    st->journal_images = overlay_count (fs->ov);
    st->block_probes += overlay_probes (fs->ov);
  }
  if (fs->exact) {
    struct exact_stats xs;
    exact_get_stats (fs->exact, &xs);
    st->exact_blocks = xs.blocks;
    st->exact_bytes = xs.bytes;
    st->exact_evicted = xs.evicted;
    st->exact_evicted_reads = xs.evicted_reads;
    st->block_probes += xs.probes;
  }
  st->model_bytes = model_bytes (&fs->m);
  st->name_probes = fs->m.name_probes + fs->m.index.tab.probes;
  st->id_probes = model_id_probes (&fs->m);
}

uint32_t
ext4_owner_depth (const struct ext4fs *fs)
{
  return bm_depth (&fs->m.owners);
}
