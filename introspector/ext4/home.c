/* Checksums of home blocks as the handled records left them (see
 * home.h): open addressing with linear probing and backward-shift
 * deletion, in a table sized once for the bound.
 */

#include <stdlib.h>

#include "common/alloc.h"
#include "home.h"

struct home_slot {
  uint64_t blk1;              /* block + 1; 0: empty */
  uint32_t crc;
  bool known;
};

struct home_map {
  struct home_slot *slot;
  size_t cap, n, max;
};

static size_t
slot_of (const struct home_map *m, uint64_t blk)
{
  return (size_t) ((blk * 0x9E3779B97F4A7C15ull) >> 32) & (m->cap - 1);
}

struct home_map *
home_new (size_t max)
{
  struct home_map *m = bw_xcalloc (1, sizeof *m);

  m->max = max ? max : 1;
  m->cap = 2;
  while (m->cap < 2 * m->max)         /* at most half full */
    m->cap *= 2;
  m->slot = bw_xcalloc (m->cap, sizeof *m->slot);
  return m;
}

void
home_free (struct home_map *m)
{
  if (m == NULL)
    return;
  free (m->slot);
  free (m);
}

static struct home_slot *
find (const struct home_map *m, uint64_t blk)
{
  for (size_t i = slot_of (m, blk); m->slot[i].blk1;
       i = (i + 1) & (m->cap - 1))
    if (m->slot[i].blk1 == blk + 1)
      return &m->slot[i];
  return NULL;
}

static void
remove_at (struct home_map *m, size_t i)
{
  size_t j = i;

  m->slot[i].blk1 = 0;
  m->n--;
  for (;;) {
    j = (j + 1) & (m->cap - 1);
    if (m->slot[j].blk1 == 0)
      return;
    size_t want = slot_of (m, m->slot[j].blk1 - 1);
    if (((j - want) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
      m->slot[i] = m->slot[j];
      m->slot[j].blk1 = 0;
      i = j;
    }
  }
}

static struct home_slot *
add (struct home_map *m, uint64_t blk)
{
  struct home_slot *s = find (m, blk);
  size_t i;

  if (s)
    return s;
  /* Full: the entry at the head of blk's probe run gives way (any
   * entry would do; this one is at hand).
   */
  if (m->n == m->max) {
    for (i = slot_of (m, blk); m->slot[i].blk1 == 0;
         i = (i + 1) & (m->cap - 1))
      ;
    remove_at (m, i);
  }
  for (i = slot_of (m, blk); m->slot[i].blk1; i = (i + 1) & (m->cap - 1))
    ;
  m->slot[i] = (struct home_slot) { .blk1 = blk + 1 };
  m->n++;
  return &m->slot[i];
}

void
home_set (struct home_map *m, uint64_t blk, uint32_t crc)
{
  struct home_slot *s = add (m, blk);

  s->crc = crc;
  s->known = true;
}

void
home_expect (struct home_map *m, uint64_t blk)
{
  add (m, blk)->known = false;
}

bool
home_get (const struct home_map *m, uint64_t blk, uint32_t *crc, bool *known)
{
  const struct home_slot *s = m->n ? find (m, blk) : NULL;

  if (s == NULL)
    return false;
  *crc = s->crc;
  *known = s->known;
  return true;
}

void
home_drop (struct home_map *m, uint64_t blk)
{
  struct home_slot *s = m->n ? find (m, blk) : NULL;

  if (s)
    remove_at (m, s - m->slot);
}
