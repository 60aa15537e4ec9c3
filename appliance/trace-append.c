/* Appending tap items to a trace file. */

#include <stdint.h>

#include "trace-append.h"
#include "tap/tap-format.h"

/* Records read from the plugin's ring carry no checksum (they never
 * left memory); a file outlives the process, so it gets one.
 */
int
trace_append_item (FILE *f, const struct tap_item *it)
{
  uint8_t buf[TAP_HEADER_FIXED + TAP_DISK_ID_MAX];
  size_t n;

  if (it->kind == TAP_ITEM_HEADER) {
    struct tap_header h = *it->hdr;
    /* Deferred payloads were read by the client: the file has them. */
    h.flags = (h.flags | TAP_HDR_CHECK) & ~TAP_HDR_DEFERRED;
    n = tap_encode_header (buf, &h);
  }
  else {
    struct tap_record r = it->rec;
    r.flags &= ~TAP_F_DEFERRED;
    r.check = 0;
    tap_encode_record (buf, &r);
    tap_set_record_check (buf, tap_record_check (buf, it->payload,
                                                 it->rec.payload_len,
                                                 NULL, 0));
    n = TAP_RECORD_HDR;
  }
  if (fwrite (buf, 1, n, f) != n ||
      (it->kind == TAP_ITEM_RECORD &&
       fwrite (it->payload, 1, it->rec.payload_len, f) != it->rec.payload_len))
    return -1;
  return 0;
}
