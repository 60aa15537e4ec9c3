/* Whole blocks kept over a reader (see reader-over.h). */

#include <stdbool.h>
#include <string.h>

#include "reader-over.h"

int
bw_read_kept (const struct bw_kept *k, void *buf, size_t n, uint64_t off,
              char *err, size_t errlen)
{
  uint8_t *out = buf;
  uint64_t first, last, b;
  bool below;

  if (!bw_read_in_range (k->below, k->name, n, off, err, errlen))
    return -1;
  if (n == 0)
    return 0;
  first = off / k->bs;
  last = (off + n - 1) / k->bs;
  /* Only what is not kept is read from below. */
  for (b = first; b <= last && k->get (k->opaque, b); b++)
    ;
  below = b <= last;
  if (below && bw_pread (k->below, buf, n, off, err, errlen) == -1)
    return -1;
  for (b = first; b <= last; b++) {
    const uint8_t *img = k->get (k->opaque, b);
    uint64_t bstart = b * k->bs;
    uint64_t from = off > bstart ? off : bstart;
    uint64_t to = off + n < bstart + k->bs ? off + n : bstart + k->bs;

    if (img)
      memcpy (out + (from - off), img + (from - bstart), to - from);
    else if (k->read_below)
      k->read_below (k->opaque, b);
  }
  return 0;
}
