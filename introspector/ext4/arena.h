/* Small objects in big pages, named by 32-bit ids.
 *
 * The model keeps one object per inode, per name and per extent of a
 * file system: millions of them.  A malloc'd node linked by 64-bit
 * pointers pays a header, padding and 8 bytes per link, often as much
 * as the object itself.  An arena hands out runs of 4-byte words from
 * 64 KiB pages and names each run by the index of its first word, so
 * links are 4 bytes and there is no per-object overhead.  Freed runs go
 * on a free list of their size and are reused first.  Pages never move:
 * a pointer to a run stays valid until the run is freed.
 */
#ifndef BLOCKWATCH_ARENA_H
#define BLOCKWATCH_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define ARENA_PAGE_SHIFT 14   /* 16384 words: 64 KiB pages */
#define ARENA_PAGE_WORDS (1u << ARENA_PAGE_SHIFT)
#define ARENA_MAX_WORDS 68    /* the largest run (a 255-byte name) */

/* A 64-bit field that needs only 4-byte alignment, so that objects made
 * of words pack without padding.
 */
typedef uint64_t u64_a4 __attribute__ ((aligned (4)));

struct arena {
  uint32_t **pages;
  uint32_t npages, cappages;
  uint32_t next;              /* the first word never handed out */
  uint32_t free[ARENA_MAX_WORDS + 1];    /* per run size: a freed run */
};

/* A zeroed run of words (1 ... ARENA_MAX_WORDS); its id is never 0.
 * Aborts when memory (or the 2^31 words ids can name) runs out, like
 * the rest of the model, which cannot go on with a partial view.
 */
uint32_t arena_alloc (struct arena *a, unsigned words);
void arena_free (struct arena *a, uint32_t id, unsigned words);
/* Bytes allocated: pages and the page table. */
size_t arena_bytes (const struct arena *a);
void arena_release (struct arena *a);

static inline void *
arena_ptr (const struct arena *a, uint32_t id)
{
  return a->pages[id >> ARENA_PAGE_SHIFT] + (id & (ARENA_PAGE_WORDS - 1));
}

#endif /* BLOCKWATCH_ARENA_H */
