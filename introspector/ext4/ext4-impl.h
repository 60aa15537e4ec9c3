/* Internals of the ext2/3/4 watcher, shared by its files:
 * layout.c (where the fixed metadata is), inode.c (inodes from raw
 * bytes), blocks.c (an inode's block map), crawl.c (open and first
 * crawl), note.c (tap records), reconcile.c (barriers), emit.c (events).
 */
#ifndef BLOCKWATCH_EXT4_IMPL_H
#define BLOCKWATCH_EXT4_IMPL_H

#include <ext2fs/ext2fs.h>

#include "disk/reader-exact.h"
#include "ext4.h"
#include "jbd2/log.h"
#include "model.h"

/* Fixed metadata, by block. */
enum region_kind {
  R_SUPER = 1,                /* the primary superblock's block */
  R_GDT,                      /* primary group descriptors (and reserved) */
  R_BACKUP,                   /* backup superblocks and descriptors */
  R_BBITMAP,
  R_IBITMAP,
  R_ITABLE,
};

struct region {
  uint64_t start;
  uint32_t len;
  uint8_t kind;
  uint32_t group;
};

/* A growable array of numbers (block numbers or inode numbers). */
struct numset {
  uint64_t *v;
  size_t n, cap;
};

/* Bytes written since the last barrier, by disk byte offset. */
struct pending {
  uint64_t off, len, seq, time_ns;
};

/* A queued write of zeroes (a range whose blocks went away), and one
 * whose bytes live in the inode itself (inline_data).
 */
#define ZERO_WRITE UINT64_MAX
#define INLINE_WRITE (UINT64_MAX - 1)

/* A write event waiting for the end of the reconcile. */
struct queued_write {
  uint32_t ino;
  uint64_t file_off, len;     /* bytes in the file */
  uint64_t disk_off;          /* where they are now, or ZERO_WRITE */
  uint64_t seq, time_ns;
};

struct sb_facts {
  uint16_t state;
  uint16_t mnt_count;
  uint32_t mtime;
  uint32_t incompat;
};

/* A run of the journal inode: logical blocks lblk.. at phys.. */
struct jrun {
  uint32_t lblk, len;
  uint64_t phys;
};

/* Online, the blocks of the last handled writes kept (reader-exact.h),
 * by class: the metadata read at barriers, and file data (with blocks
 * of no owner yet, which may become either).  Each has its bound
 * (ext4_emit: EXT4_EXACT_DEFAULT unless given).
 */

struct ext4fs {
  struct bw_reader *disk;     /* the partition, as the guest wrote it
                               * (online: as of the records handled, as
                               * far as exact keeps it) */
  struct bw_reader *view;     /* what the kernel sees: the disk, with the
                               * journal's committed blocks over it */
  struct exact_view *exact;   /* online: the last handled writes, under
                               * disk (NULL offline: the disk is that) */
  size_t exact_max[EXACT_CLASSES];
  ext2_filsys fs;
  struct ext4_emit em;
  uint32_t bs;                /* block size */
  uint64_t nblocks;
  uint32_t isz, ipg, ngroups, first_ino, journal_ino;
  struct region *regions;
  size_t nregions;
  struct model m;
  struct sb_facts sb;

  /* Noted since the last barrier. */
  struct numset dirty_itable, dirty_dirs, dirty_maps;
  struct pending *pend;
  size_t npend, cappend;
  bool sb_dirty, gdt_dirty, full_resync;
  /* The descriptors (or the superblock) as written make no sense to us:
   * said when it starts and when it ends, not at every barrier.
   */
  bool layout_refused;
  /* The primary superblock as read fails its checksum: the facts and
   * identity from before are kept, and it is read again at each
   * barrier until it holds (said when it starts and when it ends).
   */
  bool sb_refused;
  /* Why another file system is here now, made over this one (a mkfs:
   * crawl.c, sb_made_anew), or "": ext4_replaced.
   */
  char replaced[96];
  /* The primary superblock has no magic (a mkfs under way): no file
   * system to read, no events until it has one again.
   */
  bool unmade;
  /* The crawl stopped at the model's bound (em.model_max). */
  bool too_big;
  const char *resync_why;     /* full_resync: the resync event's detail */
  /* Entries seen pointing to an inode not in use on disk yet (its
   * inode table block comes later): directory << 32 | inode.
   */
  struct numset dangling;
  /* (dir << 32 | ino): names added while their directory had no path,
   * reported once it has one (reconcile.c, report_waiting).
   */
  struct numset unreported;

  /* The barrier being reconciled. */
  uint64_t seq, txn, time_ns;
  struct queued_write *wq;
  size_t nwq, capwq;

  /* The journal (journal.c), followed when journal_on. */
  bool journal_on;
  struct overlay *ov;
  struct overlay *jkept;      /* journal blocks as the tap wrote them */
  uint8_t *jscratch;          /* a block */
  struct jbd2_log log;
  struct jrun *jmap, *jmap_phys;  /* by logical block; by disk block */
  size_t njmap;
  bool jlog_written, jsb_written; /* since the log was last read */
  /* A journal superblock we cannot use was said (once, until there is
   * a good one again: a mkfs rewrites it several times).
   */
  bool jsb_bad_said;

  struct ext4_stats stats;
  char err[256];
};

/* numset */
void numset_add (struct numset *s, uint64_t v);
void numset_sort_unique (struct numset *s);
/* v in a sorted set, or NULL. */
uint64_t *numset_find (struct numset *s, uint64_t v);
/* The index of the first value of a sorted set not below v (s->n if
 * none): the start of a range of values sharing their high bits.
 */
size_t numset_lower_bound (const struct numset *s, uint64_t v);
void numset_clear (struct numset *s);
void numset_free (struct numset *s);

/* crawl.c */
int ext4_reopen (struct ext4fs *fs);
void sb_facts_from (const struct ext2_super_block *sb, struct sb_facts *f);
/* Does sb hold its checksum, if it says it has one (metadata_csum)? */
bool sb_csum_ok (const struct ext2_super_block *sb);
/* Is sb, a superblock that makes sense read now, another file system's
 * than the one followed (fs->fs)?  Then fs->replaced says why.
 */
bool sb_made_anew (struct ext4fs *fs, const struct ext2_super_block *sb);

/* layout.c */
int layout_build (struct ext4fs *fs, char *err, size_t errlen);
const struct region *layout_find (const struct ext4fs *fs, uint64_t blk);

/* inode.c */
void attrs_decode (const struct ext4fs *fs, const struct ext2_inode_large *in,
                   struct attrs *a);
bool inode_in_use (const struct ext2_inode_large *in);
/* Does the raw inode (fs->isz bytes) of number ino hold its checksum
 * (always true without metadata_csum)?
 */
bool inode_csum_ok (const struct ext4fs *fs, uint32_t ino,
                    const uint8_t *raw);
/* A time for an event: seconds with the epoch bits, and nanoseconds. */
struct bw_value attrs_time (struct xtime t);
enum bw_file_type attrs_file_type (const struct attrs *a);
/* Reads an inline_data file's bytes as the disk has them now: the
 * length, or -1.  buf holds at least the inode size.
 */
ssize_t inline_read (struct ext4fs *fs, uint32_t ino,
                     struct ext2_inode_large *in, void *buf);
/* Adds the inline bytes of inline_data files to a->sum. */
void attrs_inline (struct ext4fs *fs, uint32_t ino,
                   struct ext2_inode_large *in, struct attrs *a);
/* Reads inode ino as the disk has it now; -1 with fs->err. */
int inode_read (struct ext4fs *fs, uint32_t ino, struct ext2_inode_large *in);
/* Decodes inode slot idx of an inode table block's raw bytes. */
void inode_from_block (const struct ext4fs *fs, const uint8_t *blk,
                       unsigned idx, struct ext2_inode_large *in);

/* blocks.c: rebuilds ino's ranges in the owner map from the disk's block
 * map of the inode; ranges that were gaps become queued writes.
 */
int blocks_reload (struct ext4fs *fs, uint32_t ino,
                   struct ext2_inode_large *in);
/* ino was truncated to size: the bytes past it in its last block are
 * queued (an append's may be on the disk already).
 */
void blocks_truncated (struct ext4fs *fs, uint32_t ino, uint64_t size);

/* dirent.c: the entries of directory ino as the disk has them now. */
struct dirent_list {
  struct dirent_item { uint32_t ino; uint8_t len; char name[255]; } *v;
  size_t n, cap;
};
int dir_read (struct ext4fs *fs, uint32_t ino, struct ext2_inode_large *in,
              struct dirent_list *out);

/* note.c: marks what bytes [off, off + len) dirtied, keeps them as
 * pending data (no journal logic: see ext4_note_write).
 */
void note_range (struct ext4fs *fs, uint64_t off, uint64_t len, uint64_t seq,
                 uint64_t time_ns);

/* reconcile.c: the barrier itself, with this txn. */
void reconcile_now (struct ext4fs *fs, uint64_t seq, uint64_t txn,
                    uint64_t time_ns);

/* journal.c */
/* Everything re-read at the next barrier, reported with why (lost tap
 * records, which lose data too, say so whatever else happened).
 */
void need_resync (struct ext4fs *fs, const char *why);
void ext4_say (struct ext4fs *fs, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
int journal_open (struct ext4fs *fs);
void journal_close (struct ext4fs *fs);
/* Is blk the journal's, and which of its blocks? */
bool journal_block (const struct ext4fs *fs, uint64_t blk, uint32_t *jblk);
/* Journal block jblk (file system block blk) was written: keep its
 * bytes as the record had them (the write was data[0..len) at byte
 * off; data NULL: zeroes).
 */
void journal_keep (struct ext4fs *fs, uint32_t jblk, uint64_t blk,
                   const uint8_t *data, uint64_t off, uint64_t len);
/* Is journal block jblk the commit block the log waits for? */
bool journal_commit_written (struct ext4fs *fs, uint32_t jblk);
/* blk, which has a committed image, was written home: true if with the
 * same bytes (a checkpoint: nothing new); the image leaves either way.
 */
bool journal_checkpointed (struct ext4fs *fs, uint64_t blk);
/* Reads the log (and its superblock, if written) and reconciles each
 * newly committed transaction.
 */
void journal_poll (struct ext4fs *fs, uint64_t seq, uint64_t time_ns);

/* emit.c */
void emit_simple (struct ext4fs *fs, enum bw_event_type type, uint32_t ino,
                  const char *path, size_t path_len);
void emit_event (struct ext4fs *fs, struct bw_event *ev);
void queue_write (struct ext4fs *fs, uint32_t ino, uint64_t file_off,
                  uint64_t len, uint64_t disk_off, uint64_t seq,
                  uint64_t time_ns);
void flush_writes (struct ext4fs *fs);

#endif /* BLOCKWATCH_EXT4_IMPL_H */
