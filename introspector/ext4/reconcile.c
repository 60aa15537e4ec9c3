/* The barrier: what the disk says now against what the model says, as
 * events, in an order a consumer can replay: deletes and unlinks, then
 * renames, then creates and links, then metadata, then data.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "ext4-impl.h"

enum change_kind { CH_FREED = 1, CH_BORN, CH_REBORN, CH_CHANGED };

struct change {
  uint32_t ino;
  uint8_t kind;
  bool announced;             /* the inode had its create before this
                               * barrier (emit_metadata) */
  struct attrs old, now;
  struct ext2_inode_large in;
};

/* A name that appeared or disappeared in a directory. */
struct name_change {
  uint32_t parent, ino;
  uint8_t len;
  bool matched;
  bool not_last;              /* removed: another name of its inode is
                               * removed after it in the list */
  char name[255];
  char *path;                 /* removed: the path it had; come as a
                               * rename: the path it has; malloc'd */
  size_t path_len;
  bool too_long;              /* removed, no path: it was too long */
};

/* A rename found: the name gone and the name come. */
struct move {
  struct name_change *from, *to;
  size_t after;               /* the move that frees to's name first */
  size_t waiter;              /* the move that takes from's name next */
  size_t seen;                /* the last walk for a cycle that saw it */
  uint8_t state;              /* MV_WAITING, MV_UNLINKED, MV_DONE */
};
enum { MV_WAITING, MV_UNLINKED, MV_DONE };

struct dir_move {
  uint32_t ino;
  size_t i;                   /* in w->mv */
};

/* A directory renamed: the path it had in the events then, and the one
 * it has; the old paths of renames after it that were below it are
 * below the new one.  Names swapped: those below the one are below the
 * other, both at once.
 */
struct dir_moved {
  char *from;
  size_t from_len;
  const struct name_change *to;
  bool swap;                  /* an exchange: what was below to's path
                               * is below from now too */
};

/* A directory's delete put off until nothing in it is still to be
 * renamed out, nor a directory in it still to be deleted: the name it
 * had (in directory parent; the event's path, owned, is the path then).
 */
struct late {
  struct bw_event ev;
  uint32_t parent;
  uint8_t len;
  bool said;
  char name[255];
};

struct work {
  struct change *ch;
  size_t nch, capch;
  struct name_change *rm, *add;
  size_t nrm, caprm, nadd, capadd;
  struct move *mv;
  size_t nmv, capmv;
  struct dir_move *dirmv;     /* the moves of directories, by inode */
  size_t ndirmv;
  struct dir_moved *done;     /* the directories renamed, in order */
  size_t ndone, capdone;
  struct late *late;          /* deletes of directories that held what is
                               * renamed: after the renames */
  size_t nlate, caplate;
  bool matched;               /* renames found: w->rm is fixed (w->mv
                               * points into it) */
  struct numset moved_from;   /* the directories renames take names out
                               * of (sorted once the renames are found) */
  struct numset taken_out;    /* the directories that live on whose name
                               * empty_dir took out of the model: inode
                               * << 32 | the name's index in rm (sorted
                               * before the directories are diffed) */
};

static char pathbuf[MODEL_PATH_MAX], pathbuf2[MODEL_PATH_MAX];

static bool
watched (const struct ext4fs *fs, uint32_t ino)
{
  return ino == MODEL_ROOT_INO || ino >= fs->first_ino;
}

/* A name appended to the path in buf (n bytes, not 0): the new length,
 * or 0 with errno ENAMETOOLONG if it does not fit.
 */
static size_t
path_join (char *buf, size_t n, const char *name, size_t len, size_t size)
{
  if (n + 1 + len > size) {
    errno = ENAMETOOLONG;
    return 0;
  }
  if (n > 1)                  /* the root's path is "/" already */
    buf[n++] = '/';
  memcpy (buf + n, name, len);
  return n + len;
}

/* The path a directory entry names: its directory's path and its name;
 * 0 and errno as model_path's if it has none.
 */
static size_t
entry_path (const struct ext4fs *fs, uint32_t parent, const char *name,
            size_t len, char *buf, size_t size)
{
  size_t n = model_path (&fs->m, parent, buf, size);

  return n ? path_join (buf, n, name, len, size) : 0;  /* errno says why */
}

/* Whether path a (an bytes) is below path b (bn bytes). */
static bool
path_below (const char *a, size_t an, const char *b, size_t bn)
{
  return an > bn && a[bn] == '/' && memcmp (a, b, bn) == 0;
}

/* ---- superblock --------------------------------------------------- */

/* The superblock after a barrier that wrote it, read through the view:
 * a change still only in the journal counts from its commit, as the
 * kernel sees it (its copy in the journal holds the checksum the kernel
 * set before logging it).
 */
static void
check_superblock (struct ext4fs *fs)
{
  struct ext2_super_block sb;
  struct sb_facts now, was = fs->sb;
  enum bw_event_type t = 0;

  if (bw_pread (fs->view, &sb, sizeof sb, 1024, fs->err, sizeof fs->err) == -1 ||
      sb.s_magic != EXT2_SUPER_MAGIC)
    return;
  /* Half a new superblock over the old one says what never happened: a
   * mount count or a state the guest did not finish writing, a creation
   * time that would have the file system crawled anew.  It is read
   * again at the next barrier, written again or not: the guest may
   * finish the write, and after lost records the view reads the
   * storage, which may hold the rest.
   */
  if (!sb_csum_ok (&sb)) {
    if (!fs->sb_refused)
      ext4_say (fs, "the superblock fails its checksum (a write that did "
                "not land whole, or damage): what it says (mounts, "
                "unmounts, a new file system) is not believed until it "
                "holds");
    fs->sb_refused = true;
    fs->sb_dirty = true;
    return;
  }
  if (fs->sb_refused)
    ext4_say (fs, "the superblock holds its checksum again: believed");
  fs->sb_refused = false;
  if (sb_made_anew (fs, &sb))
    return;
  sb_facts_from (&sb, &now);
  fs->sb = now;
  if (now.mnt_count != was.mnt_count ||
      (!(was.incompat & EXT3_FEATURE_INCOMPAT_RECOVER) &&
       (now.incompat & EXT3_FEATURE_INCOMPAT_RECOVER)))
    t = BW_EV_MOUNT;
  else if (((was.incompat & EXT3_FEATURE_INCOMPAT_RECOVER) &&
            !(now.incompat & EXT3_FEATURE_INCOMPAT_RECOVER)) ||
           (!(was.state & EXT2_VALID_FS) && (now.state & EXT2_VALID_FS)))
    t = BW_EV_UNMOUNT;
  if (t) {
    struct bw_event ev = {
      .type = t, .fs_state = now.state, .mount_count = now.mnt_count,
      .mount_time = now.mtime,
    };
    emit_event (fs, &ev);
    /* Mounted again and already clean (a journal not in use, or a valid
     * state, which a mounted ext2 clears): unmounted since, and the
     * superblock of the mount was not seen (read ahead of the records).
     */
    if (t == BW_EV_MOUNT && (now.state & EXT2_VALID_FS) &&
        !(now.incompat & EXT3_FEATURE_INCOMPAT_RECOVER)) {
      ev.type = BW_EV_UNMOUNT;
      emit_event (fs, &ev);
    }
  }
}

/* ---- inodes ------------------------------------------------------- */

/* A change of inode ino from what the model has (r, NULL for one
 * born) to what the disk has.
 */
static void
add_change (struct work *w, uint32_t ino, enum change_kind kind,
            const struct inode_rec *r, const struct attrs *now,
            const struct ext2_inode_large *in)
{
  struct change *c;

  w->ch = bw_grow (w->ch, &w->capch, w->nch, sizeof *w->ch);
  c = &w->ch[w->nch++];
  c->ino = ino;
  c->kind = kind;
  c->announced = r && r->announced;
  if (r)
    c->old = r->a;
  c->now = *now;
  c->in = *in;
}

static void
scan_itable_block (struct ext4fs *fs, struct work *w, uint64_t blk,
                   uint8_t *buf)
{
  const struct region *rg = layout_find (fs, blk);
  unsigned per = fs->bs / fs->isz;
  uint64_t first;

  if (rg == NULL || rg->kind != R_ITABLE ||
      bw_pread (fs->view, buf, fs->bs, blk * fs->bs, fs->err,
                sizeof fs->err) == -1)
    return;
  fs->stats.metadata_blocks_diffed++;
  first = (blk - rg->start) * per;
  for (unsigned i = 0; i < per && first + i < fs->ipg; i++) {
    uint32_t ino = rg->group * fs->ipg + first + i + 1;
    struct inode_rec *r = model_inode (&fs->m, ino);
    struct ext2_inode_large in;
    struct attrs a;
    bool used;

    /* An inode that fails its checksum is one the kernel would refuse
     * too: the model keeps what it had until the block is written again.
     */
    if (!watched (fs, ino) ||
        !inode_csum_ok (fs, ino, buf + (size_t) i * fs->isz))
      continue;
    inode_from_block (fs, buf, i, &in);
    attrs_decode (fs, &in, &a);
    attrs_inline (fs, ino, &in, &a);
    used = inode_in_use (&in);
    if (r == NULL && used)
      add_change (w, ino, CH_BORN, NULL, &a, &in);
    else if (r && !used)
      add_change (w, ino, CH_FREED, r, &a, &in);
    else if (r && a.generation != r->a.generation)
      add_change (w, ino, CH_REBORN, r, &a, &in);
    else if (r && memcmp (&a, &r->a, sizeof a) != 0)
      add_change (w, ino, CH_CHANGED, r, &a, &in);
  }
}

/* Is the inode of the model gone on disk: free, or free and taken again
 * (another generation)?  The names diff can find that before the inode
 * table does: the inode's block changed in a later barrier, or it is
 * read ahead of the records.
 */
static bool
gone_on_disk (struct ext4fs *fs, uint32_t ino)
{
  const struct inode_rec *r = model_inode (&fs->m, ino);
  struct ext2_inode_large in;

  if (r == NULL || inode_read (fs, ino, &in) == -1)
    return false;
  return !inode_in_use (&in) || in.i_generation != r->a.generation;
}

static bool emit_delete (struct ext4fs *fs, struct work *w, uint32_t ino,
                         const struct attrs *a, bool in_too_long);
static void note_name (struct name_change **v, size_t *n, size_t *cap,
                       uint32_t parent, uint32_t ino, const char *name,
                       size_t len);

/* A directory's delete empties it first, and a directory in it that is
 * gone too is deleted the same way, nested.  A deep tree (a path may
 * have tens of thousands of names) all gone at once in our view could
 * nest that deep and overflow the stack: past this many, a directory
 * is deleted without being emptied first (what it held is deleted
 * without a path when its inodes are freed).
 */
#define DELETE_NESTING_MAX 1024
static unsigned delete_nesting;
/* The directories being emptied, outermost first. */
static uint32_t deleting[DELETE_NESTING_MAX];

/* Whether dir is being emptied further out: its paths' names can form
 * a loop (a directory named inside one of its own, by the name its
 * path takes), and deleting it again from inside would nest until the
 * bound, each level walking the loop to the path's bound and deleting
 * it once more on the way out.
 */
static bool
being_emptied (uint32_t dir)
{
  for (unsigned i = 0; i < delete_nesting; i++)
    if (deleting[i] == dir)
      return true;
  return false;
}

/* A directory freed while the model still has entries in it (removed
 * with it, but their inodes not freed yet in our view: rm -r whose
 * last commits we have not seen, or read ahead; or moved out of it
 * before it was removed): each entry goes before the directory, as the
 * delete of its inode if that is gone on disk, else as a name removed
 * in this barrier (w->rm: a rename if the inode has a new name, an
 * unlink or a delete if not).  dpath is the directory's path (dlen 0:
 * it has none, or, if too_long, it is longer than the introspector
 * makes: so are its entries', which are unlinked).  Whether the
 * directory's delete must wait for the renames (emit_late).
 */
static bool
empty_dir (struct ext4fs *fs, struct work *w, uint32_t dir, const char *dpath,
           size_t dlen, bool too_long)
{
  char *path = malloc (dlen + 256);
  bool late = false;

  if (path == NULL)
    abort ();
  memcpy (path, dpath, dlen);
  for (const struct dentry *c = model_first_child (&fs->m, dir); c;
       c = model_next_child (&fs->m, c)) {
    struct inode_rec *r = model_inode (&fs->m, c->ino);
    size_t n = dlen;

    if (c->ino == 0 || r == NULL)
      continue;
    /* A directory goes with this one only by the name its path goes
     * through.  A corrupt tree can name a directory twice, the second
     * time inside itself or below itself (a loop): deleting it from
     * there would empty the directory being deleted again, and so on
     * until the stack overflowed.  That name is unlinked instead, and
     * the directory deleted by its path, each a level deeper than the
     * last (the nesting is bounded: DELETE_NESTING_MAX).  So is a name
     * of a directory being emptied further out (a loop of path names).
     */
    if (gone_on_disk (fs, c->ino) && !being_emptied (c->ino) &&
        (!S_ISDIR (r->a.mode) || model_is_path_name (&fs->m, c))) {
      late |= emit_delete (fs, w, c->ino, &r->a, too_long);
      continue;
    }
    if (n > 1)                /* the root's path is "/" already */
      path[n++] = '/';
    memcpy (path + n, c->name, c->len);
    if (dlen && r->announced && !w->matched) {
      struct name_change *g;
      note_name (&w->rm, &w->nrm, &w->caprm, dir, c->ino, c->name, c->len);
      g = &w->rm[w->nrm - 1];
      g->path_len = n + c->len;
      g->path = malloc (g->path_len);
      if (g->path == NULL)
        abort ();
      memcpy (g->path, path, g->path_len);
      if (S_ISDIR (r->a.mode))
        numset_add (&w->taken_out, (uint64_t) c->ino << 32 | (w->nrm - 1));
      late = true;
    }
    else if (dlen && r->announced)
      emit_simple (fs, BW_EV_UNLINK, c->ino, path, n + c->len);
    else if (too_long && r->announced) {
      struct bw_event ev = {
        .type = BW_EV_UNLINK, .inode = c->ino, .path_too_long = true,
      };
      emit_event (fs, &ev);
    }
    model_remove_name (&fs->m, dir, c->name, c->len);
  }
  free (path);
  return late;
}

/* Whether a delete put off and not said yet is of an entry of
 * directory dir.
 */
static bool
late_below (const struct work *w, uint32_t dir)
{
  for (size_t i = 0; i < w->nlate; i++)
    if (!w->late[i].said && w->late[i].parent == dir)
      return true;
  return false;
}

/* The delete of a directory, entry name (len bytes) of directory
 * parent: now, or after the renames if late or if the delete of a
 * directory in it waits (emit_late says it, with its path then).
 */
static void
emit_or_late (struct ext4fs *fs, struct work *w, struct bw_event *ev,
              bool late, uint32_t parent, const char *name, size_t len)
{
  struct late *l;

  if ((!late && !late_below (w, ev->inode)) || ev->path == NULL ||
      len > sizeof l->name) {
    emit_event (fs, ev);
    return;
  }
  w->late = bw_grow (w->late, &w->caplate, w->nlate, sizeof *w->late);
  l = &w->late[w->nlate++];
  l->ev = *ev;
  l->ev.path = malloc (ev->path_len);
  if (l->ev.path == NULL)
    abort ();
  memcpy ((char *) l->ev.path, ev->path, ev->path_len);
  l->parent = parent;
  l->len = len;
  l->said = false;
  memcpy (l->name, name, len);
}

/* An inode freed: its delete, after what its directory held.  In a
 * directory whose path is too long (in_too_long: emptied, its own name
 * gone already), so is its path.
 */
/* The path of an inode being deleted, in pathbuf, and whether it has
 * none because it is too long (its own, or its emptied directory's).
 */
static size_t
freed_path (struct ext4fs *fs, uint32_t ino, bool in_too_long,
            bool *too_long)
{
  size_t n = model_path (&fs->m, ino, pathbuf, sizeof pathbuf);

  *too_long = n == 0 && (errno == ENAMETOOLONG || in_too_long);
  return n;
}

static bool
emit_delete (struct ext4fs *fs, struct work *w, uint32_t ino,
             const struct attrs *a, bool in_too_long)
{
  struct inode_rec *r = model_inode (&fs->m, ino);
  bool too_long = false, late = false;
  size_t n = r && r->announced
             ? freed_path (fs, ino, in_too_long, &too_long) : 0;

  if ((n || too_long) && S_ISDIR (r->a.mode) &&
      delete_nesting < DELETE_NESTING_MAX) {
    char *dpath = malloc (n + 1);
    if (dpath == NULL)
      abort ();
    memcpy (dpath, pathbuf, n);
    deleting[delete_nesting++] = ino;
    late = empty_dir (fs, w, ino, dpath, n, too_long);
    delete_nesting--;
    free (dpath);
    n = freed_path (fs, ino, in_too_long, &too_long);
  }

  /* Freed with several names (hard links removed in one barrier): each
   * name but the last goes as an unlink, so that a consumer that
   * follows names keeps none of them.
   */
  while (n && model_drop_extra_name (&fs->m, ino)) {
    emit_simple (fs, BW_EV_UNLINK, ino, pathbuf, n);
    n = freed_path (fs, ino, in_too_long, &too_long);
  }
  /* An inode whose last name went earlier (unlinked while open, or
   * its name's removal committed before the inode was freed) is
   * deleted without a path; so is one whose path is too long, saying so.
   */
  if (r && r->announced) {
    const struct dentry *d = model_path_name (&fs->m, ino);
    struct bw_event ev = {
      .type = BW_EV_DELETE, .inode = ino, .path = n ? pathbuf : NULL,
      .path_len = n, .path_too_long = too_long,
      .file_type = attrs_file_type (a), .mode = a->mode,
      .uid = a->uid, .gid = a->gid, .size = a->size,
    };
    if (d)
      emit_or_late (fs, w, &ev, late, d->parent, d->name, d->len);
    else
      emit_event (fs, &ev);
  }
  model_drop_inode (&fs->m, ino);
  return late;
}

static void
born (struct ext4fs *fs, uint32_t ino, const struct attrs *a,
      struct ext2_inode_large *in)
{
  model_add_inode (&fs->m, ino, a);

  blocks_reload (fs, ino, in);
  /* Bytes kept in the inode itself are written with the inode. */
  if ((in->i_flags & EXT4_INLINE_DATA_FL) && S_ISREG (a->mode) && a->size)
    queue_write (fs, ino, 0, a->size, INLINE_WRITE, fs->seq, fs->time_ns);
  if (S_ISDIR (a->mode))
    numset_add (&fs->dirty_dirs, ino);
}

struct doomed {
  size_t depth;               /* names in its path */
  size_t i;                   /* in w->ch */
};

static int
deepest_first (const void *a, const void *b)
{
  const struct doomed *x = a, *y = b;

  if (x->depth != y->depth)
    return x->depth > y->depth ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

/* The inodes freed (or freed and taken again) in this barrier, deleted
 * deepest first: a directory removed with what it held (rm -r within
 * one commit) takes its entries out of the model, and an entry not
 * deleted before it would never be.
 */
static void
delete_freed (struct ext4fs *fs, struct work *w)
{
  struct doomed *v = malloc ((w->nch + 1) * sizeof *v);
  size_t n = 0;

  if (v == NULL)
    abort ();
  for (size_t i = 0; i < w->nch; i++) {
    const struct change *c = &w->ch[i];
    size_t len, depth = 0;
    if (c->kind != CH_FREED && c->kind != CH_REBORN)
      continue;
    len = model_path (&fs->m, c->ino, pathbuf, sizeof pathbuf);
    for (size_t k = 0; k < len; k++)
      depth += pathbuf[k] == '/';
    v[n++] = (struct doomed) { depth, i };
  }
  qsort (v, n, sizeof *v, deepest_first);
  for (size_t k = 0; k < n; k++)
    emit_delete (fs, w, w->ch[v[k].i].ino, &w->ch[v[k].i].old, false);
  free (v);
}

static void
apply_inode_changes (struct ext4fs *fs, struct work *w)
{
  delete_freed (fs, w);
  for (size_t i = 0; i < w->nch; i++) {
    struct change *c = &w->ch[i];
    struct inode_rec *r;

    if (c->kind == CH_BORN || c->kind == CH_REBORN)
      born (fs, c->ino, &c->now, &c->in);
    else if (c->kind == CH_CHANGED && (r = model_inode (&fs->m, c->ino))) {
      bool remap = c->old.sum != c->now.sum ||
                   c->old.size != c->now.size ||
                   c->old.flags != c->now.flags;
      r->a = c->now;
      /* Inline data: a file's bytes or a directory's entries changed in
       * the inode itself (or left it).
       */
      if (c->now.sum != c->old.sum &&
          ((c->now.flags | c->old.flags) & EXT4_INLINE_DATA_FL)) {
        if (S_ISDIR (c->now.mode))
          numset_add (&fs->dirty_dirs, c->ino);
        else if (c->now.size)
          queue_write (fs, c->ino, 0, c->now.size, INLINE_WRITE, fs->seq,
                       fs->time_ns);
      }
      if (remap) {
        blocks_reload (fs, c->ino, &c->in);
        if (S_ISDIR (c->now.mode))
          numset_add (&fs->dirty_dirs, c->ino);
      }
    }
  }
}

/* A directory entry can reach the disk before the inode it names: the
 * name was left out then.  Once that inode is born, its directory is
 * read again and the name comes.
 */
/* A bound: a hostile directory full of names of unused inodes must not
 * make every barrier slower.
 */
#define DANGLING_MAX (1u << 20)

static void
recheck_dangling (struct ext4fs *fs)
{
  size_t keep = 0;

  numset_sort_unique (&fs->dangling);
  for (size_t i = 0; i < fs->dangling.n; i++) {
    uint64_t v = fs->dangling.v[i];
    if (model_inode (&fs->m, (uint32_t) v))
      numset_add (&fs->dirty_dirs, v >> 32);
    else
      fs->dangling.v[keep++] = v;
  }
  fs->dangling.n = keep;
}

static void
reload_dirty_maps (struct ext4fs *fs)
{
  numset_sort_unique (&fs->dirty_maps);
  for (size_t i = 0; i < fs->dirty_maps.n; i++) {
    uint32_t ino = fs->dirty_maps.v[i];
    struct inode_rec *r = model_inode (&fs->m, ino);
    struct ext2_inode_large in;

    if (r && inode_read (fs, ino, &in) == 0) {
      blocks_reload (fs, ino, &in);
      if (S_ISDIR (r->a.mode))
        numset_add (&fs->dirty_dirs, ino);
    }
  }
}

/* ---- names -------------------------------------------------------- */

static void
note_name (struct name_change **v, size_t *n, size_t *cap, uint32_t parent,
           uint32_t ino, const char *name, size_t len)
{
  struct name_change *c;

  *v = bw_grow (*v, cap, *n, sizeof **v);
  c = &(*v)[(*n)++];
  memset (c, 0, offsetof (struct name_change, name));
  c->parent = parent;
  c->ino = ino;
  c->len = len;
  memcpy (c->name, name, len);
  c->path = NULL;
  c->too_long = false;
}

/* The names of directory dir now, by their index + 1 in l. */
struct new_names {
  const struct dirent_list *l;
  uint32_t dir;
};

static uint64_t
new_name_hash (const void *owner, uint32_t id)
{
  const struct new_names *nn = owner;
  const struct dirent_item *e = &nn->l->v[id - 1];

  return name_hash (nn->dir, e->name, e->len);
}

static bool
new_name_is (const void *owner, uint32_t id, const void *key)
{
  const struct new_names *nn = owner;
  const struct dirent_item *e = &nn->l->v[id - 1];
  const struct dentry *d = key;

  return e->len == d->len && memcmp (e->name, d->name, d->len) == 0;
}

/* The path directory dir had before the barrier, in buf (0 and errno
 * as model_path's if it had none).  A directory moved out of one
 * removed in the barrier has none in the model when its entries are
 * diffed: the delete of the removed one (empty_dir) took the names that
 * live on out of the model, each noted in w->rm with the path it had
 * (a directory's found through w->taken_out).  Then the path is that
 * name's and the names below it, to dir.
 */
static size_t
dir_path_before (const struct ext4fs *fs, const struct work *w,
                 uint32_t dir, char *buf, size_t size)
{
  const char *prefix = "";
  size_t pos, plen = 0;
  uint32_t top;

  if (dir == MODEL_ROOT_INO)
    return model_path (&fs->m, dir, buf, size);
  pos = model_path_tail (&fs->m, dir, buf, size, &top);
  if (pos > size)
    return 0;
  if (top != MODEL_ROOT_INO) {
    /* the first name of top's taken out */
    size_t lo = numset_lower_bound (&w->taken_out, (uint64_t) top << 32);
    if (lo == w->taken_out.n || w->taken_out.v[lo] >> 32 != top) {
      errno = ENOENT;
      return 0;
    }
    const struct name_change *g = &w->rm[(uint32_t) w->taken_out.v[lo]];
    prefix = g->path;
    plen = g->path_len;
  }
  if (plen > pos) {
    errno = ENAMETOOLONG;
    return 0;
  }
  memmove (buf + plen, buf + pos, size - pos);
  memcpy (buf, prefix, plen);
  return plen + size - pos;
}

/* A directory now against its entries in the model, by name. */
static void
diff_dir (struct ext4fs *fs, struct work *w, uint32_t dir,
          struct dirent_list *l)
{
  struct inode_rec *r = model_inode (&fs->m, dir);
  struct ext2_inode_large in;
  size_t dlen = SIZE_MAX;     /* dir's path, in pathbuf2, once needed */
  int derr = 0;               /* why it has none */

  if (r == NULL || !S_ISDIR (r->a.mode) || inode_read (fs, dir, &in) == -1 ||
      dir_read (fs, dir, &in, l) == -1)
    return;                   /* unreadable now: the next barrier tries */
  fs->stats.metadata_blocks_diffed++;
  /* New names, or names now pointing elsewhere. */
  for (size_t i = 0; i < l->n; i++) {
    if (model_lookup (&fs->m, dir, l->v[i].name, l->v[i].len) == l->v[i].ino)
      continue;
    note_name (&w->add, &w->nadd, &w->capadd, dir, l->v[i].ino, l->v[i].name,
               l->v[i].len);
  }
  /* Entries in the model that the directory no longer has.  The list
   * is small in the common case; a table of the new names keeps a huge
   * directory linear.
   */
  struct new_names nn = { l, dir };
  struct nametab t;
  nametab_init (&t, l->n, new_name_hash, new_name_is, &nn);
  for (size_t i = 0; i < l->n; i++)
    nametab_insert (&t, new_name_hash (&nn, i + 1), i + 1);
  for (const struct dentry *d = model_first_child (&fs->m, dir); d;
       d = model_next_child (&fs->m, d)) {
    uint32_t i = nametab_find (&t, name_hash (dir, d->name, d->len), d);
    bool found = i && l->v[i - 1].ino == d->ino;
    if (!found) {
      struct name_change *c;
      note_name (&w->rm, &w->nrm, &w->caprm, dir, d->ino, d->name, d->len);
      c = &w->rm[w->nrm - 1];
      if (dlen == SIZE_MAX) {
        dlen = dir_path_before (fs, w, dir, pathbuf2, sizeof pathbuf2);
        derr = errno;
      }
      c->path_len = 0;
      errno = derr;
      if (dlen) {
        memcpy (pathbuf, pathbuf2, dlen);
        c->path_len = path_join (pathbuf, dlen, d->name, d->len,
                                 sizeof pathbuf);
      }
      c->too_long = c->path_len == 0 && errno == ENAMETOOLONG;
      /* A byte string (a hostile name may hold a NUL): not strndup. */
      c->path = c->path_len ? malloc (c->path_len) : NULL;
      if (c->path)
        memcpy (c->path, pathbuf, c->path_len);
    }
  }
  fs->m.name_probes += t.probes;
  nametab_free (&t);
}

/* An inode a new name points to, though its own block has not reached
 * the disk yet in our view: take the disk's word for it.
 */
static struct inode_rec *
inode_for_name (struct ext4fs *fs, uint32_t ino)
{
  struct inode_rec *r = model_inode (&fs->m, ino);
  struct ext2_inode_large in;
  struct attrs a;

  if (r || !watched (fs, ino) || ino == MODEL_ROOT_INO ||
      inode_read (fs, ino, &in) == -1)
    return r;
  attrs_decode (fs, &in, &a);
  attrs_inline (fs, ino, &in, &a);
  if (!inode_in_use (&in))
    return NULL;
  born (fs, ino, &a, &in);
  return model_inode (&fs->m, ino);
}

static void
emit_name_event (struct ext4fs *fs, enum bw_event_type t, uint32_t ino,
                 const char *path, size_t n, const char *old, size_t oldn)
{
  const struct inode_rec *r = model_inode (&fs->m, ino);
  /* Called without a path only for a name whose path is too long. */
  struct bw_event ev = {
    .type = t, .inode = ino, .path = path, .path_len = n,
    .path_too_long = path == NULL,
    .old_path = old, .old_path_len = oldn,
  };

  if (r) {
    ev.file_type = attrs_file_type (&r->a);
    ev.mode = r->a.mode;
    ev.uid = r->a.uid;
    ev.gid = r->a.gid;
    ev.size = r->a.size;
  }
  emit_event (fs, &ev);
}

/* A name come for a known inode is a rename or a link only if it is
 * still that inode.  One that is gone is deleted now, with the names it
 * had (those gone in this barrier are its deletes, not unlinks or
 * renames); the name then leads to the inode the disk has, if any.
 */
static void
check_identities (struct ext4fs *fs, struct work *w)
{
  for (size_t i = 0; i < w->nadd; i++) {
    uint32_t ino = w->add[i].ino;
    struct inode_rec *r = model_inode (&fs->m, ino);
    struct attrs was;

    if (r == NULL || !r->announced || ino == MODEL_ROOT_INO ||
        !gone_on_disk (fs, ino))
      continue;
    was = r->a;
    emit_delete (fs, w, ino, &was, false);
    for (size_t j = 0; j < w->nrm; j++)
      if (w->rm[j].ino == ino)
        w->rm[j].matched = true;
  }
}

/* The entries of directory dir that were added while it had no path
 * are reported now that it has one, and theirs in turn.  That happens
 * when the block with a directory's own name reaches the disk after
 * blocks of its entries (write-back order is the kernel's; ext3 leaves
 * metadata in the journal until a checkpoint): without this, files
 * made in a new directory before its name came would never be created.
 */
static void
report_waiting (struct ext4fs *fs, uint32_t dir)
{
  uint32_t *todo = NULL;
  size_t ntodo = 0, cap = 0;

  numset_sort_unique (&fs->unreported);
  todo = bw_grow (todo, &cap, ntodo, sizeof *todo);
  todo[ntodo++] = dir;
  while (ntodo) {
    uint32_t d = todo[--ntodo];
    for (const struct dentry *c = model_first_child (&fs->m, d); c;
         c = model_next_child (&fs->m, c)) {
      uint64_t key = (uint64_t) d << 32 | c->ino, *u;
      struct inode_rec *r = model_inode (&fs->m, c->ino);
      size_t n;

      if (c->ino == 0 || r == NULL ||
          (u = numset_find (&fs->unreported, key)) == NULL)
        continue;
      n = entry_path (fs, d, c->name, c->len, pathbuf2, sizeof pathbuf2);
      if (n == 0 && errno != ENAMETOOLONG)
        continue;
      *u = 0;                 /* reported: gone at the next sort */
      emit_name_event (fs, r->announced ? BW_EV_LINK : BW_EV_CREATE, c->ino,
                       n ? pathbuf2 : NULL, n, NULL, 0);
      r->announced = true;
      if (S_ISDIR (r->a.mode)) {
        todo = bw_grow (todo, &cap, ntodo, sizeof *todo);
        todo[ntodo++] = c->ino;
      }
    }
  }
  free (todo);
  numset_sort_unique (&fs->unreported);
  if (fs->unreported.n && fs->unreported.v[0] == 0) {
    memmove (fs->unreported.v, fs->unreported.v + 1,
             (fs->unreported.n - 1) * sizeof *fs->unreported.v);
    fs->unreported.n--;
  }
}

/* Moves ordered by where they come from: directory, then name. */
static int
by_from (const void *a, const void *b)
{
  const struct name_change *x = ((const struct move *) a)->from,
                           *y = ((const struct move *) b)->from;

  if (x->parent != y->parent)
    return x->parent < y->parent ? -1 : 1;
  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  return memcmp (x->name, y->name, x->len);
}

/* The move (in w->mv, sorted by_from) away from name of directory
 * parent, or w->nmv.
 */
static size_t
move_from (const struct work *w, uint32_t parent, const char *name,
           uint8_t len)
{
  struct name_change key = { .parent = parent, .len = len };
  struct move k = { .from = &key };
  const struct move *m;

  memcpy (key.name, name, len);
  m = bsearch (&k, w->mv, w->nmv, sizeof *w->mv, by_from);
  return m ? (size_t) (m - w->mv) : w->nmv;
}

/* Whether the name of directory parent is free in the events so far:
 * no rename still to come takes an inode away from it.
 */
static bool
name_free (const struct work *w, uint32_t parent, const char *name,
           uint8_t len)
{
  size_t k = move_from (w, parent, name, len);

  return k == w->nmv || w->mv[k].state != MV_WAITING;
}

static int
by_dir_inode (const void *a, const void *b)
{
  const struct dir_move *x = a, *y = b;

  return (x->ino > y->ino) - (x->ino < y->ino);
}

/* The move of directory ino, or NULL if it is none that moves. */
static struct dir_move *
dir_move_of (const struct work *w, uint32_t ino)
{
  struct dir_move key = { .ino = ino };

  return bsearch (&key, w->dirmv, w->ndirmv, sizeof *w->dirmv, by_dir_inode);
}

/* Whether directory dir is, in the events so far, where it is now:
 * announced, and neither it nor a directory above it still to be
 * renamed (a directory has one name, so one move at most).
 */
static bool
dir_settled (const struct ext4fs *fs, const struct work *w, uint32_t dir)
{
  /* Each name takes a byte of a path at least: a loop in a corrupt
   * tree ends.
   */
  for (size_t depth = 0; depth < MODEL_PATH_MAX; depth++) {
    const struct inode_rec *r = model_inode (&fs->m, dir);
    const struct dir_move *d;

    if (dir == MODEL_ROOT_INO)
      return true;
    if (r == NULL || !r->announced)
      return false;
    d = dir_move_of (w, dir);
    if (d && w->mv[d->i].state != MV_DONE)
      return false;
    dir = model_parent (&fs->m, dir);
  }
  return false;
}

/* How many directories down dir is (bounded: a corrupt tree may loop). */
static size_t
dir_depth (const struct ext4fs *fs, uint32_t dir)
{
  size_t d = 0;

  while (dir && dir != MODEL_ROOT_INO && d < MODEL_PATH_MAX) {
    dir = model_parent (&fs->m, dir);
    d++;
  }
  return d;
}

struct move_rank {
  size_t depth, i;
};

static int
by_depth (const void *a, const void *b)
{
  const struct move_rank *x = a, *y = b;

  if (x->depth != y->depth)
    return x->depth < y->depth ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

static bool late_at (const struct work *w, uint32_t parent, const char *name,
                     size_t len);

static bool
move_ready (const struct ext4fs *fs, const struct work *w, size_t i)
{
  const struct name_change *to = w->mv[i].to;

  return dir_settled (fs, w, to->parent) &&
         name_free (w, to->parent, to->name, to->len) &&
         !late_at (w, to->parent, to->name, to->len);
}

/* The path, in buf, that a name had before the barrier (path, n bytes)
 * has in the events so far: below the new path of every directory
 * renamed before that it was in.
 */
static size_t
move_old_path (const struct dir_moved *done, size_t ndone, const char *path,
               size_t n, char *buf)
{
  memcpy (buf, path, n);
  for (size_t i = 0; i < ndone; i++) {
    const struct dir_moved *d = &done[i];
    const char *was = d->from, *now = d->to->path;
    size_t was_len = d->from_len, now_len = d->to->path_len, rest;
    if (d->swap && path_below (buf, n, now, now_len)) {
      was = d->to->path;
      was_len = d->to->path_len;
      now = d->from;
      now_len = d->from_len;
    }
    else if (!path_below (buf, n, was, was_len))
      continue;
    rest = n - was_len;
    if (now_len + rest > MODEL_PATH_MAX)
      break;                  /* too long to say: as it was */
    memmove (buf + now_len, buf + was_len, rest);
    memcpy (buf, now, now_len);
    n = now_len + rest;
  }
  return n;
}

/* Whether a delete put off and not said yet is of name (len bytes) of
 * directory parent: a rename or a create there waits for it.
 */
static bool
late_at (const struct work *w, uint32_t parent, const char *name, size_t len)
{
  for (size_t i = 0; i < w->nlate; i++)
    if (!w->late[i].said && w->late[i].parent == parent &&
        w->late[i].len == len && memcmp (w->late[i].name, name, len) == 0)
      return true;
  return false;
}

/* Whether the delete of inode ino is put off and not said yet (a
 * directory removed, its inode taken again by a new one).
 */
static bool
late_inode (const struct work *w, uint32_t ino)
{
  for (size_t i = 0; i < w->nlate; i++)
    if (!w->late[i].said && w->late[i].ev.inode == ino)
      return true;
  return false;
}

/* The deletes put off whose directory nothing still has to leave: no
 * rename still to come is out of it, no delete put off is of an entry
 * of it.  Each path as the events have it then.  Whether there was any.
 */
static bool
emit_late (struct ext4fs *fs, struct work *w)
{
  bool any = false;

  for (size_t i = 0; i < w->nlate; i++) {
    struct late *l = &w->late[i];
    char *p = (char *) l->ev.path;
    bool wait = late_below (w, l->ev.inode);
    if (l->said)
      continue;
    for (size_t k = 0; k < w->nmv && !wait; k++)
      wait = w->mv[k].state == MV_WAITING &&
             w->mv[k].from->parent == l->ev.inode;
    if (wait)
      continue;
    l->ev.path_len = move_old_path (w->done, w->ndone, p, l->ev.path_len,
                                    pathbuf);
    l->ev.path = pathbuf;
    emit_event (fs, &l->ev);
    l->ev.path = p;
    l->said = any = true;
  }
  return any;
}

/* Notes that what was at buf (n bytes: its path in the events then) is
 * at to's path now, and with swap that what was at to's path is at
 * buf's: the old paths of later events below either follow it.
 */
static void
note_moved (struct work *w, const char *buf, size_t n,
            const struct name_change *to, bool swap)
{
  char *from = malloc (n);

  if (from == NULL)
    abort ();
  memcpy (from, buf, n);
  w->done = bw_grow (w->done, &w->capdone, w->ndone, sizeof *w->done);
  w->done[w->ndone++] = (struct dir_moved) { from, n, to, swap };
}

static void
emit_move (struct ext4fs *fs, struct work *w, size_t i)
{
  struct move *m = &w->mv[i];
  const struct inode_rec *r = model_inode (&fs->m, m->to->ino);
  size_t n;

  if (m->state == MV_UNLINKED) {
    emit_name_event (fs, BW_EV_LINK, m->to->ino, m->to->path,
                     m->to->path_len, NULL, 0);
    m->state = MV_DONE;
    return;
  }
  n = move_old_path (w->done, w->ndone, m->from->path, m->from->path_len,
                     pathbuf);
  emit_name_event (fs, BW_EV_RENAME, m->to->ino, m->to->path,
                   m->to->path_len, pathbuf, n);
  m->state = MV_DONE;
  if (r && S_ISDIR (r->a.mode))
    note_moved (w, pathbuf, n, m->to, false);
}

/* A rename said in two: the unlink of its old name now (the link of
 * its new name comes when that is ready: emit_move).
 */
static void
unlink_for_now (struct ext4fs *fs, struct work *w, size_t k)
{
  size_t n = move_old_path (w->done, w->ndone, w->mv[k].from->path,
                            w->mv[k].from->path_len, pathbuf);

  emit_name_event (fs, BW_EV_UNLINK, w->mv[k].from->ino, pathbuf, n, NULL, 0);
  w->mv[k].state = MV_UNLINKED;
}

/* Move i (A -> B) waits for the move k that takes its new name's inode
 * away (B -> C), which waits too: said as an exchange of A and B, each
 * a name of the events then (B's directory is settled).  i is done;
 * k's inode is at A now, and goes on from there: the move out of A
 * (i's place in w->mv, sorted by where moves come from) takes it to C,
 * and is done too when C is A (two names swapped).  A cycle of moves
 * goes as one exchange fewer than its moves.  False, and nothing said,
 * if one name is below the other (a corrupt tree: the exchange could
 * not be).
 */
static bool
emit_exchange (struct ext4fs *fs, struct work *w, size_t i)
{
  struct move *m = &w->mv[i];
  size_t k = m->after;
  struct name_change *b = m->to;
  struct dir_move *dx = dir_move_of (w, b->ino),
                  *dy = dir_move_of (w, w->mv[k].to->ino);
  size_t n = move_old_path (w->done, w->ndone, m->from->path,
                            m->from->path_len, pathbuf);

  if ((n == b->path_len && memcmp (pathbuf, b->path, n) == 0) ||
      path_below (pathbuf, n, b->path, b->path_len) ||
      path_below (b->path, b->path_len, pathbuf, n))
    return false;
  emit_name_event (fs, BW_EV_EXCHANGE, b->ino, b->path, b->path_len,
                   pathbuf, n);
  if (dx || dy)               /* nothing is below two files */
    note_moved (w, pathbuf, n, b, true);
  if (dx)
    dx->i = k;
  if (dy)
    dy->i = i;
  m->to = w->mv[k].to;
  m->after = w->mv[k].after;
  w->mv[k].to = b;
  w->mv[k].state = MV_DONE;
  if (m->after == i)
    m->state = MV_DONE;
  else if (m->after < w->nmv)
    w->mv[m->after].waiter = i;
  return true;
}

/* The rename still to come of a file (not a directory: unlinked, it
 * would take its entries with it) away from name of directory parent,
 * or w->nmv.
 */
static size_t
file_in_the_way (const struct ext4fs *fs, const struct work *w,
                 uint32_t parent, const char *name, uint8_t len)
{
  size_t k = move_from (w, parent, name, len);
  const struct inode_rec *r;

  if (k == w->nmv || w->mv[k].state != MV_WAITING ||
      (r = model_inode (&fs->m, w->mv[k].to->ino)) == NULL ||
      S_ISDIR (r->a.mode))
    return w->nmv;
  return k;
}

/* Whether a name come is a new directory whose create waits for its
 * name only (dirs_come): its place settled, no delete put off at its
 * name or of its inode.
 */
static bool
dir_to_come (const struct ext4fs *fs, const struct work *w,
             const struct name_change *a)
{
  const struct inode_rec *r = model_inode (&fs->m, a->ino);

  return !a->matched && r && !r->announced && S_ISDIR (r->a.mode) &&
         dir_settled (fs, w, a->parent) &&
         !late_at (w, a->parent, a->name, a->len) && !late_inode (w, a->ino);
}

/* What no order of renames replays, said with exchanges.  Names swapped
 * (a -> b -> a, or longer: a cycle) first: it looks for cycles among
 * the moves waiting for their name only (walks numbered from *walk, so
 * that a move seen in a walk of this call is not walked again), one
 * exchange in each (all in one call: a barrier may swap thousands of
 * names, and each call costs a pass over the moves).  Else moves whose
 * new name is held by one that waits for a directory still to come (a
 * directory and a file swapped, then the file moved below the
 * directory; a directory moved below one that takes its name: each
 * waits for the other); not one whose name is held by a move waiting
 * for a name in turn: exchanged early, a directory can end up below the
 * one whose name it is to take, which no exchange undoes.  False if
 * there is neither.
 */
static bool
break_cycle (struct ext4fs *fs, struct work *w, size_t *walk)
{
  size_t first = *walk + 1;
  bool any = false;

  for (size_t i = 0; i < w->nmv; i++) {
    size_t k = i;
    if (w->mv[i].state != MV_WAITING || w->mv[i].seen >= first)
      continue;
    ++*walk;
    while (k < w->nmv && w->mv[k].state == MV_WAITING &&
           w->mv[k].seen < first && dir_settled (fs, w, w->mv[k].to->parent)) {
      w->mv[k].seen = *walk;
      k = w->mv[k].after;
    }
    if (k < w->nmv && w->mv[k].state == MV_WAITING &&
        w->mv[k].seen == *walk)
      any |= emit_exchange (fs, w, k);
  }
  if (any)
    return true;

  for (size_t i = 0; i < w->nmv; i++) {
    size_t k = w->mv[i].after;
    if (w->mv[i].state == MV_WAITING && k < w->nmv &&
        w->mv[k].state == MV_WAITING &&
        dir_settled (fs, w, w->mv[i].to->parent) &&
        !dir_settled (fs, w, w->mv[k].to->parent))
      any |= emit_exchange (fs, w, i);
  }
  if (any)
    return true;

  /* A file holding the name a new directory takes, while its own
   * rename waits too: for that directory or one below it (mv f t;
   * mkdir -p f/s; mv t f/s/g: the disk says f went to f/s/g, through a
   * name it does not keep).
   */
  for (size_t i = 0; i < w->nadd; i++) {
    const struct name_change *a = &w->add[i];
    size_t k;
    if (dir_to_come (fs, w, a) &&
        (k = file_in_the_way (fs, w, a->parent, a->name, a->len)) < w->nmv) {
      unlink_for_now (fs, w, k);
      return true;
    }
  }

  /* A file taking the name of a directory removed in the barrier, while
   * that delete waits for the file's rename out of it, or out of a
   * directory below it (mv d/f t; rmdir d; mv t d: the disk says d/f
   * went to d).
   */
  for (size_t k = 0; k < w->nmv; k++) {
    const struct name_change *to = w->mv[k].to;
    if (w->mv[k].state == MV_WAITING &&
        file_in_the_way (fs, w, w->mv[k].from->parent, w->mv[k].from->name,
                         w->mv[k].from->len) == k &&
        dir_settled (fs, w, to->parent) &&
        late_at (w, to->parent, to->name, to->len)) {
      unlink_for_now (fs, w, k);
      return true;
    }
  }
  return false;
}

static void name_come (struct ext4fs *fs, struct name_change *a);

/* New directories whose place is settled, created now: renames into
 * them wait for them.  Whether there was any.
 */
static bool
dirs_come (struct ext4fs *fs, struct work *w)
{
  bool any = false;

  for (size_t i = 0; i < w->nadd; i++) {
    struct name_change *a = &w->add[i];
    if (!dir_to_come (fs, w, a) || !name_free (w, a->parent, a->name, a->len))
      continue;
    a->matched = any = true;
    name_come (fs, a);
  }
  return any;
}

/* The renames, in an order a consumer can replay, the names that were
 * removed outright having gone before them: each after the rename that
 * moves away the name it takes (a -> b after b -> c); after the renames
 * of the directories above its new name and the creates of those that
 * are new (mkdir d; mv f d), its old path as the events have it then
 * (below a directory renamed before it, the directory's new path).  A
 * name is taken by one rename at most, so what is left when none can go
 * is a cycle of names swapped (break_cycle), or a corrupt tree, whose
 * renames go as they are.  They are tried shallowest new name first, so
 * that directories moved within directories moved take a pass, not one
 * each.
 */
static void
emit_moves (struct ext4fs *fs, struct work *w)
{
  struct move_rank *order;
  size_t walk = 0;

  if (w->nmv == 0)
    return;
  qsort (w->mv, w->nmv, sizeof *w->mv, by_from);
  w->dirmv = malloc (w->nmv * sizeof *w->dirmv);
  if (w->dirmv == NULL)
    abort ();
  w->ndirmv = 0;
  for (size_t i = 0; i < w->nmv; i++)
    w->mv[i].waiter = w->nmv;
  for (size_t i = 0; i < w->nmv; i++) {
    const struct name_change *to = w->mv[i].to;
    const struct inode_rec *r = model_inode (&fs->m, to->ino);
    w->mv[i].after = move_from (w, to->parent, to->name, to->len);
    if (w->mv[i].after < w->nmv)
      w->mv[w->mv[i].after].waiter = i;
    if (r && S_ISDIR (r->a.mode))
      w->dirmv[w->ndirmv++] = (struct dir_move) { to->ino, i };
  }
  qsort (w->dirmv, w->ndirmv, sizeof *w->dirmv, by_dir_inode);
  order = malloc (w->nmv * sizeof *order);
  if (order == NULL)
    abort ();
  for (size_t i = 0; i < w->nmv; i++)
    order[i] = (struct move_rank) { dir_depth (fs, w->mv[i].to->parent), i };
  qsort (order, w->nmv, sizeof *order, by_depth);
  for (;;) {
    bool waiting = false, progress = false;
    for (size_t j = 0; j < w->nmv; j++) {
      size_t i = order[j].i;
      /* A rename done frees its old name for the one that waits. */
      for (size_t k = i; k < w->nmv && w->mv[k].state != MV_DONE &&
             move_ready (fs, w, k); k = w->mv[k].waiter) {
        emit_move (fs, w, k);
        progress = true;
      }
      waiting |= w->mv[i].state != MV_DONE;
    }
    progress |= emit_late (fs, w);
    if (!waiting)
      break;
    if (progress || dirs_come (fs, w) ||
        break_cycle (fs, w, &walk))
      continue;
    for (size_t i = 0; i < w->nmv; i++)
      if (w->mv[i].state != MV_DONE)
        emit_move (fs, w, i);
    break;
  }
  free (order);
  free (w->dirmv);
  w->dirmv = NULL;
}

struct gone_ref {
  uint32_t ino;
  size_t i;
};

static int
by_inode (const void *a, const void *b)
{
  const struct gone_ref *x = a, *y = b;

  if (x->ino != y->ino)
    return x->ino < y->ino ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

/* Marks the names gone (not renames) that are not the last of their
 * inode's in w->rm: an inode freed with several names is deleted with
 * the last one, the others are unlinks, so that a consumer following
 * names keeps none of them.
 */
static void
mark_not_last (struct work *w)
{
  struct gone_ref *v = malloc ((w->nrm + 1) * sizeof *v);
  size_t n = 0;

  if (v == NULL)
    abort ();
  for (size_t i = 0; i < w->nrm; i++)
    if (!w->rm[i].matched && w->rm[i].path)
      v[n++] = (struct gone_ref) { w->rm[i].ino, i };
  qsort (v, n, sizeof *v, by_inode);
  for (size_t k = 0; k + 1 < n; k++)
    if (v[k].ino == v[k + 1].ino)
      w->rm[v[k].i].not_last = true;
  free (v);
}

/* A name come: the create of a new inode, or another link. */
static void
name_come (struct ext4fs *fs, struct name_change *a)
{
  struct inode_rec *r = model_inode (&fs->m, a->ino);
  size_t n = entry_path (fs, a->parent, a->name, a->len, pathbuf2,
                         sizeof pathbuf2);

  if (n == 0 && errno != ENAMETOOLONG) {
    /* Its directory has no path yet: report_waiting, later. */
    if (model_lookup (&fs->m, a->parent, a->name, a->len) == a->ino &&
        fs->unreported.n < DANGLING_MAX)
      numset_add (&fs->unreported, (uint64_t) a->parent << 32 | a->ino);
    return;
  }
  /* Too long a path: the event comes without it, saying so (a guest
   * must not hide a file by nesting it deep enough).
   */
  emit_name_event (fs, r->announced ? BW_EV_LINK : BW_EV_CREATE, a->ino,
                   n ? pathbuf2 : NULL, n, NULL, 0);
  r->announced = true;
  if (S_ISDIR (r->a.mode))
    report_waiting (fs, a->ino);
}

/* The names come, each after the create of its directory when that
 * came in the same barrier too: the entries are in the order the
 * directories were read, and a consumer replaying the events needs the
 * directory first.  A pass reports the names whose directory is
 * announced; what waits on a directory that is never announced (a
 * corrupt tree) goes in a last pass.
 */
static void
names_come (struct ext4fs *fs, struct work *w)
{
  bool last = false;

  for (;;) {
    bool done = false, waiting = false;
    for (size_t i = 0; i < w->nadd; i++) {
      struct name_change *a = &w->add[i];
      const struct inode_rec *d = model_inode (&fs->m, a->parent);
      if (a->matched || model_inode (&fs->m, a->ino) == NULL)
        continue;
      if (!last && d && !d->announced) {
        waiting = true;
        continue;
      }
      a->matched = done = true;
      name_come (fs, a);
    }
    if (!waiting)
      return;
    last = !done;
  }
}

/* A directory has one name: when that goes and the directory comes
 * under no other in this barrier, it was removed, even if its inode
 * does not say so yet in our view (its block is older than the
 * directory read ahead of the records).
 */
static bool
dir_removed (const struct work *w, uint32_t ino, const struct attrs *a)
{
  if (!S_ISDIR (a->mode))
    return false;
  for (size_t i = 0; i < w->nadd; i++)
    if (w->add[i].ino == ino)
      return false;
  return true;
}

/* Whether a rename takes something out of directory dir. */
static bool
moved_out (struct work *w, uint32_t dir)
{
  return numset_find (&w->moved_from, dir) != NULL;
}

static int
longest_first (const void *a, const void *b)
{
  const struct late *x = a, *y = b;

  return (x->ev.path_len < y->ev.path_len) - (x->ev.path_len > y->ev.path_len);
}

/* The delete of the inode whose last name rm was: after the renames if
 * it is a directory something is moved out of.
 */
static void
delete_named (struct ext4fs *fs, struct work *w, struct name_change *rm)
{
  struct inode_rec *r = model_inode (&fs->m, rm->ino);
  bool late = false;

  if (r == NULL)
    return;
  if (S_ISDIR (r->a.mode))
    late = empty_dir (fs, w, rm->ino, rm->path ? rm->path : "", rm->path_len,
                      rm->too_long) || moved_out (w, rm->ino);
  struct bw_event ev = {
    .type = BW_EV_DELETE, .inode = rm->ino, .path = rm->path,
    .path_len = rm->path_len, .path_too_long = rm->too_long,
    .file_type = attrs_file_type (&r->a),
    .mode = r->a.mode, .uid = r->a.uid, .gid = r->a.gid,
    .size = r->a.size,
  };
  emit_or_late (fs, w, &ev, late, rm->parent, rm->name, rm->len);
  model_drop_inode (&fs->m, rm->ino);
}

static void
apply_names (struct ext4fs *fs, struct work *w)
{
  struct gone_ref *byino;

  check_identities (fs, w);
  /* Take the removed names out first, so that a name moved within the
   * barrier (rename, or an entry shuffled between blocks) can be added
   * back where it is now.
   */
  for (size_t i = 0; i < w->nrm; i++)
    if (model_lookup (&fs->m, w->rm[i].parent, w->rm[i].name, w->rm[i].len)
        == w->rm[i].ino)
      model_remove_name (&fs->m, w->rm[i].parent, w->rm[i].name,
                         w->rm[i].len);
  for (size_t i = 0; i < w->nadd; i++) {
    struct name_change *a = &w->add[i];

    /* replaced: the old name is in w->rm too */
    model_remove_name (&fs->m, a->parent, a->name, a->len);
    if (inode_for_name (fs, a->ino) == NULL) {
      a->matched = true;      /* points to nothing we know: no event */
      if (watched (fs, a->ino) && a->ino <= fs->fs->super->s_inodes_count &&
          fs->dangling.n < DANGLING_MAX)
        numset_add (&fs->dangling, (uint64_t) a->parent << 32 | a->ino);
      continue;
    }
    model_add_name (&fs->m, a->parent, a->ino, a->name, a->len);
  }

  /* Renames: a name gone and a name come for the same inode (the names
   * come found by inode: a barrier may have tens of thousands of each).
   */
  byino = malloc ((w->nadd + 1) * sizeof *byino);
  if (byino == NULL)
    abort ();
  for (size_t j = 0; j < w->nadd; j++)
    byino[j] = (struct gone_ref) { w->add[j].ino, j };
  qsort (byino, w->nadd, sizeof *byino, by_inode);
  for (size_t i = 0; i < w->nrm; i++) {
    struct name_change *rm = &w->rm[i];
    size_t lo = 0, hi = w->nadd;
    while (lo < hi) {         /* the first name come of rm's inode */
      size_t mid = lo + (hi - lo) / 2;
      if (byino[mid].ino < rm->ino)
        lo = mid + 1;
      else
        hi = mid;
    }
    for (size_t k = lo; k < w->nadd && byino[k].ino == rm->ino && !rm->matched;
         k++) {
      struct name_change *a = &w->add[byino[k].i];
      if (!a->matched && model_inode (&fs->m, a->ino)) {
        a->path_len = entry_path (fs, a->parent, a->name, a->len, pathbuf2,
                                  sizeof pathbuf2);
        /* A move into or out of a directory that has no path yet is,
         * seen from here, the unlink or the link below; a rename event
         * would lose the name that is known.
         */
        if (rm->path == NULL || a->path_len == 0)
          continue;
        a->path = malloc (a->path_len);
        if (a->path == NULL)
          abort ();
        memcpy (a->path, pathbuf2, a->path_len);
        rm->matched = a->matched = true;
        w->mv = bw_grow (w->mv, &w->capmv, w->nmv, sizeof *w->mv);
        w->mv[w->nmv++] = (struct move) { .from = rm, .to = a };
      }
    }
  }
  free (byino);
  /* Names gone: an unlink, or the delete of an inode whose last name
   * this was (whichever of its blocks reached the disk first).  A
   * directory that something is moved out of is deleted after the move.
   */
  w->matched = true;
  for (size_t i = 0; i < w->nmv; i++)
    numset_add (&w->moved_from, w->mv[i].from->parent);
  numset_sort_unique (&w->moved_from);
  mark_not_last (w);
  for (size_t i = 0; i < w->nrm; i++) {
    struct name_change *rm = &w->rm[i];
    struct inode_rec *r = model_inode (&fs->m, rm->ino);
    if (rm->matched || r == NULL || (rm->path == NULL && !rm->too_long))
      continue;
    if (r->names == 0 && !rm->not_last &&
        (gone_on_disk (fs, rm->ino) || dir_removed (w, rm->ino, &r->a)))
      delete_named (fs, w, rm);
    else
      emit_name_event (fs, BW_EV_UNLINK, rm->ino, rm->path, rm->path_len,
                       NULL, 0);
  }
  if (w->nlate)
    qsort (w->late, w->nlate, sizeof *w->late, longest_first);
  emit_moves (fs, w);
  /* What is left (all of them when nothing was renamed; a corrupt
   * tree's): as it is, deepest first.
   */
  for (size_t i = 0; i < w->nlate; i++) {
    if (!w->late[i].said)
      emit_event (fs, &w->late[i].ev);
    free ((char *) w->late[i].ev.path);
  }
  free (w->late);
  w->late = NULL;
  w->nlate = 0;
  names_come (fs, w);
}

/* ---- metadata ----------------------------------------------------- */

static void
emit_field (struct ext4fs *fs, uint32_t ino, const char *path, size_t n,
            const char *field, struct bw_value old, struct bw_value now)
{
  /* Called without a path only for a file whose path is too long. */
  struct bw_event ev = {
    .type = BW_EV_METADATA, .inode = ino, .path = path, .path_len = n,
    .path_too_long = path == NULL,
    .field = field, .old_value = old, .new_value = now,
  };

  emit_event (fs, &ev);
}

#define NUM(v) ((struct bw_value) { .sec = (v) })

static void
emit_time (struct ext4fs *fs, uint32_t ino, const char *path, size_t n,
           const char *field, struct xtime old, struct xtime now)
{
  if (old.sec != now.sec || old.extra != now.extra)
    emit_field (fs, ino, path, n, field, attrs_time (old), attrs_time (now));
}

static void
emit_metadata (struct ext4fs *fs, struct work *w)
{
  for (size_t i = 0; i < w->nch; i++) {
    const struct change *c = &w->ch[i];
    const struct attrs *o = &c->old, *a = &c->now;
    const struct inode_rec *r = model_inode (&fs->m, c->ino);
    const char *p = pathbuf;
    size_t n;

    if (c->kind != CH_CHANGED || r == NULL || !r->announced)
      continue;
    n = model_path (&fs->m, c->ino, pathbuf, sizeof pathbuf);
    if (n == 0 && errno != ENAMETOOLONG)
      continue;
    if (n == 0)
      p = NULL;               /* too long: said without it */
    if (a->size < o->size) {
      struct bw_event ev = {
        .type = BW_EV_TRUNCATE, .inode = c->ino, .path = p,
        .path_len = n, .path_too_long = p == NULL, .length = a->size,
      };
      if (c->announced)
        emit_event (fs, &ev);
      blocks_truncated (fs, c->ino, a->size);
    }
    /* Created in this barrier, though born in an earlier one without a
     * name (its inode table block reached the disk before the block of
     * its directory's entry, and a barrier came between: ext2 and
     * --no-journal write them home in any order): the create said the
     * inode as it is now, and a change from a state that no event said
     * would not fit it (a size "from 0" after a create of size 4).
     */
    if (!c->announced)
      continue;
    if (a->size != o->size)
      emit_field (fs, c->ino, p, n, "size", NUM (o->size), NUM (a->size));
    if (a->mode != o->mode)
      emit_field (fs, c->ino, p, n, "mode", NUM (o->mode), NUM (a->mode));
    if (a->uid != o->uid)
      emit_field (fs, c->ino, p, n, "uid", NUM (o->uid), NUM (a->uid));
    if (a->gid != o->gid)
      emit_field (fs, c->ino, p, n, "gid", NUM (o->gid), NUM (a->gid));
    if (a->links != o->links)
      emit_field (fs, c->ino, p, n, "links", NUM (o->links),
                  NUM (a->links));
    if (a->flags != o->flags)
      emit_field (fs, c->ino, p, n, "flags", NUM (o->flags),
                  NUM (a->flags));
    emit_time (fs, c->ino, p, n, "atime", o->atime, a->atime);
    emit_time (fs, c->ino, p, n, "mtime", o->mtime, a->mtime);
    emit_time (fs, c->ino, p, n, "ctime", o->ctime, a->ctime);
    emit_time (fs, c->ino, p, n, "crtime", o->crtime, a->crtime);
  }
}

/* ---- data --------------------------------------------------------- */

static void
resolve_pending (struct ext4fs *fs)
{
  for (size_t i = 0; i < fs->npend; i++) {
    const struct pending *p = &fs->pend[i];
    uint64_t off = p->off, end = p->off + p->len;

    while (off < end) {
      uint64_t blk = off / fs->bs;
      const struct bm_node *n = bm_find (&fs->m.owners, blk);
      uint64_t blk_end = (blk + 1) * fs->bs;

      if (n == NULL) {
        if (layout_find (fs, blk) == NULL)
          bm_gap_add (&fs->m.gaps, blk, 1, p->seq);
      }
      else if (bm_file_data (n->kind)) {
        /* the whole owned run at once */
        uint64_t run_end = (n->start + n->len) * fs->bs;
        uint64_t stop = run_end < end ? run_end : end;
        uint64_t file_off = (n->lblk + (blk - n->start)) * fs->bs
                            + off % fs->bs;
        queue_write (fs, n->ino, file_off, stop - off, off, p->seq,
                     p->time_ns);
        off = stop;
        continue;
      }
      off = blk_end < end ? blk_end : end;
    }
  }
  fs->npend = 0;
}

/* ---- the barrier -------------------------------------------------- */

static bool
same_layout (const struct region *was, size_t n, const struct ext4fs *fs)
{
  if (n != fs->nregions)
    return false;
  for (size_t i = 0; i < n; i++)
    if (was[i].start != fs->regions[i].start ||
        was[i].len != fs->regions[i].len ||
        was[i].kind != fs->regions[i].kind)
      return false;
  return true;
}

static void
mark_everything (struct ext4fs *fs)
{
  for (size_t i = 0; i < fs->nregions; i++)
    if (fs->regions[i].kind == R_ITABLE)
      for (uint32_t b = 0; b < fs->regions[i].len; b++)
        numset_add (&fs->dirty_itable, fs->regions[i].start + b);
  for (uint32_t ino = model_next_inode (&fs->m, 0); ino;
       ino = model_next_inode (&fs->m, ino)) {
    numset_add (&fs->dirty_maps, ino);
    if (S_ISDIR (model_inode (&fs->m, ino)->a.mode))
      numset_add (&fs->dirty_dirs, ino);
  }
}

void
ext4_reconcile (struct ext4fs *fs, uint64_t seq, uint64_t txn,
                uint64_t time_ns)
{
  if (fs->journal_on) {
    if (fs->jlog_written || fs->jsb_written)
      journal_poll (fs, seq, time_ns);
    /* What lands between two commits belongs, in the journal's time, to
     * the transaction running then: the one committed next.
     */
    txn = fs->log.tid;
  }
  reconcile_now (fs, seq, txn, time_ns);
}

void
reconcile_now (struct ext4fs *fs, uint64_t seq, uint64_t txn,
               uint64_t time_ns)
{
  struct work w = { 0 };
  struct dirent_list l = { 0 };
  uint8_t *buf;

  fs->seq = seq;
  fs->txn = txn;
  fs->time_ns = time_ns;
  if (fs->gdt_dirty) {
    /* Descriptors change all the time (free counts, checksums); only
     * moved tables or bitmaps (a resize) make us re-read everything.
     */
    size_t n = fs->nregions;
    struct region *was = malloc ((n + 1) * sizeof *was);
    bool was_unmade = fs->unmade;
    fs->gdt_dirty = false;
    if (was == NULL)
      abort ();
    if (n)
      memcpy (was, fs->regions, n * sizeof *was);
    if (ext4_reopen (fs) == -1) {
      /* Descriptors that make no sense now: we keep the ones we had,
       * and look again at the next barrier.
       */
      if (!fs->layout_refused && fs->unmade)
        ext4_say (fs, "the superblock has no ext2/3/4 magic now (a mkfs "
                  "or a wipe under way?): nothing is followed until it "
                  "has one again");
      else if (!fs->layout_refused && !fs->replaced[0])
        ext4_say (fs, "%s: the layout read before is kept (events may be "
                  "wrong or missing until this changes)", fs->err);
      fs->layout_refused = true;
      fs->gdt_dirty = true;
    }
    else {
      if (fs->layout_refused)
        ext4_say (fs, was_unmade ? "the superblock has its magic again, "
                  "of the same file system: followed on"
                  : "the group descriptors make sense again");
      fs->layout_refused = false;
      if (!same_layout (was, n, fs))
        need_resync (fs, "metadata re-read from the disk: the group "
                     "descriptors moved inode tables or bitmaps (a resize, "
                     "or damage)");
    }
    free (was);
  }
  if (fs->sb_dirty && !fs->replaced[0] && !fs->unmade) {
    fs->sb_dirty = false;
    check_superblock (fs);
  }
  /* Another file system (a mkfs): nothing more comes of this one, the
   * engine follows the new one (diffed, the new one's inodes would be
   * taken for changes of the old files).  No file system at all for
   * now: what was noted waits for one (read with the old layout, the
   * new one's blocks made deletes of / and such).
   */
  if (fs->replaced[0] || fs->unmade)
    return;
  if (fs->full_resync)
    mark_everything (fs);

  buf = malloc (fs->bs);
  if (buf == NULL)
    abort ();
  numset_sort_unique (&fs->dirty_itable);
  for (size_t i = 0; i < fs->dirty_itable.n; i++)
    scan_itable_block (fs, &w, fs->dirty_itable.v[i], buf);
  free (buf);
  apply_inode_changes (fs, &w);
  recheck_dangling (fs);
  reload_dirty_maps (fs);

  numset_sort_unique (&fs->dirty_dirs);
  numset_sort_unique (&w.taken_out);
  for (size_t i = 0; i < fs->dirty_dirs.n; i++)
    diff_dir (fs, &w, fs->dirty_dirs.v[i], &l);
  apply_names (fs, &w);
  emit_metadata (fs, &w);
  resolve_pending (fs);
  flush_writes (fs);
  model_settle (&fs->m);

  if (fs->full_resync) {
    struct bw_event ev = { .type = BW_EV_RESYNC, .detail = fs->resync_why };
    emit_event (fs, &ev);
    fs->full_resync = false;
  }
  numset_clear (&fs->dirty_itable);
  numset_clear (&fs->dirty_dirs);
  numset_clear (&fs->dirty_maps);
  for (size_t i = 0; i < w.nrm; i++)
    free (w.rm[i].path);
  for (size_t i = 0; i < w.nadd; i++)
    free (w.add[i].path);
  free (w.rm);
  free (w.add);
  free (w.mv);
  for (size_t i = 0; i < w.ndone; i++)
    free (w.done[i].from);
  free (w.done);
  numset_free (&w.moved_from);
  numset_free (&w.taken_out);

  free (w.ch);
  free (l.v);
}
