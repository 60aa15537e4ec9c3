/* 32-bit id to 32-bit id maps (see idmap.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

static size_t
home (const struct idmap *m, uint32_t key)
{
  return (key * 0x9e3779b97f4a7c15ull) >> (64 - m->bits);
}

static size_t
find (const struct idmap *m, uint32_t key)
{
  size_t i = home (m, key);

  while (m->slot[i].key && m->slot[i].key != key)
    i = (i + 1) & (m->cap - 1);
  return i;
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
  for (size_t i = 0; i < old.cap; i++)
    if (old.slot[i].key)
      m->slot[find (m, old.slot[i].key)] = old.slot[i];
  free (old.slot);
}

void
idmap_put (struct idmap *m, uint32_t key, uint32_t val)
{
  size_t i;

  if ((m->n + 1) * 4 > m->cap * 3)
    grow (m);
  i = find (m, key);
  if (m->slot[i].key == 0) {
    m->slot[i].key = key;
    m->n++;
  }
  m->slot[i].val = val;
}

void
idmap_del (struct idmap *m, uint32_t key)
{
  size_t i, j;

  if (m->cap == 0 || m->slot[i = find (m, key)].key == 0)
    return;
  /* Linear probing: move later entries of the run back into the hole
   * when their home position allows it, so every one stays reachable.
   */
  for (j = (i + 1) & (m->cap - 1); m->slot[j].key; j = (j + 1) & (m->cap - 1)) {
    size_t h = home (m, m->slot[j].key);
    if (((j - h) & (m->cap - 1)) >= ((j - i) & (m->cap - 1))) {
      m->slot[i] = m->slot[j];
      i = j;
    }
  }
  m->slot[i].key = 0;
  m->slot[i].val = 0;
  m->n--;
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
