/* A window onto another reader: one partition (see reader.h). */

#include <stdio.h>
#include <stdlib.h>

#include "reader.h"

struct slice {
  struct bw_reader r;
  struct bw_reader *parent;
  uint64_t start;
};

static int
slice_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
             char *err, size_t errlen)
{
  struct slice *s = (struct slice *) r;

  if (off > r->size || n > r->size - off) {
    snprintf (err, errlen, "read of %zu bytes at %llu is outside the "
              "%llu-byte partition", n, (unsigned long long) off,
              (unsigned long long) r->size);
    return -1;
  }
  return bw_pread (s->parent, buf, n, s->start + off, err, errlen);
}

static int
slice_pwrite (struct bw_reader *r, const void *buf, size_t n, uint64_t off,
              char *err, size_t errlen)
{
  struct slice *s = (struct slice *) r;

  if (off > r->size || n > r->size - off) {
    snprintf (err, errlen, "write outside the partition");
    return -1;
  }
  return s->parent->pwrite (s->parent, buf, n, s->start + off, err, errlen);
}

static void
slice_close (struct bw_reader *r)
{
  free (r);
}

struct bw_reader *
bw_reader_slice (struct bw_reader *parent, uint64_t start, uint64_t size,
                 char *err, size_t errlen)
{
  struct slice *s;

  if (start > parent->size || size > parent->size - start) {
    snprintf (err, errlen, "partition %llu+%llu runs past the %llu-byte disk",
              (unsigned long long) start, (unsigned long long) size,
              (unsigned long long) parent->size);
    return NULL;
  }
  s = calloc (1, sizeof *s);
  if (s == NULL) {
    snprintf (err, errlen, "out of memory");
    return NULL;
  }
  s->parent = parent;
  s->start = start;
  s->r.size = size;
  s->r.sector_size = parent->sector_size;
  s->r.pread = slice_pread;
  s->r.pwrite = parent->pwrite ? slice_pwrite : NULL;
  s->r.close = slice_close;
  return &s->r;
}
