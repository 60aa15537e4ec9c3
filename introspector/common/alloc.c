/* Allocations the introspector cannot go on without (see alloc.h). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"

static void
out_of_memory (size_t bytes)
{
  fprintf (stderr, "blockwatch: out of memory (%zu bytes) for the "
           "introspector's view of the disk\n", bytes);
  abort ();
}

void *
bw_xcalloc (size_t n, size_t size)
{
  void *p = calloc (n, size);

  if (p == NULL)
    out_of_memory (n * size);
  return p;
}

void *
bw_grow (void *v, size_t *cap, size_t n, size_t size)
{
  size_t ncap;

  if (n < *cap)
    return v;
  ncap = *cap ? *cap * 2 : 16;
  if (ncap <= n)
    ncap = n + 1;
  if (ncap > SIZE_MAX / size)
    out_of_memory (SIZE_MAX);
  v = realloc (v, ncap * size);
  if (v == NULL)
    out_of_memory (ncap * size);
  *cap = ncap;
  return v;
}
