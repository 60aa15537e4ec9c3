/* Where the fixed metadata of the file system is, by block: superblock
 * and descriptor copies, bitmaps, inode tables.  Built from the group
 * descriptors whenever they are (re)read; locations outside the file
 * system (a hostile descriptor) are left out, so their blocks count as
 * ordinary blocks rather than steering reads anywhere.
 */

#include <stdio.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "ext4-impl.h"

static int
add (struct ext4fs *fs, size_t *cap, uint64_t start, uint64_t len,
     enum region_kind kind, uint32_t group)
{
  if (len == 0 || start >= fs->nblocks || len > fs->nblocks - start ||
      len > UINT32_MAX)
    return 0;
  if (fs->nregions == *cap) {
    size_t ncap = *cap ? *cap * 2 : 64;
    struct region *r = realloc (fs->regions, ncap * sizeof *r);
    if (r == NULL)
      return -1;
    fs->regions = r;
    *cap = ncap;
  }
  fs->regions[fs->nregions++] = (struct region) {
    .start = start, .len = len, .kind = kind, .group = group,
  };
  return 0;
}

static int
by_start (const void *a, const void *b)
{
  const struct region *x = a, *y = b;

  return x->start < y->start ? -1 : x->start > y->start;
}

int
layout_build (struct ext4fs *fs, char *err, size_t errlen)
{
  ext2_filsys e = fs->fs;
  size_t cap = 0;
  int r = 0;

  free (fs->regions);
  fs->regions = NULL;
  fs->nregions = 0;
  for (dgrp_t g = 0; g < e->group_desc_count && r == 0; g++) {
    blk64_t super = 0, old_desc = 0, new_desc = 0;
    blk_t used = 0;

    ext2fs_super_and_bgd_loc2 (e, g, &super, &old_desc, &new_desc, &used);
    if (g == 0) {
      /* The primary superblock is at byte 1024, in block 0 or 1. */
      r |= add (fs, &cap, e->super->s_first_data_block, 1, R_SUPER, 0);
      if (old_desc)
        r |= add (fs, &cap, old_desc, e->desc_blocks +
                  e->super->s_reserved_gdt_blocks, R_GDT, 0);
    }
    else if (super) {
      r |= add (fs, &cap, super, 1, R_BACKUP, g);
      if (old_desc)
        r |= add (fs, &cap, old_desc, e->desc_blocks +
                  e->super->s_reserved_gdt_blocks, R_BACKUP, g);
    }
    /* meta_bg: each meta group's descriptors live in its own groups. */
    if (new_desc)
      r |= add (fs, &cap, new_desc, 1, R_GDT, g);
    r |= add (fs, &cap, ext2fs_block_bitmap_loc (e, g), 1, R_BBITMAP, g);
    r |= add (fs, &cap, ext2fs_inode_bitmap_loc (e, g), 1, R_IBITMAP, g);
    r |= add (fs, &cap, ext2fs_inode_table_loc (e, g),
              e->inode_blocks_per_group, R_ITABLE, g);
  }
  if (r) {
    snprintf (err, errlen, "out of memory for the layout");
    return -1;
  }
  if (fs->nregions)
    qsort (fs->regions, fs->nregions, sizeof *fs->regions, by_start);
  return 0;
}

const struct region *
layout_find (const struct ext4fs *fs, uint64_t blk)
{
  size_t lo = 0, hi = fs->nregions;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const struct region *x = &fs->regions[mid];
    if (blk < x->start)
      hi = mid;
    else if (blk - x->start >= x->len)
      lo = mid + 1;
    else
      return x;
  }
  return NULL;
}

void
numset_add (struct numset *s, uint64_t v)
{
  s->v = bw_grow (s->v, &s->cap, s->n, sizeof *s->v);
  s->v[s->n++] = v;
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return x < y ? -1 : x > y;
}

void
numset_sort_unique (struct numset *s)
{
  size_t j = 0;

  if (s->n == 0)
    return;
  qsort (s->v, s->n, sizeof *s->v, cmp_u64);
  for (size_t i = 0; i < s->n; i++)
    if (j == 0 || s->v[j - 1] != s->v[i])
      s->v[j++] = s->v[i];
  s->n = j;
}

uint64_t *
numset_find (struct numset *s, uint64_t v)
{
  return s->n ? bsearch (&v, s->v, s->n, sizeof v, cmp_u64) : NULL;
}

size_t
numset_lower_bound (const struct numset *s, uint64_t v)
{
  size_t lo = 0, hi = s->n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->v[mid] < v)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

void
numset_clear (struct numset *s)
{
  s->n = 0;
}

void
numset_free (struct numset *s)
{
  free (s->v);
  *s = (struct numset) { 0 };
}
