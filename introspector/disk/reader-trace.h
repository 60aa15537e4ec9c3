/* The disk a replay introspects: a scratch copy of the base image, with
 * the trace's records applied to it.
 *
 * Copying every write into the scratch copy was most of a replay's
 * cost (tmpfs allocates and fills a page for every 4 KiB written, which
 * the introspector then never reads: file data is classified from the
 * record itself).  So large writes are not copied: the view keeps where
 * their bytes lie in the trace file, and reads them there if they are
 * ever read.  Smaller writes (metadata, mostly) and zeroes go to the
 * scratch copy.  The trace file must not change while it is replayed.
 */
#ifndef BLOCKWATCH_READER_TRACE_H
#define BLOCKWATCH_READER_TRACE_H

#include <stdint.h>

#include "disk/reader.h"

struct trace_view;

/* A view over scratch (owned: closed with the view) and the trace file
 * at trace_path; NULL with err.
 */
struct trace_view *trace_view_new (struct bw_reader *scratch,
                                           const char *trace_path,
                                           char *err, size_t errlen);
/* The view, valid until trace_view_free. */
struct bw_reader *trace_view_disk (struct trace_view *s);
void trace_view_free (struct trace_view *s);

/* The next write of len bytes from buf at off on the view may take its
 * bytes from the trace file at trace_off (buf holds the same bytes,
 * read from there): the record about to be applied.
 */
void trace_view_expect (struct trace_view *s, const void *buf,
                            uint64_t len, uint64_t off, uint64_t trace_off);

#endif /* BLOCKWATCH_READER_TRACE_H */
