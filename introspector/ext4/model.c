/* The in-memory model of one file system (see model.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static void *
xcalloc (size_t n, size_t size)
{
  void *p = calloc (n, size);

  /* A model with holes would report events that did not happen; there
   * is no useful way to go on without memory.
   */
  if (p == NULL) {
    fprintf (stderr, "blockwatch: out of memory for the file system model\n");
    abort ();
  }
  return p;
}

void
model_init (struct model *m)
{
  memset (m, 0, sizeof *m);
  m->cap = 1024;
  m->slots = xcalloc (m->cap, sizeof *m->slots);
}

/* ---- inodes ------------------------------------------------------ */

static size_t
islot (const struct model *m, uint32_t ino)
{
  return (ino * 2654435761u) & (m->cap - 1);
}

struct inode_rec *
model_inode (const struct model *m, uint32_t ino)
{
  for (size_t i = islot (m, ino); m->slots[i]; i = (i + 1) & (m->cap - 1))
    if (m->slots[i]->ino == ino)
      return m->slots[i];
  return NULL;
}

static void
place (struct model *m, struct inode_rec *r)
{
  size_t i = islot (m, r->ino);

  while (m->slots[i])
    i = (i + 1) & (m->cap - 1);
  m->slots[i] = r;
}

struct inode_rec *
model_add_inode (struct model *m, uint32_t ino, const struct attrs *a)
{
  struct inode_rec *r = xcalloc (1, sizeof *r);

  if ((m->count + 1) * 4 > m->cap * 3) {
    struct inode_rec **old = m->slots;
    size_t oldcap = m->cap;
    m->cap *= 2;
    m->slots = xcalloc (m->cap, sizeof *m->slots);
    for (size_t i = 0; i < oldcap; i++)
      if (old[i])
        place (m, old[i]);
    free (old);
  }
  r->ino = ino;
  r->a = *a;
  place (m, r);
  m->count++;
  return r;
}

/* Linear probing: refill the hole so every later entry stays reachable. */
static void
unslot (struct model *m, uint32_t ino)
{
  size_t i = islot (m, ino), j;

  while (m->slots[i]->ino != ino)
    i = (i + 1) & (m->cap - 1);
  m->slots[i] = NULL;
  for (j = (i + 1) & (m->cap - 1); m->slots[j]; j = (j + 1) & (m->cap - 1)) {
    struct inode_rec *r = m->slots[j];
    m->slots[j] = NULL;
    place (m, r);
  }
  m->count--;
}

/* ---- blocks ------------------------------------------------------ */

void
model_clear_blocks (struct model *m, struct inode_rec *r)
{
  while (r->blocks) {
    uint32_t id = r->blocks;
    r->blocks = bm_get (&m->owners, id)->next;
    bm_remove (&m->owners, id);
  }
}

void
model_add_block (struct model *m, struct inode_rec *r, uint64_t start,
                 uint32_t len, uint32_t lblk, enum bm_kind kind)
{
  while (len) {
    uint32_t n = len < BM_LEN_MAX ? len : BM_LEN_MAX;
    uint32_t id = bm_insert (&m->owners, start, n, r->ino, lblk, kind);

    bm_get (&m->owners, id)->next = r->blocks;
    r->blocks = id;
    start += n;
    if (kind != BM_MAP)
      lblk += n;
    len -= n;
  }
}

void
model_drop_inode (struct model *m, uint32_t ino)
{
  struct inode_rec *r = model_inode (m, ino);

  if (r == NULL)
    return;
  model_drop_names (m, ino);
  model_clear_blocks (m, r);
  unslot (m, ino);
  free (r);
}

/* ---- paths ------------------------------------------------------- */

size_t
model_path (const struct model *m, uint32_t ino, char *buf, size_t bufsize)
{
  /* Built from the end: name, then its parent's name, and so on. */
  size_t pos = bufsize;
  unsigned depth = 0;

  if (ino == MODEL_ROOT_INO) {
    if (bufsize < 1)
      return 0;
    buf[0] = '/';
    return 1;
  }
  while (ino != MODEL_ROOT_INO) {
    const struct inode_rec *r = model_inode (m, ino);
    const struct dentry *d = r && r->names ? arena_ptr (&m->names, r->names)
                                           : NULL;

    if (d == NULL || ++depth > 4096 || pos < (size_t) d->len + 1)
      return 0;               /* unnamed, a loop, or too long */
    pos -= d->len;
    memcpy (buf + pos, d->name, d->len);
    buf[--pos] = '/';
    ino = d->parent;
  }
  memmove (buf, buf + pos, bufsize - pos);
  return bufsize - pos;
}

size_t
model_bytes (const struct model *m)
{
  return m->count * (sizeof (struct inode_rec) + 16)
         + m->cap * sizeof *m->slots
         + model_names_bytes (m)
         + bm_bytes (&m->owners) + bm_bytes (&m->gaps);
}

void
model_free (struct model *m)
{
  for (size_t i = 0; i < m->cap; i++)
    free (m->slots[i]);
  free (m->slots);
  model_free_names (m);
  bm_free_all (&m->owners);
  bm_free_all (&m->gaps);
  memset (m, 0, sizeof *m);
}
