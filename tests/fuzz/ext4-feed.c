/* A fuzz input as the crawl of a disk image and a stream of tap
 * records (see ext4-feed.h).
 */

#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "disk/reader-mem.h"
#include "engine/engine.h"
#include "ext4-feed.h"

/* An inode deleted, and in which batch. */
struct gone {
  int part;
  uint64_t inode, txn;
};

struct checker {
  struct bw_sink sink;        /* first: the sink is the checker */
  void *gone;                 /* tsearch tree of struct gone */
};

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

  free (bw_event_to_json (ev, &policy));
  if (ev->inode == 0)
    return;
  found = tfind (&key, &c->gone, by_inode);
  if (ev->type != BW_EV_DELETE) {
    if (found) {
      g = *found;
      tdelete (&key, &c->gone, by_inode);
      free (g);
    }
    return;
  }
  if (found && (*found)->txn == ev->txn) {
    fprintf (stderr, "inode %llu of partition %d deleted twice in txn "
             "%llu\n", (unsigned long long) ev->inode, ev->part,
             (unsigned long long) ev->txn);
    abort ();
  }
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

/* A record the storage has and the engine has not seen yet. */
struct held {
  struct tap_record rec;
  uint8_t *payload;           /* a copy of its own */
};

struct feeder {
  struct engine *e;
  struct bw_reader *disk;
  const struct ext4_feed_mode *m;
  struct tap_header h;
  uint64_t seq, time0;
  struct held q[EXT4_FEED_AHEAD_MAX + 1];
  size_t head, n;
};

/* The oldest record held to the engine. */
static void
release (struct feeder *f)
{
  struct held *hd = &f->q[f->head];
  struct tap_item it = {
    .kind = TAP_ITEM_RECORD, .hdr = &f->h, .rec = hd->rec,
    .payload = hd->payload,
  };
  char err[256];

  engine_item (f->e, &it, err, sizeof err);
  free (hd->payload);
  f->head = (f->head + 1) % (EXT4_FEED_AHEAD_MAX + 1);
  f->n--;
}

/* A record: on the storage now (online; offline the engine writes it),
 * seen by the engine once it is more than ahead records behind.
 */
static void
record (struct feeder *f, uint16_t type, uint64_t off, uint64_t len,
        const uint8_t *payload)
{
  struct held *hd = &f->q[(f->head + f->n) % (EXT4_FEED_AHEAD_MAX + 1)];
  struct tap_record *r = &hd->rec;
  char err[256];

  memset (hd, 0, sizeof *hd);
  r->seq = f->seq++;
  r->type = type;
  r->time_ns = f->time0 + r->seq * 1000;
  if (type == TAP_OVERFLOW) {
    /* one lost record: this one accounts for seq - 1 and itself */
    r->offset = r->seq;
    r->length = 1;
    r->seq = f->seq++;
  }
  else {
    if (off > f->h.disk_size)
      off = f->h.disk_size;
    if (len > f->h.disk_size - off)
      len = f->h.disk_size - off;
    r->offset = off;
    r->length = len;
  }
  if (type == TAP_WRITE) {
    r->payload_len = len;
    hd->payload = malloc (len ? len : 1);
    if (hd->payload == NULL)
      abort ();
    memcpy (hd->payload, payload, len);
  }
  if (f->m->online)
    engine_apply (f->disk, r, hd->payload, err, sizeof err);
  f->n++;
  if (f->n > f->m->ahead)
    release (f);
}

static void
run_tail (struct feeder *f, const uint8_t *image, size_t size,
          const uint8_t *p, const uint8_t *end)
{
  while (p < end) {
    uint8_t op = *p++ % 5;
    uint64_t off = op < 3 ? get (&p, end, 4) % size : 0, len;

    switch (op) {
    case 0:
      len = get (&p, end, 1);
      if (len > (uint64_t) (end - p))
        len = end - p;
      record (f, TAP_WRITE, off, len, p);
      p += len;
      break;
    case 1: {
      uint64_t src = get (&p, end, 4) % size;
      len = get (&p, end, 2);
      if (len > size - src)
        len = size - src;
      /* the bytes as they are now, not as the write will leave them
       * (record copies them)
       */
      record (f, TAP_WRITE, off, len, image + src);
      break;
    }
    case 2:
      record (f, TAP_ZERO, off, get (&p, end, 2), NULL);
      break;
    case 3:
      record (f, TAP_FLUSH, 0, 0, NULL);
      break;
    case 4:
      record (f, TAP_OVERFLOW, 0, 0, NULL);
      break;
    }
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
  struct feeder f = { .seq = 1, .m = m };
  size_t tail = 0;
  uint8_t *image;
  char err[256];

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
  f.disk = bw_reader_open_memory_rw (image, size, 512, err, sizeof err);
  if (f.disk == NULL) {
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
    struct timespec ts;

    /* Online, records are stamped after the crawl (unless stale). */
    if (m->online && !m->stale && clock_gettime (CLOCK_REALTIME, &ts) == 0)
      f.time0 = (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
    f.h = (struct tap_header) {
      .version = TAP_VERSION, .disk_size = size, .sector_size = 512,
      .instance = 1, .first_seq = 1,
    };
    engine_item (f.e, &it, err, sizeof err);
    run_tail (&f, image, size, data + size, data + size + tail);
    engine_finish (f.e);
    engine_close (f.e);
  }
  tdestroy (checker.gone, free);
  bw_reader_close (f.disk);
  free (image);
}
