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

#include "arena.h"
#include "blockmap.h"
#include "idmap.h"
#include "nametab.h"

/* A time as the inode keeps it: the low 32 bits of the seconds, and the
 * extra field (2 epoch bits, then the nanoseconds), 0 when the inode
 * has none.
 */
struct xtime {
  uint32_t sec;
  uint32_t extra;
};

/* What events are made of: one inode's reportable state, packed as on
 * the disk (64 bytes: the model holds one per inode).
 */
struct attrs {
  uint16_t mode;              /* type and permissions, as st_mode */
  uint16_t links;
  uint32_t uid, gid;          /* with the high 16 bits */
  uint32_t flags;
  uint32_t generation;
  uint32_t sum;               /* hash of i_block and of inline data: the
                               * map's root or the inline bytes changed */
  u64_a4 size;
  struct xtime atime, mtime, ctime, crtime;
};

/* An inode in use (72 bytes). */
struct inode_rec {
  struct attrs a;
  uint32_t names;             /* its names (hard links), newest first: a
                               * dentry id, 0 if it has none */
  uint32_t blocks : BM_ID_BITS;  /* ranges this inode owns (owner-map
                                  * ids, chained by next) */
  uint32_t announced : 1;     /* its create event is out (or it was there
                               * at the crawl); 0 while an inode is
                               * allocated but not yet named */
};

/* A name: an entry of directory parent.  Names live in an arena, linked
 * by 32-bit ids: a directory's entries in a list, an inode's other
 * names through the model's more_names and newer_name maps (hard links
 * are rare).
 */
struct dentry {
  uint32_t ino;               /* 0: removed, until model_settle */
  uint32_t parent;
  uint32_t next_child;        /* the directory's next entry */
  uint8_t len;
  bool unreported;            /* added while its directory had no path:
                               * no event yet (reconcile.c) */
  char name[];                /* not NUL-terminated; up to 255 bytes */
};

/* (parent, name) -> dentry for the directories looked up since the
 * last model_settle: reconcile diffs a few directories at a time, so
 * names need no index the rest of the time.
 */
struct name_index {
  struct nametab tab;         /* dentry ids */
  struct idmap dirs;          /* the directories indexed */
};

/* Inodes by number: a leaf of record ids for each 1024 inode numbers
 * that has any in use, allocated when the first one comes.
 */
#define MODEL_LEAF_SHIFT 10
struct model_leaf {
  uint32_t used;
  uint32_t rec[1u << MODEL_LEAF_SHIFT];    /* 0: not in use */
};

struct model {
  struct model_leaf **leaves;
  uint32_t nleaves;
  struct arena recs;          /* struct inode_rec */
  size_t count;
  /* names */
  struct arena names;
  size_t dcount;
  struct idmap kids;          /* directory -> its first entry */
  struct idmap more_names;    /* name -> the inode's next (older) name */
  struct idmap newer_name;    /* name -> the one before it (newer) */
  struct name_index index;
  uint64_t name_probes;       /* slots the name tables looked at, of
                               * indexes gone (ext4_stats) */
  struct idmap sweep;         /* directories with removed entries */
  struct blockmap owners;     /* block -> owning inode */
  struct blockmap gaps;       /* written blocks without an owner */
};

void model_init (struct model *m);
void model_free (struct model *m);

/* An inode's record, or NULL.  Records do not move: a pointer stays
 * valid until the inode is dropped.
 */
struct inode_rec *model_inode (const struct model *m, uint32_t ino);
/* The first inode in the model after ino (0 starts), or 0. */
uint32_t model_next_inode (const struct model *m, uint32_t ino);
/* Adds an inode record (ino not present yet). */
struct inode_rec *model_add_inode (struct model *m, uint32_t ino,
                                   const struct attrs *a);
/* Forgets an inode: its names, its entries' links and its blocks. */
void model_drop_inode (struct model *m, uint32_t ino);

/* The inode that directory parent's entry name leads to, or 0. */
uint32_t model_lookup (struct model *m, uint32_t parent, const char *name,
                       size_t len);
/* Adds an entry (both inodes must be in the model); false if not. */
bool model_add_name (struct model *m, uint32_t parent, uint32_t ino,
                     const char *name, size_t len);
/* Removes directory parent's entry name, if there is one. */
void model_remove_name (struct model *m, uint32_t parent, const char *name,
                        size_t len);
/* Removes an inode's newest name if it has another one; false if not. */
bool model_drop_extra_name (struct model *m, uint32_t ino);
/* A directory's entries: the first, and the one after d; NULL at the
 * end.  An entry removed meanwhile stays readable until model_settle.
 */
const struct dentry *model_first_child (const struct model *m, uint32_t dir);
const struct dentry *model_next_child (const struct model *m,
                                       const struct dentry *d);
/* Whether d is the name its inode's path goes through (its newest; the
 * root's goes through none).
 */
bool model_is_path_name (const struct model *m, const struct dentry *d);
/* The end of a batch of changes (a barrier): lookups built an index,
 * removals left entries behind in their directories; both are cleared.
 */
void model_settle (struct model *m);

/* An inode's ranges in the owner map: all removed; one added. */
void model_clear_blocks (struct model *m, struct inode_rec *r);
void model_add_block (struct model *m, uint32_t ino, uint64_t start,
                      uint32_t len, uint32_t lblk, enum bm_kind kind);

/* The name an inode's path goes through (its newest), or NULL if it
 * has none; and the directory that name is in, or 0.
 */
const struct dentry *model_path_name (const struct model *m, uint32_t ino);
uint32_t model_parent (const struct model *m, uint32_t ino);

/* The path of an inode (its newest name, up to the root), as bytes in
 * buf; returns its length, or 0 if the inode has no path, with errno
 * ENOENT (unnamed, or a directory on the way is) or ENAMETOOLONG (the
 * path does not fit bufsize, or loops in a corrupt tree: the file's
 * events then come without a path, saying why).  The root is "/".
 */
size_t model_path (const struct model *m, uint32_t ino, char *buf,
                   size_t bufsize);

/* What model_path builds, from the end of buf, as far as the names go:
 * stops at the root or at the first inode on the way with no name (the
 * top, in *top; the root when the path is whole).  Returns where in
 * buf the names start (bufsize: none, ino is the top), or bufsize + 1
 * with errno ENAMETOOLONG.  For a path that goes on past the model's
 * names (reconcile's names of directories removed in a barrier).
 */
size_t model_path_tail (const struct model *m, uint32_t ino, char *buf,
                        size_t bufsize, uint32_t *top);

/* Bytes allocated for the model (ext4_get_stats' model_bytes). */
size_t model_bytes (const struct model *m);

/* Slots that finding every key of the model's id maps once looks at
 * (idmap_probes; ext4_get_stats' id_probes).
 */
size_t model_id_probes (const struct model *m);

/* names.c, for model.c: an inode's names and (a directory's) entries
 * forgotten; the bytes names take; all names freed.
 */
void model_drop_names (struct model *m, uint32_t ino);
size_t model_names_bytes (const struct model *m);
void model_free_names (struct model *m);

#define MODEL_ROOT_INO 2
#define MODEL_PATH_MAX 65536

#endif /* BLOCKWATCH_MODEL_H */
