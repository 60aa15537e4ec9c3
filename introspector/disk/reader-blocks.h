/* A reader over storage that is read in whole blocks, a bounded number
 * of bytes at a time: an NBD export with a minimum block size, an
 * iSCSI LUN.  The introspector reads at any offset and length (a
 * superblock at 1024, a 256-byte inode); this cuts such reads into
 * requests the storage takes, and reads the partial blocks at either
 * end whole, into a bounce block, to copy out the part asked for.
 */
#ifndef BLOCKWATCH_READER_BLOCKS_H
#define BLOCKWATCH_READER_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

struct bw_block_reader {
  struct bw_reader r;           /* first: a bw_block_reader is a bw_reader */
  const char *name;             /* for messages; no secrets */
  uint32_t block;               /* a power of 2 */
  uint32_t max;                 /* bytes per request, a multiple of block */
  unsigned char *bounce;        /* one block */
  /* Reads n bytes at off, both multiples of block, n <= max, off + n
   * within r.size: -1 with err.
   */
  int (*read_blocks) (struct bw_block_reader *b, void *buf, uint32_t n,
                      uint64_t off, char *err, size_t errlen);
};

/* With name, block, max, r.size, r.sector_size and read_blocks set:
 * sets r.pread (r.pwrite stays NULL) and the bounce block.
 */
int bw_block_reader_init (struct bw_block_reader *b, char *err,
                          size_t errlen);

void bw_block_reader_fini (struct bw_block_reader *b);

#endif /* BLOCKWATCH_READER_BLOCKS_H */
