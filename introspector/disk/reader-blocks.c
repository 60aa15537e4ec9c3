/* Reads cut into whole-block requests (see reader-blocks.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader-blocks.h"

static int
block_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
             char *err, size_t errlen)
{
  struct bw_block_reader *b = (struct bw_block_reader *) r;
  unsigned char *p = buf;

  if (!bw_read_in_range (r, b->name, n, off, err, errlen))
    return -1;
  while (n > 0) {
    const uint32_t skip = off % b->block;
    size_t len;

    if (skip == 0 && n >= b->block) {
      len = n - n % b->block;
      if (len > b->max)
        len = b->max;
      if (b->read_blocks (b, p, len, off, err, errlen) == -1)
        return -1;
    }
    else {
      len = b->block - skip;
      if (len > n)
        len = n;
      if (b->read_blocks (b, b->bounce, b->block, off - skip,
                          err, errlen) == -1)
        return -1;
      memcpy (p, b->bounce + skip, len);
    }
    p += len;
    n -= len;
    off += len;
  }
  return 0;
}

int
bw_block_reader_init (struct bw_block_reader *b, char *err, size_t errlen)
{
  if (b->block == 0 || (b->block & (b->block - 1)) ||
      b->max < b->block || b->max % b->block) {
    snprintf (err, errlen, "%s: unusable block sizes: minimum %u, "
              "maximum %u", b->name, b->block, b->max);
    return -1;
  }
  /* So that the block around any byte can be read whole. */
  if (b->r.size % b->block) {
    snprintf (err, errlen, "%s: the size (%llu bytes) is not a multiple "
              "of the %u-byte block", b->name,
              (unsigned long long) b->r.size, b->block);
    return -1;
  }
  b->bounce = malloc (b->block);
  if (b->bounce == NULL) {
    snprintf (err, errlen, "out of memory");
    return -1;
  }
  b->r.pread = block_pread;
  b->r.pwrite = NULL;
  return 0;
}

void
bw_block_reader_fini (struct bw_block_reader *b)
{
  free (b->bounce);
}
