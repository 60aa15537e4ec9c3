/* What fuzz-ext4 (offline, as replay) and fuzz-ext4-live (online, as
 * watch) share: the input, a small disk image and a tail of tap
 * operations, turned into a crawl and a stream of tap records.
 *
 * Input: IMAGE, then TAIL, then two bytes: the tail's length (little
 * endian; a length that does not fit means no tail).  The image is
 * crawled by the engine (partitions, libext2fs, the model); then each
 * operation of the tail becomes a tap record applied to the image in
 * memory and fed to the engine, so note and reconcile see hostile
 * metadata written over metadata they already know; the input's end is
 * a last barrier.  Operations (the byte modulo 9; offsets are taken
 * modulo the image size, lengths cut at its end):
 *   0 OFF:u32 LEN:u8 BYTES    write LEN bytes
 *   1 DST:u32 SRC:u32 LEN:u16 write a copy of the image's own bytes
 *                             (a directory block over an inode table...)
 *   2 OFF:u32 LEN:u16         write zeroes
 *   3                         FLUSH: a barrier, reconcile
 *   4                         records were lost: an overflow record
 *   5 OFF:u32 LEN:u16 FL:u8   TRIM; FL bit 0: READS_ZERO (the range
 *                             reads as zeroes, and the record says so),
 *                             bit 1: the backend zeroed the range
 *                             anyway (the disk changes, the record does
 *                             not say so)
 *   6 OFF:u32 LEN:u8 BYTES    a write whose bytes were lost
 *                             (PAYLOAD_LOST, no payload): online the
 *                             storage holds them, offline (replay
 *                             --allow-loss) the disk never gets them
 *   7                         engine_lost_before: events before this
 *                             point may be lost (--run-mark's restart)
 *   8 FL:u8                   the plugin's stream starts again: FL
 *                             bit 0, its END record first; bit 1, the
 *                             same instance reconnects (the count goes
 *                             on), else a new instance (from seq 1)
 * A byte whose quotient by 9 is odd (9-17, 27-35, ...) is the same
 * operation, and for those with a range (0, 1, 2, 5, 6) a fix-up
 * after it: the checksums of the metadata in the range are made to
 * hold again, as a guest that knows its checksum seed writes them
 * (ext4-fixup.h: superblock, group descriptors, inodes, directory,
 * htree and extent blocks, and the whole journal when the range is in
 * it), each block that changed written whole as a record
 * of its own.  Without it, nearly every mutation of metadata on a
 * metadata_csum file system stops at a checksum.  (Bytes 0-8 mean
 * what they meant before the fix-up was; the seeds use those and 9-11.)
 * Every event is also turned into JSON.  What the engine must answer
 * is checked: an overflow event of one record for a lost payload, one
 * (lost 0) for engine_lost_before and for a new instance after one
 * without END (and none after a clean end or a reconnect), a trim
 * leaves zeroes exactly where it reads as zeroes.  Any crash,
 * sanitizer report, leak, hang or failed check is a bug.
 *
 * With BW_FEED_STATS=FILE in the environment, the process writes to
 * FILE at exit how many of each operation reached the engine and how
 * the engine answered ("NAME COUNT" lines, FEED_STATS in ext4-feed.c),
 * over every input it ran: tests/parsers-fuzz.sh has the corpus replay
 * reach each one.  Among them, what fix-ups set (fixed_*: superblocks,
 * descriptor, inode, directory, extent and journal blocks) and what
 * the engine took past its checksum checks because of them: events
 * about a fixed inode's fields (fixed_inode_events), about a name in
 * a fixed directory block (fixed_name_events), about either in a
 * fixed copy in the journal (fixed_journal_events), and write events
 * whose newest record wrote a block that an extent of a fixed leaf
 * block (at home or in the journal) maps into the event's range of
 * the file (fixed_extent_events: the engine followed the fixed block
 * to the data).
 */
#ifndef BLOCKWATCH_FUZZ_EXT4_FEED_H
#define BLOCKWATCH_FUZZ_EXT4_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How the engine reads the disk. */
struct ext4_feed_mode {
  /* Offline (false): the engine writes each record into the image
   * itself, then handles it, as replay does.  Online (true): as watch,
   * the image is the storage, written by the proxy before the engine
   * sees the record, and the engine reads it as of the records handled
   * (the exact view, disk/reader-exact.h).
   */
  bool online;
  /* Online: how many records the storage runs ahead of the engine. */
  unsigned ahead;
  /* Online: the records are stamped before the crawl ended (a
   * restarted introspector's backlog): a loss, a resync.
   */
  bool stale;
  /* Online: the exact view's bounds, in blocks of the file system
   * (engine_cfg.exact_*_bytes over the block size its superblock says).
   */
  unsigned exact_meta_blocks, exact_data_blocks;
};

/* The most records a mode can have the storage run ahead by. */
#define EXT4_FEED_AHEAD_MAX 15

/* One operation of a tail, as read. */
struct ext4_feed_op {
  uint8_t op;                 /* the byte modulo 9 */
  bool fix;                   /* a fix-up after it */
  /* Its range: OFF and, for 0, 1 and 6, LEN cut at the image's end
   * (and at the input's, for 0 and 6); for 1, SRC.
   */
  uint64_t off, len, src;
  const uint8_t *bytes;       /* 0, 6: BYTES */
  uint8_t fl;                 /* 5, 8: FL */
};

/* Reads the operation at *p (p < end) of the tail of an image of size
 * bytes, and moves *p past it.
 */
void ext4_feed_op (const uint8_t **p, const uint8_t *end, size_t size,
                   struct ext4_feed_op *o);

/* Runs one input (data, size bytes: IMAGE TAIL LEN) in mode m. */
void ext4_feed (const uint8_t *data, size_t size,
                const struct ext4_feed_mode *m);

#endif /* BLOCKWATCH_FUZZ_EXT4_FEED_H */
