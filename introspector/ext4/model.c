/* The in-memory model of one file system (see model.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define LEAF_INODES (1u << MODEL_LEAF_SHIFT)

_Static_assert (sizeof (struct inode_rec) == 72, "inode records are 72 bytes");

static void
out_of_memory (void)
{
  /* A model with holes would report events that did not happen; there
   * is no useful way to go on without memory.
   */
  fprintf (stderr, "blockwatch: out of memory for the file system model\n");
  abort ();
}

void
model_init (struct model *m)
{
  memset (m, 0, sizeof *m);
  arena_init (&m->recs, sizeof (struct inode_rec), 32);
  arena_init (&m->names, sizeof (uint32_t), 32);
  bm_init (&m->owners);
  bm_init (&m->gaps);
}

/* ---- inodes ------------------------------------------------------ */

static uint32_t
rec_id (const struct model *m, uint32_t ino)
{
  uint32_t leaf = ino >> MODEL_LEAF_SHIFT;

  return leaf < m->nleaves && m->leaves[leaf]
         ? m->leaves[leaf]->rec[ino & (LEAF_INODES - 1)] : 0;
}

struct inode_rec *
model_inode (const struct model *m, uint32_t ino)
{
  uint32_t id = rec_id (m, ino);

  return id ? arena_ptr (&m->recs, id) : NULL;
}

uint32_t
model_next_inode (const struct model *m, uint32_t ino)
{
  uint64_t i = (uint64_t) ino + 1;

  while (i >> MODEL_LEAF_SHIFT < m->nleaves) {
    const struct model_leaf *l = m->leaves[i >> MODEL_LEAF_SHIFT];
    if (l == NULL) {
      i = (i | (LEAF_INODES - 1)) + 1;
      continue;
    }
    if (l->rec[i & (LEAF_INODES - 1)])
      return i;
    i++;
  }
  return 0;
}

struct inode_rec *
model_add_inode (struct model *m, uint32_t ino, const struct attrs *a)
{
  uint32_t leaf = ino >> MODEL_LEAF_SHIFT, id;
  struct inode_rec *r;

  if (leaf >= m->nleaves) {
    /* Grown to the highest inode number seen: a pointer per 1024. */
    uint32_t n = leaf + 1 > m->nleaves * 2 ? leaf + 1 : m->nleaves * 2;
    struct model_leaf **v = realloc (m->leaves, n * sizeof *v);
    if (v == NULL)
      out_of_memory ();
    memset (v + m->nleaves, 0, (n - m->nleaves) * sizeof *v);
    m->leaves = v;
    m->nleaves = n;
  }
  if (m->leaves[leaf] == NULL &&
      (m->leaves[leaf] = calloc (1, sizeof **m->leaves)) == NULL)
    out_of_memory ();
  id = arena_alloc (&m->recs, 1);
  m->leaves[leaf]->rec[ino & (LEAF_INODES - 1)] = id;
  m->leaves[leaf]->used++;
  m->count++;
  r = arena_ptr (&m->recs, id);
  r->a = *a;
  return r;
}

static void
unslot (struct model *m, uint32_t ino)
{
  struct model_leaf **l = &m->leaves[ino >> MODEL_LEAF_SHIFT];

  arena_free (&m->recs, (*l)->rec[ino & (LEAF_INODES - 1)], 1);
  (*l)->rec[ino & (LEAF_INODES - 1)] = 0;
  if (--(*l)->used == 0) {
    free (*l);
    *l = NULL;
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
model_add_block (struct model *m, uint32_t ino, uint64_t start,
                 uint32_t len, uint32_t lblk, enum bm_kind kind)
{
  struct inode_rec *r = model_inode (m, ino);

  while (len) {
    uint32_t n = len < BM_LEN_MAX ? len : BM_LEN_MAX;
    uint32_t id = bm_insert (&m->owners, start, n, ino, lblk, kind);

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
}

/* ---- paths ------------------------------------------------------- */

const struct dentry *
model_path_name (const struct model *m, uint32_t ino)
{
  const struct inode_rec *r = model_inode (m, ino);

  return r && r->names ? arena_ptr (&m->names, r->names) : NULL;
}

uint32_t
model_parent (const struct model *m, uint32_t ino)
{
  const struct dentry *d = model_path_name (m, ino);

  return d ? d->parent : 0;
}

size_t
model_path_tail (const struct model *m, uint32_t ino, char *buf,
                 size_t bufsize, uint32_t *top)
{
  /* Built from the end: name, then its parent's name, and so on.  No
   * limit on the depth but the buffer's: each name takes at least its
   * '/', so a loop in a corrupt tree ends when the buffer does, and a
   * real tree may be as deep as its names fit (a guest can nest far
   * past 4096 names with short ones; files down there must not go
   * unreported).
   */
  size_t pos = bufsize;
  const struct dentry *d;

  while (ino != MODEL_ROOT_INO && (d = model_path_name (m, ino)) != NULL) {
    if (pos < (size_t) d->len + 1) {
      errno = ENAMETOOLONG;
      return bufsize + 1;
    }
    pos -= d->len;
    memcpy (buf + pos, d->name, d->len);
    buf[--pos] = '/';
    ino = d->parent;
  }
  *top = ino;
  return pos;
}

size_t
model_path (const struct model *m, uint32_t ino, char *buf, size_t bufsize)
{
  uint32_t top;
  size_t pos;

  if (ino == MODEL_ROOT_INO) {
    if (bufsize < 1) {
      errno = ENAMETOOLONG;
      return 0;
    }
    buf[0] = '/';
    return 1;
  }
  pos = model_path_tail (m, ino, buf, bufsize, &top);
  if (pos > bufsize)
    return 0;
  if (top != MODEL_ROOT_INO) {
    errno = ENOENT;
    return 0;
  }
  memmove (buf, buf + pos, bufsize - pos);
  return bufsize - pos;
}

size_t
model_bytes (const struct model *m)
{
  size_t leaves = 0;

  for (uint32_t i = 0; i < m->nleaves; i++)
    leaves += m->leaves[i] ? sizeof **m->leaves : 0;
  return leaves + m->nleaves * sizeof *m->leaves + arena_bytes (&m->recs)
         + model_names_bytes (m)
         + bm_bytes (&m->owners) + bm_bytes (&m->gaps);
}

void
model_free (struct model *m)
{
  for (uint32_t i = 0; i < m->nleaves; i++)
    free (m->leaves[i]);
  free (m->leaves);
  arena_release (&m->recs);
  model_free_names (m);
  bm_free_all (&m->owners);
  bm_free_all (&m->gaps);
  memset (m, 0, sizeof *m);
}
