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
dentry_hash (const void *owner, uint32_t id)
{
  const struct dentry *d = dent (owner, id);

  return name_hash (d->parent, d->name, d->len);
}

struct name_key {
  uint32_t parent;
  const char *name;
  size_t len;
};

static bool
dentry_is (const void *owner, uint32_t id, const void *key)
{
  const struct dentry *d = dent (owner, id);
  const struct name_key *k = key;

  return d->parent == k->parent && d->len == k->len &&
         memcmp (d->name, k->name, k->len) == 0;
}

static void
index_insert (struct model *m, uint32_t id)
{
  nametab_insert (&m->index.tab, dentry_hash (m, id), id);
}

static void
index_remove (struct model *m, uint32_t id)
{
  nametab_remove (&m->index.tab, dentry_hash (m, id), id);
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
  struct name_key k = { parent, name, len };

  if (!indexed (m, parent)) {
    if (x->tab.slot == NULL)
      nametab_init (&x->tab, 0, dentry_hash, dentry_is, m);
    idmap_put (&x->dirs, parent, 1);
    for (uint32_t id = idmap_get (&m->kids, parent); id;
         id = dent (m, id)->next_child)
      if (dent (m, id)->ino)
        index_insert (m, id);
  }
  return nametab_find (&x->tab, name_hash (parent, name, len), &k);
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
  if (r->names) {
    idmap_put (&m->more_names, id, r->names);
    idmap_put (&m->newer_name, r->names, id);
  }
  r->names = id;
  if (indexed (m, parent))
    index_insert (m, id);
  m->dcount++;
  return true;
}

/* Takes name id out of its inode's names, in constant time: the list
 * is linked both ways.  Walked to find the name before, it made a
 * hostile file system's one inode with tens of thousands of names
 * quadratic to take apart (65536 links: 15 s).
 */
static void
unchain (struct model *m, uint32_t id)
{
  struct inode_rec *r = model_inode (m, dent (m, id)->ino);
  uint32_t next = idmap_get (&m->more_names, id);
  uint32_t prev = idmap_get (&m->newer_name, id);

  if (r->names == id)
    r->names = next;
  else if (next)
    idmap_put (&m->more_names, prev, next);
  else
    idmap_del (&m->more_names, prev);
  if (next && prev)
    idmap_put (&m->newer_name, next, prev);
  else if (next)
    idmap_del (&m->newer_name, next);
  if (next)
    idmap_del (&m->more_names, id);
  if (prev)
    idmap_del (&m->newer_name, id);
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
  m->name_probes += m->index.tab.probes;
  nametab_free (&m->index.tab);
  idmap_free (&m->index.dirs);
  memset (&m->index, 0, sizeof m->index);
}

size_t
model_id_probes (const struct model *m)
{
  return idmap_probes (&m->kids) + idmap_probes (&m->more_names)
         + idmap_probes (&m->newer_name) + idmap_probes (&m->sweep)
         + idmap_probes (&m->index.dirs);
}

size_t
model_names_bytes (const struct model *m)
{
  return arena_bytes (&m->names) + idmap_bytes (&m->kids)
         + idmap_bytes (&m->more_names) + idmap_bytes (&m->newer_name)
         + idmap_bytes (&m->sweep)
         + nametab_bytes (&m->index.tab)
         + idmap_bytes (&m->index.dirs);
}

void
model_free_names (struct model *m)
{
  nametab_free (&m->index.tab);
  idmap_free (&m->index.dirs);
  idmap_free (&m->sweep);
  idmap_free (&m->kids);
  idmap_free (&m->more_names);
  idmap_free (&m->newer_name);
  arena_release (&m->names);
  m->dcount = 0;
}
