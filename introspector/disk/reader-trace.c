/* The disk a replay introspects (see reader-trace.h). */

#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "reader-trace.h"

/* Writes from this size on are kept in the trace.  Below it, copying
 * costs little, and the many small reads of metadata find their bytes
 * in one place.
 */
#define REF_MIN (64u * 1024)

/* Bytes [off, off + len) of the view are bytes [src, src + len) of the
 * trace file.  The ranges in the tree never overlap.
 */
struct ref {
  uint64_t off, len, src;
};

struct trace_view {
  struct bw_reader r;
  struct bw_reader *scratch;
  struct bw_reader *trace;     /* the trace file */
  void *refs;                 /* tsearch tree of struct ref */
  struct ref expect;          /* the write trace_view_expect announced */
  const void *expect_buf;
};

/* Overlapping ranges compare equal: a lookup finds any ref that
 * overlaps the key.
 */
static int
cmp_ref (const void *a, const void *b)
{
  const struct ref *x = a, *y = b;

  if (x->off + x->len <= y->off)
    return -1;
  if (y->off + y->len <= x->off)
    return 1;
  return 0;
}

static struct ref *
find_ref (struct trace_view *s, uint64_t off, uint64_t len)
{
  struct ref key = { .off = off, .len = len };
  struct ref **found = tfind (&key, &s->refs, cmp_ref);

  return found ? *found : NULL;
}

static int
add_ref (struct trace_view *s, uint64_t off, uint64_t len, uint64_t src,
         char *err, size_t errlen)
{
  struct ref *ref = malloc (sizeof *ref);

  if (ref != NULL) {
    *ref = (struct ref) { .off = off, .len = len, .src = src };
    if (tsearch (ref, &s->refs, cmp_ref) != NULL)
      return 0;
  }
  free (ref);
  snprintf (err, errlen, "out of memory");
  return -1;
}

/* Bytes [off, off + len) are about to be written: no ref may keep
 * them.  A ref partly overwritten keeps the rest, in one or two pieces.
 */
static int
forget (struct trace_view *s, uint64_t off, uint64_t len, char *err,
        size_t errlen)
{
  struct ref *ref;

  while ((ref = find_ref (s, off, len)) != NULL) {
    struct ref old = *ref;
    tdelete (ref, &s->refs, cmp_ref);
    free (ref);
    if (old.off < off &&
        add_ref (s, old.off, off - old.off, old.src, err, errlen) == -1)
      return -1;
    if (old.off + old.len > off + len &&
        add_ref (s, off + len, old.off + old.len - (off + len),
                 old.src + (off + len - old.off), err, errlen) == -1)
      return -1;
  }
  return 0;
}

/* Lays the refs within [off, off + n) over buf, which holds those bytes
 * of the scratch copy.
 */
static int
read_refs (struct trace_view *s, uint8_t *buf, size_t n, uint64_t off,
           char *err, size_t errlen)
{
  while (n > 0) {
    struct ref *ref = find_ref (s, off, n);
    uint64_t a, b;

    if (ref == NULL)
      return 0;
    a = ref->off > off ? ref->off : off;
    b = ref->off + ref->len < off + n ? ref->off + ref->len : off + n;
    if (bw_pread (s->trace, buf + (a - off), b - a,
                  ref->src + (a - ref->off), err, errlen) == -1 ||
        read_refs (s, buf, a - off, off, err, errlen) == -1)
      return -1;
    buf += b - off;
    n -= b - off;
    off = b;
  }
  return 0;
}

static int
view_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
            char *err, size_t errlen)
{
  struct trace_view *s = (struct trace_view *) r;

  if (s->scratch->pread (s->scratch, buf, n, off, err, errlen) == -1)
    return -1;
  return n ? read_refs (s, buf, n, off, err, errlen) : 0;
}

static int
view_pwrite (struct bw_reader *r, const void *buf, size_t n, uint64_t off,
             char *err, size_t errlen)
{
  struct trace_view *s = (struct trace_view *) r;
  bool expected = buf == s->expect_buf && n == s->expect.len &&
                  off == s->expect.off;

  s->expect_buf = NULL;
  if (off > r->size || n > r->size - off) {
    snprintf (err, errlen, "replay view: write past the end");
    return -1;
  }
  if (n == 0)
    return 0;
  if (forget (s, off, n, err, errlen) == -1)
    return -1;
  if (expected && n >= REF_MIN)
    return add_ref (s, off, n, s->expect.src, err, errlen);
  return s->scratch->pwrite (s->scratch, buf, n, off, err, errlen);
}

static void
view_close (struct bw_reader *r)
{
  trace_view_free ((struct trace_view *) r);
}

struct trace_view *
trace_view_new (struct bw_reader *scratch, const char *trace_path,
                    char *err, size_t errlen)
{
  struct trace_view *s = calloc (1, sizeof *s);

  if (s == NULL) {
    snprintf (err, errlen, "out of memory");
    bw_reader_close (scratch);
    return NULL;
  }
  s->scratch = scratch;
  s->trace = bw_reader_open_file (trace_path, false, err, errlen);
  if (s->trace == NULL) {
    trace_view_free (s);
    return NULL;
  }
  s->r = (struct bw_reader) {
    .size = scratch->size, .sector_size = scratch->sector_size,
    .pread = view_pread, .pwrite = view_pwrite, .close = view_close,
  };
  return s;
}

struct bw_reader *
trace_view_disk (struct trace_view *s)
{
  return &s->r;
}

void
trace_view_free (struct trace_view *s)
{
  if (s == NULL)
    return;
  tdestroy (s->refs, free);
  bw_reader_close (s->trace);
  bw_reader_close (s->scratch);
  free (s);
}

void
trace_view_expect (struct trace_view *s, const void *buf,
                       uint64_t len, uint64_t off, uint64_t trace_off)
{
  s->expect_buf = buf;
  s->expect = (struct ref) { .off = off, .len = len, .src = trace_off };
}
