/* Objects in pages, named by 32-bit ids (see arena.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

/* Ids are word indexes below 2^31, so that users may keep a flag in
 * the top bit of a link.
 */
#define MAX_PAGES (1u << (31 - ARENA_PAGE_SHIFT))

static void
out_of_memory (void)
{
  fprintf (stderr, "blockwatch: out of memory for the file system model\n");
  abort ();
}

uint32_t
arena_alloc (struct arena *a, unsigned words)
{
  uint32_t id = a->free[words];

  if (id) {
    uint32_t *p = arena_ptr (a, id);
    a->free[words] = p[0];
    memset (p, 0, words * sizeof *p);
    return id;
  }
  /* A run never spans two pages; the rest of a page that is too short
   * is left unused.  Word 0 is never handed out: id 0 means "none".
   */
  if (a->next + words > a->npages * ARENA_PAGE_WORDS) {
    if (a->npages == MAX_PAGES)
      out_of_memory ();
    if (a->npages == a->cappages) {
      uint32_t ncap = a->cappages ? a->cappages * 2 : 16;
      uint32_t **p = realloc (a->pages, ncap * sizeof *p);
      if (p == NULL)
        out_of_memory ();
      a->pages = p;
      a->cappages = ncap;
    }
    a->pages[a->npages] = calloc (ARENA_PAGE_WORDS, sizeof (uint32_t));
    if (a->pages[a->npages] == NULL)
      out_of_memory ();
    a->next = a->npages++ << ARENA_PAGE_SHIFT;
    if (a->next == 0)
      a->next = 1;
  }
  id = a->next;
  a->next += words;
  return id;
}

void
arena_free (struct arena *a, uint32_t id, unsigned words)
{
  uint32_t *p = arena_ptr (a, id);

  p[0] = a->free[words];
  a->free[words] = id;
}

size_t
arena_bytes (const struct arena *a)
{
  return (size_t) a->npages * ARENA_PAGE_WORDS * sizeof (uint32_t)
         + a->cappages * sizeof *a->pages;
}

void
arena_release (struct arena *a)
{
  for (uint32_t i = 0; i < a->npages; i++)
    free (a->pages[i]);
  free (a->pages);
  memset (a, 0, sizeof *a);
}
