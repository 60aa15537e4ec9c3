/* libFuzzer target: the socket messages of the tap protocol, as a
 * consumer (hello: header + ring descriptor, then doorbells) and the
 * plugin (acknowledgements) decode them.
 */

#include <stddef.h>
#include <stdint.h>

#include "tap/tap-format.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct tap_header h;
  struct tap_ring_desc d;
  size_t used = 0;
  uint64_t v;
  char err[256];

  if (tap_decode_header (data, size, &h, &used, err, sizeof err) != 1)
    return 0;
  data += used;
  size -= used;
  if (tap_decode_ring_desc (data, size, &d, err, sizeof err) != 1)
    return 0;
  data += TAP_RING_DESC_LEN;
  size -= TAP_RING_DESC_LEN;
  while (size >= TAP_WORD_LEN) {
    if (tap_decode_word (data, size, TAP_DOORBELL_MAGIC, &v, err,
                         sizeof err) != 1 &&
        tap_decode_word (data, size, TAP_ACK_MAGIC, &v, err, sizeof err) != 1)
      break;
    data += TAP_WORD_LEN;
    size -= TAP_WORD_LEN;
  }
  return 0;
}
