/* Block numbers and inode numbers a guest chooses to collide must not
 * slow the introspector down: the index of block numbers
 * (common/blockhash: the journal's images, the exact view) and the
 * model's id maps (ext4/idmap: a directory's entries, an inode's names)
 * stay a few slots per key.
 *
 * The keys are collisions of the public Fibonacci hashing the tables
 * once used, h(x) = x * C mod 2^64 with C = 0x9E3779B97F4A7C15: the
 * block index took bits 32 and up of h(x) as the slot, the id maps the
 * top bits.  Keys below 2^32 (numbers an ext4 file system holds) whose
 * h(x) has those 17 bits zero all had slot 0 in every table of up to
 * 2^17 slots, and each insert and lookup walked all the keys before it.
 * There are about 2^15 of them; they are found without trying all 2^32: with
 * x = a * 2^16 + b, h(x) = h(a * 2^16) + h(b), so for each a the b that
 * fit lie in one range of the sorted h(b).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "common/blockhash.h"
#include "ext4/idmap.h"

#define C 0x9E3779B97F4A7C15ull
#define SLOT_BITS 17          /* the slot bits that the keys share */
#define NKEYS 20000           /* in tables of 2^15 slots, 61% full */
/* Slots that looking up every key once looks at, per key: with a keyed
 * hash about 1.8 at 61% full, 2.5 at 3/4 (as full as they get).
 */
#define PROBES_PER_KEY 3

struct residue {
  uint64_t r;                 /* h(b) mod 2^bits */
  uint32_t b;
};

static int
by_residue (const void *a, const void *b)
{
  const struct residue *x = a, *y = b;

  return x->r < y->r ? -1 : x->r > y->r;
}

/* The first in r[0 .. n) (sorted) at or above v. */
static size_t
lower_bound (const struct residue *r, size_t n, uint64_t v)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (r[mid].r < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* NKEYS keys x in [1, 2^32) with h(x) mod 2^bits below
 * 2^(bits - SLOT_BITS): bits 32 + SLOT_BITS for the block index (bits
 * 32 and up zero), 64 for the id maps (the top bits zero).
 */
static void
colliding_keys (unsigned bits, uint32_t *keys)
{
  static struct residue r[1u << 16];
  const uint64_t mask = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
  const uint64_t width = 1ull << (bits - SLOT_BITS);
  size_t n = 0;

  for (uint32_t b = 0; b < 1u << 16; b++)
    r[b] = (struct residue) { (b * C) & mask, b };
  qsort (r, 1u << 16, sizeof *r, by_residue);
  for (uint64_t a = 0; a < 1u << 16 && n < NKEYS; a++) {
    /* h(b) in [lo, lo + width), mod 2^bits: from the first at or above
     * lo, round the end if need be.
     */
    uint64_t lo = -((a << 16) * C) & mask;
    for (size_t i = lower_bound (r, 1u << 16, lo) % (1u << 16), k = 0;
         k < (1u << 16) && n < NKEYS; k++, i = (i + 1) % (1u << 16)) {
      if (((r[i].r - lo) & mask) >= width)
        break;
      uint32_t x = (uint32_t) (a << 16 | r[i].b);
      if (x != 0)
        keys[n++] = x;
    }
  }
  assert_int_equal (n, NKEYS);
}

static uint32_t block_keys[NKEYS], id_keys[NKEYS];

static int
make_keys (void **state)
{
  (void) state;
  colliding_keys (32 + SLOT_BITS, block_keys);
  colliding_keys (64, id_keys);
  /* They are what the attack needs (and distinct by how they are
   * made): one slot for the old hashes in a table of 2^SLOT_BITS slots.
   */
  for (size_t i = 0; i < NKEYS; i++) {
    assert_int_equal ((block_keys[i] * C) >> 32 & ((1u << SLOT_BITS) - 1),
                      0);
    assert_int_equal ((id_keys[i] * C) >> (64 - SLOT_BITS), 0);
  }
  return 0;
}

/* Checked after each insert, so that a table that walks every key
 * fails at once rather than after minutes.
 */
static void
check_probes (size_t probes, size_t keys, const char *what)
{
  if (probes > PROBES_PER_KEY * keys + 64)
    fail_msg ("%s: %zu slots to look up %zu keys", what, probes, keys);
}

static void
block_index (void **state)
{
  struct blockhash h, fresh;
  uint32_t v;

  (void) state;
  blockhash_init (&h, 0);
  for (size_t i = 0; i < NKEYS; i++) {
    blockhash_put (&h, block_keys[i], i);
    check_probes (blockhash_probes (&h), h.count, "adding blocks");
  }
  for (size_t i = 0; i < NKEYS; i += 2)
    assert_true (blockhash_remove (&h, block_keys[i]));
  check_probes (blockhash_probes (&h), h.count, "removing blocks");
  for (size_t i = 0; i < NKEYS; i++) {
    assert_int_equal (blockhash_get (&h, block_keys[i], &v), i % 2);
    if (i % 2)
      assert_int_equal (v, i);
  }
  /* The count kept through the removals' shifts is the count of the
   * same blocks put into a table of the same size (linear probing puts
   * a set of keys in the same slots whatever the order).
   */
  blockhash_init (&fresh, h.cap / 2);
  assert_int_equal (fresh.cap, h.cap);
  for (size_t i = 1; i < NKEYS; i += 2)
    blockhash_put (&fresh, block_keys[i], i);
  assert_int_equal (blockhash_probes (&h), blockhash_probes (&fresh));
  blockhash_free (&fresh);
  for (size_t i = 1; i < NKEYS; i += 2)
    assert_true (blockhash_remove (&h, block_keys[i]));
  assert_int_equal (blockhash_probes (&h), 0);
  blockhash_free (&h);
}

static void
id_maps (void **state)
{
  struct idmap m = { 0 };

  (void) state;
  for (size_t i = 0; i < NKEYS; i++) {
    idmap_put (&m, id_keys[i], i + 1);
    check_probes (idmap_probes (&m), m.n, "adding ids");
  }
  for (size_t i = 0; i < NKEYS; i += 2)
    idmap_del (&m, id_keys[i]);
  check_probes (idmap_probes (&m), m.n, "removing ids");
  for (size_t i = 0; i < NKEYS; i++)
    assert_int_equal (idmap_get (&m, id_keys[i]), i % 2 ? i + 1 : 0);
  for (size_t i = 1; i < NKEYS; i += 2)
    idmap_del (&m, id_keys[i]);
  assert_int_equal (m.n, 0);
  assert_int_equal (idmap_probes (&m), 0);
  idmap_free (&m);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (block_index),
    cmocka_unit_test (id_maps),
  };

  return cmocka_run_group_tests (tests, make_keys, NULL);
}
