/* Committed images over the disk (see overlay.h): a hash of home block
 * numbers, open addressing with linear probing and backward-shift
 * deletion, so that entries come and go for as long as the file system
 * is watched without tombstones piling up.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "overlay.h"

struct slot {
  uint64_t home;
  uint32_t tid;
  uint8_t *image;             /* NULL: the slot is empty */
};

struct overlay {
  struct bw_reader view;      /* first: the view is the overlay */
  struct bw_reader *disk;
  uint32_t bs;
  struct slot *slots;
  size_t cap, count;
};

static size_t
home_slot (const struct overlay *ov, uint64_t home)
{
  return (size_t) ((home * 0x9E3779B97F4A7C15ull) >> 32) & (ov->cap - 1);
}

static struct slot *
find (const struct overlay *ov, uint64_t home)
{
  for (size_t i = home_slot (ov, home); ov->slots[i].image;
       i = (i + 1) & (ov->cap - 1))
    if (ov->slots[i].home == home)
      return &ov->slots[i];
  return NULL;
}

static void
place (struct overlay *ov, struct slot s)
{
  size_t i = home_slot (ov, s.home);

  while (ov->slots[i].image)
    i = (i + 1) & (ov->cap - 1);
  ov->slots[i] = s;
}

static void
remove_at (struct overlay *ov, size_t i)
{
  size_t j = i;

  free (ov->slots[i].image);
  ov->slots[i].image = NULL;
  ov->count--;
  /* Backward shift: move up every later entry of the run that would no
   * longer be found past the hole.
   */
  for (;;) {
    j = (j + 1) & (ov->cap - 1);
    if (ov->slots[j].image == NULL)
      return;
    size_t want = home_slot (ov, ov->slots[j].home);
    if (((j - want) & (ov->cap - 1)) >= ((j - i) & (ov->cap - 1))) {
      ov->slots[i] = ov->slots[j];
      ov->slots[j].image = NULL;
      i = j;
    }
  }
}

void
overlay_put (struct overlay *ov, uint64_t home, uint32_t tid,
             const uint8_t *image)
{
  struct slot *s = find (ov, home);

  if (s == NULL) {
    if ((ov->count + 1) * 4 > ov->cap * 3) {
      struct slot *old = ov->slots;
      size_t oldcap = ov->cap;
      ov->cap *= 2;
      ov->slots = bw_xcalloc (ov->cap, sizeof *ov->slots);
      for (size_t i = 0; i < oldcap; i++)
        if (old[i].image)
          place (ov, old[i]);
      free (old);
    }
    place (ov, (struct slot) { .home = home, .image = bw_xcalloc (1, ov->bs) });
    ov->count++;
    s = find (ov, home);
  }
  s->tid = tid;
  memcpy (s->image, image, ov->bs);
}

const uint8_t *
overlay_get (const struct overlay *ov, uint64_t home)
{
  const struct slot *s = ov->count ? find (ov, home) : NULL;

  return s ? s->image : NULL;
}

bool
overlay_drop (struct overlay *ov, uint64_t home)
{
  struct slot *s = ov->count ? find (ov, home) : NULL;

  if (s == NULL)
    return false;
  remove_at (ov, s - ov->slots);
  return true;
}

void
overlay_drop_before (struct overlay *ov, uint32_t tid, overlay_drop_fn fn,
                     void *opaque)
{
  /* Deleting shifts later entries back into the slot just emptied, so
   * the same slot is looked at again.
   */
  for (size_t i = 0; i < ov->cap && ov->count; )
    if (ov->slots[i].image && tid_after (tid, ov->slots[i].tid)) {
      if (fn)
        fn (opaque, ov->slots[i].home, ov->slots[i].image);
      remove_at (ov, i);
    }
    else
      i++;
}

void
overlay_clear (struct overlay *ov, overlay_drop_fn fn, void *opaque)
{
  for (size_t i = 0; i < ov->cap; i++) {
    if (fn && ov->slots[i].image)
      fn (opaque, ov->slots[i].home, ov->slots[i].image);
    free (ov->slots[i].image);
    ov->slots[i].image = NULL;
  }
  ov->count = 0;
}

uint64_t
overlay_count (const struct overlay *ov)
{
  return ov->count;
}

uint64_t
overlay_bytes (const struct overlay *ov)
{
  return ov->count * (uint64_t) ov->bs + ov->cap * sizeof *ov->slots;
}

/* ---- the view ----------------------------------------------------- */

static int
view_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
            char *err, size_t errlen)
{
  struct overlay *ov = (struct overlay *) r;
  uint8_t *out = buf;

  if (bw_pread (ov->disk, buf, n, off, err, errlen) == -1)
    return -1;
  if (ov->count == 0 || n == 0)
    return 0;
  for (uint64_t b = off / ov->bs; b <= (off + n - 1) / ov->bs; b++) {
    const struct slot *s = find (ov, b);
    uint64_t bstart = b * ov->bs;
    uint64_t from = off > bstart ? off : bstart;
    uint64_t to = off + n < bstart + ov->bs ? off + n : bstart + ov->bs;

    if (s)
      memcpy (out + (from - off), s->image + (from - bstart), to - from);
  }
  return 0;
}

static void
view_close (struct bw_reader *r)
{
  (void) r;                   /* the overlay owns the view */
}

struct overlay *
overlay_new (struct bw_reader *disk, uint32_t blocksize)
{
  struct overlay *ov = bw_xcalloc (1, sizeof *ov);

  ov->disk = disk;
  ov->bs = blocksize;
  ov->cap = 64;
  ov->slots = bw_xcalloc (ov->cap, sizeof *ov->slots);
  ov->view.size = disk->size;
  ov->view.sector_size = disk->sector_size;
  ov->view.pread = view_pread;
  ov->view.close = view_close;
  return ov;
}

struct bw_reader *
overlay_view (struct overlay *ov)
{
  return &ov->view;
}

void
overlay_free (struct overlay *ov)
{
  if (ov == NULL)
    return;
  overlay_clear (ov, NULL, NULL);
  free (ov->slots);
  free (ov);
}
