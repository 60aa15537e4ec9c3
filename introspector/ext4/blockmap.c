/* Ordered block ranges (see blockmap.h). */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "blockmap.h"

/* Nodes are ordered by (start, address), so ranges with the same start
 * (only a corrupt file system makes them) still have a strict order
 * and a node can always be found again to be removed.
 */
static bool
before (const struct bm_node *a, uint64_t start, uintptr_t id)
{
  return a->start < start || (a->start == start && (uintptr_t) a < id);
}

static void
split (struct bm_node *t, uint64_t start, uintptr_t id,
       struct bm_node **l, struct bm_node **r)
{
  if (t == NULL) {
    *l = *r = NULL;
    return;
  }
  if (before (t, start, id)) {
    split (t->right, start, id, &t->right, r);
    *l = t;
  }
  else {
    split (t->left, start, id, l, &t->left);
    *r = t;
  }
}

static struct bm_node *
merge (struct bm_node *a, struct bm_node *b)
{
  if (a == NULL)
    return b;
  if (b == NULL)
    return a;
  if (a->prio > b->prio) {
    a->right = merge (a->right, b);
    return a;
  }
  b->left = merge (a, b->left);
  return b;
}

struct bm_node *
bm_node_new (uint64_t start, uint32_t len, uint32_t ino, uint64_t lblk,
             enum bm_kind kind)
{
  static uint32_t x = 2463534242u;
  struct bm_node *n = calloc (1, sizeof *n);

  if (n == NULL) {
    fprintf (stderr, "blockwatch: out of memory for the block map\n");
    abort ();
  }
  x ^= x << 13; x ^= x >> 17; x ^= x << 5;
  n->prio = x;
  n->start = start;
  n->len = len;
  n->ino = ino;
  n->lblk = lblk;
  n->kind = kind;
  return n;
}

void
bm_insert (struct blockmap *m, struct bm_node *n)
{
  struct bm_node *l, *r;

  n->left = n->right = NULL;
  split (m->root, n->start, (uintptr_t) n, &l, &r);
  m->root = merge (merge (l, n), r);
  m->nodes++;
}

void
bm_remove (struct blockmap *m, struct bm_node *n)
{
  struct bm_node *l, *mid, *r;

  split (m->root, n->start, (uintptr_t) n, &l, &r);
  split (r, n->start, (uintptr_t) n + 1, &mid, &r);
  /* mid is n alone */
  m->root = merge (l, r);
  m->nodes--;
  free (mid);
}

/* The last node starting at or before b. */
static struct bm_node *
floor_node (const struct blockmap *m, uint64_t b)
{
  struct bm_node *t = m->root, *best = NULL;

  while (t) {
    if (t->start <= b) {
      best = t;
      t = t->right;
    }
    else
      t = t->left;
  }
  return best;
}

/* The first node starting after b. */
static struct bm_node *
after_node (const struct blockmap *m, uint64_t b)
{
  struct bm_node *t = m->root, *best = NULL;

  while (t) {
    if (t->start > b) {
      best = t;
      t = t->left;
    }
    else
      t = t->right;
  }
  return best;
}

struct bm_node *
bm_find (const struct blockmap *m, uint64_t b)
{
  struct bm_node *n = floor_node (m, b);

  return n && b - n->start < n->len ? n : NULL;
}

struct bm_node *
bm_next (const struct blockmap *m, uint64_t b)
{
  struct bm_node *n = bm_find (m, b);

  return n ? n : after_node (m, b);
}

static void
walk (struct bm_node *t, void (*fn) (struct bm_node *, void *), void *opaque)
{
  while (t) {
    struct bm_node *right = t->right;
    walk (t->left, fn, opaque);
    fn (t, opaque);
    t = right;
  }
}

void
bm_walk (const struct blockmap *m,
         void (*fn) (struct bm_node *n, void *opaque), void *opaque)
{
  walk (m->root, fn, opaque);
}

static void
free_tree (struct bm_node *t)
{
  while (t) {
    struct bm_node *right = t->right;
    free_tree (t->left);
    free (t);
    t = right;
  }
}

void
bm_free_all (struct blockmap *m)
{
  free_tree (m->root);
  m->root = NULL;
  m->nodes = 0;
}

void
bm_gap_cut (struct blockmap *gaps, uint64_t start, uint64_t len,
            void (*fn) (uint64_t start, uint64_t len, uint64_t seq,
                        void *opaque), void *opaque)
{
  uint64_t end = start + len;
  struct bm_node *n;

  while ((n = bm_next (gaps, start)) != NULL && n->start < end) {
    uint64_t nend = n->start + n->len;
    uint64_t a = n->start > start ? n->start : start;
    uint64_t b = nend < end ? nend : end;
    uint64_t seq = n->lblk;

    if (fn)
      fn (a, b - a, seq, opaque);
    if (n->start < a && nend > b) {
      /* Cut from the middle: keep the left part, add the right. */
      n->len = a - n->start;
      bm_insert (gaps, bm_node_new (b, nend - b, 0, seq, BM_GAP));
    }
    else if (n->start < a)
      n->len = a - n->start;
    else {
      bm_remove (gaps, n);
      if (nend > b)
        bm_insert (gaps, bm_node_new (b, nend - b, 0, seq, BM_GAP));
    }
    start = b;
  }
}

void
bm_gap_add (struct blockmap *gaps, uint64_t start, uint64_t len, uint64_t seq)
{
  struct bm_node *prev, *next;

  bm_gap_cut (gaps, start, len, NULL, NULL);
  /* Join touching neighbours: one node per contiguous run, however many
   * writes made it.
   */
  prev = start ? bm_find (gaps, start - 1) : NULL;
  if (prev && prev->start + prev->len == start && start - prev->start + len
      <= UINT32_MAX) {
    len += start - prev->start;
    start = prev->start;
    if (prev->lblk > seq)
      seq = prev->lblk;
    bm_remove (gaps, prev);
  }
  next = bm_find (gaps, start + len);
  if (next && next->start == start + len && len + next->len <= UINT32_MAX) {
    len += next->len;
    if (next->lblk > seq)
      seq = next->lblk;
    bm_remove (gaps, next);
  }
  while (len > UINT32_MAX) {
    bm_insert (gaps, bm_node_new (start, UINT32_MAX, 0, seq, BM_GAP));
    start += UINT32_MAX;
    len -= UINT32_MAX;
  }
  bm_insert (gaps, bm_node_new (start, len, 0, seq, BM_GAP));
}
