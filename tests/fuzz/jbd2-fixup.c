/* Checksums of a jbd2 journal made to hold (see jbd2-fixup.h).  The
 * layout is the kernel's (include/linux/jbd2.h), and the crcs are
 * libext2fs's: an implementation apart from the introspector's, which
 * this checks.
 */

#include <endian.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "jbd2/jbd2.h"
#include "jbd2-fixup.h"

/* Fields of the journal superblock, block headers, commit blocks. */
#define SB_MAXLEN   0x10
#define SB_FIRST    0x14
#define SB_COMPAT   0x24
#define SB_INCOMPAT 0x28
#define SB_UUID     0x30
#define SB_CHECKSUM 0xfc
#define SB_SIZE     1024
#define H_TYPE      4
#define H_SEQUENCE  8
#define H_SIZE      12
#define CB_CHKSUM_TYPE 0xc
#define CB_CHKSUM_SIZE 0xd
#define CB_CHKSUM   0x10

static uint32_t
be32 (const uint8_t *p)
{
  uint32_t v;

  memcpy (&v, p, 4);
  return be32toh (v);
}

static void
put_be32 (uint8_t *p, uint32_t v)
{
  v = htobe32 (v);
  memcpy (p, &v, 4);
}

struct walk {
  const struct jbd2_fixup *j;
  uint32_t compat, incompat, seed, first, last;
  size_t tag_bytes;
  bool csum;
  bool cut;                   /* the log goes on past the last block */
};

/* crc32c of a whole block, the 4 bytes at off taken as zero, set there;
 * whether that changed the block.
 */
static bool
set_crc32c (const struct walk *w, uint8_t *b, size_t len, size_t off)
{
  uint32_t was = be32 (b + off);

  put_be32 (b + off, 0);
  put_be32 (b + off, ext2fs_crc32c_le (w->seed, b, len));
  return be32 (b + off) != was;
}

static uint32_t
next (const struct walk *w, uint32_t pos)
{
  return pos + 1 >= w->last && !w->cut ? w->first : pos + 1;
}

/* The descriptor at *pos and its copies (*pos moves to the last). */
static unsigned
fix_descriptor (const struct walk *w, uint8_t *d, uint32_t *pos,
                uint32_t *crc)
{
  const struct jbd2_fixup *j = w->j;
  size_t end = j->bs - (w->csum ? 4 : 0);
  bool csum3 = w->incompat & JBD2_INCOMPAT_CSUM_V3;
  uint32_t tid = htobe32 (be32 (d + H_SEQUENCE));
  unsigned changed = 0;

  if (w->compat & JBD2_COMPAT_CHECKSUM)
    *crc = ext2fs_crc32_be (*crc, d, j->bs);
  for (size_t off = H_SIZE; off + w->tag_bytes <= end; ) {
    uint8_t *tag = d + off, *copy;
    uint32_t flags = csum3 ? be32 (tag + 4) : (uint32_t) (tag[6] << 8 | tag[7]);
    uint64_t home = be32 (tag);

    if (w->incompat & JBD2_INCOMPAT_64BIT)
      home |= (uint64_t) be32 (tag + 8) << 32;
    off += w->tag_bytes + (flags & JBD2_FLAG_SAME_UUID ? 0 : 16);
    *pos = next (w, *pos);
    copy = j->block (j->opaque, *pos);
    if (copy == NULL)
      break;
    if (j->copy && !(flags & JBD2_FLAG_ESCAPE))
      j->copy (j->opaque, home, copy);
    if (w->compat & JBD2_COMPAT_CHECKSUM)
      *crc = ext2fs_crc32_be (*crc, copy, j->bs);
    if (w->csum) {
      uint32_t c = ext2fs_crc32c_le (w->seed, (const uint8_t *) &tid, 4);
      c = ext2fs_crc32c_le (c, copy, j->bs);
      if (csum3) {
        changed += be32 (tag + 12) != c;
        put_be32 (tag + 12, c);
      }
      else {
        changed += (uint32_t) (tag[4] << 8 | tag[5]) != (c & 0xffff);
        tag[4] = c >> 8 & 0xff;
        tag[5] = c & 0xff;
      }
    }
    if (flags & JBD2_FLAG_LAST_TAG)
      break;
  }
  if (w->csum)
    changed += set_crc32c (w, d, j->bs, j->bs - 4);
  return changed != 0;
}

unsigned
jbd2_fixup (const struct jbd2_fixup *j)
{
  struct walk w = { .j = j, .first = 1, .last = j->nblocks };
  uint8_t *sb = j->block (j->opaque, 0);
  struct jbd2_fixup_set none, *set = j->set ? j->set : &none;
  uint32_t crc = ~0u, tid = 0;
  unsigned changed = 0;

  if (sb == NULL || j->bs < SB_SIZE || be32 (sb) != JBD2_MAGIC)
    return 0;
  if (be32 (sb + H_TYPE) == JBD2_SUPERBLOCK_V2) {
    w.compat = be32 (sb + SB_COMPAT);
    w.incompat = be32 (sb + SB_INCOMPAT);
  }
  w.csum = w.incompat & (JBD2_INCOMPAT_CSUM_V2 | JBD2_INCOMPAT_CSUM_V3);
  if (w.incompat & JBD2_INCOMPAT_CSUM_V3)
    w.tag_bytes = 16;
  else
    w.tag_bytes = (w.incompat & JBD2_INCOMPAT_64BIT ? 12 : 8) +
                  (w.incompat & JBD2_INCOMPAT_CSUM_V2 ? 2 : 0);
  if (w.csum) {
    w.seed = ~0u;
    changed += set_crc32c (&w, sb, SB_SIZE, SB_CHECKSUM);
    set->sb++;
    w.seed = ext2fs_crc32c_le (~0u, sb + SB_UUID, 16);
  }
  if (be32 (sb + SB_FIRST) != 0 && be32 (sb + SB_FIRST) < j->nblocks &&
      be32 (sb + SB_FIRST) < be32 (sb + SB_MAXLEN)) {
    w.first = be32 (sb + SB_FIRST);
    /* A journal cut short (fuzz-jbd2's inputs, a journal past the end
     * of an image) wraps out there, as its reader does: copies past
     * the blocks there are are left out, their tags as they were.
     */
    w.cut = be32 (sb + SB_MAXLEN) > j->nblocks;
    if (!w.cut)
      w.last = be32 (sb + SB_MAXLEN);
  }
  /* Each block once: a descriptor's copies are taken with it (they
   * may wrap past the end, and the walk ends where they do).
   */
  for (uint32_t pos = w.first, seen = 0; seen < w.last - w.first;
       seen++, pos = next (&w, pos)) {
    uint8_t *b = j->block (j->opaque, pos);
    uint32_t was = pos;

    if (b == NULL || be32 (b) != JBD2_MAGIC)
      continue;
    if (be32 (b + H_SEQUENCE) != tid) {
      tid = be32 (b + H_SEQUENCE);
      crc = ~0u;
    }
    switch (be32 (b + H_TYPE)) {
    case JBD2_DESCRIPTOR_BLOCK:
      changed += fix_descriptor (&w, b, &pos, &crc);
      if (w.incompat & JBD2_INCOMPAT_CSUM_V3)
        set->descriptors_v3++;
      else if (w.csum)
        set->descriptors_v2++;
      /* (the copies count as seen) */
      seen += pos >= was ? pos - was : w.last - was + pos - w.first;
      break;
    case JBD2_REVOKE_BLOCK:
      if (w.csum) {
        changed += set_crc32c (&w, b, j->bs, j->bs - 4);
        set->revokes++;
      }
      break;
    case JBD2_COMMIT_BLOCK:
      if (w.csum) {
        changed += set_crc32c (&w, b, j->bs, CB_CHKSUM);
        set->commits++;
      }
      else if (w.compat & JBD2_COMPAT_CHECKSUM) {
        uint8_t old[CB_CHKSUM + 4];
        memcpy (old, b, sizeof old);
        b[CB_CHKSUM_TYPE] = JBD2_CRC32_CHKSUM;
        b[CB_CHKSUM_SIZE] = 4;
        put_be32 (b + CB_CHKSUM, crc);
        changed += memcmp (old, b, sizeof old) != 0;
        set->commits_crc32++;
      }
      crc = ~0u;
      break;
    }
  }
  return changed;
}
