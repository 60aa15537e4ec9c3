/* One ext2/3/4 file system watched through the tap.
 *
 * Open crawls it (libext2fs over a bw_reader) into a model.  Then every
 * write the tap reports is noted: which metadata became dirty (inode
 * table blocks, directory blocks, extent and indirect blocks, the
 * superblock) and which bytes were written.  At a barrier (the tap's
 * FLUSH, the kernel's own commit point) reconcile re-reads the dirty
 * metadata from the disk, diffs it with the model and emits events:
 * names by name (never by position in a block), inodes by state (so a
 * reused inode number is a delete and a create), and written bytes by
 * the owner the new metadata gives them.  Bytes written before the
 * metadata that maps them (the "temporal gap") are held by reference
 * (block ranges; the bytes are read back when the mapping arrives),
 * never by a timeout.
 */
#ifndef BLOCKWATCH_EXT4_H
#define BLOCKWATCH_EXT4_H

#include <stdbool.h>
#include <stdint.h>

#include "disk/reader.h"
#include "events/event.h"

struct ext4fs;

/* Where events go and what they say about their origin. */
struct ext4_emit {
  struct bw_sink *sink;
  const char *host, *vm, *disk;
  int part;                   /* partition number, 0 = whole disk */
  uint64_t *next_id;          /* shared counter: ids unique per emitter */
  uint64_t data_max;          /* bytes of written data to read per write
                               * event (the data policy's need) */
  bool no_journal;            /* do not follow the journal */
  /* Online: the disk may hold writes of records not noted yet; it is
   * read as of the records noted, where their writes are kept: up to
   * these bytes of blocks of each class (ext4-impl.h; 0: the default).
   */
  bool ahead;
  uint64_t exact_meta_bytes, exact_data_bytes;
  /* The model's bound, bytes (ext4_get_stats' model_bytes; 0: none): a
   * crawl that would take more fails (EFBIG), and a file system whose
   * model grows past it is given up by the engine.
   */
  uint64_t model_max;
  /* Messages for people (what is not followed, and why). */
  void (*log) (void *opaque, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
  void *log_opaque;
};

/* The bounds of the kept writes, each class: 4 MiB by default; at
 * least a block of the largest size (64 KiB), at most 1 GiB.
 */
#define EXT4_EXACT_DEFAULT ((uint64_t) 4 << 20)
#define EXT4_EXACT_MIN ((uint64_t) 64 << 10)
#define EXT4_EXACT_MAX ((uint64_t) 1 << 30)

/* True if the reader holds an ext2/3/4 superblock (magic at 1080). */
bool ext4_probe (struct bw_reader *view);

/* What a mkfs makes anew (crawl.c, sb_made_anew): a file system given
 * up is looked at again only once this changes.
 */
struct ext4_identity {
  uint32_t mkfs_time, mkfs_time_hi, log_block_size, hash_seed[4];
};
/* The identity in the reader's superblock; false if it has none, or
 * one that fails its checksum (a write not landed whole says nothing).
 */
bool ext4_identity (struct bw_reader *view, struct ext4_identity *id);
/* The identity of the file system fs follows (as it was opened: the
 * superblock on the disk may be torn just now).
 */
void ext4_fs_identity (const struct ext4fs *fs, struct ext4_identity *id);

/* Opens and crawls.  NULL with err for what is not an ext file system
 * or uses features we cannot follow (the message names them); errno
 * is then EFBIG if the model would take more than em->model_max, and
 * *too_big_id the identity of the file system crawled (as it was
 * opened: the superblock on the disk may be torn by then).
 * progress, if set, is called now and then with (inodes done, total).
 */
struct ext4fs *ext4_open (struct bw_reader *view, const struct ext4_emit *em,
                          void (*progress) (uint64_t done, uint64_t total,
                                            void *opaque),
                          void *opaque, struct ext4_identity *too_big_id,
                          char *err, size_t errlen);
void ext4_close (struct ext4fs *fs);

/* A tap record touched bytes [off, off + len) of this file system:
 * data, the len bytes it wrote, or NULL for a range that now reads as
 * zeroes (a ZERO record, or a TRIM that reads back as zeroes).  The
 * disk holds them already, and maybe newer ones: online, the storage
 * runs ahead of the records that reach the introspector.
 */
void ext4_note_write (struct ext4fs *fs, uint64_t off, uint64_t len,
                      const uint8_t *data, uint64_t seq, uint64_t time_ns);

/* The tap lost records: at the next reconcile, everything is re-read. */
void ext4_note_loss (struct ext4fs *fs);

/* A barrier: turn everything noted since the last one into events. */
void ext4_reconcile (struct ext4fs *fs, uint64_t seq, uint64_t txn,
                     uint64_t time_ns);

/* After a barrier: another file system was made over this one (a mkfs,
 * of any block size; the superblock says it was made anew): why, or
 * NULL.  Nothing more comes of this one: the caller closes it and opens
 * the new one.  (A new UUID alone, tune2fs -U, is the same file system,
 * followed as the changes it makes.)
 */
const char *ext4_replaced (const struct ext4fs *fs);

/* One name of the model's tree, as ext4_walk_tree gives it: the path
 * (bytes, from the root, "/a/b"; valid during the call) and what the
 * inode it leads to is.
 */
struct ext4_entry {
  const char *path;
  size_t path_len;
  uint64_t inode;
  enum bw_file_type file_type;
  uint32_t mode, uid, gid;
  uint64_t size;
  uint32_t links;
};

/* Calls fn for every name of the tree, depth first from the root (hard
 * links once per name; the root itself is not named).
 */
void ext4_walk_tree (const struct ext4fs *fs,
                     void (*fn) (const struct ext4_entry *e, void *opaque),
                     void *opaque);

/* Numbers for logs, docs and benchmarks. */
struct ext4_stats {
  uint64_t inodes, names, extents, gap_ranges;
  uint64_t model_bytes;       /* approximate heap use of the model */
  uint64_t data_bytes_seen, metadata_blocks_diffed;
  uint64_t name_probes;       /* slots the tables of names looked at: a
                               * few per name looked up, unless names
                               * collide (ext4/nametab.h) */
  /* Slots that finding every key of the tables of numbers the guest
   * chooses once looks at, now: the model's id maps (inode numbers,
   * names' ids) and the blocks of the journal's images and of the
   * exact view.  Under 3 per key on average (1.5 half full, 2.5
   * at 3/4, as full as they get), unless keys collide (common/keyhash.h).
   */
  uint64_t id_probes, block_probes;
  uint64_t held_dropped;      /* held writes given up (HELD_MAX), each
                               * counted in an overflow event's
                               * lost_writes */
  uint64_t data_unread;       /* write events without the bytes the data
                               * policy wanted (a read failed), each
                               * counted in an overflow's lost_writes */
  uint64_t journal_txns;      /* transactions taken from the journal */
  uint64_t journal_blocks;    /* blocks those applied */
  uint64_t journal_images;    /* committed blocks not yet home: now */
  /* Online: blocks of the last handled writes kept (ext4-impl.h), the
   * heap they take, and how many gave way to newer ones (the view of
   * those went back to the storage, which may be ahead); and how many
   * blocks that gave way were read from the storage after (at least:
   * disk/reader-exact.c), each maybe ahead of the records: more than
   * 0, and the bounds matter.
   */
  uint64_t exact_blocks, exact_bytes, exact_evicted, exact_evicted_reads;
};
void ext4_get_stats (const struct ext4fs *fs, struct ext4_stats *st);

/* Nodes on the longest path of the owner map (bm_depth): O(log n),
 * unless the guest could arrange its extents against the map's
 * priorities.  A walk of the whole map, so not in ext4_get_stats,
 * which the engine asks after every barrier under a model-max.
 */
uint32_t ext4_owner_depth (const struct ext4fs *fs);

#endif /* BLOCKWATCH_EXT4_H */
