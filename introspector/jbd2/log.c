/* Following a live jbd2 log (see log.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static int
read_sb (struct jbd2_log *log, uint32_t blocksize, struct jbd2_sb *sb,
         char *err, size_t errlen)
{
  if (log->read (log->opaque, 0, log->buf) == -1) {
    snprintf (err, errlen, "cannot read the journal superblock");
    return -1;
  }
  return jbd2_sb_decode (log->buf, blocksize, sb, err, errlen);
}

/* Where the log goes on from, by what the superblock says. */
static void
follow_from_sb (struct jbd2_log *log)
{
  if (log->sb.start) {
    log->pos = log->sb.start;
    log->tid = log->sb.sequence;
  }
  else {
    /* An empty log: the kernel starts the next transaction at the
     * first block with the next id, and says so in the superblock
     * before it commits.
     */
    log->pos = log->sb.first;
    log->tid = log->sb.sequence + 1;
  }
  log->following = true;
  log->guessed = log->sb.start == 0;
}

int
jbd2_log_open (struct jbd2_log *log, uint32_t blocksize, uint64_t nblocks,
               jbd2_read_fn read, void *opaque, struct overlay *ov,
               char *err, size_t errlen)
{
  memset (log, 0, sizeof *log);
  log->read = read;
  log->opaque = opaque;
  log->nblocks = nblocks;
  log->ov = ov;
  log->buf = malloc (blocksize);
  if (log->buf == NULL) {
    snprintf (err, errlen, "out of memory");
    return -1;
  }
  if (read_sb (log, blocksize, &log->sb, err, errlen) == -1) {
    jbd2_log_close (log);
    return -1;
  }
  follow_from_sb (log);
  return 0;
}

void
jbd2_log_close (struct jbd2_log *log)
{
  free (log->buf);
  log->buf = NULL;
}

static int
by_block (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return x < y ? -1 : x > y;
}

static bool
revoked (const struct jbd2_txn *t, uint64_t home)
{
  return t->nrevoked &&
         bsearch (&home, t->revoked, t->nrevoked, sizeof home, by_block);
}

/* Puts a committed transaction's images in the overlay, in the kernel's
 * replay order: a copy revoked by its own or a later transaction is
 * void, so the transaction's revokes win over its tags and remove what
 * earlier transactions left of those blocks.
 */
static void
apply (struct jbd2_log *log, struct jbd2_txn *t, jbd2_txn_fn fn,
       void *opaque)
{
  uint64_t *changed = malloc ((t->ntags + t->nrevoked + 1) * sizeof *changed);
  size_t n = 0;

  if (changed == NULL)
    abort ();
  if (t->nrevoked)
    qsort (t->revoked, t->nrevoked, sizeof *t->revoked, by_block);
  for (size_t i = 0; i < t->ntags; i++) {
    if (revoked (t, t->tags[i].home))
      continue;
    if (jbd2_read_copy (&t->tags[i], log->read, log->opaque,
                        log->buf) == -1) {
      log->bad_blocks++;
      continue;
    }
    overlay_put (log->ov, t->tags[i].home, t->tid, log->buf);
    changed[n++] = t->tags[i].home;
    log->blocks_applied++;
  }
  for (size_t i = 0; i < t->nrevoked; i++)
    if (overlay_drop (log->ov, t->revoked[i]))
      changed[n++] = t->revoked[i];
  log->bad_blocks += t->bad_blocks;
  log->txns++;
  fn (opaque, t, changed, n);
  free (changed);
}

int
jbd2_log_advance (struct jbd2_log *log, jbd2_txn_fn fn, void *opaque,
                  char *why, size_t whylen)
{
  int n = 0;

  /* Each transaction takes at least its commit block: no more of them
   * fit in the log than it has blocks.
   */
  for (uint32_t guard = log->sb.last - log->sb.first;
       log->following && guard; guard--) {
    struct jbd2_txn t;
    enum jbd2_scan r = jbd2_scan (&log->sb, log->pos, log->tid, log->nblocks,
                                  log->read, log->opaque, log->buf, &t, why,
                                  whylen);
    if (r == JBD2_END)
      break;
    if (r == JBD2_BAD) {
      log->bad_txns++;
      log->following = false;
      return -1;
    }
    apply (log, &t, fn, opaque);
    log->pos = t.next;
    log->tid++;
    log->guessed = false;
    jbd2_txn_free (&t);
    n++;
  }
  return n;
}

uint32_t
jbd2_log_partial (struct jbd2_log *log, jbd2_keep_fn keep, void *opaque)
{
  struct jbd2_txn t;
  char why[256];
  uint32_t n = 0;

  if (!log->following ||
      jbd2_scan (&log->sb, log->pos, log->tid, log->nblocks, log->read,
                 log->opaque, log->buf, &t, why, sizeof why) == JBD2_BAD)
    return 0;
  for (uint32_t j = t.start; j != t.next; j = jbd2_next (&log->sb, j)) {
    if (log->read (log->opaque, j, log->buf) == -1)
      break;
    keep (opaque, j, log->buf);
    n++;
  }
  jbd2_txn_free (&t);
  return n;
}

enum jbd2_sb_change
jbd2_log_super (struct jbd2_log *log, overlay_drop_fn dropped, void *opaque,
                char *why, size_t whylen)
{
  struct jbd2_sb now;

  if (read_sb (log, log->sb.blocksize, &now, why, whylen) == -1)
    return JBD2_SB_BAD;
  if (now.start == 0) {
    bool was_empty = log->sb.start == 0 && log->sb.sequence == now.sequence;
    /* Emptied: everything was checkpointed before the kernel said so. */
    log->sb = now;
    overlay_clear (log->ov, dropped, opaque);
    follow_from_sb (log);
    return was_empty ? JBD2_SB_SAME : JBD2_SB_EMPTY;
  }
  /* A guess (the log was empty) gives way to what the kernel says
   * before its first commit into the log.
   */
  if (!log->following || log->guessed ||
      tid_after (now.sequence, log->tid) ||
      (now.sequence == log->tid && now.start != log->pos)) {
    bool missed = log->following && !log->guessed;
    log->sb = now;
    overlay_drop_before (log->ov, now.sequence, dropped, opaque);
    follow_from_sb (log);
    return missed ? JBD2_SB_MISSED : JBD2_SB_FOUND;
  }
  if (now.start == log->sb.start && now.sequence == log->sb.sequence) {
    log->sb = now;
    return JBD2_SB_SAME;
  }
  /* The tail moved up to now.sequence: what came before is home. */
  log->sb = now;
  overlay_drop_before (log->ov, now.sequence, dropped, opaque);
  return JBD2_SB_TAIL;
}
