/* Ranges of blocks, ordered by block number: who owns each block of the
 * file system (an inode's data, directory, extent or indirect blocks,
 * the journal), and which written blocks have no owner yet.
 *
 * A treap keyed by the first block.  Lookups are O(log n); nodes are
 * small because there is one per extent, not per block.
 */
#ifndef BLOCKWATCH_BLOCKMAP_H
#define BLOCKWATCH_BLOCKMAP_H

#include <stdbool.h>
#include <stdint.h>

enum bm_kind {
  BM_DATA = 1,                /* file data at logical block lblk */
  BM_DIR,                     /* directory block at logical block lblk */
  BM_MAP,                     /* extent tree or indirect block of ino */
  BM_JOURNAL,                 /* the journal: never file data */
  BM_GAP,                     /* written, no owner yet (seq of last write) */
};

struct bm_node {
  uint64_t start;             /* first block */
  uint64_t lblk;              /* BM_DATA/BM_DIR: logical block of start;
                               * BM_GAP: sequence number of the write */
  uint32_t len;               /* blocks */
  uint32_t ino;
  uint8_t kind;
  uint32_t prio;
  struct bm_node *left, *right;
  struct bm_node *next;       /* the owner's other ranges */
};

struct blockmap {
  struct bm_node *root;
  uint64_t nodes;
};

/* The range containing block b, or NULL. */
struct bm_node *bm_find (const struct blockmap *m, uint64_t b);
/* The first range that ends after block b (contains b or starts after). */
struct bm_node *bm_next (const struct blockmap *m, uint64_t b);
/* Adds a range (takes ownership of n; start, len, ino, lblk, kind set). */
void bm_insert (struct blockmap *m, struct bm_node *n);
/* Removes and frees a range. */
void bm_remove (struct blockmap *m, struct bm_node *n);
/* Calls fn for every range, in block order. */
void bm_walk (const struct blockmap *m,
              void (*fn) (struct bm_node *n, void *opaque), void *opaque);
void bm_free_all (struct blockmap *m);

/* A new node (never NULL: aborts on out-of-memory like the rest of the
 * model, which cannot go on with a partial view).
 */
struct bm_node *bm_node_new (uint64_t start, uint32_t len, uint32_t ino,
                             uint64_t lblk, enum bm_kind kind);

/* Gap ranges: written blocks without an owner.  bm_gap_add merges with
 * neighbours; bm_gap_cut removes [start, start + len) from the gaps and
 * calls fn for each piece that was there (so the caller can turn it
 * into write events).
 */
void bm_gap_add (struct blockmap *gaps, uint64_t start, uint64_t len,
                 uint64_t seq);
void bm_gap_cut (struct blockmap *gaps, uint64_t start, uint64_t len,
                 void (*fn) (uint64_t start, uint64_t len, uint64_t seq,
                             void *opaque), void *opaque);

#endif /* BLOCKWATCH_BLOCKMAP_H */
