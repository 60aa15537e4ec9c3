/* One transaction of the log: its revoke and descriptor blocks, the
 * copies the descriptors' tags name, and the commit block that makes it
 * real.  The rules are the kernel's recovery scan: a block whose header
 * does not carry the magic and the expected sequence ends the log; a
 * transaction counts only when its commit block is there and every
 * checksum the journal's features promise holds.
 */

#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/crc32c.h"
#include "jbd2.h"

/* A commit block's fields. */
enum {
  CB_CHKSUM_TYPE = 0xc, CB_CHKSUM_SIZE = 0xd, CB_CHKSUM = 0x10,
  CB_COMMIT_SEC = 0x30, CB_COMMIT_NSEC = 0x38,
};
/* A revoke block's byte count, after the header. */
#define RB_COUNT 0xc
#define RB_FIRST 0x10
#define HEADER_SIZE 12
#define TAIL_SIZE 4           /* the checksum at the end, csum v2/v3 */

static uint32_t
be32 (const uint8_t *buf, size_t off)
{
  uint32_t v;

  memcpy (&v, buf + off, sizeof v);
  return be32toh (v);
}

static uint16_t
be16 (const uint8_t *buf, size_t off)
{
  uint16_t v;

  memcpy (&v, buf + off, sizeof v);
  return be16toh (v);
}

void
jbd2_txn_free (struct jbd2_txn *t)
{
  free (t->tags);
  free (t->revoked);
  memset (t, 0, sizeof *t);
}

/* Descriptor and revoke blocks end in a crc32c of the block with the
 * tail zeroed; seeded with the journal's UUID.
 */
static bool
tail_ok (const struct jbd2_sb *sb, uint8_t *buf)
{
  uint32_t want, got;

  if (!sb->csum)
    return true;
  want = be32 (buf, sb->blocksize - TAIL_SIZE);
  memset (buf + sb->blocksize - TAIL_SIZE, 0, TAIL_SIZE);
  got = bw_crc32c (sb->csum_seed, buf, sb->blocksize);
  return got == want;
}

/* A copy's checksum (csum v2/v3): crc32c of the sequence, then of the
 * copy as it is in the log.  v2 keeps the low 16 bits.
 */
static bool
copy_ok (const struct jbd2_sb *sb, uint32_t tid, const uint8_t *copy,
         uint32_t want)
{
  uint32_t seq = htobe32 (tid), got;

  if (!sb->csum)
    return true;
  got = bw_crc32c (sb->csum_seed, (const uint8_t *) &seq, sizeof seq);
  got = bw_crc32c (got, copy, sb->blocksize);
  if (sb->incompat & JBD2_INCOMPAT_CSUM_V3)
    return got == want;
  return (got & 0xffff) == want;
}

struct scan {
  const struct jbd2_sb *sb;
  uint32_t tid;
  uint64_t nblocks;
  jbd2_read_fn read;
  void *opaque;
  struct jbd2_txn *t;
  uint32_t crc;               /* compat checksum over the transaction */
  uint8_t *copy;              /* scratch for a copy's checksum */
};

/* The tags of a descriptor block at pos; the copies follow it.  Returns
 * the position of the last copy, or UINT32_MAX when a copy cannot be
 * read (the log is not there yet).
 */
static uint32_t
take_tags (struct scan *s, const uint8_t *desc, uint32_t pos)
{
  const struct jbd2_sb *sb = s->sb;
  size_t end = sb->blocksize - (sb->csum ? TAIL_SIZE : 0);
  bool csum3 = sb->incompat & JBD2_INCOMPAT_CSUM_V3;
  bool b64 = sb->incompat & JBD2_INCOMPAT_64BIT;

  for (size_t off = HEADER_SIZE; off + sb->tag_bytes <= end; ) {
    const uint8_t *tag = desc + off;
    uint64_t home = be32 (tag, 0);
    uint32_t flags = csum3 ? be32 (tag, 4) : be16 (tag, 6);
    uint32_t want = csum3 ? be32 (tag, 12) : be16 (tag, 4);
    struct jbd2_tag *tg;

    if (b64)
      home |= (uint64_t) be32 (tag, 8) << 32;
    off += sb->tag_bytes;
    if (!(flags & JBD2_FLAG_SAME_UUID))
      off += 16;
    pos = jbd2_next (sb, pos);
    if (s->read (s->opaque, pos, s->copy) == -1)
      return UINT32_MAX;
    if (sb->compat & JBD2_COMPAT_CHECKSUM)
      s->crc = jbd2_crc32_be (s->crc, s->copy, sb->blocksize);
    if (!copy_ok (sb, s->tid, s->copy, want) || home >= s->nblocks)
      s->t->bad_blocks++;
    else {
      s->t->tags = bw_grow (s->t->tags, &s->t->captags, s->t->ntags,
                         sizeof *s->t->tags);
      tg = &s->t->tags[s->t->ntags++];
      tg->home = home;
      tg->jblk = pos;
      tg->escaped = flags & JBD2_FLAG_ESCAPE;
    }
    if (flags & JBD2_FLAG_LAST_TAG)
      break;
  }
  return pos;
}

static bool
take_revokes (struct scan *s, const uint8_t *blk)
{
  const struct jbd2_sb *sb = s->sb;
  uint32_t count = be32 (blk, RB_COUNT);
  size_t rsize = sb->incompat & JBD2_INCOMPAT_64BIT ? 8 : 4;

  if (count < RB_FIRST || count > sb->blocksize - (sb->csum ? TAIL_SIZE : 0))
    return false;
  for (size_t off = RB_FIRST; off + rsize <= count; off += rsize) {
    uint64_t b = rsize == 8 ? (uint64_t) be32 (blk, off) << 32 |
                              be32 (blk, off + 4)
                            : be32 (blk, off);
    s->t->revoked = bw_grow (s->t->revoked, &s->t->caprevoked, s->t->nrevoked,
                          sizeof *s->t->revoked);
    s->t->revoked[s->t->nrevoked++] = b;
  }
  return true;
}

static bool
commit_ok (struct scan *s, uint8_t *blk, char *why, size_t whylen)
{
  const struct jbd2_sb *sb = s->sb;

  if (sb->csum) {
    uint32_t want = be32 (blk, CB_CHKSUM);
    memset (blk + CB_CHKSUM, 0, 4);
    if (bw_crc32c (sb->csum_seed, blk, sb->blocksize) != want) {
      snprintf (why, whylen, "commit block of transaction %u: checksum "
                "does not match", s->tid);
      return false;
    }
  }
  else if (sb->compat & JBD2_COMPAT_CHECKSUM) {
    if (blk[CB_CHKSUM_TYPE] != JBD2_CRC32_CHKSUM || blk[CB_CHKSUM_SIZE] != 4 ||
        be32 (blk, CB_CHKSUM) != s->crc) {
      snprintf (why, whylen, "commit block of transaction %u: the "
                "transaction's crc32 does not match", s->tid);
      return false;
    }
  }
  s->t->commit_sec = (int64_t) ((uint64_t) be32 (blk, CB_COMMIT_SEC) << 32 |
                                be32 (blk, CB_COMMIT_SEC + 4));
  s->t->commit_nsec = be32 (blk, CB_COMMIT_NSEC);
  return true;
}

enum jbd2_scan
jbd2_scan (const struct jbd2_sb *sb, uint32_t pos, uint32_t tid,
           uint64_t nblocks, jbd2_read_fn read, void *opaque, uint8_t *buf,
           struct jbd2_txn *t, char *why, size_t whylen)
{
  uint8_t *copy = malloc (sb->blocksize);
  struct scan s = {
    .sb = sb, .tid = tid, .nblocks = nblocks, .read = read,
    .opaque = opaque, .t = t, .crc = ~0u, .copy = copy,
  };
  enum jbd2_scan ret = JBD2_END;
  uint32_t log_len = sb->last - sb->first, seen = 0;

  memset (t, 0, sizeof *t);
  t->tid = tid;
  t->start = pos;
  if (copy == NULL)
    abort ();
  if (pos < sb->first || pos >= sb->last) {
    snprintf (why, whylen, "transaction %u would start at block %u, "
              "outside the log", tid, pos);
    ret = JBD2_BAD;
    goto out;
  }
  /* A transaction cannot be longer than the log: a loop of hostile
   * blocks that all look like descriptors ends here.
   */
  for (; seen < log_len; seen++) {
    /* Where the log ends for now, unless this block is the
     * transaction's.
     */
    t->next = pos;
    if (read (opaque, pos, buf) == -1 || be32 (buf, 0) != JBD2_MAGIC ||
        be32 (buf, 8) != tid)
      goto out;
    switch (be32 (buf, 4)) {
    case JBD2_DESCRIPTOR_BLOCK:
      if (sb->compat & JBD2_COMPAT_CHECKSUM)
        s.crc = jbd2_crc32_be (s.crc, buf, sb->blocksize);
      if (!tail_ok (sb, buf)) {
        snprintf (why, whylen, "descriptor block %u of transaction %u: "
                  "checksum does not match", pos, tid);
        ret = JBD2_BAD;
        goto out;
      }
      pos = take_tags (&s, buf, pos);
      if (pos == UINT32_MAX)
        goto out;             /* ends before the descriptor */
      break;
    case JBD2_REVOKE_BLOCK:
      if (!tail_ok (sb, buf) || !take_revokes (&s, buf)) {
        snprintf (why, whylen, "revoke block %u of transaction %u: bad "
                  "checksum or count", pos, tid);
        ret = JBD2_BAD;
        goto out;
      }
      break;
    case JBD2_COMMIT_BLOCK:
      if (!commit_ok (&s, buf, why, whylen)) {
        ret = JBD2_BAD;
        goto out;
      }
      t->next = jbd2_next (sb, pos);
      ret = JBD2_TXN;
      goto out;
    default:
      snprintf (why, whylen, "block %u of transaction %u has unknown type "
                "%u", pos, tid, be32 (buf, 4));
      ret = JBD2_BAD;
      goto out;
    }
    pos = jbd2_next (sb, pos);
  }
  snprintf (why, whylen, "transaction %u is longer than the log", tid);
  ret = JBD2_BAD;
 out:
  free (copy);
  if (ret != JBD2_TXN) {
    free (t->tags);
    free (t->revoked);
    t->tags = NULL;
    t->revoked = NULL;
    t->ntags = t->nrevoked = t->captags = t->caprevoked = 0;
  }
  return ret;
}

int
jbd2_read_copy (const struct jbd2_tag *tag, jbd2_read_fn read, void *opaque,
                uint8_t *buf)
{
  if (read (opaque, tag->jblk, buf) == -1)
    return -1;
  if (tag->escaped) {
    uint32_t magic = htobe32 (JBD2_MAGIC);
    memcpy (buf, &magic, sizeof magic);
  }
  return 0;
}
