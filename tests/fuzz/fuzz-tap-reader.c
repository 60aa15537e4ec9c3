/* libFuzzer target: arbitrary bytes as a tap stream or trace file.
 *
 * The first byte picks how the input is cut into reads (so partial
 * items at every boundary are exercised); every item the reader
 * accepts then goes through the sequence accounting, as a consumer
 * would.  Any crash, sanitizer report or hang is a bug.
 */

#include <stddef.h>
#include <stdint.h>

#include "tap/tap-reader.h"
#include "tap/tap-seq.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* One reader for all inputs: its 2 MiB buffer would otherwise be
   * most of the cost of every run.
   */
  static struct tap_reader *rd;
  struct tap_seq seq = { 0 };
  size_t chunk, fed = 0;
  char err[256];

  if (size < 1)
    return 0;
  chunk = 1 + data[0] % 64;
  data++;
  size--;
  if (rd == NULL && (rd = tap_reader_new ()) == NULL)
    return 0;
  tap_reader_reset (rd);
  for (;;) {
    struct tap_item it;
    int r = tap_reader_next (rd, &it, err, sizeof err);

    if (r == -1)
      break;
    if (r == 1) {
      if (it.kind == TAP_ITEM_HEADER)
        tap_seq_header (&seq, it.hdr);
      else if (tap_seq_record (&seq, &it.rec) == TAP_SEQ_GAP)
        break;
      continue;
    }
    if (fed == size)
      break;
    size_t n = size - fed < chunk ? size - fed : chunk;
    if (tap_reader_feed (rd, data + fed, n) == -1)
      break;
    fed += n;
  }
  return 0;
}
