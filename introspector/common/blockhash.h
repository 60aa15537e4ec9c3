/* An index of block numbers: each block to a value, an index into the
 * caller's own array.  Open addressing, linear probing, backward-shift
 * deletion: blocks come and go for as long as a disk is watched, with
 * no tombstones piling up.  At most three quarters full; doubled when
 * it would be fuller.
 */
#ifndef BLOCKWATCH_BLOCKHASH_H
#define BLOCKWATCH_BLOCKHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blockhash {
  uint64_t *key;
  uint32_t *val;              /* value + 1; 0: the slot is empty */
  size_t cap, count;
  size_t displaced;           /* slots the blocks sit past their home
                               * slots, in all */
};

/* Room for EXPECT blocks at most half full before it grows. */
void blockhash_init (struct blockhash *h, size_t expect);
void blockhash_free (struct blockhash *h);

/* Whether block key is in h; if so its value in *val (val may be
 * NULL).
 */
bool blockhash_get (const struct blockhash *h, uint64_t key, uint32_t *val);

/* Block key's value is val from now on, whether key was in h or not. */
void blockhash_put (struct blockhash *h, uint64_t key, uint32_t val);

/* Takes key out; false if it was not in h. */
bool blockhash_remove (struct blockhash *h, uint64_t key);

void blockhash_clear (struct blockhash *h);

size_t blockhash_bytes (const struct blockhash *h);

/* Slots that looking up every block in h once looks at: count when
 * each sits in its home slot, under 3 per block on average with a good
 * hash at most 3/4 full, count^2 / 2 when all share one home (what
 * blocks chosen to collide under a public hash did: common/keyhash.h).
 */
size_t blockhash_probes (const struct blockhash *h);

#endif /* BLOCKWATCH_BLOCKHASH_H */
