/* The introspector's picture of one file system: the inodes in use with
 * the attributes events report, the names that lead to them, and who
 * owns each block.  Built by the crawl, kept current by reconcile, and
 * compared with what the disk says now to produce events.
 */
#ifndef BLOCKWATCH_MODEL_H
#define BLOCKWATCH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "blockmap.h"

/* What events are made of: one inode's reportable state. */
struct attrs {
  uint16_t mode;              /* type and permissions, as st_mode */
  uint16_t links;
  uint32_t uid, gid;          /* with the high 16 bits */
  uint32_t flags;
  uint32_t generation;
  uint64_t size;
  int64_t atime, mtime, ctime, crtime;    /* seconds, extra epoch bits in */
  uint32_t atime_ns, mtime_ns, ctime_ns, crtime_ns;
  uint32_t dtime;
  uint32_t iblock_sum;        /* hash of i_block: the map's root changed */
  uint32_t inline_sum;        /* hash of inline data (inline_data files) */
};

struct dentry;

struct inode_rec {
  uint32_t ino;
  struct attrs a;
  struct dentry *names;       /* names of this inode (hard links) */
  struct dentry *children;    /* a directory's entries */
  uint32_t blocks;            /* ranges this inode owns (owner-map ids,
                               * chained by next) */
  bool announced;             /* its create event is out (or it was there
                               * at the crawl); false while an inode is
                               * allocated but not yet named */
};

struct dentry {
  uint32_t parent, ino;
  struct dentry *next_name;   /* the inode's other names */
  struct dentry *next_child;  /* the directory's other entries: doubly */
  struct dentry *prev_child;  /* linked, as directories can be huge */
  struct dentry *next_hash;
  uint8_t len;
  char name[];                /* not NUL-terminated; up to 255 bytes */
};

struct model {
  /* inodes: open addressing, power-of-two capacity */
  struct inode_rec **slots;
  size_t cap, count;
  /* names: chained hash on (parent, name) */
  struct dentry **dhash;
  size_t dcap, dcount;
  struct blockmap owners;     /* block -> owning inode */
  struct blockmap gaps;       /* written blocks without an owner */
};

void model_init (struct model *m);
void model_free (struct model *m);

struct inode_rec *model_inode (const struct model *m, uint32_t ino);
/* Adds an inode record (ino not present yet). */
struct inode_rec *model_add_inode (struct model *m, uint32_t ino,
                                   const struct attrs *a);
/* Forgets an inode: its names, its entries' links and its blocks. */
void model_drop_inode (struct model *m, uint32_t ino);

struct dentry *model_lookup (const struct model *m, uint32_t parent,
                             const char *name, size_t len);
struct dentry *model_add_name (struct model *m, uint32_t parent, uint32_t ino,
                               const char *name, size_t len);
void model_remove_name (struct model *m, struct dentry *d);

/* Replaces the blocks inode ino owns. */
void model_clear_blocks (struct model *m, struct inode_rec *r);
void model_add_block (struct model *m, struct inode_rec *r, uint64_t start,
                      uint32_t len, uint32_t lblk, enum bm_kind kind);

/* The path of an inode (its first name, up to the root), as bytes in
 * buf; returns its length, or 0 if the inode has no path (unnamed, or
 * a loop in a corrupt tree).  The root is "/".
 */
size_t model_path (const struct model *m, uint32_t ino, char *buf,
                   size_t bufsize);

#define MODEL_ROOT_INO 2
#define MODEL_PATH_MAX 65536

#endif /* BLOCKWATCH_MODEL_H */
