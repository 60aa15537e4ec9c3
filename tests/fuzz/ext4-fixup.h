/* The ext4 feed's fix-up (ext4-feed.h): the checksums of the metadata a
 * write touched made to hold again, as a hostile guest, which knows its
 * own checksum seed, writes them: so that the fuzzer's mutations get
 * past the introspector's checksum checks (its own, inode_csum_ok and
 * the journal's, and libext2fs's under it: superblock, descriptors,
 * directory and extent blocks) into the parsing and reconciling behind
 * them.
 */
#ifndef BLOCKWATCH_FUZZ_EXT4_FIXUP_H
#define BLOCKWATCH_FUZZ_EXT4_FIXUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jbd2-fixup.h"

struct ext4_fixup_report {
  /* What the fix-up changed: superblocks, descriptor blocks, inodes,
   * directory and extent blocks, and blocks of the journal (its own
   * blocks, and copies in it fixed as their homes).
   */
  uint64_t sb, gdt, inodes, dir_blocks, extent_blocks, journal_blocks;
  /* What it set, changed or not, of the checksums the file system has:
   * the same at home, and the journal's by kind.  So that a check that
   * it agrees with the tools that wrote a file system (fixup-agree.c)
   * can tell that it met each.
   */
  struct {
    uint64_t sb, gdt, inodes, dir_blocks, extent_blocks;
    struct jbd2_fixup_set journal;
  } set;
  /* Called with each inode whose checksum changed, and with each inode
   * an entry names in a directory block whose checksum changed; in a
   * copy in the journal or not.
   */
  void (*inode) (void *opaque, uint32_t ino, bool journal);
  void (*named) (void *opaque, uint32_t ino, bool journal);
  /* Called with each extent of a leaf block whose checksum changed, at
   * home or in a copy in the journal: file blocks [lblk, lblk + len)
   * of inode ino are at blocks pblk on.  May be NULL.
   */
  void (*extent) (void *opaque, uint32_t ino, uint32_t lblk, uint32_t len,
                  uint64_t pblk);
  void *opaque;
};

/* Fixes the checksums of the metadata in bytes [off, off + len) of
 * image (size bytes, a file system at its start, opened by libext2fs
 * checksums or not), in place: the superblock; group descriptors;
 * inodes in inode tables (not the ones of all zeroes: never written);
 * directory blocks (the ext2_dir_entry_tail, or the dx tail of an htree
 * node); extent tree blocks; and, when the range holds a block of the
 * journal, the whole journal (jbd2-fixup.h), whose copies are fixed as
 * their home blocks.  An inode whose checksum changed may have a new
 * generation, which seeds its directory and extent blocks: those are
 * fixed too.  (Not extended attribute blocks: the introspector reads
 * none but for inline data, which the kernel keeps in the inode.)  What owns a block is what
 * the image says now.  Returns the file system's block size, or 0 when
 * libext2fs does not open it (nothing is fixed).
 */
unsigned ext4_fixup (uint8_t *image, size_t size, uint64_t off, uint64_t len,
                     struct ext4_fixup_report *r);

#endif /* BLOCKWATCH_FUZZ_EXT4_FIXUP_H */
