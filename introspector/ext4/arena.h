/* Small objects in big pages, named by 32-bit ids.
 *
 * The model keeps one object per inode, per name and per extent of a
 * file system: millions of them.  A malloc'd node linked by 64-bit
 * pointers pays a header, padding and 8 bytes per link, often as much
 * as the object itself.  An arena hands out objects, or runs of units
 * for objects of varying size, from pages of about 64 KiB and names
 * each by the index of its first unit, so links are 4 bytes and there
 * is no per-object overhead.  Freed runs go on a free list of their
 * size and are reused first.  Pages never move: a pointer to an object
 * stays valid until the object is freed.
 */
#ifndef BLOCKWATCH_ARENA_H
#define BLOCKWATCH_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define ARENA_MAX_RUN 68      /* the longest run, in units */

/* A 64-bit field that needs only 4-byte alignment, so that objects made
 * of 4-byte units pack without padding.
 */
typedef uint64_t u64_a4 __attribute__ ((aligned (4)));

struct arena {
  unsigned unit;              /* bytes per unit: a multiple of 4 */
  unsigned shift;             /* 2^shift units per page */
  uint64_t limit;             /* ids stay below this */
  char **pages;
  uint32_t npages, cappages;
  uint64_t next;              /* the first unit never handed out */
  uint32_t free[ARENA_MAX_RUN + 1];      /* per run length: a freed run */
};

/* An arena of unit-byte units whose ids fit in id_bits bits. */
void arena_init (struct arena *a, unsigned unit, unsigned id_bits);
/* A zeroed run of n units (1 ... ARENA_MAX_RUN); its id is never 0.
 * Aborts when memory or ids run out, like the rest of the model, which
 * cannot go on with a partial view.
 */
uint32_t arena_alloc (struct arena *a, unsigned n);
void arena_free (struct arena *a, uint32_t id, unsigned n);
/* Bytes allocated: pages and the page table. */
size_t arena_bytes (const struct arena *a);
/* Frees everything; the arena stays initialized and empty. */
void arena_release (struct arena *a);

static inline void *
arena_ptr (const struct arena *a, uint32_t id)
{
  return a->pages[id >> a->shift]
         + (size_t) (id & ((1u << a->shift) - 1)) * a->unit;
}

#endif /* BLOCKWATCH_ARENA_H */
