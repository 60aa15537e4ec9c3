/* The disk as of the records handled: the last handled write of each
 * block kept, over the storage.
 *
 * Online, the storage runs ahead of the records the introspector has
 * handled (the plugin writes the storage first and announces the
 * record later), so a block read from it may hold what a record not
 * handled yet wrote: a directory block with names the events have not
 * reached, a data block already given to another file.  For a block a
 * handled record wrote, the disk as of that record is what the last
 * handled write put there: this view keeps those bytes and serves
 * reads from them before the storage.
 *
 * Bounded: blocks are kept in two classes, each with its own bound
 * (metadata must not be pushed out by a stream of file data), and the
 * block written longest ago in a class gives way to a new one.  A block
 * not kept (never written since the view began, or given way) is read
 * from the storage, which may be ahead there.
 */
#ifndef BLOCKWATCH_READER_EXACT_H
#define BLOCKWATCH_READER_EXACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk/reader.h"

enum exact_class {
  EXACT_META,                 /* blocks read as metadata */
  EXACT_DATA,                 /* file data, and blocks of no owner yet */
  EXACT_CLASSES
};

struct exact_view;

/* A view of disk (not owned) in blocks of bs bytes, keeping at most
 * max[c] blocks of class c (0: none of that class).
 */
struct exact_view *exact_new (struct bw_reader *disk, uint32_t bs,
                              const size_t max[EXACT_CLASSES]);
void exact_free (struct exact_view *x);

/* The disk as of the records handled: read-only, valid until
 * exact_free.
 */
struct bw_reader *exact_reader (struct exact_view *x);

/* Is block blk kept? */
bool exact_has (const struct exact_view *x, uint64_t blk);

/* A handled record wrote bytes [off, off + len) of the disk (data: its
 * bytes; NULL: zeroes), some of block blk: blk is kept, in class c,
 * as the newest of it.  The rest of a block written in part is as
 * kept, or as the disk has it now.
 */
void exact_write (struct exact_view *x, uint64_t blk, enum exact_class c,
                  const uint8_t *data, uint64_t off, uint64_t len);

/* Forgets blk: it is read from the disk again (as one that gave way:
 * a handled record wrote it, the view does not keep it).
 */
void exact_forget (struct exact_view *x, uint64_t blk);

/* Forgets every block (the records handled are no longer all there
 * is: some were lost, and the storage is the best account).
 */
void exact_clear (struct exact_view *x);

struct exact_stats {
  uint64_t blocks;            /* kept now */
  uint64_t bytes;             /* heap they and the index take */
  uint64_t evicted;           /* given way to newer ones, ever */
  /* Blocks read from the disk (may be ahead) that a handled record
   * wrote and the view gave up under its bound (given way, forgotten,
   * or of a class with no room), ever; cleared blocks (exact_clear)
   * are not counted.  A lower bound: see reader-exact.c.
   */
  uint64_t evicted_reads;
  uint64_t probes;            /* slots that finding every kept block
                               * once looks at (blockhash_probes) */
};
void exact_get_stats (const struct exact_view *x, struct exact_stats *st);

#endif /* BLOCKWATCH_READER_EXACT_H */
