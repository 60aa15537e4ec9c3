/* Objects in pages, named by 32-bit ids (see arena.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define PAGE_BYTES 65536

void
arena_init (struct arena *a, unsigned unit, unsigned id_bits)
{
  memset (a, 0, sizeof *a);
  a->unit = unit;
  while ((unit << a->shift) < PAGE_BYTES)
    a->shift++;
  a->limit = (uint64_t) 1 << id_bits;
}

static void
give_up (const char *what)
{
  fprintf (stderr, "blockwatch: out of %s for the file system model\n", what);
  abort ();
}

uint32_t
arena_alloc (struct arena *a, unsigned n)
{
  uint32_t id = a->free[n];
  uint64_t end = (uint64_t) a->npages << a->shift;

  if (id) {
    uint32_t *p = arena_ptr (a, id);
    a->free[n] = p[0];
    memset (p, 0, (size_t) n * a->unit);
    return id;
  }
  /* A run never spans two pages; the rest of a page that is too short
   * is left unused.  Unit 0 is never handed out: id 0 means "none".
   */
  if (a->next + n > end) {
    if (end >= a->limit)
      give_up ("ids");
    if (a->npages == a->cappages) {
      uint32_t ncap = a->cappages ? a->cappages * 2 : 16;
      char **p = realloc (a->pages, ncap * sizeof *p);
      if (p == NULL)
        give_up ("memory");
      a->pages = p;
      a->cappages = ncap;
    }
    a->pages[a->npages] = calloc (1, (size_t) a->unit << a->shift);
    if (a->pages[a->npages] == NULL)
      give_up ("memory");
    a->npages++;
    a->next = end ? end : 1;
  }
  id = a->next;
  a->next += n;
  return id;
}

void
arena_free (struct arena *a, uint32_t id, unsigned n)
{
  uint32_t *p = arena_ptr (a, id);

  p[0] = a->free[n];
  a->free[n] = id;
}

size_t
arena_bytes (const struct arena *a)
{
  return ((size_t) a->npages * a->unit << a->shift)
         + a->cappages * sizeof *a->pages;
}

void
arena_release (struct arena *a)
{
  for (uint32_t i = 0; i < a->npages; i++)
    free (a->pages[i]);
  free (a->pages);
  *a = (struct arena) { .unit = a->unit, .shift = a->shift,
                        .limit = a->limit };
}
