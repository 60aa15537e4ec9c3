/* Ordered block ranges (see blockmap.h). */

#include <stdint.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/keyhash.h"
#include "blockmap.h"

_Static_assert (sizeof (struct bm_node) == 36, "owner-map nodes are 36 bytes");

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

/* A treap is as deep as a random binary search tree only while the
 * priorities are independent of the keys.  The guest chooses the keys
 * (where its extents lie), and ids are handed out in the order the
 * crawl meets them; so the priority is the keyed hash of the id, which
 * no guest can know.  Two nodes may tie (any two with odds of 1 in
 * 2^32): the heap order is "at least", which holds either way.
 */
static uint32_t
prio (const struct blockmap *m, uint32_t id)
{
  return node (m, id)->prio;
}

/* Splits the subtree t into the nodes before (start, id), linked at *l,
 * and the rest, at *r.  A loop rather than a recursion: even a map as
 * deep as it has nodes must not run out of stack.
 */
static void
split (struct blockmap *m, uint32_t t, uint64_t start, uint32_t id,
       uint32_t *l, uint32_t *r)
{
  while (t) {
    if (before (m, t, start, id)) {
      *l = t;
      l = &node (m, t)->right;
      t = *l;
    }
    else {
      *r = t;
      r = &node (m, t)->left;
      t = *r;
    }
  }
  *l = *r = 0;
}

/* Joins the subtrees a and b (every node of a before every node of b)
 * at *link: a loop too.
 */
static void
merge (struct blockmap *m, uint32_t a, uint32_t b, uint32_t *link)
{
  while (a && b) {
    if (prio (m, a) > prio (m, b)) {
      *link = a;
      link = &node (m, a)->right;
      a = *link;
    }
    else {
      *link = b;
      link = &node (m, b)->left;
      b = *link;
    }
  }
  *link = a ? a : b;
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
  n->prio = (uint32_t) keyhash_u64 (id);
  /* Down to where the new node's priority puts it, then the subtree
   * there is split around it.
   */
  for (link = &m->root; *link && prio (m, *link) > n->prio; )
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
  merge (m, n->left, n->right, link);
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

uint32_t
bm_depth (const struct blockmap *m)
{
  /* Down the left links, keeping the right subtrees still to see (and
   * their depth) on a stack: no deeper than the map, and on the heap.
   */
  struct { uint32_t id, depth; } *todo = NULL;
  size_t n = 0, cap = 0;
  uint32_t deepest = 0, t = m->root, d = 1;

  while (t || n) {
    if (t == 0) {
      n--;
      t = todo[n].id;
      d = todo[n].depth;
    }
    if (d > deepest)
      deepest = d;
    if (node (m, t)->right) {
      todo = bw_grow (todo, &cap, n, sizeof *todo);
      todo[n].id = node (m, t)->right;
      todo[n++].depth = d + 1;
    }
    t = node (m, t)->left;
    d++;
  }
  free (todo);
  return deepest;
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
