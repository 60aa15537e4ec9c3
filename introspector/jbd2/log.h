/* Following a live jbd2 log: every transaction the kernel commits is
 * applied to the overlay as soon as its commit block is on the disk,
 * and handed to the caller, which turns it into events.
 *
 * The follower knows where the next transaction must start and which
 * id it must carry.  It learns that from the journal superblock (at
 * start, and each time the kernel moves the log's tail), and then
 * advances one committed transaction at a time, as the kernel's own
 * recovery would.  Where the superblock says the log is empty, the
 * follower guesses (a fresh mount starts at the log's first block with
 * the next id); the kernel writes the superblock again before it
 * commits into an emptied log, and that is followed whatever the guess
 * was (after a freeze, the log goes on where it was, with the id the
 * superblock kept).  A transaction that fails its checks is never
 * applied; the follower then stops following until the journal
 * superblock tells it where the log is again, and says so: the caller
 * falls back on home-location writes meanwhile.
 */
#ifndef BLOCKWATCH_JBD2_LOG_H
#define BLOCKWATCH_JBD2_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "jbd2.h"
#include "overlay.h"

struct jbd2_log {
  struct jbd2_sb sb;
  jbd2_read_fn read;          /* journal blocks, from the disk itself */
  void *opaque;
  uint64_t nblocks;           /* the file system's size in blocks */
  struct overlay *ov;
  uint32_t pos, tid;          /* the next transaction: where, which */
  bool following;             /* pos and tid are known, or */
  bool guessed;               /* guessed: the log was empty */
  uint8_t *buf;               /* one block of scratch */
  /* Totals for logs and benchmarks. */
  uint64_t txns, blocks_applied, bad_txns, bad_blocks;
};

/* Called for each transaction once its images are in the overlay.
 * changed lists the home blocks whose view changed: the tags applied,
 * then the revoked blocks whose images left.
 */
typedef void (*jbd2_txn_fn) (void *opaque, const struct jbd2_txn *t,
                             const uint64_t *changed, size_t nchanged);

/* Reads the journal superblock through read (journal block 0).  -1 with
 * err for a journal that cannot be followed (the message says why).
 */
int jbd2_log_open (struct jbd2_log *log, uint32_t blocksize,
                   uint64_t nblocks, jbd2_read_fn read, void *opaque,
                   struct overlay *ov, char *err, size_t errlen);
void jbd2_log_close (struct jbd2_log *log);

/* Applies every committed transaction found from the follower's
 * position on.  Returns how many; a transaction that fails its checks
 * stops the following, with why.
 */
int jbd2_log_advance (struct jbd2_log *log, jbd2_txn_fn fn, void *opaque,
                      char *why, size_t whylen);

/* The transaction the follower waits at, as much of it as is written
 * now (its first block up to where the log ends, or all of it if it
 * committed meanwhile): each block is read and handed to keep.  For a
 * caller that reads the log elsewhere from now on (the tap's writes),
 * where the blocks written before it began never come.  Returns how
 * many blocks.
 */
typedef void (*jbd2_keep_fn) (void *opaque, uint32_t jblk,
                              const uint8_t *buf);
uint32_t jbd2_log_partial (struct jbd2_log *log, jbd2_keep_fn keep,
                           void *opaque);

/* What a new journal superblock meant. */
enum jbd2_sb_change {
  JBD2_SB_SAME,               /* nothing we did not know */
  JBD2_SB_TAIL,               /* the tail moved: old images dropped */
  JBD2_SB_EMPTY,              /* the log was emptied (clean unmount) */
  JBD2_SB_FOUND,              /* we follow again from where it says */
  JBD2_SB_MISSED,             /* it is past us: transactions were missed */
  JBD2_SB_BAD,                /* it cannot be read or trusted (why) */
};

/* The journal superblock was written: re-reads it.  Images it makes
 * the overlay forget are shown to dropped (may be NULL) first.
 */
enum jbd2_sb_change jbd2_log_super (struct jbd2_log *log,
                                    overlay_drop_fn dropped, void *opaque,
                                    char *why, size_t whylen);

#endif /* BLOCKWATCH_JBD2_LOG_H */
