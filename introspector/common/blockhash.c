/* An index of block numbers (see blockhash.h). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "blockhash.h"
#include "keyhash.h"

/* The home slot of a block number whose hash is hash.  The guest
 * chooses block numbers (its extents, block maps and journal tags point
 * where it likes): the hash is keyed (keyhash_u64), so that it cannot
 * choose numbers that share a run of slots.  It is taken once per
 * operation (SipHash: some 25 ns), and passed down.
 */
static size_t
home (const struct blockhash *h, uint64_t hash)
{
  return (size_t) hash & (h->cap - 1);
}

/* How far slot i is past slot from, going round the end. */
static size_t
dist (const struct blockhash *h, size_t from, size_t i)
{
  return (i - from) & (h->cap - 1);
}

static void
alloc_slots (struct blockhash *h, size_t cap)
{
  h->cap = cap;
  h->key = bw_xcalloc (cap, sizeof *h->key);
  h->val = bw_xcalloc (cap, sizeof *h->val);
}

void
blockhash_init (struct blockhash *h, size_t expect)
{
  size_t cap = 16;

  while (cap < 2 * expect)
    cap *= 2;
  h->count = h->displaced = 0;
  alloc_slots (h, cap);
}

void
blockhash_free (struct blockhash *h)
{
  free (h->key);
  free (h->val);
  h->key = NULL;
  h->val = NULL;
  h->cap = h->count = h->displaced = 0;
}

#define ABSENT SIZE_MAX

/* The slot of block key (whose hash is hash), or ABSENT. */
static size_t
slot_of (const struct blockhash *h, uint64_t key, uint64_t hash)
{
  for (size_t i = home (h, hash); h->val[i]; i = (i + 1) & (h->cap - 1))
    if (h->key[i] == key)
      return i;
  return ABSENT;
}

bool
blockhash_get (const struct blockhash *h, uint64_t key, uint32_t *val)
{
  size_t i = h->count ? slot_of (h, key, keyhash_u64 (key)) : ABSENT;

  if (i == ABSENT)
    return false;
  if (val)
    *val = h->val[i] - 1;
  return true;
}

static void
place (struct blockhash *h, uint64_t key, uint64_t hash, uint32_t stored)
{
  size_t from = home (h, hash), i = from;

  while (h->val[i])
    i = (i + 1) & (h->cap - 1);
  h->displaced += dist (h, from, i);
  h->key[i] = key;
  h->val[i] = stored;
}

void
blockhash_put (struct blockhash *h, uint64_t key, uint32_t val)
{
  uint64_t hash = keyhash_u64 (key);
  size_t i = slot_of (h, key, hash);

  if (i != ABSENT) {
    h->val[i] = val + 1;
    return;
  }
  if ((h->count + 1) * 4 > h->cap * 3) {
    uint64_t *okey = h->key;
    uint32_t *oval = h->val;
    size_t ocap = h->cap;

    alloc_slots (h, ocap * 2);
    h->displaced = 0;
    for (size_t i = 0; i < ocap; i++)
      if (oval[i])
        place (h, okey[i], keyhash_u64 (okey[i]), oval[i]);
    free (okey);
    free (oval);
  }
  place (h, key, hash, val + 1);
  h->count++;
}

bool
blockhash_remove (struct blockhash *h, uint64_t key)
{
  uint64_t hash = keyhash_u64 (key);
  size_t i = h->count ? slot_of (h, key, hash) : ABSENT, j;

  if (i == ABSENT)
    return false;
  j = i;
  h->displaced -= dist (h, home (h, hash), i);
  h->val[i] = 0;
  h->count--;
  /* Backward shift: move up every later entry of the run that would no
   * longer be found past the hole.
   */
  for (;;) {
    j = (j + 1) & (h->cap - 1);
    if (h->val[j] == 0)
      return true;
    size_t want = home (h, keyhash_u64 (h->key[j]));
    if (dist (h, want, j) >= dist (h, i, j)) {
      h->displaced -= dist (h, i, j);
      h->key[i] = h->key[j];
      h->val[i] = h->val[j];
      h->val[j] = 0;
      i = j;
    }
  }
}

void
blockhash_clear (struct blockhash *h)
{
  memset (h->val, 0, h->cap * sizeof *h->val);
  h->count = h->displaced = 0;
}

size_t
blockhash_probes (const struct blockhash *h)
{
  return h->count + h->displaced;
}

size_t
blockhash_bytes (const struct blockhash *h)
{
  return h->cap * (sizeof *h->key + sizeof *h->val);
}
