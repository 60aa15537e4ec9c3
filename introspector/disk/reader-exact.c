/* The disk as of the records handled (see reader-exact.h): a fixed
 * array of entries, a list per class from the block written longest
 * ago to the newest, and an index of block numbers (common/blockhash).
 * Images are allocated when an entry is first used and reused after.
 *
 * The blocks that gave way are remembered in a table of fixed size,
 * for evicted_reads: each block number has one slot (by its hash),
 * and holds it until another block that gave way takes it.  A block
 * is counted only if its own number is in its slot, so never wrongly
 * (no false positives: every block counted was written by a handled
 * record and not kept because of the bound); but one that gave way
 * long ago, its slot since taken, is read uncounted (false negatives,
 * once more blocks have given way than the table has slots, four per
 * entry).  So the count says "at least"; zero as long as nothing gave
 * way.
 */

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/blockhash.h"
#include "common/keyhash.h"
#include "reader-exact.h"
#include "reader-over.h"

#define NONE UINT32_MAX

struct entry {
  uint64_t blk;
  uint32_t prev, next;        /* in its class's list, older and newer */
  uint8_t cls;
  uint8_t *img;               /* NULL: never used yet */
};

struct exact_view {
  struct bw_reader r;         /* first: the view is the exact_view */
  struct bw_reader *disk;
  uint32_t bs;
  struct entry *e;
  size_t total;
  uint32_t free;              /* unused entries, through next */
  struct {
    uint32_t oldest, newest;
    size_t n, max;
  } cls[EXACT_CLASSES];
  struct blockhash index;     /* block -> entry */
  uint64_t *gone;             /* gone_slots: block + 1 that gave way;
                               * 0: none */
  size_t gone_slots;          /* a power of 2 */
  uint64_t images, evicted, evicted_reads;
};

static uint64_t *
gone_slot (const struct exact_view *x, uint64_t blk)
{
  /* Keyed (as common/blockhash.c): a guest that could choose blocks of
   * one slot could write blocks that take each other's place there and
   * keep the count at 0 while reads are ahead.
   */
  return &x->gone[(size_t) keyhash_u64 (blk) & (x->gone_slots - 1)];
}

/* A handled record wrote blk, and the view does not keep it: the
 * bound (it gave way, or its class has no room).
 */
static void
gave_way (struct exact_view *x, uint64_t blk)
{
  *gone_slot (x, blk) = blk + 1;
}

/* blk, not kept, is read from the disk: ahead, maybe, if it gave way. */
static void
read_below (void *opaque, uint64_t blk)
{
  struct exact_view *x = opaque;

  if (*gone_slot (x, blk) == blk + 1)
    x->evicted_reads++;
}

static struct entry *
find (const struct exact_view *x, uint64_t blk)
{
  uint32_t idx;

  return blockhash_get (&x->index, blk, &idx) ? &x->e[idx] : NULL;
}

static void
unlink_entry (struct exact_view *x, uint32_t idx)
{
  struct entry *en = &x->e[idx];

  if (en->prev == NONE)
    x->cls[en->cls].oldest = en->next;
  else
    x->e[en->prev].next = en->next;
  if (en->next == NONE)
    x->cls[en->cls].newest = en->prev;
  else
    x->e[en->next].prev = en->prev;
  x->cls[en->cls].n--;
}

static void
link_newest (struct exact_view *x, uint32_t idx, enum exact_class c)
{
  struct entry *en = &x->e[idx];

  en->cls = c;
  en->next = NONE;
  en->prev = x->cls[c].newest;
  if (en->prev == NONE)
    x->cls[c].oldest = idx;
  else
    x->e[en->prev].next = idx;
  x->cls[c].newest = idx;
  x->cls[c].n++;
}

/* A kept block is forgotten: its entry is free again. */
static void
release (struct exact_view *x, uint32_t idx)
{
  unlink_entry (x, idx);
  blockhash_remove (&x->index, x->e[idx].blk);
  x->e[idx].next = x->free;
  x->free = idx;
}

/* The oldest of class c gives way to a newer one. */
static void
evict (struct exact_view *x, enum exact_class c)
{
  uint32_t idx = x->cls[c].oldest;

  gave_way (x, x->e[idx].blk);
  release (x, idx);
  x->evicted++;
}

/* A free entry for blk, not in any list or the index yet (there is one
 * while a class has room: the entries are as many as the bounds' sum).
 */
static uint32_t
take (struct exact_view *x, uint64_t blk)
{
  uint32_t idx = x->free;
  struct entry *en = &x->e[idx];

  x->free = en->next;
  if (en->img == NULL) {
    en->img = bw_xcalloc (1, x->bs);
    x->images++;
  }
  en->blk = blk;
  return idx;
}

bool
exact_has (const struct exact_view *x, uint64_t blk)
{
  return find (x, blk) != NULL;
}

void
exact_write (struct exact_view *x, uint64_t blk, enum exact_class c,
             const uint8_t *data, uint64_t off, uint64_t len)
{
  struct entry *en = find (x, blk);
  uint64_t bstart = blk * x->bs, from, to;
  uint32_t idx;
  char err[256];

  from = off > bstart ? off : bstart;
  to = off + len < bstart + x->bs ? off + len : bstart + x->bs;
  if (from >= to)
    return;
  if (en) {
    idx = en - x->e;
    unlink_entry (x, idx);
    if (x->cls[c].max == 0)
      c = en->cls;            /* kept, though not a block of its class */
    else if (x->cls[c].n == x->cls[c].max)
      evict (x, c);
  }
  else {
    if (x->cls[c].max == 0) {
      gave_way (x, blk);
      return;
    }
    if (x->cls[c].n == x->cls[c].max)
      evict (x, c);
    idx = take (x, blk);
    en = &x->e[idx];
    /* Written in part (the kernel writes whole blocks): the rest as the
     * disk has it, or not kept at all.
     */
    if (from > bstart || to < bstart + x->bs) {
      if (bw_pread (x->disk, en->img, x->bs, bstart, err, sizeof err) == -1) {
        en->next = x->free;
        x->free = idx;
        return;
      }
      read_below (x, blk);
    }
    blockhash_put (&x->index, blk, idx);
  }
  if (data)
    memcpy (en->img + (from - bstart), data + (from - off), to - from);
  else
    memset (en->img + (from - bstart), 0, to - from);
  link_newest (x, idx, c);
}

void
exact_forget (struct exact_view *x, uint64_t blk)
{
  struct entry *en = find (x, blk);

  if (en)
    release (x, en - x->e);
  gave_way (x, blk);
}

void
exact_clear (struct exact_view *x)
{
  for (int c = 0; c < EXACT_CLASSES; c++)
    while (x->cls[c].n)
      release (x, x->cls[c].oldest);
  /* The storage is the best account now, not a bound's loss. */
  memset (x->gone, 0, x->gone_slots * sizeof *x->gone);
}

void
exact_get_stats (const struct exact_view *x, struct exact_stats *st)
{
  st->blocks = x->cls[EXACT_META].n + x->cls[EXACT_DATA].n;
  st->bytes = x->images * x->bs + x->total * sizeof *x->e +
              blockhash_bytes (&x->index) + x->gone_slots * sizeof *x->gone;
  st->evicted = x->evicted;
  st->evicted_reads = x->evicted_reads;
  st->probes = blockhash_probes (&x->index);
}

/* ---- the view ----------------------------------------------------- */

static const uint8_t *
image_of (void *opaque, uint64_t blk)
{
  const struct entry *en = find (opaque, blk);

  return en ? en->img : NULL;
}

static int
exact_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
             char *err, size_t errlen)
{
  struct exact_view *x = (struct exact_view *) r;
  const struct bw_kept k = {
    .name = "the disk as of the records", .below = x->disk, .bs = x->bs,
    .get = image_of, .read_below = read_below, .opaque = x,
  };

  return bw_read_kept (&k, buf, n, off, err, errlen);
}

static void
exact_close (struct bw_reader *r)
{
  (void) r;                   /* the exact_view owns its reader */
}

struct exact_view *
exact_new (struct bw_reader *disk, uint32_t bs,
           const size_t max[EXACT_CLASSES])
{
  struct exact_view *x = bw_xcalloc (1, sizeof *x);

  x->disk = disk;
  x->bs = bs;
  for (int c = 0; c < EXACT_CLASSES; c++) {
    x->cls[c].max = max[c];
    x->cls[c].oldest = x->cls[c].newest = NONE;
    x->total += max[c];
  }
  x->e = bw_xcalloc (x->total ? x->total : 1, sizeof *x->e);
  for (size_t i = 0; i < x->total; i++)
    x->e[i].next = i + 1 < x->total ? i + 1 : NONE;
  x->free = x->total ? 0 : NONE;
  blockhash_init (&x->index, x->total);
  for (x->gone_slots = 1024; x->gone_slots < 4 * x->total; )
    x->gone_slots *= 2;
  x->gone = bw_xcalloc (x->gone_slots, sizeof *x->gone);
  x->r.size = disk->size;
  x->r.sector_size = disk->sector_size;
  x->r.pread = exact_pread;
  x->r.close = exact_close;
  return x;
}

struct bw_reader *
exact_reader (struct exact_view *x)
{
  return &x->r;
}

void
exact_free (struct exact_view *x)
{
  if (x == NULL)
    return;
  for (size_t i = 0; i < x->total; i++)
    free (x->e[i].img);
  free (x->e);
  free (x->gone);
  blockhash_free (&x->index);
  free (x);
}
