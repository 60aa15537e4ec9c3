/* A map from 32-bit ids to 32-bit ids, for the model's sparse links:
 * a directory's first entry, a name's next sibling among an inode's
 * hard links, sets of directories.  Open addressing with linear
 * probing, at most 3/4 full: 8 bytes a slot, no allocation per entry.
 */
#ifndef BLOCKWATCH_IDMAP_H
#define BLOCKWATCH_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
  uint32_t key;               /* 0: empty */
  uint32_t val;
};

struct idmap {
  struct idmap_slot *slot;
  size_t cap, n;
  unsigned bits;              /* cap = 2^bits */
  size_t displaced;           /* slots the keys sit past their home
                               * slots, in all */
};

/* The value of key (not 0), or 0. */
uint32_t idmap_get (const struct idmap *m, uint32_t key);
/* Sets key (not 0) to val (not 0). */
void idmap_put (struct idmap *m, uint32_t key, uint32_t val);
void idmap_del (struct idmap *m, uint32_t key);
size_t idmap_bytes (const struct idmap *m);
/* Slots that looking up every key once looks at: n when each sits in
 * its home slot, under 3 per key on average with a good hash, n^2 / 2
 * when all share one home (see blockhash_probes).
 */
size_t idmap_probes (const struct idmap *m);
void idmap_free (struct idmap *m);

#endif /* BLOCKWATCH_IDMAP_H */
