/* The journal superblock: where the log is, where it starts now, and
 * how its blocks are checksummed.
 */

#include <endian.h>
#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"
#include "jbd2.h"

static uint32_t
be32 (const uint8_t *buf, size_t off)
{
  uint32_t v;

  memcpy (&v, buf + off, sizeof v);
  return be32toh (v);
}

/* Byte offsets in the superblock. */
enum {
  SB_MAGIC = 0x0, SB_TYPE = 0x4, SB_BLOCKSIZE = 0xc, SB_MAXLEN = 0x10,
  SB_FIRST = 0x14, SB_SEQUENCE = 0x18, SB_START = 0x1c, SB_ERRNO = 0x20,
  SB_COMPAT = 0x24, SB_INCOMPAT = 0x28, SB_UUID = 0x30, SB_NR_USERS = 0x40,
  SB_CSUM_TYPE = 0x50, SB_NUM_FC = 0x54, SB_CHECKSUM = 0xfc,
  SB_SIZE = 0x400,
};

int
jbd2_sb_decode (const uint8_t *buf, uint32_t blocksize, struct jbd2_sb *sb,
                char *err, size_t errlen)
{
  uint32_t type = be32 (buf, SB_TYPE), num_fc;

  memset (sb, 0, sizeof *sb);
  if (be32 (buf, SB_MAGIC) != JBD2_MAGIC ||
      (type != JBD2_SUPERBLOCK_V1 && type != JBD2_SUPERBLOCK_V2)) {
    snprintf (err, errlen, "no journal superblock (bad magic or type)");
    return -1;
  }
  sb->version = type == JBD2_SUPERBLOCK_V1 ? 1 : 2;
  sb->blocksize = be32 (buf, SB_BLOCKSIZE);
  sb->maxlen = be32 (buf, SB_MAXLEN);
  sb->first = be32 (buf, SB_FIRST);
  sb->sequence = be32 (buf, SB_SEQUENCE);
  sb->start = be32 (buf, SB_START);
  sb->errnum = (int32_t) be32 (buf, SB_ERRNO);
  if (sb->blocksize != blocksize || blocksize < SB_SIZE) {
    snprintf (err, errlen, "journal block size %u, file system block "
              "size %u", sb->blocksize, blocksize);
    return -1;
  }
  if (sb->version == 2) {
    sb->compat = be32 (buf, SB_COMPAT);
    sb->incompat = be32 (buf, SB_INCOMPAT);
    memcpy (sb->uuid, buf + SB_UUID, sizeof sb->uuid);
    sb->nr_users = be32 (buf, SB_NR_USERS);
  }
  if (sb->incompat & ~JBD2_INCOMPAT_KNOWN) {
    snprintf (err, errlen, "journal has unknown incompatible features "
              "0x%x", sb->incompat & ~JBD2_INCOMPAT_KNOWN);
    return -1;
  }
  if (sb->nr_users > 1) {
    snprintf (err, errlen, "journal is shared by %u file systems (an "
              "external journal device)", sb->nr_users);
    return -1;
  }
  sb->csum = sb->incompat & (JBD2_INCOMPAT_CSUM_V2 | JBD2_INCOMPAT_CSUM_V3);
  if (sb->csum) {
    uint8_t copy[SB_SIZE];
    uint32_t want = be32 (buf, SB_CHECKSUM);

    if (sb->compat & JBD2_COMPAT_CHECKSUM) {
      snprintf (err, errlen, "journal claims checksums v1 and v2/v3 at "
                "once");
      return -1;
    }
    if (buf[SB_CSUM_TYPE] != JBD2_CRC32C_CHKSUM) {
      snprintf (err, errlen, "journal checksum type %u is not crc32c",
                buf[SB_CSUM_TYPE]);
      return -1;
    }
    memcpy (copy, buf, SB_SIZE);
    memset (copy + SB_CHECKSUM, 0, 4);
    if (bw_crc32c (~0u, copy, SB_SIZE) != want) {
      snprintf (err, errlen, "journal superblock checksum does not match");
      return -1;
    }
    sb->csum_seed = bw_crc32c (~0u, sb->uuid, sizeof sb->uuid);
  }
  /* The tag layout follows the features (see jbd2.h). */
  if (sb->incompat & JBD2_INCOMPAT_CSUM_V3)
    sb->tag_bytes = 16;
  else
    sb->tag_bytes = (sb->incompat & JBD2_INCOMPAT_64BIT ? 12 : 8)
                    + (sb->incompat & JBD2_INCOMPAT_CSUM_V2 ? 2 : 0);
  sb->last = sb->maxlen;
  if (sb->incompat & JBD2_INCOMPAT_FAST_COMMIT) {
    num_fc = be32 (buf, SB_NUM_FC);
    if (num_fc == 0)
      num_fc = JBD2_DEFAULT_FC_BLOCKS;
    sb->last = num_fc < sb->maxlen ? sb->maxlen - num_fc : 0;
  }
  /* Room for the superblock, a descriptor, a copy and a commit. */
  if (sb->first == 0 || sb->last < sb->first || sb->last - sb->first < 3) {
    snprintf (err, errlen, "journal log bounds make no sense (first %u, "
              "length %u blocks)", sb->first, sb->maxlen);
    return -1;
  }
  if (sb->start != 0 && (sb->start < sb->first || sb->start >= sb->last)) {
    snprintf (err, errlen, "journal log starts at block %u, outside "
              "%u..%u", sb->start, sb->first, sb->last - 1);
    return -1;
  }
  return 0;
}
