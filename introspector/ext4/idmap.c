/* 32-bit id to 32-bit id maps (see idmap.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keyhash.h"
#include "idmap.h"

/* Keyed (common/keyhash.h): the keys are inode numbers and ids the
 * guest's directories and links decide.
 */
static size_t
home (const struct idmap *m, uint32_t key)
{
  return (size_t) keyhash_u64 (key) & (m->cap - 1);
}

/* How far slot i is past slot from, going round the end. */
static size_t
dist (const struct idmap *m, size_t from, size_t i)
{
  return (i - from) & (m->cap - 1);
}

/* Key's slot, or the empty one where it would go; *from: its home. */
static size_t
find_from (const struct idmap *m, uint32_t key, size_t *from)
{
  size_t i = *from = home (m, key);

  while (m->slot[i].key && m->slot[i].key != key)
    i = (i + 1) & (m->cap - 1);
  return i;
}

static size_t
find (const struct idmap *m, uint32_t key)
{
  size_t from;

  return find_from (m, key, &from);
}

/* Puts slot s, whose key m does not hold, where it goes. */
static void
place (struct idmap *m, struct idmap_slot s)
{
  size_t from, i = find_from (m, s.key, &from);

  m->slot[i] = s;
  m->displaced += dist (m, from, i);
}

uint32_t
idmap_get (const struct idmap *m, uint32_t key)
{
  return m->cap ? m->slot[find (m, key)].val : 0;
}

static void
grow (struct idmap *m)
{
  struct idmap old = *m;

  m->bits = m->bits ? m->bits + 1 : 4;
  m->cap = (size_t) 1 << m->bits;
  m->slot = calloc (m->cap, sizeof *m->slot);
  if (m->slot == NULL) {
    fprintf (stderr, "blockwatch: out of memory for the file system model\n");
    abort ();
  }
  m->displaced = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slot[i].key)
      place (m, old.slot[i]);
  free (old.slot);
}

void
idmap_put (struct idmap *m, uint32_t key, uint32_t val)
{
  size_t from, i;

  if ((m->n + 1) * 4 > m->cap * 3)
    grow (m);
  i = find_from (m, key, &from);
  if (m->slot[i].key == 0) {
    m->slot[i].key = key;
    m->n++;
    m->displaced += dist (m, from, i);
  }
  m->slot[i].val = val;
}

void
idmap_del (struct idmap *m, uint32_t key)
{
  size_t from, i, j;

  if (m->cap == 0 || m->slot[i = find_from (m, key, &from)].key == 0)
    return;
  m->displaced -= dist (m, from, i);
  /* Linear probing: move later entries of the run back into the hole
   * when their home position allows it, so every one stays reachable.
   */
  for (j = (i + 1) & (m->cap - 1); m->slot[j].key; j = (j + 1) & (m->cap - 1)) {
    size_t h = home (m, m->slot[j].key);
    if (dist (m, h, j) >= dist (m, i, j)) {
      m->displaced -= dist (m, i, j);
      m->slot[i] = m->slot[j];
      i = j;
    }
  }
  m->slot[i].key = 0;
  m->slot[i].val = 0;
  m->n--;
}

size_t
idmap_probes (const struct idmap *m)
{
  return m->n + m->displaced;
}

size_t
idmap_bytes (const struct idmap *m)
{
  return m->cap * sizeof *m->slot;
}

void
idmap_free (struct idmap *m)
{
  free (m->slot);
  memset (m, 0, sizeof *m);
}
