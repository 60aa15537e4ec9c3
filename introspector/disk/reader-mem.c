/* A read-only reader over bytes in memory (see reader-mem.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader-mem.h"

struct mem_reader {
  struct bw_reader r;
  const unsigned char *buf;
  unsigned char *wbuf;        /* buf, when writable */
};

static int
in_range (struct bw_reader *r, const char *what, size_t n, uint64_t off,
          char *err, size_t errlen)
{
  if (off > r->size || n > r->size - off) {
    snprintf (err, errlen, "%s of %zu bytes at %llu is past the end "
              "(%llu bytes)", what, n, (unsigned long long) off,
              (unsigned long long) r->size);
    return 0;
  }
  return 1;
}

static int
mem_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
           char *err, size_t errlen)
{
  struct mem_reader *m = (struct mem_reader *) r;

  if (!in_range (r, "read", n, off, err, errlen))
    return -1;
  if (n > 0)                    /* buf may be NULL for an empty disk */
    memcpy (buf, m->buf + off, n);
  return 0;
}

static int
mem_pwrite (struct bw_reader *r, const void *buf, size_t n, uint64_t off,
            char *err, size_t errlen)
{
  struct mem_reader *m = (struct mem_reader *) r;

  if (!in_range (r, "write", n, off, err, errlen))
    return -1;
  if (n > 0)
    memcpy (m->wbuf + off, buf, n);
  return 0;
}

static void
mem_close (struct bw_reader *r)
{
  free (r);
}

struct bw_reader *
bw_reader_open_memory (const void *buf, size_t len, uint32_t sector_size,
                       char *err, size_t errlen)
{
  struct mem_reader *m = calloc (1, sizeof *m);

  if (m == NULL) {
    snprintf (err, errlen, "out of memory");
    return NULL;
  }
  m->buf = buf;
  m->r.size = len;
  m->r.sector_size = sector_size;
  m->r.pread = mem_pread;
  m->r.pwrite = NULL;
  m->r.close = mem_close;
  return &m->r;
}

struct bw_reader *
bw_reader_open_memory_rw (void *buf, size_t len, uint32_t sector_size,
                          char *err, size_t errlen)
{
  struct bw_reader *r = bw_reader_open_memory (buf, len, sector_size, err,
                                               errlen);

  if (r) {
    ((struct mem_reader *) r)->wbuf = buf;
    r->pwrite = mem_pwrite;
  }
  return r;
}
