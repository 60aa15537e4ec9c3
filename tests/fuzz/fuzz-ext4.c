/* libFuzzer target: a small disk image, crawled, then changed by tap
 * records and reconciled, as offline replay does.
 *
 * Input: IMAGE, then TAIL, then two bytes: the tail's length (little
 * endian; a length that does not fit means no tail).  The image is
 * crawled by the engine (partitions, libext2fs, the model); then each
 * operation of the tail becomes a tap record applied to the image in
 * memory and fed to the engine, so note and reconcile see hostile
 * metadata written over metadata they already know; the input's end is
 * a last barrier.  Operations (offsets are taken modulo the image
 * size, lengths cut at its end):
 *   0 OFF:u32 LEN:u8 BYTES    write LEN bytes
 *   1 DST:u32 SRC:u32 LEN:u16 write a copy of the image's own bytes
 *                             (a directory block over an inode table...)
 *   2 OFF:u32 LEN:u16         write zeroes
 *   3                         FLUSH: a barrier, reconcile
 *   4                         records were lost: overflow, resync
 * Every event is also turned into JSON, and one rule of the events is
 * held: an inode is not deleted twice without a create or link of it
 * in between (or a resync, a new table or a loss, after which the
 * model is read anew).  Any crash, sanitizer report, leak, hang or
 * broken rule is a bug.  The seeds (tests/fuzz/corpus/ext4/) are made
 * by tests/fuzz/make-ext4-seeds.sh.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk/reader-mem.h"
#include "engine/engine.h"

/* Inodes deleted since they were last created or linked, of the
 * partitions and inode numbers small enough to keep track of.
 */
#define TRACK_PARTS 16
#define TRACK_INODES 65536
static uint8_t deleted[TRACK_PARTS][TRACK_INODES / 8];

static void
to_json (struct bw_sink *s, const struct bw_event *ev)
{
  static const struct bw_data_policy_cfg policy = { BW_DATA_BYTES, 64 };
  uint8_t *byte, bit;

  (void) s;
  free (bw_event_to_json (ev, &policy));
  if (ev->type == BW_EV_RESYNC || ev->type == BW_EV_PARTITION ||
      ev->type == BW_EV_OVERFLOW) {
    memset (deleted, 0, sizeof deleted);
    return;
  }
  if (ev->part < 0 || ev->part >= TRACK_PARTS || ev->inode >= TRACK_INODES)
    return;
  byte = &deleted[ev->part][ev->inode / 8];
  bit = 1u << (ev->inode % 8);
  if (ev->type == BW_EV_CREATE || ev->type == BW_EV_LINK)
    *byte &= ~bit;
  else if (ev->type == BW_EV_DELETE) {
    if (*byte & bit)
      abort ();
    *byte |= bit;
  }
}

static uint32_t
get (const uint8_t **p, const uint8_t *end, int bytes)
{
  uint32_t v = 0;

  for (int i = 0; i < bytes && *p < end; i++)
    v |= (uint32_t) *(*p)++ << (8 * i);
  return v;
}

struct feeder {
  struct engine *e;
  struct tap_header h;
  uint64_t seq;
};

static void
record (struct feeder *f, uint16_t type, uint64_t off, uint64_t len,
        const uint8_t *payload)
{
  struct tap_item it = { .kind = TAP_ITEM_RECORD, .hdr = &f->h };
  char err[256];

  it.rec.seq = f->seq++;
  it.rec.type = type;
  it.rec.time_ns = it.rec.seq * 1000;
  if (type == TAP_OVERFLOW) {
    /* one lost record: this one accounts for seq - 1 and itself */
    it.rec.offset = it.rec.seq;
    it.rec.length = 1;
    it.rec.seq = f->seq++;
  }
  else {
    if (off > f->h.disk_size)
      off = f->h.disk_size;
    if (len > f->h.disk_size - off)
      len = f->h.disk_size - off;
    it.rec.offset = off;
    it.rec.length = len;
  }
  if (type == TAP_WRITE) {
    it.rec.payload_len = len;
    it.payload = payload;
  }
  engine_item (f->e, &it, err, sizeof err);
}

static void
run_tail (struct feeder *f, const uint8_t *image, size_t size,
          const uint8_t *p, const uint8_t *end)
{
  uint8_t *copy = NULL;

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
      /* the bytes as they are now, not as the write will leave them */
      free (copy);
      copy = malloc (len ? len : 1);
      if (copy == NULL)
        return;
      memcpy (copy, image + src, len);
      record (f, TAP_WRITE, off, len, copy);
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
  free (copy);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct bw_sink sink = { .emit = to_json };
  struct engine_cfg cfg = { .sink = &sink, .offline = true, .apply = true,
                            .data_max = 64 };
  struct feeder f = { .seq = 1 };
  struct bw_reader *disk;
  size_t tail = 0;
  uint8_t *image;
  char err[256];

  memset (deleted, 0, sizeof deleted);
  if (size >= 2) {
    tail = data[size - 2] | (size_t) data[size - 1] << 8;
    size -= 2;
    if (tail > size)
      tail = 0;
  }
  size -= tail;
  if (size == 0)
    return 0;
  /* The engine writes the records into the image: a copy of its own. */
  image = malloc (size);
  if (image == NULL)
    return 0;
  memcpy (image, data, size);
  disk = bw_reader_open_memory_rw (image, size, 512, err, sizeof err);
  if (disk == NULL) {
    free (image);
    return 0;
  }
  f.e = engine_open (disk, &cfg, err, sizeof err);
  if (f.e) {
    struct tap_item it = { .kind = TAP_ITEM_HEADER, .hdr = &f.h };
    f.h = (struct tap_header) {
      .version = TAP_VERSION, .disk_size = size, .sector_size = 512,
      .instance = 1, .first_seq = 1,
    };
    engine_item (f.e, &it, err, sizeof err);
    run_tail (&f, image, size, data + size, data + size + tail);
    engine_finish (f.e);
    engine_close (f.e);
  }
  bw_reader_close (disk);
  free (image);
  return 0;
}
