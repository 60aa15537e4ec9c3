/* Committed images over the disk (see overlay.h): the images in an
 * array, and an index of their home block numbers (common/blockhash).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/blockhash.h"
#include "disk/reader-over.h"
#include "overlay.h"

struct slot {
  uint64_t home;
  uint32_t tid;
  uint8_t *image;
};

struct overlay {
  struct bw_reader view;      /* first: the view is the overlay */
  struct bw_reader *disk;
  uint32_t bs;
  struct slot *slots;         /* count of them, in no order */
  size_t cap, count;
  struct blockhash index;     /* home -> slot */
};

static struct slot *
find (const struct overlay *ov, uint64_t home)
{
  uint32_t i;

  return blockhash_get (&ov->index, home, &i) ? &ov->slots[i] : NULL;
}

/* Slot i goes; the last one takes its place. */
static void
remove_at (struct overlay *ov, size_t i)
{
  free (ov->slots[i].image);
  blockhash_remove (&ov->index, ov->slots[i].home);
  if (i != --ov->count) {
    ov->slots[i] = ov->slots[ov->count];
    blockhash_put (&ov->index, ov->slots[i].home, i);
  }
}

void
overlay_put (struct overlay *ov, uint64_t home, uint32_t tid,
             const uint8_t *image)
{
  struct slot *s = find (ov, home);

  if (s == NULL) {
    ov->slots = bw_grow (ov->slots, &ov->cap, ov->count, sizeof *ov->slots);
    s = &ov->slots[ov->count];
    *s = (struct slot) { .home = home, .image = bw_xcalloc (1, ov->bs) };
    blockhash_put (&ov->index, home, ov->count++);
  }
  s->tid = tid;
  memcpy (s->image, image, ov->bs);
}

const uint8_t *
overlay_get (const struct overlay *ov, uint64_t home)
{
  const struct slot *s = find (ov, home);

  return s ? s->image : NULL;
}

bool
overlay_drop (struct overlay *ov, uint64_t home)
{
  struct slot *s = find (ov, home);

  if (s == NULL)
    return false;
  remove_at (ov, s - ov->slots);
  return true;
}

void
overlay_drop_before (struct overlay *ov, uint32_t tid, overlay_drop_fn fn,
                     void *opaque)
{
  /* Removing moves the last slot into the one just emptied, so the
   * same slot is looked at again.
   */
  for (size_t i = 0; i < ov->count; )
    if (tid_after (tid, ov->slots[i].tid)) {
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
  for (size_t i = 0; i < ov->count; i++) {
    if (fn)
      fn (opaque, ov->slots[i].home, ov->slots[i].image);
    free (ov->slots[i].image);
  }
  blockhash_clear (&ov->index);
  ov->count = 0;
}

uint64_t
overlay_count (const struct overlay *ov)
{
  return ov->count;
}

uint64_t
overlay_probes (const struct overlay *ov)
{
  return blockhash_probes (&ov->index);
}

/* ---- the view ----------------------------------------------------- */

static const uint8_t *
image_of (void *opaque, uint64_t blk)
{
  return overlay_get (opaque, blk);
}

static int
view_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
            char *err, size_t errlen)
{
  struct overlay *ov = (struct overlay *) r;
  const struct bw_kept k = {
    .name = "the journal's view", .below = ov->disk, .bs = ov->bs,
    .get = image_of, .opaque = ov,
  };

  return bw_read_kept (&k, buf, n, off, err, errlen);
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
  blockhash_init (&ov->index, 64);
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
  blockhash_free (&ov->index);
  free (ov);
}
