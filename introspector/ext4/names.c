/* The model's names (see model.h): directory entries in an arena.
 *
 * A directory's entries are a singly linked list.  Removing one marks
 * it dead (ino 0), and model_settle unlinks the dead entries of each
 * directory that had some in one walk, so that no removal has to look
 * for its predecessor in a list that can be millions long.  Lookups by
 * name build a (parent, name) index of the directories they touch,
 * which model_settle drops again.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static struct dentry *
dent (const struct model *m, uint32_t id)
{
  return arena_ptr (&m->names, id);
}

static unsigned
dwords (unsigned len)
{
  return (offsetof (struct dentry, name) + len + 3) / 4;
}

_Static_assert ((offsetof (struct dentry, name) + 255 + 3) / 4
                <= ARENA_MAX_RUN, "a dentry fits an arena run");

/* ---- the index ---------------------------------------------------- */

static uint64_t
name_hash (uint32_t parent, const char *name, size_t len)
{
  uint64_t h = 14695981039346656037ull ^ parent;

  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t) name[i]) * 1099511628211ull;
  return h;
}

static size_t
home (const struct name_index *x, const struct dentry *d)
{
  return name_hash (d->parent, d->name, d->len) & (x->cap - 1);
}

static void
place (const struct model *m, struct name_index *x, uint32_t id)
{
  size_t i = home (x, dent (m, id));

  while (x->slot[i])
    i = (i + 1) & (x->cap - 1);
  x->slot[i] = id;
}

static void
index_insert (struct model *m, uint32_t id)
{
  struct name_index *x = &m->index;

  if ((x->n + 1) * 2 > x->cap) {
    uint32_t *old = x->slot;
    size_t oldcap = x->cap;

    x->cap = x->cap ? x->cap * 2 : 1024;
    x->slot = calloc (x->cap, sizeof *x->slot);
    if (x->slot == NULL) {
      fprintf (stderr, "blockwatch: out of memory for the name index\n");
      abort ();
    }
    for (size_t i = 0; i < oldcap; i++)
      if (old[i])
        place (m, x, old[i]);
    free (old);
  }
  place (m, x, id);
  x->n++;
}

static void
index_remove (struct model *m, uint32_t id)
{
  struct name_index *x = &m->index;
  size_t i = home (x, dent (m, id)), j;

  while (x->slot[i] != id)
    i = (i + 1) & (x->cap - 1);
  /* Linear probing: refill the hole (see idmap_del). */
  for (j = (i + 1) & (x->cap - 1); x->slot[j]; j = (j + 1) & (x->cap - 1)) {
    size_t h = home (x, dent (m, x->slot[j]));
    if (((j - h) & (x->cap - 1)) >= ((j - i) & (x->cap - 1))) {
      x->slot[i] = x->slot[j];
      i = j;
    }
  }
  x->slot[i] = 0;
  x->n--;
}

static bool
indexed (const struct model *m, uint32_t dir)
{
  return idmap_get (&m->index.dirs, dir) != 0;
}

/* The entry (parent, name), its directory indexed first if need be. */
static uint32_t
find (struct model *m, uint32_t parent, const char *name, size_t len)
{
  struct name_index *x = &m->index;
  size_t i;

  if (!indexed (m, parent)) {
    idmap_put (&x->dirs, parent, 1);
    for (uint32_t id = idmap_get (&m->kids, parent); id;
         id = dent (m, id)->next_child)
      if (dent (m, id)->ino)
        index_insert (m, id);
  }
  if (x->cap == 0)
    return 0;
  for (i = name_hash (parent, name, len) & (x->cap - 1); x->slot[i];
       i = (i + 1) & (x->cap - 1)) {
    const struct dentry *d = dent (m, x->slot[i]);
    if (d->parent == parent && d->len == len &&
        memcmp (d->name, name, len) == 0)
      return x->slot[i];
  }
  return 0;
}

uint32_t
model_lookup (struct model *m, uint32_t parent, const char *name, size_t len)
{
  uint32_t id = find (m, parent, name, len);

  return id ? dent (m, id)->ino : 0;
}

/* ---- adding and removing ------------------------------------------ */

bool
model_add_name (struct model *m, uint32_t parent, uint32_t ino,
                const char *name, size_t len)
{
  struct inode_rec *r = model_inode (m, ino);
  struct dentry *d;
  uint32_t id;

  if (len == 0 || len > 255 || model_inode (m, parent) == NULL || r == NULL)
    return false;
  id = arena_alloc (&m->names, dwords (len));
  d = dent (m, id);
  d->ino = ino;
  d->parent = parent;
  d->len = len;
  memcpy (d->name, name, len);
  d->next_child = idmap_get (&m->kids, parent);
  idmap_put (&m->kids, parent, id);
  if (r->names)
    idmap_put (&m->more_names, id, r->names);
  r->names = id;
  if (indexed (m, parent))
    index_insert (m, id);
  m->dcount++;
  return true;
}

/* Takes name id out of its inode's names. */
static void
unchain (struct model *m, uint32_t id)
{
  struct inode_rec *r = model_inode (m, dent (m, id)->ino);
  uint32_t next = idmap_get (&m->more_names, id), p;

  if (r->names == id)
    r->names = next;
  else {
    for (p = r->names; idmap_get (&m->more_names, p) != id; )
      p = idmap_get (&m->more_names, p);
    if (next)
      idmap_put (&m->more_names, p, next);
    else
      idmap_del (&m->more_names, p);
  }
  if (next)
    idmap_del (&m->more_names, id);
}

/* A name gone: out of its inode's names and the index at once; out of
 * its directory's list at model_settle.
 */
static void
bury (struct model *m, uint32_t id)
{
  struct dentry *d = dent (m, id);

  unchain (m, id);
  if (indexed (m, d->parent))
    index_remove (m, id);
  idmap_put (&m->sweep, d->parent, 1);
  d->ino = 0;
  m->dcount--;
}

void
model_remove_name (struct model *m, uint32_t parent, const char *name,
                   size_t len)
{
  uint32_t id = find (m, parent, name, len);

  if (id)
    bury (m, id);
}

bool
model_drop_extra_name (struct model *m, uint32_t ino)
{
  const struct inode_rec *r = model_inode (m, ino);

  if (r == NULL || r->names == 0 || idmap_get (&m->more_names, r->names) == 0)
    return false;
  bury (m, r->names);
  return true;
}

void
model_drop_names (struct model *m, uint32_t ino)
{
  struct inode_rec *r = model_inode (m, ino);
  uint32_t id, next;

  while (r->names)
    bury (m, r->names);
  /* A directory's entries go with it. */
  for (id = idmap_get (&m->kids, ino); id; id = next) {
    struct dentry *d = dent (m, id);

    next = d->next_child;
    if (d->ino) {
      unchain (m, id);
      if (indexed (m, ino))
        index_remove (m, id);
      m->dcount--;
    }
    arena_free (&m->names, id, dwords (d->len));
  }
  idmap_del (&m->kids, ino);
}

/* ---- walking ------------------------------------------------------ */

static const struct dentry *
live_from (const struct model *m, uint32_t id)
{
  while (id && dent (m, id)->ino == 0)
    id = dent (m, id)->next_child;
  return id ? dent (m, id) : NULL;
}

const struct dentry *
model_first_child (const struct model *m, uint32_t dir)
{
  return live_from (m, idmap_get (&m->kids, dir));
}

const struct dentry *
model_next_child (const struct model *m, const struct dentry *d)
{
  return live_from (m, d->next_child);
}

bool
model_is_path_name (const struct model *m, const struct dentry *d)
{
  const struct inode_rec *r = model_inode (m, d->ino);

  /* The root's path is "/", whatever names a corrupt tree gives it. */
  return d->ino != MODEL_ROOT_INO && r && r->names &&
         dent (m, r->names) == d;
}

/* ---- the end of a barrier ----------------------------------------- */

/* Unlinks and frees the dead entries of directory dir. */
static void
sweep (struct model *m, uint32_t dir)
{
  uint32_t head = idmap_get (&m->kids, dir), *link = &head, id;

  while ((id = *link) != 0) {
    struct dentry *d = dent (m, id);
    if (d->ino) {
      link = &d->next_child;
      continue;
    }
    *link = d->next_child;
    arena_free (&m->names, id, dwords (d->len));
  }
  if (head)
    idmap_put (&m->kids, dir, head);
  else
    idmap_del (&m->kids, dir);
}

void
model_settle (struct model *m)
{
  for (size_t i = 0; i < m->sweep.cap; i++)
    if (m->sweep.slot[i].key)
      sweep (m, m->sweep.slot[i].key);
  idmap_free (&m->sweep);
  free (m->index.slot);
  idmap_free (&m->index.dirs);
  memset (&m->index, 0, sizeof m->index);
}

size_t
model_names_bytes (const struct model *m)
{
  return arena_bytes (&m->names) + idmap_bytes (&m->kids)
         + idmap_bytes (&m->more_names) + idmap_bytes (&m->sweep)
         + m->index.cap * sizeof *m->index.slot
         + idmap_bytes (&m->index.dirs);
}

void
model_free_names (struct model *m)
{
  free (m->index.slot);
  idmap_free (&m->index.dirs);
  idmap_free (&m->sweep);
  idmap_free (&m->kids);
  idmap_free (&m->more_names);
  arena_release (&m->names);
  m->dcount = 0;
}
