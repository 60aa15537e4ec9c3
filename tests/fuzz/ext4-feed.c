/* A fuzz input as the crawl of a disk image and a stream of tap
 * records (see ext4-feed.h).
 */

#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "disk/reader-mem.h"
#include "engine/engine.h"
#include "ext4/ext4.h"
#include "ext4-feed.h"
#include "ext4-fixup.h"

/* An inode deleted, and in which batch. */
struct gone {
  int part;
  uint64_t inode, txn;
};

/* Inode numbers (a few: a set that is full takes no more). */
#define NUMS_MAX 4096
struct nums {
  uint32_t v[NUMS_MAX];
  size_t n;
};

/* File blocks [lblk, lblk + len) of inode ino at blocks pblk on, as an
 * extent block a fix-up set the checksum of says (a few).
 */
#define MAPS_MAX 1024
struct map {
  uint32_t ino, lblk, len;
  uint64_t pblk;
};

/* The bytes of the disk a record wrote, by its seq (the last few
 * thousand records; a write event's seq is its newest record's).
 */
#define SPANS 4096
struct span {
  uint64_t seq, off, len;
};

struct checker {
  struct bw_sink sink;        /* first: the sink is the checker */
  void *gone;                 /* tsearch tree of struct gone */
  /* Overflow events so far, and the last one's length and seq. */
  uint64_t overflows, overflow_len, overflow_seq;
  /* Inodes whose checksum a fix-up set, inodes named in directory
   * blocks whose checksum a fix-up set, and either in copies in the
   * journal: events about them are what the engine took past its
   * checksum checks.
   */
  struct nums fixed, named, journal;
  /* The extents of leaf blocks whose checksum a fix-up set, and the
   * file system's block size: a write event whose newest record wrote
   * a block one of them maps into the event's range is the engine
   * following the fixed block.
   */
  struct map maps[MAPS_MAX];
  size_t nmaps;
  unsigned bs;
  struct span spans[SPANS];
};

/* What the inputs reached (BW_FEED_STATS, ext4-feed.h): the operations
 * handed to the engine, then the engine's answers that were checked.
 */
#define FEED_STATS(X) \
  X (write) X (copy) X (zero) X (flush) X (overflow) \
  X (trim) X (trim_reads_zero) X (trim_discarded) X (payload_lost) \
  X (lost_before) X (lost_before_first) X (restart) X (restart_clean) \
  X (reconnect) \
  X (trim_checked) X (payload_lost_overflow) X (lost_before_overflow) \
  X (restart_overflow) X (resync_events) X (journal_txns) \
  X (fixup) X (fixup_writes) X (fixed_sb) X (fixed_gdt) X (fixed_inodes) \
  X (fixed_dir_blocks) X (fixed_extent_blocks) X (fixed_journal_blocks) \
  X (fixed_inode_events) X (fixed_name_events) X (fixed_journal_events) \
  X (fixed_extent_events)
#define FEED_ENUM(name) ST_##name,
#define FEED_NAME(name) #name,
enum { FEED_STATS (FEED_ENUM) ST_N };
static const char *const stat_names[ST_N] = { FEED_STATS (FEED_NAME) };
static uint64_t stats[ST_N];
static const char *stats_path;

static void
write_stats (void)
{
  FILE *fp = fopen (stats_path, "w");

  if (fp == NULL)
    abort ();
  for (int i = 0; i < ST_N; i++)
    fprintf (fp, "%s %llu\n", stat_names[i], (unsigned long long) stats[i]);
  if (fclose (fp) == EOF)
    abort ();
}

/* Stops the run: the engine did not answer as it must (ext4-feed.h). */
static void __attribute__ ((noreturn, format (printf, 1, 2)))
broken (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  abort ();
}

static bool
nums_has (const struct nums *s, uint32_t v)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i] == v)
      return true;
  return false;
}

static void
nums_add (struct nums *s, uint32_t v)
{
  if (s->n < NUMS_MAX && !nums_has (s, v))
    s->v[s->n++] = v;
}

static void
add_fixed (void *opaque, uint32_t ino, bool journal)
{
  struct checker *c = opaque;

  nums_add (journal ? &c->journal : &c->fixed, ino);
}

static void
add_named (void *opaque, uint32_t ino, bool journal)
{
  struct checker *c = opaque;

  nums_add (journal ? &c->journal : &c->named, ino);
}

static void
add_extent (void *opaque, uint32_t ino, uint32_t lblk, uint32_t len,
            uint64_t pblk)
{
  struct checker *c = opaque;
  struct map m = { .ino = ino, .lblk = lblk, .len = len, .pblk = pblk };

  for (size_t i = 0; i < c->nmaps; i++)
    if (memcmp (&c->maps[i], &m, sizeof m) == 0)
      return;
  if (c->nmaps < MAPS_MAX)
    c->maps[c->nmaps++] = m;
}

/* Whether write event ev's newest record wrote a block that the
 * extent of a fixed leaf block maps to a file block in ev's range.
 */
static bool
mapped_by_fixed (const struct checker *c, const struct bw_event *ev)
{
  const struct span *r = &c->spans[ev->seq % SPANS];
  uint64_t first, last, efirst, elast;

  if (c->bs == 0 || ev->part != 0 || r->seq != ev->seq || r->len == 0 ||
      ev->length == 0)
    return false;
  first = r->off / c->bs;
  last = (r->off + r->len - 1) / c->bs;
  efirst = ev->offset / c->bs;
  elast = (ev->offset + ev->length - 1) / c->bs;
  for (size_t i = 0; i < c->nmaps; i++) {
    const struct map *m = &c->maps[i];
    uint64_t lo = first > m->pblk ? first : m->pblk;
    uint64_t hi = last < m->pblk + m->len - 1 ? last : m->pblk + m->len - 1;
    /* blocks [lo, hi] of the record, as file blocks */
    if (m->ino != ev->inode || m->len == 0 || lo > hi)
      continue;
    if (m->lblk + (lo - m->pblk) <= elast && m->lblk + (hi - m->pblk) >= efirst)
      return true;
  }
  return false;
}

static int
by_inode (const void *a, const void *b)
{
  const struct gone *x = a, *y = b;

  if (x->part != y->part)
    return x->part < y->part ? -1 : 1;
  return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* Every event is turned into JSON, and one inode is not deleted twice
 * in a batch with nothing about it between (a delete repeated: the
 * model lost track of what it already took apart).
 */
static void
check (struct bw_sink *s, const struct bw_event *ev)
{
  static const struct bw_data_policy_cfg policy = { BW_DATA_BYTES, 64 };
  struct checker *c = (struct checker *) s;
  struct gone key = { .part = ev->part, .inode = ev->inode }, **found, *g;
  bool names;

  free (bw_event_to_json (ev, &policy));
  if (ev->type == BW_EV_OVERFLOW) {
    c->overflows++;
    c->overflow_len = ev->length;
    c->overflow_seq = ev->seq;
  }
  stats[ST_resync_events] += ev->type == BW_EV_RESYNC;
  if (ev->inode == 0)
    return;
  /* A field of a fixed inode: read from its table past inode_csum_ok.
   * A name of a fixed directory block: read by libext2fs past its
   * checksum.  Either from a fixed copy in the journal: its tag's
   * checksum held, then its own.
   */
  names = ev->type == BW_EV_RENAME || ev->type == BW_EV_LINK ||
          ev->type == BW_EV_UNLINK || ev->type == BW_EV_EXCHANGE;
  if (ev->type == BW_EV_METADATA && nums_has (&c->fixed, ev->inode))
    stats[ST_fixed_inode_events]++;
  if (names && nums_has (&c->named, ev->inode))
    stats[ST_fixed_name_events]++;
  if ((names || ev->type == BW_EV_METADATA) &&
      nums_has (&c->journal, ev->inode))
    stats[ST_fixed_journal_events]++;
  if (ev->type == BW_EV_WRITE && mapped_by_fixed (c, ev))
    stats[ST_fixed_extent_events]++;
  found = tfind (&key, &c->gone, by_inode);
  if (ev->type != BW_EV_DELETE) {
    if (found) {
      g = *found;
      tdelete (&key, &c->gone, by_inode);
      free (g);
    }
    return;
  }
  if (found && (*found)->txn == ev->txn)
    broken ("inode %llu of partition %d deleted twice in txn %llu",
            (unsigned long long) ev->inode, ev->part,
            (unsigned long long) ev->txn);
  if (found) {
    (*found)->txn = ev->txn;
    return;
  }
  g = malloc (sizeof *g);
  if (g == NULL)
    abort ();
  *g = key;
  g->txn = ev->txn;
  if (tsearch (g, &c->gone, by_inode) == NULL)
    abort ();
}

static uint32_t
get (const uint8_t **p, const uint8_t *end, int bytes)
{
  uint32_t v = 0;

  for (int i = 0; i < bytes && *p < end; i++)
    v |= (uint32_t) *(*p)++ << (8 * i);
  return v;
}

void
ext4_feed_op (const uint8_t **pp, const uint8_t *end, size_t size,
              struct ext4_feed_op *o)
{
  const uint8_t *p = *pp;
  bool at;

  *o = (struct ext4_feed_op) { .op = *p % 9 };
  at = o->op <= 2 || o->op == 5 || o->op == 6;
  o->fix = at && *p / 9 % 2;
  p++;
  if (at)
    o->off = get (&p, end, 4) % size;
  switch (o->op) {
  case 0:
  case 6:
    o->len = get (&p, end, 1);
    if (o->len > (uint64_t) (end - p))
      o->len = end - p;
    if (o->len > size - o->off)
      o->len = size - o->off;
    o->bytes = p;
    p += o->len;
    break;
  case 1:
    o->src = get (&p, end, 4) % size;
    o->len = get (&p, end, 2);
    if (o->len > size - o->src)
      o->len = size - o->src;
    break;
  case 2:
    o->len = get (&p, end, 2);
    break;
  case 5:
    o->len = get (&p, end, 2);
    o->fl = get (&p, end, 1);
    break;
  case 8:
    o->fl = get (&p, end, 1);
    break;
  }
  *pp = p;
}

/* What the storage has and the engine has not seen yet, in the
 * engine's order: a record, a stream's new header, or the word that
 * events before this point may be lost.
 */
enum held_kind { HELD_RECORD, HELD_HEADER, HELD_LOST_BEFORE };

struct held {
  enum held_kind kind;
  struct tap_header h;        /* HELD_HEADER */
  struct tap_record rec;      /* HELD_RECORD */
  uint8_t *payload;           /* a copy of its own */
  bool loss;                  /* HELD_HEADER: a loss must be reported */
};

struct feeder {
  struct engine *e;
  struct checker *c;
  struct bw_reader *disk;
  uint8_t *image;             /* the disk's bytes */
  uint8_t *fixed;             /* scratch of their size, for fix-ups */
  const struct ext4_feed_mode *m;
  struct tap_header h;
  uint64_t seq, clock, time0;
  bool ended;                 /* the instance sent its END record */
  bool any;                   /* a record reached the engine */
  struct held q[EXT4_FEED_AHEAD_MAX + 1];
  size_t head, n;
};

/* The oldest item held to the engine, and whether it answered as it
 * must (ext4-feed.h).
 */
static void
release (struct feeder *f)
{
  struct held *hd = &f->q[f->head];
  struct tap_item it = {
    .kind = TAP_ITEM_RECORD, .hdr = &f->h, .rec = hd->rec,
    .payload = hd->payload,
  };
  uint64_t before = f->c->overflows;
  char err[256];

  switch (hd->kind) {
  case HELD_RECORD:
    if (hd->rec.type == TAP_WRITE || hd->rec.type == TAP_ZERO)
      f->c->spans[hd->rec.seq % SPANS] = (struct span) {
        hd->rec.seq, hd->rec.offset, hd->rec.length,
      };
    engine_item (f->e, &it, err, sizeof err);
    if (hd->rec.flags & TAP_F_PAYLOAD_LOST) {
      if (f->c->overflows == before || f->c->overflow_len != 1 ||
          f->c->overflow_seq != hd->rec.seq)
        broken ("the lost payload of record %llu is not an overflow of one "
                "record", (unsigned long long) hd->rec.seq);
      stats[ST_payload_lost_overflow]++;
    }
    f->any = true;
    break;
  case HELD_HEADER:
    it = (struct tap_item) { .kind = TAP_ITEM_HEADER, .hdr = &hd->h };
    engine_item (f->e, &it, err, sizeof err);
    if (hd->loss != (f->c->overflows != before))
      broken ("instance %llu from seq %llu: %s", (unsigned long long)
              hd->h.instance, (unsigned long long) hd->h.first_seq,
              hd->loss ? "no overflow for the unfinished one before"
                       : "an overflow, but nothing was lost");
    stats[ST_restart_overflow] += hd->loss;
    break;
  case HELD_LOST_BEFORE:
    stats[ST_lost_before_first] += !f->any;
    engine_lost_before (f->e);
    if (f->c->overflows == before || f->c->overflow_len != 0)
      broken ("engine_lost_before: no overflow event (lost 0)");
    stats[ST_lost_before_overflow]++;
    break;
  }
  free (hd->payload);
  f->head = (f->head + 1) % (EXT4_FEED_AHEAD_MAX + 1);
  f->n--;
}

/* The next place in the queue, cleared. */
static struct held *
hold (struct feeder *f, enum held_kind kind)
{
  struct held *hd = &f->q[(f->head + f->n) % (EXT4_FEED_AHEAD_MAX + 1)];

  memset (hd, 0, sizeof *hd);
  hd->kind = kind;
  return hd;
}

/* The item just held reaches the engine once more than ahead items
 * came after it.
 */
static void
held (struct feeder *f)
{
  f->n++;
  if (f->n > f->m->ahead)
    release (f);
}

/* A record: on the storage now (online; offline the engine writes it),
 * seen by the engine once it is more than ahead records behind.
 */
static void
record (struct feeder *f, uint16_t type, uint16_t flags, uint64_t off,
        uint64_t len, const uint8_t *payload)
{
  struct held *hd = hold (f, HELD_RECORD);
  struct tap_record *r = &hd->rec;
  char err[256];

  r->seq = f->seq++;
  r->type = type;
  r->flags = flags;
  r->time_ns = f->time0 + f->clock++ * 1000;
  if (type == TAP_OVERFLOW) {
    /* one lost record: this one accounts for seq - 1 and itself */
    r->offset = r->seq;
    r->length = 1;
    r->seq = f->seq++;
    f->clock++;
  }
  else {
    if (off > f->h.disk_size)
      off = f->h.disk_size;
    if (len > f->h.disk_size - off)
      len = f->h.disk_size - off;
    r->offset = off;
    r->length = len;
  }
  if (type == TAP_WRITE && !(flags & TAP_F_PAYLOAD_LOST)) {
    r->payload_len = len;
    hd->payload = malloc (len ? len : 1);
    if (hd->payload == NULL)
      abort ();
    memcpy (hd->payload, payload, len);
  }
  if (type == TAP_END)
    f->ended = true;
  if (f->m->online)
    engine_apply (f->disk, r, hd->payload, err, sizeof err);
  held (f);
}

/* A trim, and what the disk reads after it: zeroes where it reads as
 * zeroes (READS_ZERO, or a backend that zeroed anyway), else what it
 * held.  Offline the engine applies it at once (nothing runs ahead).
 */
static void
trim (struct feeder *f, uint64_t off, uint64_t len, uint8_t fl)
{
  size_t size = f->h.disk_size;
  bool zeroed = fl & 3;
  uint8_t *was;

  if (len > size - off)
    len = size - off;
  was = malloc (len ? len : 1);
  if (was == NULL)
    abort ();
  if (fl & 2)
    memset (f->image + off, 0, len);
  memcpy (was, f->image + off, len);
  record (f, TAP_TRIM, fl & 1 ? TAP_F_READS_ZERO : 0, off, len, NULL);
  for (uint64_t i = 0; i < len; i++)
    if (f->image[off + i] != (zeroed ? 0 : was[i]))
      broken ("a trim of %llu bytes at %llu (flags %u): byte %llu reads "
              "%u", (unsigned long long) len, (unsigned long long) off, fl,
              (unsigned long long) i, f->image[off + i]);
  free (was);
  stats[ST_trim]++;
  stats[ST_trim_reads_zero] += fl & 1;
  stats[ST_trim_discarded] += (fl & 2) != 0;
  stats[ST_trim_checked]++;
}

/* A write whose bytes were lost on the way to the consumer: the
 * storage has them (online), the engine gets none.
 */
static void
payload_lost (struct feeder *f, uint64_t off, uint64_t len,
              const uint8_t *bytes)
{
  if (f->m->online)
    memcpy (f->image + off, bytes, len);
  record (f, TAP_WRITE, TAP_F_PAYLOAD_LOST, off, len, NULL);
  stats[ST_payload_lost]++;
}

/* The fix-up of the bytes [off, off + len) the operation before wrote
 * (ext4-feed.h): the blocks whose checksums it changed written whole,
 * as the guest would.
 */
static void
fix_up (struct feeder *f, uint64_t off, uint64_t len)
{
  size_t size = f->h.disk_size;
  struct ext4_fixup_report r = {
    .inode = add_fixed, .named = add_named, .extent = add_extent,
    .opaque = f->c,
  };
  uint8_t *fixed = f->fixed;
  unsigned bs;

  memcpy (fixed, f->image, size);
  bs = ext4_fixup (fixed, size, off, len, &r);
  if (bs)
    f->c->bs = bs;
  for (size_t b = 0; bs && b < size / bs; b++)
    if (memcmp (fixed + b * bs, f->image + b * bs, bs) != 0) {
      record (f, TAP_WRITE, 0, b * bs, bs, fixed + b * bs);
      stats[ST_fixup_writes]++;
    }
  stats[ST_fixup]++;
  stats[ST_fixed_sb] += r.sb;
  stats[ST_fixed_gdt] += r.gdt;
  stats[ST_fixed_inodes] += r.inodes;
  stats[ST_fixed_dir_blocks] += r.dir_blocks;
  stats[ST_fixed_extent_blocks] += r.extent_blocks;
  stats[ST_fixed_journal_blocks] += r.journal_blocks;
}

/* The plugin's stream starts again (fl: ext4-feed.h, operation 8). */
static void
restart (struct feeder *f, uint8_t fl)
{
  struct held *hd;

  if (fl & 1)
    record (f, TAP_END, 0, 0, 0, NULL);
  if (!(fl & 2)) {
    f->h.instance++;
    f->seq = 1;
  }
  f->h.first_seq = f->seq;
  hd = hold (f, HELD_HEADER);
  hd->h = f->h;
  hd->loss = !(fl & 2) && !f->ended;
  if (!(fl & 2))
    f->ended = false;
  held (f);
  stats[ST_restart]++;
  stats[ST_restart_clean] += fl & 1;
  stats[ST_reconnect] += (fl & 2) != 0;
}

static void
run_tail (struct feeder *f, const uint8_t *p, const uint8_t *end)
{
  size_t size = f->h.disk_size;

  while (p < end) {
    struct ext4_feed_op o;

    ext4_feed_op (&p, end, size, &o);
    switch (o.op) {
    case 0:
      record (f, TAP_WRITE, 0, o.off, o.len, o.bytes);
      stats[ST_write]++;
      break;
    case 6:
      payload_lost (f, o.off, o.len, o.bytes);
      break;
    case 1:
      /* the bytes as they are now, not as the write will leave them
       * (record copies them)
       */
      record (f, TAP_WRITE, 0, o.off, o.len, f->image + o.src);
      stats[ST_copy]++;
      break;
    case 2:
      record (f, TAP_ZERO, 0, o.off, o.len, NULL);
      stats[ST_zero]++;
      break;
    case 3:
      record (f, TAP_FLUSH, 0, 0, 0, NULL);
      stats[ST_flush]++;
      break;
    case 4:
      record (f, TAP_OVERFLOW, 0, 0, 0, NULL);
      stats[ST_overflow]++;
      break;
    case 5:
      trim (f, o.off, o.len, o.fl);
      break;
    case 7:
      hold (f, HELD_LOST_BEFORE);
      held (f);
      stats[ST_lost_before]++;
      break;
    case 8:
      restart (f, o.fl);
      break;
    }
    if (o.fix)
      fix_up (f, o.off, o.len);
  }
  while (f->n)
    release (f);
}

/* The block size the whole-disk superblock says (a guess, for bounds
 * in blocks: a file system in a partition may have another).
 */
static uint64_t
block_size (const uint8_t *image, size_t size)
{
  uint32_t log = 0;

  if (size >= 1024 + 28)
    log = image[1048] | image[1049] << 8 | image[1050] << 16 |
          (uint32_t) image[1051] << 24;
  return (uint64_t) 1024 << (log <= 6 ? log : 0);
}

void
ext4_feed (const uint8_t *data, size_t size, const struct ext4_feed_mode *m)
{
  struct checker checker = { .sink.emit = check };
  struct engine_cfg cfg = { .sink = &checker.sink, .data_max = 64 };
  struct feeder f = { .seq = 1, .clock = 1, .m = m, .c = &checker };
  size_t tail = 0;
  uint8_t *image;
  char err[256];

  if (stats_path == NULL && (stats_path = getenv ("BW_FEED_STATS")) &&
      atexit (write_stats) != 0)
    abort ();
  if (size >= 2) {
    tail = data[size - 2] | (size_t) data[size - 1] << 8;
    size -= 2;
    if (tail > size)
      tail = 0;
  }
  size -= tail;
  if (size == 0)
    return;
  /* The records are written into the image: a copy of its own. */
  image = malloc (size);
  if (image == NULL)
    return;
  memcpy (image, data, size);
  f.image = image;
  f.fixed = malloc (size);
  if (f.fixed == NULL)
    abort ();
  f.disk = bw_reader_open_memory_rw (image, size, 512, err, sizeof err);
  if (f.disk == NULL) {
    free (f.fixed);
    free (image);
    return;
  }
  if (m->online) {
    uint64_t bs = block_size (image, size);
    cfg.ahead = true;
    cfg.exact_meta_bytes = m->exact_meta_blocks * bs;
    cfg.exact_data_bytes = m->exact_data_blocks * bs;
  }
  else {
    cfg.offline = true;
    cfg.apply = true;
  }
  f.e = engine_open (f.disk, &cfg, err, sizeof err);
  if (f.e) {
    struct tap_item it = { .kind = TAP_ITEM_HEADER, .hdr = &f.h };
    struct ext4_stats st;
    struct timespec ts;

    /* Online, records are stamped after the crawl (unless stale). */
    if (m->online && !m->stale && clock_gettime (CLOCK_REALTIME, &ts) == 0)
      f.time0 = (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
    f.h = (struct tap_header) {
      .version = TAP_VERSION, .disk_size = size, .sector_size = 512,
      .instance = 1, .first_seq = 1,
    };
    engine_item (f.e, &it, err, sizeof err);
    run_tail (&f, data + size, data + size + tail);
    engine_finish (f.e);
    engine_stats (f.e, &st);
    stats[ST_journal_txns] += st.journal_txns;
    engine_close (f.e);
  }
  tdestroy (checker.gone, free);
  bw_reader_close (f.disk);
  free (f.fixed);
  free (image);
}
