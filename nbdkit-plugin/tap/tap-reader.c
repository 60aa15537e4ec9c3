/* Incremental reader of tap streams and trace files (see tap-reader.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap-reader.h"

/* Room for the largest item plus a read's worth of what follows. */
#define ITEM_MAX (TAP_MAX_PAYLOAD + TAP_RECORD_HDR)
#define BUF_SIZE (2 * ITEM_MAX)

struct tap_reader {
  uint8_t *buf;
  size_t start, end;                /* unconsumed bytes: buf[start..end) */
  unsigned long long consumed;      /* bytes before buf[start] */
  size_t unmapped;                  /* a mapped file: buf[0..unmapped)
                                     * is no longer mapped */
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
    /* Their bytes are in some plugin's storage, not in this stream. */
    if (h.flags & TAP_HDR_DEFERRED) {
      snprintf (err, errlen, "a stream with deferred payloads cannot be "
                "read from a file (at offset %llu)", rd->consumed);
      return -1;
    }
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

/* Hands each item of rd's input to fn; 0 at a clean end of the input,
 * -1 with err.  more: fetches more input (0 at its end, -1 with errno),
 * NULL when rd holds all of it.  Each item's bytes lie before rd->start
 * once fn has it, so the input behind them may be let go (behind).
 */
static int
walk (struct tap_reader *rd, const char *path,
      ssize_t (*more) (struct tap_reader *rd, int fd), int fd,
      void (*behind) (struct tap_reader *rd),
      int (*fn) (const struct tap_item *item, void *opaque),
      void *opaque, char *err, size_t errlen)
{
  for (;;) {
    struct tap_item item;
    int r = tap_reader_next (rd, &item, err, errlen);

    if (r == -1)
      return -1;
    if (r == 1) {
      if (fn (&item, opaque) == -1) {
        snprintf (err, errlen, "stopped at offset %llu", rd->consumed);
        return -1;
      }
      if (behind)
        behind (rd);
      continue;
    }
    ssize_t got = more ? more (rd, fd) : 0;
    if (got == -1) {
      snprintf (err, errlen, "%s: %s", path, strerror (errno));
      return -1;
    }
    if (got == 0) {
      if (!tap_reader_at_boundary (rd)) {
        snprintf (err, errlen, "%s: truncated item at offset %llu", path,
                  rd->consumed);
        return -1;
      }
      return 0;
    }
  }
}

/* Unmaps what has been handed out, a window at a time: the pages stay
 * in the page cache, but do not count as ours (a long trace would look
 * resident in full).
 */
#define MAP_BEHIND (32u << 20)

static void
unmap_behind (struct tap_reader *rd)
{
  size_t gone = rd->start & ~(size_t) (MAP_BEHIND - 1);

  if (gone > rd->unmapped) {
    madvise (rd->buf + rd->unmapped, gone - rd->unmapped, MADV_DONTNEED);
    rd->unmapped = gone;
  }
}

/* A regular file is mapped, not read: each item's payload is handed out
 * where it lies in the page cache instead of being copied into a buffer
 * first (a replay of a trace in tmpfs spent a third of its time on that
 * copy, when its payload is copied once more into the scratch disk).
 * Traces only grow: what was there at the start is read, and a file
 * truncated under us would be a SIGBUS, as it is for any mapped file.
 */
static int
map_file (int fd, size_t size, const char *path,
          int (*fn) (const struct tap_item *item, void *opaque),
          void *opaque, char *err, size_t errlen)
{
  struct tap_reader rd = { .end = size };
  int r;

  rd.buf = mmap (NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  if (rd.buf == MAP_FAILED) {
    snprintf (err, errlen, "%s: %s", path, strerror (errno));
    return -1;
  }
  madvise (rd.buf, size, MADV_SEQUENTIAL);
  r = walk (&rd, path, NULL, -1, unmap_behind, fn, opaque, err, errlen);
  munmap (rd.buf, size);
  return r;
}

int
tap_read_file (const char *path,
               int (*fn) (const struct tap_item *item, void *opaque),
               void *opaque, char *err, size_t errlen)
{
  struct tap_reader *rd = NULL;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  int ret = -1;

  if (fd == -1 || fstat (fd, &st) == -1) {
    snprintf (err, errlen, "%s: %s", path, strerror (errno));
    goto out;
  }
  if (S_ISREG (st.st_mode) && st.st_size > 0)
    ret = map_file (fd, st.st_size, path, fn, opaque, err, errlen);
  else if ((rd = tap_reader_new ()) == NULL)
    snprintf (err, errlen, "out of memory");
  else
    ret = walk (rd, path, tap_reader_fill_fd, fd, NULL, fn, opaque, err,
                errlen);
 out:
  if (fd >= 0)
    close (fd);
  tap_reader_free (rd);
  return ret;
}
