/* Events out of the ext4 watcher: the common fields, and write events,
 * which wait until names and metadata of a barrier are done so that a
 * file is always created before it is written to.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "ext4-impl.h"

/* Write events carry at most this many bytes each; longer runs become
 * several events (the data policy may cut each further).
 */
#define WRITE_EVENT_MAX (1u << 20)
/* Writes held across barriers (beyond end of file, or of a file not
 * named yet): at most this many, so a workload that never makes them
 * visible cannot grow memory.  The tail of a file's last block, past
 * its end, is held until the file grows: every file whose size is not
 * a multiple of the block size leaves one, so 65,536 such files fill
 * this, and a write held after that (the data of an append, which
 * reaches the disk before the size that covers it) is given up, with
 * an overflow event that says so.
 */
#define HELD_MAX 65536
/* A barrier's lost writes (given up, or reported without their bytes)
 * are told with one overflow event for each file, so that a consumer
 * knows which contents it cannot trust, for at most this many files;
 * the writes of the others are counted in one more event that names
 * none, so that a guest that loses writes in many files cannot turn
 * them into as many events.
 */
#define LOSS_FILES_MAX 64

/* The writes a barrier lost, of one kind, by file. */
struct loss {
  uint64_t writes;            /* in all, the files named or not */
  size_t nfiles;
  struct {
    uint32_t ino;
    uint64_t writes;
  } file[LOSS_FILES_MAX];
};

void
emit_event (struct ext4fs *fs, struct bw_event *ev)
{
  ev->id = (*fs->em.next_id)++;
  if (ev->seq == 0)
    ev->seq = fs->seq;
  ev->txn = fs->txn;
  if (ev->time_ns == 0)
    ev->time_ns = fs->time_ns;
  ev->host = fs->em.host;
  ev->vm = fs->em.vm;
  ev->disk = fs->em.disk;
  ev->part = fs->em.part;
  fs->em.sink->emit (fs->em.sink, ev);
}

void
emit_simple (struct ext4fs *fs, enum bw_event_type type, uint32_t ino,
             const char *path, size_t path_len)
{
  struct bw_event ev = {
    .type = type, .inode = ino, .path = path, .path_len = path_len,
  };

  emit_event (fs, &ev);
}

void
queue_write (struct ext4fs *fs, uint32_t ino, uint64_t file_off, uint64_t len,
             uint64_t disk_off, uint64_t seq, uint64_t time_ns)
{
  struct queued_write *q;

  /* Extend the previous one when this continues it (a file written in
   * order is one event, not one per block).
   */
  if (fs->nwq) {
    q = &fs->wq[fs->nwq - 1];
    if (q->ino == ino && q->file_off + q->len == file_off &&
        (disk_off >= INLINE_WRITE ? q->disk_off == disk_off
                                  : q->disk_off + q->len == disk_off) &&
        q->len + len <= WRITE_EVENT_MAX) {
      q->len += len;
      if (seq > q->seq)
        q->seq = seq;
      return;
    }
  }
  fs->wq = bw_grow (fs->wq, &fs->capwq, fs->nwq, sizeof *fs->wq);
  fs->wq[fs->nwq++] = (struct queued_write) {
    .ino = ino, .file_off = file_off, .len = len, .disk_off = disk_off,
    .seq = seq, .time_ns = time_ns,
  };
}

/* The path of a file whose writes are reported, in buf, or 0 when it
 * has none: then *too_long says whether that is because the path is
 * longer than the model makes (the file is named all the same).
 */
static size_t
file_path (struct ext4fs *fs, const struct inode_rec *r, uint32_t ino,
           char *buf, bool *too_long)
{
  size_t plen = r->announced ? model_path (&fs->m, ino, buf,
                                           MODEL_PATH_MAX) : 0;

  *too_long = plen == 0 && r->announced && errno == ENAMETOOLONG;
  return plen;
}

/* One more write lost, of ino.  The queue is sorted by file
 * (merge_queue), so a file's writes come one after the other: each
 * file takes one place.
 */
static void
loss_add (struct loss *l, uint32_t ino)
{
  l->writes++;
  if (l->nfiles && l->file[l->nfiles - 1].ino == ino)
    l->file[l->nfiles - 1].writes++;
  else if (l->nfiles < LOSS_FILES_MAX) {
    l->file[l->nfiles].ino = ino;
    l->file[l->nfiles++].writes = 1;
  }
}

/* The overflow events of a loss: one for each file it names, with the
 * file's inode and path, and one without a file for the writes of the
 * files past LOSS_FILES_MAX.  Their lost_writes add up to l->writes.
 */
static void
emit_loss (struct ext4fs *fs, const struct loss *l, const char *detail,
           char *path)
{
  uint64_t rest = l->writes;

  for (size_t i = 0; i < l->nfiles; i++) {
    const struct inode_rec *r = model_inode (&fs->m, l->file[i].ino);
    bool too_long = false;
    size_t plen = r ? file_path (fs, r, l->file[i].ino, path, &too_long)
                    : 0;
    struct bw_event ev = {
      .type = BW_EV_OVERFLOW, .inode = l->file[i].ino,
      .path = plen ? path : NULL, .path_len = plen,
      .path_too_long = too_long, .lost_writes = l->file[i].writes,
      .detail = detail,
    };
    emit_event (fs, &ev);
    rest -= l->file[i].writes;
  }
  if (rest) {
    char more[sizeof fs->err + 256];
    struct bw_event ev = {
      .type = BW_EV_OVERFLOW, .lost_writes = rest, .detail = more,
    };
    snprintf (more, sizeof more, "%s (in files past the first %d, which "
              "are not named)", detail, LOSS_FILES_MAX);
    emit_event (fs, &ev);
  }
}

/* Does the block at disk_off still hold file offset file_off of ino? */
static bool
still_owned (const struct ext4fs *fs, const struct queued_write *q)
{
  uint64_t blk = q->disk_off / fs->bs;
  const struct bm_node *n;

  if (q->disk_off == ZERO_WRITE || q->disk_off == INLINE_WRITE)
    return true;
  n = bm_find (&fs->m.owners, blk);

  return n && bm_file_data (n->kind) && n->ino == q->ino &&
         (n->lblk + (blk - n->start)) * fs->bs + q->disk_off % fs->bs
         == q->file_off;
}

/* One queued write as events, its bytes read back from the disk now.
 * Only bytes below the file's size are reported (never bytes past end
 * of file); returns how many bytes of q were covered.  An event whose
 * bytes could not be read goes without them, counted in unread (the
 * reason in fs->err).
 */
static uint64_t
emit_write (struct ext4fs *fs, const struct queued_write *q, uint8_t *buf,
            const char *path, size_t plen, struct loss *unread)
{
  const struct inode_rec *r = model_inode (&fs->m, q->ino);
  uint64_t len = q->len;

  ssize_t inl = -1;

  if (q->file_off >= r->a.size)
    return 0;
  if (len > r->a.size - q->file_off)
    len = r->a.size - q->file_off;
  if (q->disk_off == INLINE_WRITE) {
    struct ext2_inode_large in;
    if (inode_read (fs, q->ino, &in) == 0)
      inl = inline_read (fs, q->ino, &in, buf);
    if (inl < 0 || q->file_off >= (uint64_t) inl)
      return len;             /* no longer inline: its blocks tell */
    memmove (buf, buf + q->file_off, inl - q->file_off);
    if (len > inl - q->file_off)
      len = inl - q->file_off;
  }
  for (uint64_t done = 0; done < len; ) {
    uint64_t n = len - done < WRITE_EVENT_MAX ? len - done : WRITE_EVENT_MAX;
    /* Called without a path only for a file whose path is too long. */
    struct bw_event ev = {
      .type = BW_EV_WRITE, .inode = q->ino, .path = path, .path_len = plen,
      .path_too_long = path == NULL,
      .offset = q->file_off + done, .length = n, .seq = q->seq,
      .time_ns = q->time_ns,
    };
    /* Only what the data policy will use is read. */
    uint64_t want = n < fs->em.data_max ? n : fs->em.data_max;
    if (want == 0)
      ;
    else if (q->disk_off == INLINE_WRITE) {
      ev.data = buf + done;
      ev.data_len = want;
    }
    else if (q->disk_off == ZERO_WRITE) {
      memset (buf, 0, want);
      ev.data = buf;
      ev.data_len = want;
    }
    else if (bw_pread (fs->view, buf, want, q->disk_off + done, fs->err,
                       sizeof fs->err) == 0) {
      ev.data = buf;
      ev.data_len = want;
    }
    else
      loss_add (unread, q->ino);
    fs->stats.data_bytes_seen += n;
    emit_event (fs, &ev);
    done += n;
  }
  return len;
}

static int
by_file (const void *a, const void *b)
{
  const struct queued_write *x = a, *y = b;

  if (x->ino != y->ino)
    return x->ino < y->ino ? -1 : 1;
  if (x->file_off != y->file_off)
    return x->file_off < y->file_off ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Can q be read as a continuation of p?  Both zeroes, both inline, or
 * both on the disk at the same distance as in the file.
 */
static bool
same_source (const struct queued_write *p, const struct queued_write *q)
{
  if (p->disk_off >= INLINE_WRITE || q->disk_off >= INLINE_WRITE)
    return p->disk_off == q->disk_off;
  return q->disk_off - p->disk_off == q->file_off - p->file_off;
}

/* Overlapping or touching writes of one file (the same block written
 * twice before a barrier) become one: the disk has one content now.
 */
static void
merge_queue (struct ext4fs *fs)
{
  size_t j = 0;

  qsort (fs->wq, fs->nwq, sizeof *fs->wq, by_file);
  for (size_t i = 0; i < fs->nwq; i++) {
    struct queued_write *q = &fs->wq[i], *p = j ? &fs->wq[j - 1] : NULL;
    if (p && p->ino == q->ino && q->file_off <= p->file_off + p->len &&
        same_source (p, q) &&
        q->file_off + q->len - p->file_off <= WRITE_EVENT_MAX) {
      uint64_t end = q->file_off + q->len;
      if (end > p->file_off + p->len)
        p->len = end - p->file_off;
      if (q->seq > p->seq) {
        p->seq = q->seq;
        p->time_ns = q->time_ns;
      }
      continue;
    }
    fs->wq[j++] = *q;
  }
  fs->nwq = j;
}

/* How much of q, from its start, lies in blocks of one kind: written,
 * or preallocated and unwritten (*unwritten).  Zeroes and inline bytes
 * have no blocks.
 */
static uint64_t
same_kind_run (const struct ext4fs *fs, const struct queued_write *q,
               bool *unwritten)
{
  const struct bm_node *n;
  uint64_t end;

  *unwritten = false;
  if (q->disk_off >= INLINE_WRITE ||
      (n = bm_find (&fs->m.owners, q->disk_off / fs->bs)) == NULL)
    return q->len;
  *unwritten = n->kind == BM_UNWRITTEN;
  end = (n->start + n->len) * fs->bs;
  return end - q->disk_off < q->len ? end - q->disk_off : q->len;
}

/* Whether q's bytes read as zeroes, read WRITE_EVENT_MAX bytes (the
 * size of buf) at a time: a write past the end of a file is as long as
 * the run of its blocks written, which can be far longer (read whole,
 * it overflowed buf).  Not when they cannot be read: then they are
 * held.
 */
static bool
reads_zero (struct ext4fs *fs, const struct queued_write *q, uint8_t *buf)
{
  if (q->disk_off == ZERO_WRITE)
    return true;
  if (q->disk_off == INLINE_WRITE)
    return false;
  for (uint64_t done = 0; done < q->len; ) {
    size_t n = q->len - done < WRITE_EVENT_MAX ? q->len - done
                                               : WRITE_EVENT_MAX;
    if (bw_pread (fs->view, buf, n, q->disk_off + done, fs->err,
                  sizeof fs->err) == -1 ||
        buf[0] != 0 || memcmp (buf, buf + 1, n - 1) != 0)
      return false;
    done += n;
  }
  return true;
}

static void
advance (struct queued_write *q, uint64_t n)
{
  q->file_off += n;
  if (q->disk_off < INLINE_WRITE)
    q->disk_off += n;
  q->len -= n;
}

void
flush_writes (struct ext4fs *fs)
{
  static char path[MODEL_PATH_MAX];
  struct queued_write *held = NULL;
  size_t nheld = 0, capheld = 0;
  struct loss given_up = { 0 }, unread = { 0 };
  uint8_t *buf;

  if (fs->nwq == 0)
    return;
  merge_queue (fs);
  buf = malloc (WRITE_EVENT_MAX);
  if (buf == NULL) {
    fprintf (stderr, "blockwatch: out of memory for write data\n");
    abort ();
  }
  for (size_t i = 0; i < fs->nwq; i++) {
    struct queued_write q = fs->wq[i];
    const struct inode_rec *r = model_inode (&fs->m, q.ino);
    size_t plen;
    bool too_long, named;

    /* Data of a file that is gone, or whose block went elsewhere, is
     * dropped with it; writes to directories and symlinks are metadata.
     */
    if (r == NULL || !S_ISREG (r->a.mode))
      continue;
    /* A path too long to make: the writes come without it. */
    plen = file_path (fs, r, q.ino, path, &too_long);
    named = plen || too_long;
    while (q.len && still_owned (fs, &q)) {
      bool unwritten;
      struct queued_write piece = q;
      uint64_t done = 0;

      piece.len = same_kind_run (fs, &q, &unwritten);
      /* Not named yet: wait for the create event.  In preallocated
       * blocks: wait until the file system says they are written (the
       * file reads zeroes there until then, and a range zeroed after
       * the write stays unwritten).
       */
      if (named && !unwritten)
        done = emit_write (fs, &piece, buf, plen ? path : NULL, plen, &unread);
      /* Bytes past end of file wait for the size that covers them (data
       * reaches the disk before the inode that says how big the file is).
       * Zeroes there need not: they are the rest of the last block of
       * every file whose size is not a multiple of the block size (the
       * kernel zeroes it), and what the file reads if it ever grows over
       * them without writing them again.  Held, each small file's tail
       * would take one of the HELD_MAX places for as long as the file
       * lives, and an append's data would find none left.
       */
      advance (&piece, done);
      if (piece.len && named && !unwritten && reads_zero (fs, &piece, buf)) {
        advance (&q, piece.len + done);
        continue;
      }
      if (piece.len && nheld < HELD_MAX) {
        held = bw_grow (held, &capheld, nheld, sizeof *held);
        held[nheld++] = piece;
      }
      else if (piece.len)
        loss_add (&given_up, q.ino);
      advance (&q, piece.len + done);
    }
  }
  free (buf);
  free (fs->wq);
  fs->wq = held;
  fs->nwq = nheld;
  fs->capwq = capheld;
  /* Never silently: the events of those writes will not come. */
  if (given_up.writes) {
    fs->stats.held_dropped += given_up.writes;
    emit_loss (fs, &given_up, "writes held past the end of a file, or to a "
               "file not named yet, were given up: the held writes reached "
               "their limit", path);
  }
  /* Nor the events that went without their bytes: without this, one
   * would look like a write past the end of its file.
   */
  if (unread.writes) {
    char detail[sizeof fs->err + 128];
    snprintf (detail, sizeof detail, "the data of write events could not "
              "be read, and they carry none: %s", fs->err);
    fs->stats.data_unread += unread.writes;
    emit_loss (fs, &unread, detail, path);
  }
}
