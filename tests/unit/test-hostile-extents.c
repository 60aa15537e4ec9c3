/* Where a guest puts its extents must not make the owner map deep: the
 * map (ext4/blockmap) is a treap, and a lookup, an insert or a removal
 * walks one path of it.
 *
 * The ranges here lie in the order of the priorities the treap once
 * used, public ones: lowbias32 of the node's id, ids handed out as the
 * crawl meets the ranges (1, 2, 3, ...).  A file system whose extents
 * the crawl meets in that order, the range of the highest priority
 * first on the disk, the next highest next, and so on, made the treap
 * a chain: every range below the one before it, each data write's
 * lookup O(n), and split and merge, recursive then, as deep as the map.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ext4/blockmap.h"

#define NRANGES (1u << 17)
#define LEN 8                 /* blocks per range: extents of 32 KiB */
#define CHECK_EVERY 4096      /* inserts between two depth checks */

/* The old priority of a node: lowbias32 of its id. */
static uint32_t
old_prio (uint32_t x)
{
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

/* Highest old priority first. */
static int
by_old_prio (const void *a, const void *b)
{
  uint32_t x = old_prio (*(const uint32_t *) a);
  uint32_t y = old_prio (*(const uint32_t *) b);

  return x < y ? 1 : x > y ? -1 : 0;
}

/* A treap as deep as a random binary search tree of n nodes: about
 * 3 log2 n at these sizes (4.311 ln n - 1.953 ln ln n), and seldom
 * more by more than a few.  A chain is n deep.
 */
static void
check_depth (const struct blockmap *m, const char *what)
{
  uint32_t bits = 0, depth = bm_depth (m);

  while (bits < 64 && m->nodes >> bits)
    bits++;
  if (depth > 4 * bits + 8)
    fail_msg ("%s: the owner map of %llu ranges is %u deep", what,
              (unsigned long long) m->nodes, depth);
}

static uint64_t start_of[NRANGES + 1];        /* by id */

static void
ordered_as_old_priorities (void **state)
{
  static uint32_t ids[NRANGES];
  struct blockmap m;

  (void) state;
  /* Range k of the disk (blocks LEN k to LEN k + LEN - 1) goes to the
   * id of the k-th highest old priority.
   */
  for (uint32_t i = 0; i < NRANGES; i++)
    ids[i] = i + 1;
  qsort (ids, NRANGES, sizeof *ids, by_old_prio);
  for (uint32_t k = 0; k < NRANGES; k++)
    start_of[ids[k]] = (uint64_t) LEN * k;

  bm_init (&m);
  assert_int_equal (bm_depth (&m), 0);
  for (uint32_t id = 1; id <= NRANGES; id++) {
    /* Ids come in crawl order, as the attack needs. */
    assert_int_equal (bm_insert (&m, start_of[id], LEN, id, 0, BM_DATA), id);
    if (id % CHECK_EVERY == 0)
      check_depth (&m, "adding ranges");
  }
  /* Found again: the first and the last block of every range, and the
   * block after the last one has no owner.
   */
  for (uint32_t id = 1; id <= NRANGES; id++) {
    assert_ptr_equal (bm_find (&m, start_of[id]), bm_get (&m, id));
    assert_ptr_equal (bm_find (&m, start_of[id] + LEN - 1), bm_get (&m, id));
  }
  assert_null (bm_find (&m, (uint64_t) LEN * NRANGES));

  /* Removals merge subtrees: every other range, then the rest. */
  for (uint32_t id = 1; id <= NRANGES; id += 2)
    bm_remove (&m, id);
  check_depth (&m, "removing ranges");
  for (uint32_t id = 1; id <= NRANGES; id++)
    if (id % 2)
      assert_null (bm_find (&m, start_of[id]));
    else
      assert_ptr_equal (bm_find (&m, start_of[id]), bm_get (&m, id));
  for (uint32_t id = 2; id <= NRANGES; id += 2)
    bm_remove (&m, id);
  assert_int_equal (m.nodes, 0);
  assert_int_equal (bm_depth (&m), 0);
  bm_free_all (&m);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (ordered_as_old_priorities),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
