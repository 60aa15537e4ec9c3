/* Ordered block ranges (see blockmap.h). */

#include <stdint.h>
#include <stdlib.h>

#include "blockmap.h"

_Static_assert (sizeof (struct bm_node) == 32, "owner-map nodes are 32 bytes");

void
bm_init (struct blockmap *m)
{
  m->root = 0;
  m->nodes = 0;
  arena_init (&m->nodes_arena, sizeof (struct bm_node), BM_ID_BITS);
}

static struct bm_node *
node (const struct blockmap *m, uint32_t id)
{
  return bm_get (m, id);
}

/* A node's priority: a bijective hash of its id (lowbias32), so no two
 * nodes tie and none has to be stored.
 */
static uint32_t
prio (uint32_t x)
{
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

/* Nodes are ordered by (start, id), so ranges with the same start (only
 * a corrupt file system makes them) still have a strict order and a
 * node can always be found again to be removed.
 */
static bool
before (const struct blockmap *m, uint32_t a, uint64_t start, uint32_t id)
{
  const struct bm_node *n = node (m, a);

  return n->start < start || (n->start == start && a < id);
}

static void
split (struct blockmap *m, uint32_t t, uint64_t start, uint32_t id,
       uint32_t *l, uint32_t *r)
{
  if (t == 0) {
    *l = *r = 0;
    return;
  }
  if (before (m, t, start, id)) {
    split (m, node (m, t)->right, start, id, &node (m, t)->right, r);
    *l = t;
  }
  else {
    split (m, node (m, t)->left, start, id, l, &node (m, t)->left);
    *r = t;
  }
}

static uint32_t
merge (struct blockmap *m, uint32_t a, uint32_t b)
{
  if (a == 0)
    return b;
  if (b == 0)
    return a;
  if (prio (a) > prio (b)) {
    node (m, a)->right = merge (m, node (m, a)->right, b);
    return a;
  }
  node (m, b)->left = merge (m, a, node (m, b)->left);
  return b;
}

/* The link to follow from node t towards key (start, id). */
static uint32_t *
toward (struct blockmap *m, uint32_t t, uint64_t start, uint32_t id)
{
  return before (m, t, start, id) ? &node (m, t)->right : &node (m, t)->left;
}

uint32_t
bm_insert (struct blockmap *m, uint64_t start, uint32_t len, uint32_t ino,
           uint32_t lblk, enum bm_kind kind)
{
  uint32_t id = arena_alloc (&m->nodes_arena, 1);
  struct bm_node *n = node (m, id);
  uint32_t *link;

  n->start = start;
  n->len = len;
  n->kind = kind;
  n->ino = ino;
  n->lblk = lblk;
  /* Down to where the new node's priority puts it, then the subtree
   * there is split around it.
   */
  for (link = &m->root; *link && prio (*link) > prio (id); )
    link = toward (m, *link, start, id);
  split (m, *link, start, id, &n->left, &n->right);
  *link = id;
  m->nodes++;
  return id;
}

void
bm_remove (struct blockmap *m, uint32_t id)
{
  struct bm_node *n = node (m, id);
  uint32_t *link = &m->root;

  while (*link != id)
    link = toward (m, *link, n->start, id);
  *link = merge (m, n->left, n->right);
  m->nodes--;
  arena_free (&m->nodes_arena, id, 1);
}

/* The last node starting at or before b. */
static uint32_t
floor_node (const struct blockmap *m, uint64_t b)
{
  uint32_t t = m->root, best = 0;

  while (t) {
    if (node (m, t)->start <= b) {
      best = t;
      t = node (m, t)->right;
    }
    else
      t = node (m, t)->left;
  }
  return best;
}

/* The first node starting after b. */
static uint32_t
after_node (const struct blockmap *m, uint64_t b)
{
  uint32_t t = m->root, best = 0;

  while (t) {
    if (node (m, t)->start > b) {
      best = t;
      t = node (m, t)->left;
    }
    else
      t = node (m, t)->right;
  }
  return best;
}

static uint32_t
find (const struct blockmap *m, uint64_t b)
{
  uint32_t id = floor_node (m, b);

  return id && b - node (m, id)->start < node (m, id)->len ? id : 0;
}

struct bm_node *
bm_find (const struct blockmap *m, uint64_t b)
{
  uint32_t id = find (m, b);

  return id ? node (m, id) : NULL;
}

/* The first range that ends after block b (contains b or starts after). */
static uint32_t
next_range (const struct blockmap *m, uint64_t b)
{
  uint32_t id = find (m, b);

  return id ? id : after_node (m, b);
}

size_t
bm_bytes (const struct blockmap *m)
{
  return arena_bytes (&m->nodes_arena);
}

void
bm_free_all (struct blockmap *m)
{
  arena_release (&m->nodes_arena);
  m->root = 0;
  m->nodes = 0;
}

static void
gap_insert (struct blockmap *gaps, uint64_t start, uint32_t len, uint64_t seq)
{
  node (gaps, bm_insert (gaps, start, len, 0, 0, BM_GAP))->seq = seq;
}

void
bm_gap_cut (struct blockmap *gaps, uint64_t start, uint64_t len,
            void (*fn) (uint64_t start, uint64_t len, uint64_t seq,
                        void *opaque), void *opaque)
{
  uint64_t end = start + len;
  uint32_t id;

  while ((id = next_range (gaps, start)) != 0 &&
         node (gaps, id)->start < end) {
    struct bm_node *n = node (gaps, id);
    uint64_t nstart = n->start, nend = n->start + n->len;
    uint64_t a = nstart > start ? nstart : start;
    uint64_t b = nend < end ? nend : end;
    uint64_t seq = n->seq;

    if (fn)
      fn (a, b - a, seq, opaque);
    if (nstart < a)
      n->len = a - nstart;    /* keep the left part */
    else
      bm_remove (gaps, id);
    if (nend > b)             /* and the right part */
      gap_insert (gaps, b, nend - b, seq);
    start = b;
  }
}

void
bm_gap_add (struct blockmap *gaps, uint64_t start, uint64_t len, uint64_t seq)
{
  uint32_t prev, next;

  bm_gap_cut (gaps, start, len, NULL, NULL);
  /* Join touching neighbours: one node per contiguous run, however many
   * writes made it.
   */
  prev = start ? find (gaps, start - 1) : 0;
  if (prev && node (gaps, prev)->start + node (gaps, prev)->len == start &&
      start - node (gaps, prev)->start + len <= BM_LEN_MAX) {
    len += start - node (gaps, prev)->start;
    start = node (gaps, prev)->start;
    if (node (gaps, prev)->seq > seq)
      seq = node (gaps, prev)->seq;
    bm_remove (gaps, prev);
  }
  next = find (gaps, start + len);
  if (next && node (gaps, next)->start == start + len &&
      len + node (gaps, next)->len <= BM_LEN_MAX) {
    len += node (gaps, next)->len;
    if (node (gaps, next)->seq > seq)
      seq = node (gaps, next)->seq;
    bm_remove (gaps, next);
  }
  while (len > BM_LEN_MAX) {
    gap_insert (gaps, start, BM_LEN_MAX, seq);
    start += BM_LEN_MAX;
    len -= BM_LEN_MAX;
  }
  gap_insert (gaps, start, len, seq);
}
