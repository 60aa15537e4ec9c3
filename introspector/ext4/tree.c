/* The model's tree, name by name, for `blockwatch crawl --list` and the
 * tests that compare the introspector's view with a file system mounted
 * or checked by other tools.
 */

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "ext4-impl.h"

struct frame {
  uint32_t dir;
  size_t len;                 /* of the path up to and including dir */
  const struct dentry *next;  /* the entry to visit next */
};

void
ext4_walk_tree (const struct ext4fs *fs,
                void (*fn) (const struct ext4_entry *e, void *opaque),
                void *opaque)
{
  char *path = malloc (MODEL_PATH_MAX);
  struct frame *st = NULL;
  size_t n = 0, cap = 0;

  if (path == NULL || model_inode (&fs->m, MODEL_ROOT_INO) == NULL) {
    free (path);
    return;
  }
  /* Depth first; a directory that is already on the stack (a loop in a
   * corrupt tree) is not entered again.
   */
  st = bw_grow (st, &cap, n, sizeof *st);
  st[n++] = (struct frame) {
    MODEL_ROOT_INO, 0, model_first_child (&fs->m, MODEL_ROOT_INO),
  };
  while (n) {
    struct frame *f = &st[n - 1];
    const struct dentry *d = f->next;
    const struct inode_rec *r;
    struct ext4_entry e;
    bool loop = false;

    if (d == NULL) {
      n--;
      continue;
    }
    f->next = model_next_child (&fs->m, d);
    if (d->ino == 0 || (r = model_inode (&fs->m, d->ino)) == NULL ||
        f->len + 1 + d->len >= MODEL_PATH_MAX)
      continue;
    path[f->len] = '/';
    memcpy (path + f->len + 1, d->name, d->len);
    e = (struct ext4_entry) {
      .path = path, .path_len = f->len + 1 + d->len, .inode = d->ino,
      .file_type = attrs_file_type (&r->a), .mode = r->a.mode,
      .uid = r->a.uid, .gid = r->a.gid, .size = r->a.size,
      .links = r->a.links,
    };
    fn (&e, opaque);
    if (e.file_type != BW_FT_DIR)
      continue;
    for (size_t i = 0; i < n; i++)
      loop |= st[i].dir == d->ino;
    if (loop)
      continue;
    st = bw_grow (st, &cap, n, sizeof *st);
    st[n] = (struct frame) {
      d->ino, e.path_len, model_first_child (&fs->m, d->ino),
    };
    n++;
  }
  free (st);
  free (path);
}
