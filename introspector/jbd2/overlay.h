/* Committed metadata that has not reached its home location yet.
 *
 * When a transaction commits, the copies in the journal are the new
 * content of their home blocks, though the blocks themselves are written
 * back only at the checkpoint, seconds or minutes later.  The overlay
 * holds those images, and its view is the file system as the kernel
 * sees it (and as it would be after a journal replay): the disk, with
 * every committed but not yet checkpointed block replaced.
 *
 * Memory is bounded by the journal: an image leaves when its home block
 * is written, when a later transaction revokes it, or when the journal
 * superblock says its transaction was checkpointed.
 */
#ifndef BLOCKWATCH_JBD2_OVERLAY_H
#define BLOCKWATCH_JBD2_OVERLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "disk/reader.h"

struct overlay;

/* An empty overlay over disk (not owned), in blocks of blocksize. */
struct overlay *overlay_new (struct bw_reader *disk, uint32_t blocksize);
void overlay_free (struct overlay *ov);

/* The file system as the kernel sees it: reads go through the overlay.
 * Read-only; valid until overlay_free, which closes it.
 */
struct bw_reader *overlay_view (struct overlay *ov);

/* Sets home block's image (blocksize bytes, copied), from transaction
 * tid; replaces an older one.
 */
void overlay_put (struct overlay *ov, uint64_t home, uint32_t tid,
                  const uint8_t *image);
/* The image of home, or NULL. */
const uint8_t *overlay_get (const struct overlay *ov, uint64_t home);
/* Forgets home's image; true if there was one. */
bool overlay_drop (struct overlay *ov, uint64_t home);
/* Called with each image about to be forgotten (the view of home
 * changes back to the disk: online, the disk may hold newer bytes).
 */
typedef void (*overlay_drop_fn) (void *opaque, uint64_t home,
                                 const uint8_t *image);
/* Forgets the images of transactions before tid (checkpointed); fn
 * (may be NULL) sees each first.
 */
void overlay_drop_before (struct overlay *ov, uint32_t tid,
                          overlay_drop_fn fn, void *opaque);
/* Forgets every image; fn (may be NULL) sees each first. */
void overlay_clear (struct overlay *ov, overlay_drop_fn fn, void *opaque);

/* How many images. */
uint64_t overlay_count (const struct overlay *ov);

/* Slots that finding every image by its home block once looks at
 * (blockhash_probes).
 */
uint64_t overlay_probes (const struct overlay *ov);

/* jbd2 transaction ids wrap: a is after b. */
static inline bool
tid_after (uint32_t a, uint32_t b)
{
  return (int32_t) (a - b) > 0;
}

#endif /* BLOCKWATCH_JBD2_OVERLAY_H */
