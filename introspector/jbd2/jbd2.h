/* The jbd2 journal of ext3 and ext4, as it is on the disk.
 *
 * ext4 writes metadata into the journal first and to its home location
 * much later (the checkpoint).  A transaction in the log is: revoke
 * blocks and descriptor blocks, each descriptor followed by copies of
 * the home blocks its tags name, then a commit block.  Only a
 * transaction whose commit block is there and whose checksums hold is
 * real: the kernel replays exactly those after a crash, and so do we.
 *
 * Every field is big-endian and written by the guest: the parsers here
 * check each count, offset and checksum before they use it.  Blocks are
 * numbered in the journal's own logical space (block 0 is the journal
 * superblock); the caller maps them to the disk.
 */
#ifndef BLOCKWATCH_JBD2_H
#define BLOCKWATCH_JBD2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JBD2_MAGIC            0xC03B3998u

/* Block types (the header's second word). */
#define JBD2_DESCRIPTOR_BLOCK 1
#define JBD2_COMMIT_BLOCK     2
#define JBD2_SUPERBLOCK_V1    3
#define JBD2_SUPERBLOCK_V2    4
#define JBD2_REVOKE_BLOCK     5

/* Features of a v2 journal superblock. */
#define JBD2_COMPAT_CHECKSUM        0x1   /* v1: crc32 of the whole txn */
#define JBD2_INCOMPAT_REVOKE        0x1
#define JBD2_INCOMPAT_64BIT         0x2
#define JBD2_INCOMPAT_ASYNC_COMMIT  0x4
#define JBD2_INCOMPAT_CSUM_V2       0x8
#define JBD2_INCOMPAT_CSUM_V3       0x10
#define JBD2_INCOMPAT_FAST_COMMIT   0x20
#define JBD2_INCOMPAT_KNOWN         0x3f

/* Tag flags. */
#define JBD2_FLAG_ESCAPE      1   /* the copy's first word was the magic */
#define JBD2_FLAG_SAME_UUID   2   /* no 16-byte UUID follows the tag */
#define JBD2_FLAG_DELETED     4
#define JBD2_FLAG_LAST_TAG    8

#define JBD2_CRC32C_CHKSUM    4   /* s_checksum_type of csum v2/v3 */
#define JBD2_CRC32_CHKSUM     1   /* h_chksum_type of compat checksums */
#define JBD2_DEFAULT_FC_BLOCKS 256

/* The journal superblock, decoded and checked. */
struct jbd2_sb {
  int version;                /* 1 or 2 */
  uint32_t blocksize, maxlen, first;
  uint32_t sequence;          /* first transaction expected in the log */
  uint32_t start;             /* where it starts; 0: the log is empty */
  int32_t errnum;             /* set when the journal was aborted */
  uint32_t compat, incompat;
  uint8_t uuid[16];
  uint32_t nr_users;
  /* Derived. */
  uint32_t last;              /* one past the last log block (a fast
                               * commit area after it is not the log) */
  uint32_t tag_bytes;         /* a tag, without its optional UUID */
  bool csum;                  /* checksum v2 or v3 */
  uint32_t csum_seed;         /* crc32c of the UUID */
};

/* Decodes and checks a journal superblock (one journal block, blocksize
 * bytes, which must equal the file system's block size).  -1 with a
 * message naming the problem.
 */
int jbd2_sb_decode (const uint8_t *buf, uint32_t blocksize,
                    struct jbd2_sb *sb, char *err, size_t errlen);

/* The log block after jblk, wrapping from the end to the first. */
static inline uint32_t
jbd2_next (const struct jbd2_sb *sb, uint32_t jblk)
{
  return jblk + 1 >= sb->last ? sb->first : jblk + 1;
}

/* Reads journal block jblk (blocksize bytes); -1 on error. */
typedef int (*jbd2_read_fn) (void *opaque, uint32_t jblk, uint8_t *buf);

/* One home block of a committed transaction and where its copy is. */
struct jbd2_tag {
  uint64_t home;              /* file system block */
  uint32_t jblk;              /* journal block holding the copy */
  bool escaped;               /* restore the magic in the first word */
};

struct jbd2_txn {
  uint32_t tid;
  uint32_t start;             /* its first block */
  uint32_t next;              /* the block after its commit block; for
                               * JBD2_END, the first block not (yet)
                               * its: start up to it is what is
                               * written of it */
  int64_t commit_sec;
  uint32_t commit_nsec;
  struct jbd2_tag *tags;
  size_t ntags, captags;
  uint64_t *revoked;          /* blocks whose earlier copies are void */
  size_t nrevoked, caprevoked;
  unsigned bad_blocks;        /* copies that failed their checksum or
                               * named a block outside the file system:
                               * never applied */
};

enum jbd2_scan {
  JBD2_END,                   /* no complete transaction there (yet) */
  JBD2_TXN,                   /* a committed transaction, in *t */
  JBD2_BAD,                   /* a transaction there fails its checks */
};

/* Reads the transaction expected at journal block pos with id tid.
 * nblocks is the file system's size in blocks: tags naming blocks
 * beyond it are never applied.  buf is scratch of one block.  On
 * JBD2_BAD, why says what failed.  *t is reset first; jbd2_txn_free
 * releases what it holds.
 */
enum jbd2_scan jbd2_scan (const struct jbd2_sb *sb, uint32_t pos,
                          uint32_t tid, uint64_t nblocks, jbd2_read_fn read,
                          void *opaque, uint8_t *buf, struct jbd2_txn *t,
                          char *why, size_t whylen);
void jbd2_txn_free (struct jbd2_txn *t);

/* A tag's copy as the home block should read: read jblk, unescape. */
int jbd2_read_copy (const struct jbd2_tag *tag, jbd2_read_fn read,
                    void *opaque, uint8_t *buf);

/* crc32 (big-endian, as the kernel's crc32_be) for compat checksums. */
uint32_t jbd2_crc32_be (uint32_t crc, const uint8_t *p, size_t len);

#endif /* BLOCKWATCH_JBD2_H */
