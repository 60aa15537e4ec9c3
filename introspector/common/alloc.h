/* Allocations the introspector cannot go on without.
 *
 * The model, the journal's images and a barrier's work lists describe
 * what is on the disk; with a piece missing, the introspector would
 * report events that did not happen.  Out of memory, it says so and
 * stops (the data path is another process and goes on).
 */
#ifndef BLOCKWATCH_ALLOC_H
#define BLOCKWATCH_ALLOC_H

#include <stddef.h>

/* calloc that never returns NULL. */
void *bw_xcalloc (size_t n, size_t size);

/* Makes room for element n of the array v (of *cap elements of size
 * bytes), doubling *cap as needed; returns the array, maybe moved.
 */
void *bw_grow (void *v, size_t *cap, size_t n, size_t size);

#endif /* BLOCKWATCH_ALLOC_H */
