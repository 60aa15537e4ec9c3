/* Incremental reader of tap streams and trace files (see tap-reader.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap-reader.h"

/* Room for the largest item plus a read's worth of what follows. */
#define ITEM_MAX (TAP_MAX_PAYLOAD + TAP_RECORD_HDR)
#define BUF_SIZE (2 * ITEM_MAX)

struct tap_reader {
  uint8_t *buf;
  size_t start, end;                /* unconsumed bytes: buf[start..end) */
  unsigned long long consumed;      /* bytes before buf[start] */
  bool have_header;
  struct tap_header hdr;
};

struct tap_reader *
tap_reader_new (void)
{
  struct tap_reader *rd = calloc (1, sizeof *rd);

  if (rd == NULL)
    return NULL;
  rd->buf = malloc (BUF_SIZE);
  if (rd->buf == NULL) {
    free (rd);
    return NULL;
  }
  return rd;
}

void
tap_reader_free (struct tap_reader *rd)
{
  if (rd) {
    free (rd->buf);
    free (rd);
  }
}

/* Moves the unconsumed bytes to the front, but only when the item that
 * starts there might not fit in what is left: moving a megabyte on
 * every read would cost as much as the checksum.
 */
void
tap_reader_reset (struct tap_reader *rd)
{
  rd->start = rd->end = 0;
  rd->consumed = 0;
  rd->have_header = false;
}

static void
compact (struct tap_reader *rd)
{
  if (rd->start == rd->end)
    rd->start = rd->end = 0;
  else if (rd->start > BUF_SIZE - ITEM_MAX) {
    memmove (rd->buf, rd->buf + rd->start, rd->end - rd->start);
    rd->end -= rd->start;
    rd->start = 0;
  }
}

ssize_t
tap_reader_fill_fd (struct tap_reader *rd, int fd)
{
  ssize_t n;

  compact (rd);
  do
    n = read (fd, rd->buf + rd->end, BUF_SIZE - rd->end);
  while (n == -1 && errno == EINTR);
  if (n > 0)
    rd->end += n;
  return n;
}

int
tap_reader_feed (struct tap_reader *rd, const void *buf, size_t n)
{
  compact (rd);
  if (n > BUF_SIZE - rd->end)
    return -1;
  memcpy (rd->buf + rd->end, buf, n);
  rd->end += n;
  return 0;
}

static bool
looks_like_header (const uint8_t *p, size_t n)
{
  return n >= 3 && p[0] == 'B' && p[1] == 'W' && p[2] == 'T';
}

int
tap_parse_record (const uint8_t *p, size_t avail, const struct tap_header *h,
                  struct tap_item *item, char *err, size_t errlen)
{
  size_t size;
  int r = tap_decode_record (p, avail, h, &item->rec, err, errlen);

  if (r != 1)
    return r;
  size = TAP_RECORD_HDR + item->rec.payload_len;
  if (avail < size)
    return 0;
  /* Fuzzing builds skip the checksum so that mutated records reach the
   * checks behind it instead of all dying here.
   */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  if ((h->flags & TAP_HDR_CHECK) &&
      !tap_verify_record (p, p + TAP_RECORD_HDR, &item->rec)) {
    snprintf (err, errlen, "record seq %llu: checksum mismatch",
              (unsigned long long) item->rec.seq);
    return -1;
  }
#endif
  item->kind = TAP_ITEM_RECORD;
  item->hdr = h;
  item->payload = p + TAP_RECORD_HDR;
  item->raw = p;
  item->raw_len = size;
  return 1;
}

int
tap_reader_next (struct tap_reader *rd, struct tap_item *item,
                 char *err, size_t errlen)
{
  const uint8_t *p = rd->buf + rd->start;
  size_t n = rd->end - rd->start, used;
  int r;

  if (n < 3)
    return 0;
  if (looks_like_header (p, n)) {
    struct tap_header h;
    r = tap_decode_header (p, n, &h, &used, err, errlen);
    if (r != 1)
      return r;
    rd->hdr = h;
    rd->have_header = true;
    *item = (struct tap_item) {
      .kind = TAP_ITEM_HEADER, .hdr = &rd->hdr, .raw = p, .raw_len = used,
    };
    rd->start += used;
    rd->consumed += used;
    return 1;
  }
  if (!rd->have_header) {
    snprintf (err, errlen, "not a blockwatch tap stream (no header at "
              "offset %llu)", rd->consumed);
    return -1;
  }
  r = tap_parse_record (p, n, &rd->hdr, item, err, errlen);
  if (r == -1) {
    size_t l = strlen (err);
    snprintf (err + l, errlen - l, " (at offset %llu)", rd->consumed);
  }
  if (r != 1)
    return r;
  rd->start += item->raw_len;
  rd->consumed += item->raw_len;
  return 1;
}

bool
tap_reader_at_boundary (const struct tap_reader *rd)
{
  return rd->start == rd->end;
}

unsigned long long
tap_reader_offset (const struct tap_reader *rd)
{
  return rd->consumed;
}

int
tap_read_file (const char *path,
               int (*fn) (const struct tap_item *item, void *opaque),
               void *opaque, char *err, size_t errlen)
{
  struct tap_reader *rd = tap_reader_new ();
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  int ret = -1;

  if (rd == NULL) {
    snprintf (err, errlen, "out of memory");
    goto out;
  }
  if (fd == -1) {
    snprintf (err, errlen, "%s: %s", path, strerror (errno));
    goto out;
  }
  for (;;) {
    struct tap_item item;
    int r = tap_reader_next (rd, &item, err, errlen);

    if (r == -1)
      goto out;
    if (r == 1) {
      if (fn (&item, opaque) == -1) {
        snprintf (err, errlen, "stopped at offset %llu", rd->consumed);
        goto out;
      }
      continue;
    }
    ssize_t got = tap_reader_fill_fd (rd, fd);
    if (got == -1) {
      snprintf (err, errlen, "%s: %s", path, strerror (errno));
      goto out;
    }
    if (got == 0) {
      if (!tap_reader_at_boundary (rd)) {
        snprintf (err, errlen, "%s: truncated item at offset %llu", path,
                  rd->consumed);
        goto out;
      }
      break;
    }
  }
  ret = 0;
 out:
  if (fd >= 0)
    close (fd);
  tap_reader_free (rd);
  return ret;
}
