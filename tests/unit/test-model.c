/* The introspector's in-memory model of a file system, against simple
 * references: the owner and gap maps (random ranges inserted, found and
 * removed; gap writes and cuts block by block).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ext4/blockmap.h"

static uint32_t rng = 12345;

static uint32_t
rnd (uint32_t n)
{
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng % n;
}

/* ---- the owner map ------------------------------------------------ */

#define BLOCKS 2048

/* Ranges that do not overlap, as an inode's extents are: a random
 * insert and remove workload, every block looked up after each step.
 */
static void
owner_map (void **state)
{
  static uint32_t owner[BLOCKS];      /* reference: range id or 0 */
  struct blockmap m = { 0 };

  (void) state;
  for (int step = 0; step < 10000; step++) {
    uint64_t start = rnd (BLOCKS);
    uint32_t len = 1 + rnd (16), id;
    bool free_run = true;

    if (start + len > BLOCKS)
      len = BLOCKS - start;
    for (uint64_t b = start; b < start + len; b++)
      free_run &= owner[b] == 0;
    if (free_run && rnd (2)) {
      id = bm_insert (&m, start, len, (uint32_t) start * 7, 3, BM_DATA);
      for (uint64_t b = start; b < start + len; b++)
        owner[b] = id;
    }
    else if (owner[start]) {
      id = owner[start];
      bm_remove (&m, id);
      for (uint64_t b = 0; b < BLOCKS; b++)
        if (owner[b] == id)
          owner[b] = 0;
    }
    for (uint64_t b = 0; b < BLOCKS; b += 1 + rnd (64)) {
      const struct bm_node *n = bm_find (&m, b);
      if (owner[b] == 0) {
        assert_null (n);
        continue;
      }
      assert_ptr_equal (n, bm_get (&m, owner[b]));
      assert_int_equal (n->ino, (uint32_t) n->start * 7);
      assert_true (b >= n->start && b < n->start + n->len);
    }
  }
  bm_free_all (&m);
}

/* Ranges that start at the same block (a corrupt file system) can each
 * be removed.
 */
static void
same_start (void **state)
{
  struct blockmap m = { 0 };
  uint32_t id[50];

  (void) state;
  for (int i = 0; i < 50; i++)
    id[i] = bm_insert (&m, 100, 1 + i, i, 0, BM_MAP);
  for (int i = 0; i < 50; i += 2)
    bm_remove (&m, id[i]);
  assert_int_equal (m.nodes, 25);
  for (int i = 1; i < 50; i += 2)
    bm_remove (&m, id[i]);
  assert_int_equal (m.nodes, 0);
  assert_null (bm_find (&m, 100));
  bm_free_all (&m);
}

/* ---- the gap map -------------------------------------------------- */

struct cut { uint64_t seen[BLOCKS]; uint64_t pieces; };

static void
on_cut (uint64_t start, uint64_t len, uint64_t seq, void *opaque)
{
  struct cut *c = opaque;

  c->pieces++;
  for (uint64_t b = start; b < start + len; b++) {
    assert_int_equal (c->seen[b], 0);
    c->seen[b] = seq;
  }
}

/* Writes and cuts against a block-by-block reference: every written
 * block is in a gap whose seq is at least its last write's, a cut
 * hands back exactly the blocks it removes, and touching runs are one
 * node.
 */
static void
gap_map (void **state)
{
  static uint64_t ref[BLOCKS];        /* seq of the last write, or 0 */
  static struct cut c;
  struct blockmap g = { 0 };

  (void) state;
  for (uint64_t seq = 1; seq < 6000; seq++) {
    uint64_t start = rnd (BLOCKS), len = 1 + rnd (40), runs = 0;

    if (start + len > BLOCKS)
      len = BLOCKS - start;
    if (rnd (3)) {
      bm_gap_add (&g, start, len, seq);
      for (uint64_t b = start; b < start + len; b++)
        ref[b] = seq;
    }
    else {
      memset (&c, 0, sizeof c);
      bm_gap_cut (&g, start, len, on_cut, &c);
      for (uint64_t b = 0; b < BLOCKS; b++) {
        bool in = b >= start && b < start + len && ref[b];
        assert_int_equal (c.seen[b] != 0, in);
        assert_true (!in || c.seen[b] >= ref[b]);
      }
      for (uint64_t b = start; b < start + len; b++)
        ref[b] = 0;
    }
    for (uint64_t b = 0; b < BLOCKS; b++) {
      const struct bm_node *n = bm_find (&g, b);
      assert_int_equal (n != NULL, ref[b] != 0);
      assert_true (n == NULL || (n->kind == BM_GAP && n->seq >= ref[b]));
      runs += ref[b] && (b == 0 || ref[b - 1] == 0);
    }
    assert_int_equal (g.nodes, runs);
  }
  bm_free_all (&g);
}

/* A run longer than one node holds is several nodes, and cut whole. */
static void
long_gap (void **state)
{
  struct blockmap g = { 0 };
  uint64_t len = 3ull * BM_LEN_MAX + 5;

  (void) state;
  bm_gap_add (&g, 10, len, 7);
  assert_int_equal (g.nodes, 4);
  bm_gap_cut (&g, 0, UINT64_MAX / 2, NULL, NULL);
  assert_int_equal (g.nodes, 0);
  bm_gap_add (&g, 10, len, 7);
  bm_gap_cut (&g, 11, len - 2, NULL, NULL);
  assert_int_equal (g.nodes, 2);
  assert_int_equal (bm_find (&g, 10)->len, 1);
  assert_int_equal (bm_find (&g, 10 + len - 1)->len, 1);
  assert_int_equal (bm_find (&g, 10 + len - 1)->seq, 7);
  bm_free_all (&g);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (owner_map),
    cmocka_unit_test (same_start),
    cmocka_unit_test (gap_map),
    cmocka_unit_test (long_gap),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
