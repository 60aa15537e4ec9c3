/* Whole blocks kept over a reader: the journal's overlay (committed
 * images) and the exact view (the last handled writes) both read what
 * they keep before what is below them.  One read serves both.
 */
#ifndef BLOCKWATCH_READER_OVER_H
#define BLOCKWATCH_READER_OVER_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

struct bw_kept {
  const char *name;           /* of the view, for messages */
  struct bw_reader *below;
  uint32_t bs;                /* block size of what is kept */
  /* The image of block blk (bs bytes), or NULL: read from below. */
  const uint8_t *(*get) (void *opaque, uint64_t blk);
  /* If set: called with each block of a read whose bytes came from
   * below (once per block per read).
   */
  void (*read_below) (void *opaque, uint64_t blk);
  void *opaque;
};

/* Reads n bytes at off (within below's size: else -1 with err naming
 * the view): below is read (once, the whole range) unless
 * every block of it is kept, then each kept block's bytes are laid
 * over it.  -1 with err if below cannot be read.
 */
int bw_read_kept (const struct bw_kept *k, void *buf, size_t n, uint64_t off,
                  char *err, size_t errlen);

#endif /* BLOCKWATCH_READER_OVER_H */
