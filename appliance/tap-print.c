/* One human-readable line per tap item (see tap-print.h). */

#include <inttypes.h>

#include "tap-print.h"

void
tap_print_item (FILE *f, const struct tap_item *item)
{
  const struct tap_record *r = &item->rec;

  if (item->kind == TAP_ITEM_HEADER) {
    const struct tap_header *h = item->hdr;
    fprintf (f, "stream disk=%s size=%" PRIu64 " sector=%u instance=%016"
             PRIx64 " first_seq=%" PRIu64 "\n", h->disk_id, h->disk_size,
             h->sector_size, h->instance, h->first_seq);
    return;
  }
  if (r->type == TAP_OVERFLOW) {
    fprintf (f, "seq=%" PRIu64 " overflow lost=%" PRIu64 "..%" PRIu64
             " (%" PRIu64 " records)\n", r->seq, r->offset,
             r->offset + r->length - 1, r->length);
    return;
  }
  fprintf (f, "seq=%" PRIu64 " %s", r->seq, tap_type_name (r->type));
  if (r->type != TAP_FLUSH && r->type != TAP_END)
    fprintf (f, " offset=%" PRIu64 " length=%" PRIu64, r->offset, r->length);
  if (r->flags & TAP_F_FUA)
    fprintf (f, " fua");
  if (r->flags & TAP_F_MAY_TRIM)
    fprintf (f, " may-trim");
  if (r->flags & TAP_F_READS_ZERO)
    fprintf (f, " reads-zero");
  if (r->flags & TAP_F_PAYLOAD_LOST)
    fprintf (f, " payload-lost");
  fputc ('\n', f);
}
