/* Checksums of a jbd2 journal made to hold, as the kernel (or a guest
 * that knows its journal's UUID) writes them: for the fuzz targets that
 * would otherwise only ever test the crc (fuzz-jbd2, and the ext4 feed's
 * fix-up, ext4-fixup.h).
 */
#ifndef BLOCKWATCH_FUZZ_JBD2_FIXUP_H
#define BLOCKWATCH_FUZZ_JBD2_FIXUP_H

#include <stdint.h>

/* The blocks whose checksums jbd2_fixup set, changed or not, by kind:
 * the superblock (csum v2/v3), descriptors (their tags and tails) of
 * csum v2 and v3, revoke blocks (v2/v3), commit blocks' crc32c (v2/v3)
 * and compat crc32.  So that a check that it agrees with journals
 * other tools wrote (fixup-agree.c) can tell that it met each.
 */
struct jbd2_fixup_set {
  unsigned sb, descriptors_v2, descriptors_v3, revokes, commits,
           commits_crc32;
};

struct jbd2_fixup {
  /* Journal block jblk (bs bytes, written in place), NULL if none. */
  uint8_t *(*block) (void *opaque, uint32_t jblk);
  /* Called on each copy (not escaped) before its tag's checksum is
   * taken, with the home block its tag names: the copy's own checksums
   * can be fixed as the home block's.  May be NULL.
   */
  void (*copy) (void *opaque, uint64_t home, uint8_t *buf);
  void *opaque;
  uint32_t nblocks, bs;
  /* What it set, added up there.  May be NULL. */
  struct jbd2_fixup_set *set;
};

/* Sets the journal superblock's checksum (csum v2/v3), then walks the
 * log from its first block (the superblock's s_first, or block 1 if it
 * makes no sense) to its end (s_maxlen, at most nblocks), as the kernel
 * lays it out: each descriptor's tags name the blocks after it (its
 * copies, wrapping to the first block at s_maxlen; a journal cut short
 * by nblocks wraps past its end, and copies there are left out, their
 * tags as they are); it sets each copy's tag
 * checksum and the descriptor's tail (v2/v3), each revoke block's tail,
 * each commit block's crc32c (v2/v3) or the compat crc32 of the
 * descriptors and copies since the last commit (journal_checksum).
 * Returns how many blocks it changed.
 */
unsigned jbd2_fixup (const struct jbd2_fixup *j);

#endif /* BLOCKWATCH_FUZZ_JBD2_FIXUP_H */
