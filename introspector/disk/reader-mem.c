/* A read-only reader over bytes in memory (see reader-mem.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader-mem.h"

struct mem_reader {
  struct bw_reader r;
  const unsigned char *buf;
};

static int
mem_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
           char *err, size_t errlen)
{
  struct mem_reader *m = (struct mem_reader *) r;

  if (off > r->size || n > r->size - off) {
    snprintf (err, errlen, "read of %zu bytes at %llu is past the end "
              "(%llu bytes)", n, (unsigned long long) off,
              (unsigned long long) r->size);
    return -1;
  }
  if (n > 0)                    /* buf may be NULL for an empty disk */
    memcpy (buf, m->buf + off, n);
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
