/* What the records handled so far left at home locations of journaled
 * metadata, as a checksum per block.
 *
 * Online, the storage runs ahead of the records that reach us, and a
 * block whose committed image has left the overlay is read from the
 * storage as it is now: possibly newer than any commit we have read.
 * A transaction whose commit we read later must then not lay its older
 * image over that block (the view would go back in time, and a change
 * undone and redone would be reported).  Whether the storage holds a
 * write we have not handled yet is what this answers: the storage's
 * bytes against what the last write we handled put there.  The engine
 * is told of the records it has taken but not handled yet; the plugin
 * announces records after the storage has them, so that is not enough.
 *
 * Bounded (the caller says how many blocks, the journal's size): the
 * oldest-placed block in a probe run gives way to a new one, and a
 * block not known is judged by what the engine is told alone.
 */
#ifndef BLOCKWATCH_EXT4_HOME_H
#define BLOCKWATCH_EXT4_HOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct home_map;

/* Holds at most max blocks (at least 1). */
struct home_map *home_new (size_t max);
void home_free (struct home_map *m);

/* blk's home now holds bytes whose crc32c is crc. */
void home_set (struct home_map *m, uint64_t blk, uint32_t crc);
/* blk will be written home by a record not handled yet: followed from
 * now on, bytes not known until that write is handled.
 */
void home_expect (struct home_map *m, uint64_t blk);
/* Is blk followed?  If so, *known says whether *crc is set. */
bool home_get (const struct home_map *m, uint64_t blk, uint32_t *crc,
               bool *known);
void home_drop (struct home_map *m, uint64_t blk);

#endif /* BLOCKWATCH_EXT4_HOME_H */
