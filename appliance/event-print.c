/* One human-readable line per event (see event-print.h). */

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "event-print.h"

#define TEXT_MAX 72

/* A byte string as text: escaped the events' way, so odd names show. */
static void
put_path (FILE *f, const char *p, size_t n)
{
  char *s = bw_escape_bytes (p, n);

  fputs (s ? s : "?", f);
  free (s);
}

static void
put_value (FILE *f, const struct bw_value *v, const char *field)
{
  if (v->is_time) {
    time_t t = v->sec;
    struct tm tm;
    char buf[32];
    if (gmtime_r (&t, &tm) && strftime (buf, sizeof buf, "%Y-%m-%d %H:%M:%S",
                                        &tm))
      fprintf (f, "%s.%09u", buf, v->nsec);
    else
      fprintf (f, "%" PRId64 ".%09u", v->sec, v->nsec);
  }
  else if (field[0] == 'm' && field[1] == 'o')          /* mode */
    fprintf (f, "0%" PRIo64, (uint64_t) v->sec);
  else
    fprintf (f, "%" PRId64, v->sec);
}

/* What was written, as text where it is text. */
static void
put_data (FILE *f, const uint8_t *d, size_t n)
{
  fputs (" \"", f);
  for (size_t i = 0; i < n && i < TEXT_MAX; i++) {
    if (d[i] == '\n')
      fputs ("\\n", f);
    else if (d[i] == '"' || d[i] == '\\')
      fprintf (f, "\\%c", d[i]);
    else if (d[i] >= 0x20 && d[i] < 0x7f)
      fputc (d[i], f);
    else
      fprintf (f, "\\x%02x", d[i]);
  }
  fputs (n > TEXT_MAX ? "\"..." : "\"", f);
}

void
event_print (FILE *f, const struct bw_event *ev)
{
  fprintf (f, "%-9s", bw_event_type_name (ev->type));
  if (ev->part)
    fprintf (f, " p%d:", ev->part);
  else
    fputc (' ', f);
  if (ev->path)
    put_path (f, ev->path, ev->path_len);
  switch (ev->type) {
  case BW_EV_CREATE:
  case BW_EV_DELETE:
    fprintf (f, "  (%s, mode 0%o, uid %u, gid %u, inode %" PRIu64 ")",
             bw_file_type_name (ev->file_type), ev->mode, ev->uid, ev->gid,
             ev->inode);
    break;
  case BW_EV_RENAME:
    fputs ("  <- ", f);
    put_path (f, ev->old_path, ev->old_path_len);
    break;
  case BW_EV_EXCHANGE:
    fputs ("  <-> ", f);
    put_path (f, ev->old_path, ev->old_path_len);
    break;
  case BW_EV_METADATA: {
    /* A subscriber's event may lack the field (event-parse.c). */
    const char *field = ev->field ? ev->field : "?";
    fprintf (f, "  %s ", field);
    put_value (f, &ev->old_value, field);
    fputs (" -> ", f);
    put_value (f, &ev->new_value, field);
    break;
  }
  case BW_EV_WRITE:
    fprintf (f, "  bytes %" PRIu64 "..%" PRIu64, ev->offset,
             ev->offset + ev->length);
    if (ev->data)
      put_data (f, ev->data, ev->data_len);
    break;
  case BW_EV_TRUNCATE:
    fprintf (f, "  to %" PRIu64 " bytes", ev->length);
    break;
  case BW_EV_MOUNT:
  case BW_EV_UNMOUNT:
    fprintf (f, "file system (mount count %u)", ev->mount_count);
    break;
  case BW_EV_OVERFLOW:
    /* The loss a file's writes had comes after its path, like its
     * other events.
     */
    if (ev->lost_events)
      fprintf (f, "%" PRIu64 " events dropped", ev->lost_events);
    else if (ev->lost_writes) {
      fprintf (f, "%s%" PRIu64 " writes of file data lost",
               ev->path ? "  " : "", ev->lost_writes);
      if (bw_event_of_file (ev))
        fprintf (f, " (inode %" PRIu64 ")", ev->inode);
    }
    else
      fprintf (f, "%" PRIu64 " tap records lost", ev->length);
    break;
  case BW_EV_PARTITION:
  case BW_EV_RESYNC:
    fputs (ev->detail ? ev->detail : "", f);
    break;
  default:
    break;
  }
  fprintf (f, "   [seq %" PRIu64 " txn %" PRIu64 "]\n", ev->seq, ev->txn);
}
