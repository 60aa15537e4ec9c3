/* The tables of guest-chosen numbers keep how far their keys sit past
 * their home slots (blockhash's and idmap's displaced, reported as
 * block_probes and id_probes) through every change rather than
 * recounting: after any sequence of new keys, keys put again, removals
 * (backward shifts, round the table's end too), removals of absent
 * keys, growth and clears, the count kept is the one a walk of the
 * slots finds, and every key is where a lookup finds it with the value
 * last put, checked against a plain array after each operation.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "fixed-random.h"
#include "common/blockhash.h"
#include "common/keyhash.h"
#include "ext4/idmap.h"

#define OPS 40000

/* Slot i of a table: whether it holds a key, and which. */
typedef bool slot_fn (const void *t, size_t i, uint64_t *key);

static bool
block_slot (const void *t, size_t i, uint64_t *key)
{
  const struct blockhash *h = t;

  *key = h->key[i];
  return h->val[i] != 0;
}

static bool
id_slot (const void *t, size_t i, uint64_t *key)
{
  const struct idmap *m = t;

  *key = m->slot[i].key;
  return *key != 0;
}

/* The slots that looking up each key once looks at, walked from its
 * home slot, each key found with no empty slot on the way; *count: the
 * keys.
 */
static size_t
walk (const void *t, slot_fn *slot, size_t cap, size_t *count)
{
  size_t probes = 0;
  uint64_t key, kj;

  *count = 0;
  for (size_t i = 0; i < cap; i++) {
    if (!slot (t, i, &key))
      continue;
    for (size_t j = (size_t) keyhash_u64 (key) & (cap - 1); ;
         j = (j + 1) & (cap - 1)) {
      assert_true (slot (t, j, &kj));  /* no hole on the way */
      probes++;
      if (j == i)
        break;
    }
    ++*count;
  }
  return probes;
}

/* Key k of a universe of at most 4096: some in runs, some far apart,
 * none 0 (idmap's empty key); below 2^32 for idmap.
 */
static uint64_t
block_key (uint64_t k)
{
  return (k % 3 ? k : k << 33) + 1;
}

static uint32_t
id_key (uint64_t k)
{
  return (uint32_t) (k % 3 ? k : k << 20) + 1;
}

static void
blockhash_counts (void **state)
{
  static int64_t want[4096];          /* -1: absent */
  struct blockhash h;
  size_t n = 0, count;

  (void) state;
  uint64_t seed = 1;
  blockhash_init (&h, 0);
  for (size_t k = 0; k < 4096; k++)
    want[k] = -1;
  for (int op = 0; op < OPS; op++) {
    /* The universe changes, so the table fills, grows, and empties. */
    uint64_t universe = op % 20000 < 10000 ? 24 : 4096;
    uint64_t r = fixed_random (&seed), k = r % universe, key = block_key (k);
    uint32_t v;

    switch ((r >> 32) % 16) {
    default:                  /* put, new or again */
      v = (uint32_t) (r >> 40);
      n += want[k] == -1;
      want[k] = v;
      blockhash_put (&h, key, v);
      break;
    case 10: case 11: case 12: case 13: case 14:      /* remove */
      assert_int_equal (blockhash_remove (&h, key), want[k] != -1);
      n -= want[k] != -1;
      want[k] = -1;
      break;
    case 15:
      if (r % 97 == 0) {
        blockhash_clear (&h);
        for (size_t j = 0; j < 4096; j++)
          want[j] = -1;
        n = 0;
      }
      else if (r % 89 == 0) {
        /* Made again for some blocks: the count starts over too. */
        blockhash_free (&h);
        blockhash_init (&h, r % 100);
        for (size_t j = 0; j < 4096; j++)
          want[j] = -1;
        n = 0;
      }
      break;
    }
    assert_int_equal (walk (&h, block_slot, h.cap, &count),
                      blockhash_probes (&h));
    assert_int_equal (count, n);
    assert_int_equal (h.count, n);
    if (op % 1000 == 0)
      for (size_t j = 0; j < universe; j++) {
        bool got = blockhash_get (&h, block_key (j), &v);
        assert_int_equal (got, want[j] != -1);
        if (got)
          assert_int_equal (v, want[j]);
      }
  }
  blockhash_free (&h);
}

static void
idmap_counts (void **state)
{
  static uint32_t want[4096];         /* 0: absent */
  struct idmap m = { 0 };
  size_t n = 0, count;

  (void) state;
  uint64_t seed = 2;
  assert_int_equal (idmap_probes (&m), 0);
  idmap_del (&m, 5);          /* nothing there: no table yet */
  for (int op = 0; op < OPS; op++) {
    uint64_t universe = op % 20000 < 10000 ? 24 : 4096;
    uint64_t r = fixed_random (&seed), k = r % universe;
    uint32_t key = id_key (k);

    switch ((r >> 32) % 16) {
    default:                  /* put, new or again (never 0) */
      n += want[k] == 0;
      want[k] = (uint32_t) (r >> 40) | 1;
      idmap_put (&m, key, want[k]);
      break;
    case 10: case 11: case 12: case 13: case 14: case 15:
      n -= want[k] != 0;
      want[k] = 0;
      idmap_del (&m, key);
      break;
    }
    assert_int_equal (walk (&m, id_slot, m.cap, &count), idmap_probes (&m));
    assert_int_equal (count, n);
    assert_int_equal (m.n, n);
    if (op % 1000 == 0)
      for (size_t j = 0; j < universe; j++) {
        assert_int_equal (idmap_get (&m, id_key (j)), want[j]);
      }
  }
  idmap_free (&m);
  assert_int_equal (idmap_probes (&m), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (blockhash_counts),
    cmocka_unit_test (idmap_counts),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
