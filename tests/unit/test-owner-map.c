/* The owner map (ext4/blockmap) is a treap whose split and merge are
 * loops writing through links, with priorities kept in the nodes.
 * After any sequence of inserts (many at one start, as only a corrupt
 * file system makes: ties of the key broken by id), removals, and
 * priorities that tie (merges then choose by the "at least" heap
 * order), the map holds exactly the ranges of a plain array: in order
 * of (start, id), every parent's priority at least its children's,
 * bm_depth the depth of the tree, and bm_find the range a scan of the
 * array finds.  The gap ranges built on it (bm_gap_add, bm_gap_cut)
 * hold exactly the blocks added and not cut, in ranges that do not
 * overlap, against a bitmap.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixed-random.h"
#include "ext4/blockmap.h"

#define MAX_IDS 4096
#define OPS 40000

/* What the map should hold, by id. */
static struct want {
  bool in;
  uint64_t start;
  uint32_t len;
} want[MAX_IDS];

struct walk {
  uint32_t nodes, deepest;
  bool any;
  uint64_t last_start;        /* (start, id) of the node before */
  uint32_t last_id;
};

/* In order, from t at depth d, under a parent of priority top. */
static void
check_subtree (const struct blockmap *m, uint32_t t, uint32_t d, uint32_t top,
               struct walk *w)
{
  const struct bm_node *n;

  if (t == 0)
    return;
  n = bm_get (m, t);
  assert_true (t < MAX_IDS);
  assert_true (n->prio <= top);
  if (d > w->deepest)
    w->deepest = d;
  check_subtree (m, n->left, d + 1, n->prio, w);
  assert_true (want[t].in);
  assert_int_equal (n->start, want[t].start);
  assert_int_equal (n->len, want[t].len);
  if (w->any)
    assert_true (w->last_start < n->start ||
                 (w->last_start == n->start && w->last_id < t));
  w->any = true;
  w->last_start = n->start;
  w->last_id = t;
  w->nodes++;
  check_subtree (m, n->right, d + 1, n->prio, w);
}

/* The tree is the array's ranges, a treap, as deep as bm_depth says. */
static void
check_map (const struct blockmap *m)
{
  struct walk w = { 0 };
  uint32_t in = 0;

  check_subtree (m, m->root, 1, UINT32_MAX, &w);
  for (uint32_t id = 0; id < MAX_IDS; id++)
    in += want[id].in;
  assert_int_equal (w.nodes, in);
  assert_int_equal (m->nodes, in);
  assert_int_equal (bm_depth (m), w.deepest);
}

/* bm_find of b: the last range in (start, id) order that starts at or
 * before b, if b is in it.
 */
static void
check_find (const struct blockmap *m, uint64_t b)
{
  uint32_t best = 0;

  for (uint32_t id = 1; id < MAX_IDS; id++)
    if (want[id].in && want[id].start <= b &&
        (best == 0 || want[id].start >= want[best].start))
      best = id;
  if (best && b - want[best].start >= want[best].len)
    best = 0;
  if (best)
    assert_ptr_equal (bm_find (m, b), bm_get (m, best));
  else
    assert_null (bm_find (m, b));
}

/* Every node's priority made one value: the heap order still holds,
 * and every merge from now on meets ties.
 */
static void
flatten (struct blockmap *m, uint32_t prio)
{
  for (uint32_t id = 1; id < MAX_IDS; id++)
    if (want[id].in)
      bm_get (m, id)->prio = prio;
}

static void
treap_as_array (void **state)
{
  struct blockmap m;
  uint32_t ids[MAX_IDS], nids = 0;

  (void) state;
  uint64_t seed = 3;
  bm_init (&m);
  check_map (&m);
  check_find (&m, 0);
  for (int op = 0; op < OPS; op++) {
    uint64_t r = fixed_random (&seed);
    /* Grows to some hundreds of ranges, empties, grows again. */
    bool grow = op % 8000 < 5000;
    unsigned what = (r >> 32) % 16;

    if (nids == 0 || (nids < MAX_IDS - 1 && what < (grow ? 10u : 3u))) {
      /* Few starts, so many share one; or spread out. */
      uint64_t start = r % 4 ? (r >> 8) % 64 * 4 : (r >> 8) % 100000;
      uint32_t len = 1 + (r >> 24) % 6;
      uint32_t id = bm_insert (&m, start, len, 7, 0, BM_DATA);

      assert_true (id > 0 && id < MAX_IDS);
      assert_false (want[id].in);
      want[id] = (struct want) { true, start, len };
      ids[nids++] = id;
    }
    else if (what < 15) {
      size_t k = (r >> 8) % nids;

      bm_remove (&m, ids[k]);
      want[ids[k]].in = false;
      ids[k] = ids[--nids];
    }
    else if ((r >> 8) % 8 == 0)
      flatten (&m, (uint32_t) (r >> 40) % 3 ? 1u << 31 : 0);
    check_map (&m);
    check_find (&m, (r >> 40) % 300);
    check_find (&m, (r >> 20) % 100010);
  }
  bm_free_all (&m);
}

/* Gap ranges against a bitmap of blocks. */
#define GAP_BLOCKS 600

static bool gap_want[GAP_BLOCKS];
static uint64_t gap_seq[GAP_BLOCKS];    /* the last add of each block */

struct cut {
  bool seen[GAP_BLOCKS];
};

static void
on_piece (uint64_t start, uint64_t len, uint64_t seq, void *opaque)
{
  struct cut *c = opaque;

  for (uint64_t b = start; b < start + len; b++) {
    assert_true (b < GAP_BLOCKS);
    assert_true (gap_want[b]);
    assert_false (c->seen[b]);
    /* A joined range says the newest of its writes. */
    assert_true (seq >= gap_seq[b]);
    c->seen[b] = true;
  }
}

static void
check_gaps (const struct blockmap *g)
{
  /* The ranges, in order, neither overlap nor touch (touching ones are
   * joined), and cover what was added.
   */
  bool got[GAP_BLOCKS] = { false };
  uint64_t end = 0;
  uint32_t nodes = 0;

  for (uint64_t b = 0; b < GAP_BLOCKS; b++) {
    const struct bm_node *n = bm_find (g, b);
    if (n == NULL)
      continue;
    assert_int_equal (n->kind, BM_GAP);
    if (n->start == b) {
      assert_true (nodes == 0 || n->start > end);
      end = n->start + n->len;
      nodes++;
    }
    got[b] = true;
  }
  assert_memory_equal (got, gap_want, sizeof got);
  assert_int_equal (g->nodes, nodes);
}

static void
gaps_as_bitmap (void **state)
{
  struct blockmap g;

  (void) state;
  uint64_t seed = 4;
  bm_init (&g);
  for (uint64_t op = 1; op <= OPS / 4; op++) {
    uint64_t r = fixed_random (&seed);
    uint64_t start = r % (GAP_BLOCKS - 40), len = 1 + (r >> 16) % 40;

    if ((r >> 32) % 8 < 5) {
      bm_gap_add (&g, start, len, op);
      for (uint64_t b = start; b < start + len; b++) {
        gap_want[b] = true;
        gap_seq[b] = op;
      }
    }
    else {
      struct cut c;
      memset (&c, 0, sizeof c);
      bm_gap_cut (&g, start, len, on_piece, &c);
      for (uint64_t b = 0; b < GAP_BLOCKS; b++)
        assert_int_equal (c.seen[b],
                          b >= start && b < start + len && gap_want[b]);
      for (uint64_t b = start; b < start + len; b++)
        gap_want[b] = false;
    }
    check_gaps (&g);
  }
  bm_free_all (&g);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (treap_as_array),
    cmocka_unit_test (gaps_as_bitmap),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
