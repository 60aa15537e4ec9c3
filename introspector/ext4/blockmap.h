/* Ranges of blocks, ordered by block number: who owns each block of the
 * file system (an inode's data, directory, extent or indirect blocks,
 * the journal), and which written blocks have no owner yet.
 *
 * A treap keyed by the first block.  Lookups are O(log n).  There is a
 * node per extent, not per block, and nodes are 36 bytes in an arena,
 * linked by 32-bit ids.  A node's treap priority is the keyed hash of
 * its id (common/keyhash.h), drawn when the node is made and kept in
 * it: with a public one a file system whose ranges lie in the order of
 * their priorities made the treap a chain (docs/introspector.md,
 * "Untrusted input").
 */
#ifndef BLOCKWATCH_BLOCKMAP_H
#define BLOCKWATCH_BLOCKMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"

enum bm_kind {
  BM_DATA = 1,                /* file data at logical block lblk */
  BM_UNWRITTEN,               /* the same, preallocated and not written
                               * yet: reads as zeroes */
  BM_DIR,                     /* directory block at logical block lblk */
  BM_MAP,                     /* extent tree or indirect block of ino */
  BM_JOURNAL,                 /* the journal: never file data */
  BM_GAP,                     /* written, no owner yet (seq of last write) */
};

/* Blocks a write to which is a write to the file. */
static inline bool
bm_file_data (enum bm_kind k)
{
  return k == BM_DATA || k == BM_UNWRITTEN;
}

/* The longest range a node holds; longer ones take several nodes. */
#define BM_LEN_MAX ((1u << 24) - 1)

struct bm_node {
  u64_a4 start;               /* first block */
  uint32_t len : 24;          /* blocks */
  uint32_t kind : 8;
  union {
    struct {
      uint32_t ino;
      uint32_t lblk;          /* BM_DATA/BM_DIR: logical block of start
                               * (ext4's logical blocks are 32-bit) */
    };
    u64_a4 seq;               /* BM_GAP: sequence number of the write */
  };
  uint32_t left, right;       /* ids: the treap */
  uint32_t next;              /* id: the owner's other ranges */
  uint32_t prio;              /* treap priority: a parent's is at least
                               * its children's */
};

/* Node ids have 31 bits: the model keeps a flag next to one. */
#define BM_ID_BITS 31

struct blockmap {
  struct arena nodes_arena;
  uint32_t root;
  uint64_t nodes;
};

static inline struct bm_node *
bm_get (const struct blockmap *m, uint32_t id)
{
  return arena_ptr (&m->nodes_arena, id);
}

void bm_init (struct blockmap *m);
/* The range containing block b, or NULL. */
struct bm_node *bm_find (const struct blockmap *m, uint64_t b);
/* Adds a range of at most BM_LEN_MAX blocks; returns its id. */
uint32_t bm_insert (struct blockmap *m, uint64_t start, uint32_t len,
                    uint32_t ino, uint32_t lblk, enum bm_kind kind);
/* Removes a range. */
void bm_remove (struct blockmap *m, uint32_t id);
/* Bytes allocated for the map. */
size_t bm_bytes (const struct blockmap *m);
/* Nodes on the longest path from the root: what the slowest lookup
 * walks.  O(log n) with unpredictable priorities; a walk of the whole
 * map, for statistics.
 */
uint32_t bm_depth (const struct blockmap *m);
void bm_free_all (struct blockmap *m);

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
