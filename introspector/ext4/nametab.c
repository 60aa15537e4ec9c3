/* Tables of names by a keyed hash (see nametab.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keyhash.h"
#include "nametab.h"

/* ---- the hash ----------------------------------------------------- */

uint64_t
name_hash (uint32_t parent, const char *name, size_t len)
{
  /* The directory's number and the name in one message: names of
   * different directories share the model's index.
   */
  unsigned char msg[sizeof parent + 255];

  if (len > 255)
    len = 255;                /* no name is longer (ext4's name_len) */
  memcpy (msg, &parent, sizeof parent);
  memcpy (msg + sizeof parent, name, len);
  return keyhash (msg, sizeof parent + len);
}

/* ---- the table ---------------------------------------------------- */

static void
alloc_slots (struct nametab *t, size_t cap)
{
  t->cap = cap;
  t->slot = calloc (cap, sizeof *t->slot);
  if (t->slot == NULL) {
    fprintf (stderr, "blockwatch: out of memory for a table of names\n");
    abort ();
  }
}

void
nametab_init (struct nametab *t, size_t expect,
              uint64_t (*hash) (const void *owner, uint32_t id),
              bool (*is) (const void *owner, uint32_t id, const void *key),
              const void *owner)
{
  size_t cap = 64;

  while (cap < expect * 2)
    cap *= 2;
  *t = (struct nametab) { .hash = hash, .is = is, .owner = owner };
  alloc_slots (t, cap);
}

void
nametab_free (struct nametab *t)
{
  free (t->slot);
  t->slot = NULL;
  t->cap = t->n = 0;
}

static size_t
next (const struct nametab *t, size_t i)
{
  return (i + 1) & (t->cap - 1);
}

static void
place (struct nametab *t, uint64_t hash, uint32_t id)
{
  size_t i = hash & (t->cap - 1);

  for (t->probes++; t->slot[i]; t->probes++)
    i = next (t, i);
  t->slot[i] = id;
}

void
nametab_insert (struct nametab *t, uint64_t hash, uint32_t id)
{
  if ((t->n + 1) * 2 > t->cap) {
    uint32_t *old = t->slot;
    size_t oldcap = t->cap;

    alloc_slots (t, oldcap * 2);
    for (size_t i = 0; i < oldcap; i++)
      if (old[i])
        place (t, t->hash (t->owner, old[i]), old[i]);
    free (old);
  }
  place (t, hash, id);
  t->n++;
}

void
nametab_remove (struct nametab *t, uint64_t hash, uint32_t id)
{
  size_t i = hash & (t->cap - 1), j;

  for (t->probes++; t->slot[i] != id; t->probes++)
    i = next (t, i);
  /* Linear probing: refill the hole with a later id of the run that
   * may not sit past it (see idmap_del).
   */
  for (j = next (t, i); t->slot[j]; j = next (t, j)) {
    size_t h = t->hash (t->owner, t->slot[j]) & (t->cap - 1);

    t->probes++;
    if (((j - h) & (t->cap - 1)) >= ((j - i) & (t->cap - 1))) {
      t->slot[i] = t->slot[j];
      i = j;
    }
  }
  t->slot[i] = 0;
  t->n--;
}

uint32_t
nametab_find (struct nametab *t, uint64_t hash, const void *key)
{
  for (size_t i = hash & (t->cap - 1); t->slot[i]; i = next (t, i)) {
    t->probes++;
    if (t->is (t->owner, t->slot[i], key))
      return t->slot[i];
  }
  return 0;
}

size_t
nametab_bytes (const struct nametab *t)
{
  return t->cap * sizeof *t->slot;
}
