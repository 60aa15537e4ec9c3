/* The introspector for one disk (see engine.h). */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/clock.h"
#include "common/size.h"
#include "engine.h"
#include "ext4/ext4.h"
#include "partition/partition.h"
#include "tap/tap-seq.h"

struct watched {
  int number;                 /* partition number, 0 = whole disk */
  uint64_t start, size;       /* bytes on the disk */
  struct bw_reader *slice;
  struct ext4fs *fs;          /* NULL: not a file system we follow */
  /* Not followed, and its primary superblock was written since we last
   * looked (a mkfs, a tune2fs): look again at the next barrier.
   */
  bool look_again;
  bool refused;               /* an ext2/3/4 file system, not followed */
  char why[256];              /* fs == NULL: why not */
  /* Why not, as last said: a file system that stays refused while its
   * superblock is written again and again is said once.
   */
  char said[256];
  /* Given up: its model grew past cfg.model_max.  Looked at again only
   * once its superblock says another file system (a mkfs); crawled at
   * every write of it, a file system too big to follow would cost a
   * crawl up to the bound each time.
   */
  bool given_up;
  struct ext4_identity given_up_id;
};

/* The crawl under way, for its progress messages. */
struct crawl_clock {
  int number;
  uint64_t start_ns, said_ns;   /* CLOCK_MONOTONIC; said_ns 0: not yet */
};

struct engine {
  struct bw_reader *disk;
  struct engine_cfg cfg;
  struct part_table_info table;
  struct watched w[PART_MAX + 1];
  int nw;
  struct tap_seq seq;
  uint64_t txn, next_id, last_seq, last_time;
  bool table_dirty;
  /* Online: when the crawl ended (CLOCK_REALTIME, as the tap stamps
   * records), until the first record has been compared with it.
   */
  uint64_t crawl_end_ns;
  struct crawl_clock crawl;
  /* What the last scan of the table had to say: said again only when
   * it changes (a damaged table is re-read at every barrier that
   * writes near it, and would fill the log with one line).
   */
  char table_note[sizeof ((struct part_table_info *) 0)->note];
};

static void
say (struct engine *e, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  if (e->cfg.log == NULL)
    return;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  e->cfg.log (e->cfg.opaque, "%s", msg);
}

/* Crawl progress: useful on a million files, silent on a small image
 * (the crawl is called back often; at most one message a second).
 */
static void
progress (uint64_t done, uint64_t total, void *opaque)
{
  struct engine *e = opaque;
  struct crawl_clock *c = &e->crawl;
  uint64_t t = now_ns ();
  bool end = done >= total;
  void (*out) (void *, const char *, ...) =
    e->cfg.progress ? e->cfg.progress : e->cfg.log;

  if (e->cfg.crawl_progress)
    e->cfg.crawl_progress (e->cfg.crawl_opaque, done, total);
  if (out == NULL)
    return;
  if (end && (c->said_ns || e->cfg.progress_always))
    out (e->cfg.opaque, "partition %d: %llu inodes scanned in %.1f s",
         c->number, (unsigned long long) total,
         (t - c->start_ns) / 1e9);
  else if (!end && t - (c->said_ns ? c->said_ns : c->start_ns) >= 1000000000) {
    out (e->cfg.opaque, "partition %d: crawling, %llu of %llu inodes "
         "(%.0f%%)",
         c->number, (unsigned long long) done, (unsigned long long) total,
         total ? 100.0 * done / total : 0.0);
    c->said_ns = t;
  }
}

static void
emit (struct engine *e, struct bw_event *ev)
{
  ev->id = e->next_id++;
  ev->seq = e->last_seq;
  ev->txn = e->txn;
  ev->time_ns = e->last_time;
  ev->host = e->cfg.host;
  ev->vm = e->cfg.vm;
  ev->disk = e->cfg.disk;
  e->cfg.sink->emit (e->cfg.sink, ev);
}

static void
close_watchers (struct watched *w, int n)
{
  for (int i = 0; i < n; i++) {
    ext4_close (w[i].fs);
    bw_reader_close (w[i].slice);
  }
}

/* A file system whose model takes more than cfg.model_max (why says
 * so) is not followed from now on: never silently, an overflow event
 * (lost: unknown) says that its events stop.  It is known again by its
 * identity id, that of the one followed or crawled (the superblock on
 * the disk may be torn at this barrier, and a torn one says none: the
 * same file system whole again would be crawled, and given up, anew).
 */
static void
give_up (struct engine *e, struct watched *w, const char *why,
         const struct ext4_identity *id)
{
  char detail[sizeof w->why + 160];
  struct bw_event ev = {
    .type = BW_EV_OVERFLOW, .part = w->number, .detail = detail,
  };

  snprintf (detail, sizeof detail, "this file system is no longer "
            "followed: %s; no events of it until another one is made here "
            "or the introspector restarts", why);
  w->given_up_id = *id;
  w->given_up = true;
  ext4_close (w->fs);
  w->fs = NULL;
  w->refused = true;
  /* For engine_part (a summary): the bound alone, cut if need be. */
  snprintf (w->why, sizeof w->why, "given up: %.200s", why);
  strcpy (w->said, w->why);
  say (e, "partition %d: %s", w->number, detail);
  emit (e, &ev);
}

/* Whether the slice holds a file system we can follow, and if so the
 * crawl that starts following it.
 */
static void
look (struct engine *e, struct watched *w)
{
  struct ext4_emit em = {
    .sink = e->cfg.sink, .host = e->cfg.host, .vm = e->cfg.vm,
    .disk = e->cfg.disk, .part = w->number, .next_id = &e->next_id,
    .data_max = e->cfg.data_max, .no_journal = e->cfg.no_journal,
    .log = e->cfg.log, .log_opaque = e->cfg.opaque,
    .ahead = e->cfg.ahead, .exact_meta_bytes = e->cfg.exact_meta_bytes,
    .exact_data_bytes = e->cfg.exact_data_bytes,
    .model_max = e->cfg.model_max,
  };
  struct ext4_identity id;

  w->look_again = false;
  if (w->given_up) {
    if (!ext4_identity (w->slice, &id) ||
        memcmp (&id, &w->given_up_id, sizeof id) == 0)
      return;
    w->given_up = false;
  }
  w->refused = false;
  if (!ext4_probe (w->slice)) {
    snprintf (w->why, sizeof w->why, "no ext2/3/4 file system");
    if (strcmp (w->why, w->said) != 0)
      say (e, "partition %d: %s, not watched", w->number, w->why);
    strcpy (w->said, w->why);
    return;
  }
  e->crawl = (struct crawl_clock) {
    .number = w->number, .start_ns = now_ns (),
  };
  w->fs = ext4_open (w->slice, &em, progress, e, &id, w->why, sizeof w->why);
  if (w->fs == NULL && errno == EFBIG) {
    char why[sizeof w->why];
    strcpy (why, w->why);
    give_up (e, w, why, &id);
  }
  else if (w->fs == NULL) {
    w->refused = true;
    if (strcmp (w->why, w->said) != 0)
      say (e, "partition %d: not watched: %s", w->number, w->why);
    strcpy (w->said, w->why);
  }
  else {
    struct ext4_stats st;
    w->said[0] = '\0';
    ext4_get_stats (w->fs, &st);
    say (e, "partition %d: ext2/3/4, %llu inodes and %llu names in use, "
         "model ~%llu bytes", w->number, (unsigned long long) st.inodes,
         (unsigned long long) st.names, (unsigned long long) st.model_bytes);
  }
}

static void
watch (struct engine *e, int number, uint64_t start, uint64_t size)
{
  struct watched *w = &e->w[e->nw];
  char err[256];

  memset (w, 0, sizeof *w);
  w->number = number;
  w->start = start;
  w->size = size;
  w->slice = bw_reader_slice (e->disk, start, size, err, sizeof err);
  if (w->slice == NULL) {
    say (e, "partition %d: %s", number, err);
    return;
  }
  e->nw++;
  look (e, w);
}

static int
scan_table (struct engine *e, struct part_table_info *t, char *err,
            size_t errlen)
{
  if (part_scan (e->disk, t, err, errlen) == -1)
    return -1;
  if (t->note[0] && strcmp (t->note, e->table_note) != 0)
    say (e, "partition table: %s", t->note);
  memcpy (e->table_note, t->note, sizeof e->table_note);
  return 0;
}

/* Watches one partition of the table.  One the previous table had at
 * the same place under the same number keeps its watcher: the model,
 * and what was noted since the last barrier, stay, with no new crawl.
 */
static void
watch_part (struct engine *e, int number, uint64_t start, uint64_t size,
            struct watched *prev, int nprev)
{
  for (int i = 0; i < nprev; i++)
    if (prev[i].slice && prev[i].number == number &&
        prev[i].start == start && prev[i].size == size) {
      e->w[e->nw++] = prev[i];
      prev[i].slice = NULL;
      prev[i].fs = NULL;
      return;
    }
  watch (e, number, start, size);
}

/* Watches what e->table lists, taking over from prev what fits. */
static void
watch_all (struct engine *e, struct watched *prev, int nprev)
{
  if (e->table.table == PART_NONE)
    watch_part (e, 0, 0, e->disk->size, prev, nprev);
  else
    for (int i = 0; i < e->table.count; i++)
      watch_part (e, e->table.parts[i].number, e->table.parts[i].start,
                  e->table.parts[i].size, prev, nprev);
}

struct engine *
engine_open (struct bw_reader *disk, const struct engine_cfg *cfg,
             char *err, size_t errlen)
{
  struct engine *e = calloc (1, sizeof *e);
  uint32_t r;

  if (e == NULL) {
    snprintf (err, errlen, "out of memory");
    return NULL;
  }
  e->disk = disk;
  e->cfg = *cfg;
  /* Event ids: a random high half per run, a counter below it. */
  if (getrandom (&r, sizeof r, 0) != sizeof r)
    r = 0;
  e->next_id = (uint64_t) r << 32 | 1;
  e->txn = 1;
  if (scan_table (e, &e->table, err, errlen) == -1) {
    free (e);
    return NULL;
  }
  say (e, "%s partition table, %d partitions",
       part_table_name (e->table.table), e->table.count);
  watch_all (e, NULL, 0);
  if (!e->cfg.offline) {
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    e->crawl_end_ns = (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
  }
  return e;
}

int
engine_filesystems (const struct engine *e)
{
  int n = 0;

  for (int i = 0; i < e->nw; i++)
    n += e->w[i].fs != NULL;
  return n;
}

uint32_t
engine_owner_depth (const struct engine *e)
{
  uint32_t deepest = 0;

  for (int i = 0; i < e->nw; i++) {
    uint32_t d = e->w[i].fs ? ext4_owner_depth (e->w[i].fs) : 0;
    if (d > deepest)
      deepest = d;
  }
  return deepest;
}

const struct part_table_info *
engine_table (const struct engine *e)
{
  return &e->table;
}

bool
engine_part (const struct engine *e, int i, struct engine_part *p)
{
  const struct watched *w;

  if (i < 0 || i >= e->nw)
    return false;
  w = &e->w[i];
  *p = (struct engine_part) {
    .number = w->number, .start = w->start, .size = w->size, .fs = w->fs,
    .refused = w->refused, .why = w->fs ? NULL : w->why,
  };
  return true;
}

void
engine_stats (const struct engine *e, struct ext4_stats *sum)
{
  memset (sum, 0, sizeof *sum);
  for (int i = 0; i < e->nw; i++) {
    struct ext4_stats st;
    if (e->w[i].fs == NULL)
      continue;
    ext4_get_stats (e->w[i].fs, &st);
    sum->inodes += st.inodes;
    sum->names += st.names;
    sum->extents += st.extents;
    sum->gap_ranges += st.gap_ranges;
    sum->model_bytes += st.model_bytes;
    sum->data_bytes_seen += st.data_bytes_seen;
    sum->metadata_blocks_diffed += st.metadata_blocks_diffed;
    sum->name_probes += st.name_probes;
    sum->id_probes += st.id_probes;
    sum->block_probes += st.block_probes;
    sum->held_dropped += st.held_dropped;
    sum->data_unread += st.data_unread;
    sum->journal_txns += st.journal_txns;
    sum->journal_blocks += st.journal_blocks;
    sum->journal_images += st.journal_images;
    sum->exact_blocks += st.exact_blocks;
    sum->exact_bytes += st.exact_bytes;
    sum->exact_evicted += st.exact_evicted;
    sum->exact_evicted_reads += st.exact_evicted_reads;
  }
}

static const struct part *
find_part (const struct part_table_info *t, int number)
{
  for (int i = 0; i < t->count; i++)
    if (t->parts[i].number == number)
      return &t->parts[i];
  return NULL;
}

static bool
same_place (const struct part *a, const struct part *b)
{
  return a->start == b->start && a->size == b->size;
}

static bool
same_table (const struct part_table_info *a, const struct part_table_info *b)
{
  if (a->table != b->table || a->count != b->count)
    return false;
  for (int i = 0; i < a->count; i++)
    if (a->parts[i].number != b->parts[i].number ||
        !same_place (&a->parts[i], &b->parts[i]))
      return false;
  return true;
}

/* Appends to the detail "; WHAT N, M..." for the partitions of a that
 * b lacks (moved false) or has at another place (moved true).
 */
static size_t
list_changed (char *buf, size_t len, size_t n, const char *what,
              const struct part_table_info *a,
              const struct part_table_info *b, bool moved)
{
  bool first = true;

  for (int i = 0; i < a->count && n < len; i++) {
    const struct part *p = &a->parts[i], *q = find_part (b, p->number);
    if (moved ? q == NULL || same_place (p, q) : q != NULL)
      continue;
    if (first)
      n += snprintf (buf + n, len - n, "; %s %d", what, p->number);
    else
      n += snprintf (buf + n, len - n, ", %d", p->number);
    first = false;
  }
  return n;
}

/* A new file system was made over a followed one (ext4_replaced says
 * why): it is followed anew, from a crawl.  What the old one held is
 * gone without events of its own: a resync says so.
 */
static void
follow_anew (struct engine *e, struct watched *w, const char *why)
{
  struct bw_event ev = {
    .type = BW_EV_RESYNC, .part = w->number,
    .detail = "a new file system was made here (mkfs): it is read anew, "
              "and the files of the old one are gone",
  };

  say (e, "partition %d: %s: a new file system (mkfs), read anew",
       w->number, why);
  ext4_close (w->fs);
  w->fs = NULL;
  w->said[0] = '\0';
  emit (e, &ev);
  look (e, w);
}

/* After a barrier: a model grown past its bound is given up. */
static void
check_bound (struct engine *e, struct watched *w)
{
  struct ext4_stats st;
  struct ext4_identity id;
  char why[160];

  if (e->cfg.model_max == 0)
    return;
  ext4_get_stats (w->fs, &st);
  if (st.model_bytes <= e->cfg.model_max)
    return;
  snprintf (why, sizeof why, "its model takes more than %llu bytes (%llu "
            "now, model-max)", (unsigned long long) e->cfg.model_max,
            (unsigned long long) st.model_bytes);
  ext4_fs_identity (w->fs, &id);
  give_up (e, w, why, &id);
}

static void
recheck_table (struct engine *e)
{
  struct part_table_info t;
  struct watched prev[PART_MAX + 1];
  int nprev = e->nw;
  char err[256], detail[200];
  size_t n;

  e->table_dirty = false;
  if (scan_table (e, &t, err, sizeof err) == -1) {
    say (e, "partition table: %s", err);
    return;
  }
  if (same_table (&t, &e->table))
    return;
  n = snprintf (detail, sizeof detail, "%s, %d partitions",
                part_table_name (t.table), t.count);
  n = list_changed (detail, sizeof detail, n, "added", &t, &e->table, false);
  n = list_changed (detail, sizeof detail, n, "removed", &e->table, &t,
                    false);
  list_changed (detail, sizeof detail, n, "moved or resized", &t, &e->table,
                true);
  struct bw_event ev = { .type = BW_EV_PARTITION, .detail = detail };
  emit (e, &ev);
  memcpy (prev, e->w, nprev * sizeof *prev);
  e->nw = 0;
  e->table = t;
  watch_all (e, prev, nprev);
  close_watchers (prev, nprev);
}

static void
barrier (struct engine *e)
{
  /* File systems first: what they noted since the last barrier becomes
   * events under the table it was routed by.  A table change closes
   * the watchers of the partitions it moves or removes, and would lose
   * their part of the batch that changed the table.
   */
  for (int i = 0; i < e->nw; i++)
    if (e->w[i].fs) {
      const char *why;
      ext4_reconcile (e->w[i].fs, e->last_seq, e->txn, e->last_time);
      why = ext4_replaced (e->w[i].fs);
      if (why)
        follow_anew (e, &e->w[i], why);
      else
        check_bound (e, &e->w[i]);
    }
  if (e->table_dirty)
    recheck_table (e);
  for (int i = 0; i < e->nw; i++)
    if (e->w[i].fs == NULL && e->w[i].look_again)
      look (e, &e->w[i]);
  e->txn++;
}

static void
loss (struct engine *e, uint64_t lost)
{
  struct bw_event ev = { .type = BW_EV_OVERFLOW, .length = lost };

  emit (e, &ev);
  e->table_dirty = true;
  for (int i = 0; i < e->nw; i++)
    if (e->w[i].fs)
      ext4_note_loss (e->w[i].fs);
    else
      e->w[i].look_again = true;  /* a mkfs may be among the lost */
}

/* Routes bytes [off, off + len) of the disk to the file systems there
 * (data: the bytes written, NULL for zeroes); anything outside them may
 * be a partition table.
 */
static void
route (struct engine *e, uint64_t off, uint64_t len, const uint8_t *data,
       uint64_t seq, uint64_t time_ns)
{
  uint64_t covered = 0;

  for (int i = 0; i < e->nw; i++) {
    struct watched *w = &e->w[i];
    uint64_t a = off > w->start ? off : w->start;
    uint64_t b = off + len < w->start + w->size ? off + len
                                                : w->start + w->size;
    if (a >= b)
      continue;
    covered += b - a;
    if (w->fs)
      ext4_note_write (w->fs, a - w->start, b - a, data ? data + (a - off)
                                                         : NULL,
                       seq, time_ns);
    /* A partition not followed becomes an ext2/3/4 file system (mkfs)
     * when its primary superblock, bytes 1024-2047, is written: the
     * only writes after which looking again can change the answer.
     */
    else if (a < w->start + 2048 && b > w->start + 1024)
      w->look_again = true;
  }
  /* The first sectors hold MBR and GPT even under a whole-disk file
   * system's padding.
   */
  if (covered < len || off < 1024)
    e->table_dirty = true;
}

int
engine_apply (struct bw_reader *disk, const struct tap_record *r,
              const void *payload, char *err, size_t errlen)
{
  static const uint8_t zero[65536];

  switch (r->type) {
  case TAP_WRITE:
    /* Bytes nobody could read: the view keeps what it had, and the
     * engine reports a loss.
     */
    if (r->flags & TAP_F_PAYLOAD_LOST)
      return 0;
    return disk->pwrite (disk, payload, r->length, r->offset, err, errlen);
  case TAP_TRIM:
    if (!(r->flags & TAP_F_READS_ZERO))
      return 0;
    /* fall through */
  case TAP_ZERO:
    for (uint64_t done = 0; done < r->length; ) {
      size_t n = r->length - done < sizeof zero ? r->length - done
                                                : sizeof zero;
      if (disk->pwrite (disk, zero, n, r->offset + done, err, errlen))
        return -1;
      done += n;
    }
    return 0;
  default:
    return 0;
  }
}

static int
apply (struct engine *e, const struct tap_record *r, const void *data,
       char *err, size_t errlen)
{
  return e->cfg.apply ? engine_apply (e->disk, r, data, err, errlen) : 0;
}

int
engine_item (struct engine *e, const struct tap_item *it, char *err,
             size_t errlen)
{
  const struct tap_record *r = &it->rec;
  uint64_t unfinished = e->seq.unfinished;

  if (it->kind == TAP_ITEM_HEADER) {
    if (it->hdr->disk_size != e->disk->size) {
      snprintf (err, errlen, "the tap stream is of a %llu-byte disk, this "
                "disk has %llu bytes",
                (unsigned long long) it->hdr->disk_size,
                (unsigned long long) e->disk->size);
      return -1;
    }
    if (tap_seq_header (&e->seq, it->hdr) == TAP_SEQ_GAP) {
      snprintf (err, errlen, "the stream resumes at seq %llu but %llu is "
                "missing", (unsigned long long) it->hdr->first_seq,
                (unsigned long long) e->seq.expected);
      return -1;
    }
    /* A plugin instance that went away without its end record may have
     * written what we never saw.
     */
    if (e->seq.unfinished != unfinished)
      loss (e, 0);
    return 0;
  }
  switch (tap_seq_record (&e->seq, r)) {
  case TAP_SEQ_DUPLICATE:
    return 0;
  case TAP_SEQ_GAP:
    snprintf (err, errlen, "record seq %llu follows %llu with nothing to "
              "account for the gap", (unsigned long long) r->seq,
              (unsigned long long) e->seq.expected - 1);
    return -1;
  case TAP_SEQ_NEW:
    break;
  }
  e->last_seq = r->seq;
  e->last_time = r->time_ns;
  /* Online, the crawl read the storage as it was.  A first record
   * stamped before the crawl ended (an introspector restarted after a
   * crash and handed what its predecessor had not acknowledged, or a
   * proxy that served the guest while we were still crawling) is a
   * write the model may already hold, so no event would report it:
   * a loss, reported as one, with a resync that re-reads everything.
   */
  if (e->crawl_end_ns) {
    if (r->time_ns < e->crawl_end_ns && r->type != TAP_OVERFLOW)
      loss (e, 0);
    e->crawl_end_ns = 0;
  }
  switch (r->type) {
  case TAP_WRITE:
    /* It changed the disk in a way we cannot know: as good as lost. */
    if (r->flags & TAP_F_PAYLOAD_LOST) {
      loss (e, 1);
      break;
    }
    if (apply (e, r, it->payload, err, errlen) == -1)
      return -1;
    route (e, r->offset, r->length, it->payload, r->seq, r->time_ns);
    break;
  case TAP_ZERO:
  case TAP_TRIM:
    /* A trim that does not read back as zeroes leaves content the
     * backend chose: nothing to report, and the view keeps its bytes.
     */
    if (r->type == TAP_TRIM && !(r->flags & TAP_F_READS_ZERO))
      break;
    if (apply (e, r, NULL, err, errlen) == -1)
      return -1;
    route (e, r->offset, r->length, NULL, r->seq, r->time_ns);
    break;
  case TAP_FLUSH:
  case TAP_END:
    barrier (e);
    break;
  case TAP_OVERFLOW:
    loss (e, r->length);
    break;
  default:
    break;                    /* a later minor version's record: skip */
  }
  return 0;
}

void
engine_finish (struct engine *e)
{
  barrier (e);
}

void
engine_lost_before (struct engine *e)
{
  struct timespec ts;

  /* No record yet to take the time from: now. */
  if (e->last_time == 0 && clock_gettime (CLOCK_REALTIME, &ts) == 0)
    e->last_time = (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
  loss (e, 0);
}

void
engine_close (struct engine *e)
{
  if (e == NULL)
    return;
  close_watchers (e->w, e->nw);
  free (e);
}

int
engine_exact_size (const char *v, uint64_t *bytes, char *msg, size_t len)
{
  if (bw_parse_size (v, EXT4_EXACT_MIN, EXT4_EXACT_MAX, bytes) == 0)
    return 0;
  snprintf (msg, len, "expected a size from %lluK to %lluG (suffix K, M "
            "or G)", (unsigned long long) (EXT4_EXACT_MIN >> 10),
            (unsigned long long) (EXT4_EXACT_MAX >> 30));
  return -1;
}

int
engine_model_size (const char *v, uint64_t *bytes, char *msg, size_t len)
{
  if (bw_parse_size (v, ENGINE_MODEL_MIN, ENGINE_MODEL_MAX, bytes) == 0)
    return 0;
  snprintf (msg, len, "expected a size from %lluM to %lluT (suffix K, M, "
            "G or T)", (unsigned long long) (ENGINE_MODEL_MIN >> 20),
            (unsigned long long) (ENGINE_MODEL_MAX >> 40));
  return -1;
}
