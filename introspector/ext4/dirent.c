/* A directory's entries as the disk has them now, by name.
 *
 * libext2fs walks the blocks (linear or htree, with checksum tails and
 * inline data); we keep names and inode numbers only, so changes are
 * found by name and never by where an entry sits in a block.
 */

#include <stdlib.h>
#include <string.h>

#include "ext4-impl.h"

/* More entries than this in one directory is not a directory we can
 * afford to follow; the rest are ignored.
 */
#define MAX_ENTRIES (16u << 20)

struct walker {
  struct ext4fs *fs;
  struct dirent_list *out;
  bool full;
  /* Blocks the kernel would read: those within the directory's size.
   * libext2fs walks the whole block map, which a hostile inode can
   * make as long as it likes (indirect blocks that all point at one
   * block: a billion reads of it).
   */
  uint64_t blocks, max_blocks;
};

static int
entry_cb (ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset,
          int blocksize, char *buf, void *priv)
{
  struct walker *w = priv;
  struct dirent_list *l = w->out;
  unsigned len = ext2fs_dirent_name_len (d);

  (void) dir; (void) blocksize; (void) buf;
  if (offset == 0 && w->max_blocks && ++w->blocks > w->max_blocks) {
    w->full = true;
    return DIRENT_ABORT;
  }
  /* Inline directories report "." and ".." as ordinary entries. */
  if (entry == DIRENT_DOT_FILE || entry == DIRENT_DOT_DOT_FILE ||
      d->inode == 0 || len == 0 || (len == 1 && d->name[0] == '.') ||
      (len == 2 && d->name[0] == '.' && d->name[1] == '.'))
    return 0;
  if (l->n == MAX_ENTRIES) {
    w->full = true;
    return DIRENT_ABORT;
  }
  if (l->n == l->cap) {
    size_t ncap = l->cap ? l->cap * 2 : 64;
    struct dirent_item *v = realloc (l->v, ncap * sizeof *v);
    if (v == NULL) {
      w->full = true;
      return DIRENT_ABORT;
    }
    l->v = v;
    l->cap = ncap;
  }
  l->v[l->n].ino = d->inode;
  l->v[l->n].len = len;
  memcpy (l->v[l->n].name, d->name, len);
  /* A '/' in a name (the kernel never writes one; a damaged or hostile
   * directory can hold it) would read as a separator in the paths
   * built from it: "/a" + "b/c" is "/a/b/c", another file's path.  It
   * is kept as NUL, which no name holds either, escaped %00.
   */
  for (unsigned i = 0; i < len; i++)
    if (l->v[l->n].name[i] == '/')
      l->v[l->n].name[i] = '\0';
  l->n++;
  return 0;
}

int
dir_read (struct ext4fs *fs, uint32_t ino, struct ext2_inode_large *in,
          struct dirent_list *out)
{
  struct walker w = { .fs = fs, .out = out };
  uint64_t size = in->i_size | (uint64_t) in->i_size_high << 32;
  errcode_t rc;

  out->n = 0;
  /* Every block starts with an entry at offset 0 (empty entries are
   * seen too); inline directories are bounded by the inode itself.
   */
  if (!(in->i_flags & EXT4_INLINE_DATA_FL)) {
    w.max_blocks = size / fs->bs + (size % fs->bs != 0);
    if (w.max_blocks > fs->nblocks)
      w.max_blocks = fs->nblocks;
    if (w.max_blocks == 0)
      return 0;
  }
  /* libext2fs reads the inode itself: make it read the disk. */
  ext2fs_flush_icache (fs->fs);
  rc = ext2fs_dir_iterate2 (fs->fs, ino, DIRENT_FLAG_INCLUDE_EMPTY, NULL,
                            entry_cb, &w);
  if (rc && !w.full) {
    snprintf (fs->err, sizeof fs->err, "directory %u: %s", ino,
              error_message (rc));
    return -1;
  }
  return 0;
}
