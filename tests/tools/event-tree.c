/* event-tree: the fidelity oracle of the introspector tests.
 *
 *   event-tree [--base DIR] [--metadata-only] [--part N] [--strict]
 *              --check DIR EVENTS.jsonl
 *
 * Starts from the tree of the base image (mounted read-only at --base,
 * or empty), replays the JSON events (create, delete, rename, exchange,
 * link, unlink, metadata, write, truncate) and compares the result
 * with the final image (mounted read-only at --check): every path, its
 * type, mode, owner, size and link count, and the content of every file
 * the events wrote to.  Anything that differs is printed; exit 1.  An
 * overflow that says a file lost writes (lost_writes, with its inode)
 * makes that file's content unknown: it is not compared (a file not
 * created yet: once it is).  After one that says writes were lost
 * without naming the files, no content is compared (as with
 * --metadata-only).
 *
 * --part N takes only the events of partition N (their "part" field):
 * on a partitioned disk, each file system is checked on its own, and an
 * event given to the wrong partition shows up as a mismatch in both.
 *
 * --strict also holds every event to the tree replayed so far: an event
 * that does not fit it describes something that did not happen (a
 * create of a name that exists, a rename from a name that does not, an
 * exchange of names of which one is missing or below the other, a
 * metadata change whose old value is not the value, a write past the
 * end of the file, a loss other than a file's lost writes), and is
 * printed as INCONSISTENT; exit 1.
 * The final tree can be right while such an event is wrong, when a
 * later event hides it.  An inode left without a name at the end (the
 * file system was unmounted: it was freed) lacks its delete: a
 * mismatch.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <search.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "events/event.h"

struct node {
  uint64_t ino;
  uint32_t mode, uid, gid;
  uint64_t size;
  uint8_t *data;              /* content, size bytes (regular files) */
  bool data_known;
  bool written;               /* an event wrote to it: check content */
  unsigned nnames;            /* names in the tree that lead to it */
  uint64_t truncated_from;    /* the size before a truncate event, which
                               * a size metadata event repeats */
};

struct name {
  char *path;
  struct node *n;
  bool seen;                  /* found in the image */
};

/* Both kept in tsearch trees: a directory of 50k entries is replayed
 * and checked in n log n.
 */
static void *names, *nodes;
/* Inodes whose lost writes an overflow told before they had a name
 * (a file not created yet): their content is unknown once they do.
 */
static void *lost_unnamed;
static unsigned long long mismatches, inconsistent;
static const char *root;      /* the directory being walked */
static bool metadata_only;    /* lost tap records or writes: contents are
                               * unknown */
static bool strict;
static long long only_part = -1;  /* --part: the partition checked */
static unsigned long long line;   /* of the event being replayed */
static unsigned long long applied;  /* events replayed (of --part) */

static void *
xrealloc (void *p, size_t n)
{
  p = realloc (p, n);
  if (p == NULL && n) {
    perror ("event-tree");
    exit (2);
  }
  return p;
}

static int
node_cmp (const void *a, const void *b)
{
  const struct node *x = a, *y = b;

  return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static int
name_cmp (const void *a, const void *b)
{
  return strcmp (((const struct name *) a)->path,
                 ((const struct name *) b)->path);
}

static struct node *
node_of (uint64_t ino)
{
  struct node key = { .ino = ino };
  void **p = tfind (&key, &nodes, node_cmp);

  return p ? *p : NULL;
}

static struct name *
name_find (const char *path)
{
  struct name key = { .path = (char *) path };
  void **p = tfind (&key, &names, name_cmp);

  return p ? *p : NULL;
}

static int
ino_cmp (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return x < y ? -1 : x > y;
}

static struct node *
node_new (uint64_t ino)
{
  struct node *n = calloc (1, sizeof *n);

  if (n == NULL)
    exit (2);
  n->ino = ino;
  n->data_known = true;
  n->truncated_from = UINT64_MAX;
  if (tsearch (n, &nodes, node_cmp) == NULL)
    exit (2);
  return n;
}

static void
name_set (const char *path, struct node *n)
{
  struct name *x = name_find (path);

  if (x == NULL) {
    x = calloc (1, sizeof *x);
    if (x == NULL || (x->path = strdup (path)) == NULL ||
        tsearch (x, &names, name_cmp) == NULL)
      exit (2);
  }
  else
    x->n->nnames--;
  x->n = n;
  n->nnames++;
}

static void
name_drop (struct name *x)
{
  tdelete (x, &names, name_cmp);
  x->n->nnames--;
  free (x->path);
  free (x);
}

/* ---- walking the names -------------------------------------------- */

/* The names a predicate picks, collected first: the tree cannot change
 * while it is walked.
 */
struct picked {
  bool (*want) (const struct name *, const void *);
  const void *arg;
  struct name **v;
  size_t n, cap;
};

static void
pick_one (const void *nodep, VISIT which, void *closure)
{
  struct picked *p = closure;
  struct name *x = *(struct name * const *) nodep;

  if ((which == postorder || which == leaf) && p->want (x, p->arg)) {
    if (p->n == p->cap) {
      p->cap = p->cap ? p->cap * 2 : 64;
      p->v = xrealloc (p->v, p->cap * sizeof *p->v);
    }
    p->v[p->n++] = x;
  }
}

static struct picked
pick (bool (*want) (const struct name *, const void *), const void *arg)
{
  struct picked p = { .want = want, .arg = arg };

  twalk_r (names, pick_one, &p);
  return p;
}

static bool
path_under (const char *path, const char *dir)
{
  size_t n = strlen (dir);

  return strncmp (path, dir, n) == 0 && path[n] == '/';
}

static bool
is_under (const struct name *x, const void *dir)
{
  return path_under (x->path, dir);
}

static bool
leads_to (const struct name *x, const void *n)
{
  return x->n == n;
}

/* Inodes left without a name: at the end of a run (the file system
 * unmounted) every such inode has been freed, and its delete is due.
 */
static void
count_nameless (const void *nodep, VISIT which, void *closure)
{
  const struct node *n = *(struct node * const *) nodep;

  if ((which == postorder || which == leaf) && n->nnames == 0) {
    fprintf (stderr, "MISMATCH <inode %llu>: no name left, and never "
             "deleted\n", (unsigned long long) n->ino);
    ++*(unsigned long long *) closure;
  }
}

static bool
is_unseen (const struct name *x, const void *unused)
{
  (void) unused;
  return !x->seen;
}

/* Removes path and, for a directory, everything below it. */
static void
name_remove_tree (const char *path)
{
  struct name *x = name_find (path);
  struct picked p;

  if (x == NULL)
    return;
  if (S_ISDIR (x->n->mode)) {
    p = pick (is_under, path);
    for (size_t i = 0; i < p.n; i++)
      name_drop (p.v[i]);
    free (p.v);
  }
  name_drop (x);
}

/* Frees a node and the names that still lead to it. */
static void
node_free (struct node *n)
{
  if (n->nnames) {
    struct picked p = pick (leads_to, n);
    for (size_t i = 0; i < p.n; i++)
      name_remove_tree (p.v[i]->path);
    free (p.v);
  }
  tdelete (n, &nodes, node_cmp);
  free (n->data);
  free (n);
}

/* The name path and, for a directory, every name below it: taken out
 * of the tree, to be put back under another prefix (subtree_put).
 */
static struct picked
subtree_take (const char *path)
{
  struct name *x = name_find (path);
  struct picked p = { 0 };

  if (x == NULL)
    return p;
  if (S_ISDIR (x->n->mode))
    p = pick (is_under, path);
  p.v = xrealloc (p.v, (p.n + 1) * sizeof *p.v);
  p.v[p.n++] = x;
  for (size_t i = 0; i < p.n; i++)
    tdelete (p.v[i], &names, name_cmp);
  return p;
}

/* Puts the names subtree_take took from path back with the prefix to
 * instead.
 */
static void
subtree_put (struct picked *p, const char *path, const char *to)
{
  size_t len = strlen (path);

  for (size_t i = 0; i < p->n; i++) {
    struct name *y = p->v[i];
    char *np;
    if (asprintf (&np, "%s%s", to, y->path + len) == -1)
      exit (2);
    free (y->path);
    y->path = np;
    if (tsearch (y, &names, name_cmp) == NULL)
      exit (2);
  }
  free (p->v);
}

/* Gives the name path, and for a directory every name below it, the
 * prefix to instead.
 */
static void
name_move (const char *path, const char *to)
{
  struct picked p = subtree_take (path);

  subtree_put (&p, path, to);
}

/* Swaps the names a and b, with what is below them: both taken out
 * before either is put back, since each takes the other's place.
 */
static void
name_swap (const char *a, const char *b)
{
  struct picked pa = subtree_take (a), pb = subtree_take (b);

  subtree_put (&pa, a, b);
  subtree_put (&pb, b, a);
}

static void
resize (struct node *n, uint64_t size)
{
  if (size > (1ull << 32)) {
    n->data_known = false;
    n->size = size;
    return;
  }
  n->data = xrealloc (n->data, size ? size : 1);
  if (size > n->size)
    memset (n->data + n->size, 0, size - n->size);
  n->size = size;
}

/* ---- the base tree ------------------------------------------------ */

static const char *
rel (const char *fpath)
{
  const char *r = fpath + strlen (root);

  return *r ? r : "/";
}

static int
seed_one (const char *fpath, const struct stat *st, int type, struct FTW *f)
{
  struct node *n;

  (void) type; (void) f;
  n = node_of (st->st_ino);
  if (n == NULL) {
    n = node_new (st->st_ino);
    n->mode = st->st_mode;
    n->uid = st->st_uid;
    n->gid = st->st_gid;
    n->size = st->st_size;
    if (S_ISREG (st->st_mode)) {
      int fd = open (fpath, O_RDONLY);
      n->data = xrealloc (NULL, n->size ? n->size : 1);
      if (fd == -1 || read (fd, n->data, n->size) != (ssize_t) n->size)
        n->data_known = false;
      if (fd >= 0)
        close (fd);
    }
  }
  name_set (rel (fpath), n);
  return 0;
}

/* A path as events write it (escaped: a name may hold a newline or
 * bytes that are not UTF-8), for messages that are read and parsed by
 * line.  The last few are kept, so that one message can show several.
 */
static const char *
shown (const char *path)
{
  static char *ring[4];
  static unsigned next;
  char **slot = &ring[next++ % 4];

  free (*slot);
  *slot = bw_escape_bytes (path, strlen (path));
  return *slot ? *slot : "(out of memory)";
}

/* ---- events ------------------------------------------------------- */

static void
inconsistency (const struct bw_event *ev, const char *fmt, ...)
{
  va_list ap;

  if (!strict)
    return;
  fprintf (stderr, "INCONSISTENT %s: line %llu, %s of inode %llu: ",
           ev->path ? shown (ev->path) : "-", line, bw_event_type_name (ev->type),
           (unsigned long long) ev->inode);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  inconsistent++;
}

static uint32_t
type_bits (enum bw_file_type t)
{
  switch (t) {
  case BW_FT_DIR: return S_IFDIR;
  case BW_FT_SYMLINK: return S_IFLNK;
  case BW_FT_CHR: return S_IFCHR;
  case BW_FT_BLK: return S_IFBLK;
  case BW_FT_FIFO: return S_IFIFO;
  case BW_FT_SOCK: return S_IFSOCK;
  default: return S_IFREG;
  }
}

/* The checks every event about an inode passes: the inode is known,
 * and a path it names leads to it.  Whether it can be replayed.
 */
static bool
known (const struct bw_event *ev, const struct node *n)
{
  const struct name *x = NULL;

  if (n == NULL) {
    inconsistency (ev, "an inode the events do not have");
    return false;
  }
  if (ev->path && (x = name_find (ev->path)) == NULL)
    inconsistency (ev, "a name the events do not have");
  else if (ev->path && x->n != n)
    inconsistency (ev, "the name leads to inode %llu",
                   (unsigned long long) x->n->ino);
  return true;
}

/* A new name's place: free, in a directory. */
static void
new_name (const struct bw_event *ev)
{
  const char *slash = strrchr (ev->path, '/');
  char *dir = strndup (ev->path, slash && slash > ev->path ?
                       (size_t) (slash - ev->path) : 1);
  const struct name *d = name_find (dir);

  if (name_find (ev->path))
    inconsistency (ev, "the name exists");
  else if (d == NULL || !S_ISDIR (d->n->mode))
    inconsistency (ev, "%s is not a directory of the events", shown (dir));
  free (dir);
}

static void
apply_write (struct node *n, const struct bw_parsed_event *pe)
{
  const struct bw_event *ev = &pe->ev;

  n->written = true;
  if (!S_ISREG (n->mode))
    inconsistency (ev, "data written to something not a file");
  if (ev->data == NULL ||
      json_is_true (json_object_get (pe->json, "data_truncated"))) {
    n->data_known = false;
    return;
  }
  if (ev->offset + ev->data_len > n->size) {
    inconsistency (ev, "data up to %llu, past the size %llu",
                   (unsigned long long) (ev->offset + ev->data_len),
                   (unsigned long long) n->size);
    resize (n, ev->offset + ev->data_len);
  }
  if (n->data_known)
    memcpy (n->data + ev->offset, ev->data, ev->data_len);
}

/* An overflow that names a file whose writes were lost: its content is
 * not known any more, and nothing else is wrong.
 */
static void
apply_lost_writes (struct node *n, const struct bw_event *ev)
{
  uint64_t *ino;
  void **p;

  fprintf (stderr, "line %llu: %llu writes of inode %llu (%s) lost: its "
           "content is not compared\n", line,
           (unsigned long long) ev->lost_writes,
           (unsigned long long) ev->inode, ev->path ?: "no path");
  if (n || ev->path) {
    if (known (ev, n))
      n->data_known = false;
    return;
  }
  ino = malloc (sizeof *ino);
  if (ino == NULL)
    exit (2);
  *ino = ev->inode;
  if ((p = tsearch (ino, &lost_unnamed, ino_cmp)) == NULL)
    exit (2);
  if (*p != ino)
    free (ino);
}

/* A new file that lost writes before it was created. */
static void
take_lost_unnamed (struct node *n)
{
  void **p = tfind (&n->ino, &lost_unnamed, ino_cmp);
  uint64_t *ino;

  if (p == NULL)
    return;
  ino = *p;
  tdelete (ino, &lost_unnamed, ino_cmp);
  free (ino);
  n->data_known = false;
}

static void
apply_metadata (struct node *n, const struct bw_event *ev)
{
  uint32_t *u = NULL;
  uint64_t old = ev->old_value.sec, now;

  if (strcmp (ev->field, "mode") == 0)
    u = &n->mode;
  else if (strcmp (ev->field, "uid") == 0)
    u = &n->uid;
  else if (strcmp (ev->field, "gid") == 0)
    u = &n->gid;
  else if (strcmp (ev->field, "size") != 0)
    return;                   /* times, links, flags: not replayed */
  now = u ? *u : n->size;
  if (old != now && !(u == NULL && old == n->truncated_from &&
                      (uint64_t) ev->new_value.sec == now))
    inconsistency (ev, "%s was %llo/%llu, the event says from %llo/%llu",
                   ev->field, (unsigned long long) now,
                   (unsigned long long) now, (unsigned long long) old,
                   (unsigned long long) old);
  if (u)
    *u = ev->new_value.sec;
  else {
    resize (n, ev->new_value.sec);
    n->truncated_from = UINT64_MAX;
  }
}

static void
apply_event (const struct bw_parsed_event *pe)
{
  const struct bw_event *ev = &pe->ev;
  struct node *n = ev->inode ? node_of (ev->inode) : NULL;
  const struct name *x;

  switch (ev->type) {
  case BW_EV_CREATE:
    if (ev->path == NULL) {
      inconsistency (ev, "no name");
      return;
    }
    new_name (ev);
    if (n) {                  /* a reused inode: the old one is gone */
      if (n->nnames)
        inconsistency (ev, "the inode still has %u names", n->nnames);
      node_free (n);
    }
    name_remove_tree (ev->path);
    n = node_new (ev->inode);
    n->mode = type_bits (ev->file_type) | (ev->mode & 07777);
    n->uid = ev->uid;
    n->gid = ev->gid;
    resize (n, ev->size);
    /* Born during the run: every byte of it must come from events. */
    n->written = true;
    take_lost_unnamed (n);
    name_set (ev->path, n);
    break;
  case BW_EV_DELETE:
    if (known (ev, n) && ev->path) {
      if (n->nnames != 1)
        inconsistency (ev, "the inode has %u names", n->nnames);
      else if (S_ISDIR (n->mode)) {
        struct picked p = pick (is_under, ev->path);
        if (p.n)
          inconsistency (ev, "the directory still holds %s", shown (p.v[0]->path));
        free (p.v);
      }
    }
    if (ev->path)
      name_remove_tree (ev->path);
    if (n)
      node_free (n);
    break;
  case BW_EV_UNLINK:
    if (ev->path == NULL)
      inconsistency (ev, "no name");
    else if (known (ev, n) && n->nnames == 1 && S_ISDIR (n->mode))
      inconsistency (ev, "a directory's only name");
    if (ev->path && (x = name_find (ev->path)))
      name_drop ((struct name *) x);
    break;
  case BW_EV_LINK:
    if (n == NULL || ev->path == NULL) {
      inconsistency (ev, n ? "no name" : "an inode the events do not have");
      return;
    }
    new_name (ev);
    name_set (ev->path, n);
    break;
  case BW_EV_RENAME:
  case BW_EV_EXCHANGE:
    if (ev->path == NULL || ev->old_path == NULL) {
      inconsistency (ev, "no name");
      return;
    }
    /* The inode is at old_path before (an exchange's at path after). */
    if (n == NULL || (x = name_find (ev->old_path)) == NULL || x->n != n)
      inconsistency (ev, "from %s, which is not a name of the inode",
                     shown (ev->old_path));
    else if (ev->type == BW_EV_RENAME)
      new_name (ev);          /* what it replaced was deleted first */
    else if (name_find (ev->path) == NULL)
      inconsistency (ev, "with a name the events do not have");
    else if (strcmp (ev->path, ev->old_path) == 0 ||
             path_under (ev->path, ev->old_path) ||
             path_under (ev->old_path, ev->path))
      inconsistency (ev, "with %s: the same name, or one below the other",
                     shown (ev->old_path));
    if (ev->type == BW_EV_EXCHANGE)
      name_swap (ev->path, ev->old_path);
    else {
      name_remove_tree (ev->path);
      name_move (ev->old_path, ev->path);
    }
    break;
  case BW_EV_METADATA:
    if (known (ev, n))
      apply_metadata (n, ev);
    break;
  case BW_EV_TRUNCATE:
    if (known (ev, n)) {
      if (ev->length >= n->size)
        inconsistency (ev, "to %llu, not shorter than %llu",
                       (unsigned long long) ev->length,
                       (unsigned long long) n->size);
      n->truncated_from = n->size;
      resize (n, ev->length);
    }
    break;
  case BW_EV_WRITE:
    if (known (ev, n))
      apply_write (n, pe);
    break;
  case BW_EV_OVERFLOW:
    if (bw_event_of_file (ev)) {
      apply_lost_writes (n, ev);
      break;
    }
    inconsistency (ev, "events were lost");
    /* Written data the introspector gave up, of files it does not
     * name: no content can be held to the image any more.
     */
    if (ev->lost_writes && !metadata_only) {
      fprintf (stderr, "line %llu: %llu writes lost: contents are not "
               "compared\n", line, (unsigned long long) ev->lost_writes);
      metadata_only = true;
    }
    break;
  default:                    /* mount, unmount, partition, resync */
    break;
  }
}

/* ---- the check ---------------------------------------------------- */

static unsigned long long checked, contents;

static void
mismatch (const char *path, const char *fmt, unsigned long long want,
          unsigned long long got)
{
  fprintf (stderr, "MISMATCH %s: %s: events say %llo/%llu, image has "
           "%llo/%llu\n", path, fmt, want, want, got, got);
  mismatches++;
}

static int
check_one (const char *fpath, const struct stat *st, int type, struct FTW *f)
{
  const char *p = rel (fpath);
  struct name *x = name_find (p);
  struct node *n;

  (void) type; (void) f;
  checked++;
  if (x == NULL) {
    fprintf (stderr, "MISMATCH %s: in the image, not in the events\n", shown (p));
    mismatches++;
    return 0;
  }
  n = x->n;
  if ((n->mode & S_IFMT) != (st->st_mode & S_IFMT))
    mismatch (p, "type", n->mode & S_IFMT, st->st_mode & S_IFMT);
  if (!S_ISLNK (st->st_mode) && (n->mode & 07777) != (st->st_mode & 07777))
    mismatch (p, "mode", n->mode & 07777, st->st_mode & 07777);
  if (n->uid != st->st_uid)
    mismatch (p, "uid", n->uid, st->st_uid);
  if (n->gid != st->st_gid)
    mismatch (p, "gid", n->gid, st->st_gid);
  if (S_ISREG (st->st_mode)) {
    if (n->size != (uint64_t) st->st_size)
      mismatch (p, "size", n->size, st->st_size);
    if (n->nnames != st->st_nlink)
      mismatch (p, "links", n->nnames, st->st_nlink);
    if (!metadata_only && n->written && n->data_known &&
        n->size == (uint64_t) st->st_size) {
      int fd = open (fpath, O_RDONLY);
      uint8_t *buf = xrealloc (NULL, n->size ? n->size : 1);
      if (fd == -1 || read (fd, buf, n->size) != (ssize_t) n->size ||
          memcmp (buf, n->data, n->size) != 0) {
        uint64_t i = 0;
        while (i < n->size && buf[i] == n->data[i])
          i++;
        fprintf (stderr, "MISMATCH %s: content differs from byte %llu\n", shown (p),
                 (unsigned long long) i);
        mismatches++;
      }
      contents++;
      free (buf);
      if (fd >= 0)
        close (fd);
    }
  }
  x->seen = true;
  return 0;
}

static void
replay (FILE *f)
{
  char *text = NULL, err[256];
  size_t cap = 0;
  ssize_t len;

  while ((len = getline (&text, &cap, f)) > 0) {
    struct bw_parsed_event pe;
    line++;
    if (bw_event_from_json (text, len, &pe, err, sizeof err) == -1) {
      fprintf (stderr, "event-tree: line %llu: %s\n", line, err);
      exit (2);
    }
    if (only_part < 0 || pe.ev.part == only_part) {
      apply_event (&pe);
      applied++;
    }
    bw_parsed_event_free (&pe);
  }
  free (text);
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "base", required_argument, NULL, 'b' },
    { "check", required_argument, NULL, 'c' },
    { "metadata-only", no_argument, NULL, 'm' },
    { "part", required_argument, NULL, 'p' },
    { "strict", no_argument, NULL, 's' },
    { 0 }
  };
  const char *base = NULL, *check = NULL;
  struct picked left;
  char *end;
  FILE *f;
  int c;

  while ((c = getopt_long (argc, argv, "b:c:mp:s", opts, NULL)) != -1) {
    if (c == 'b')
      base = optarg;
    else if (c == 'c')
      check = optarg;
    else if (c == 'm')
      metadata_only = true;
    else if (c == 's')
      strict = true;
    else if (c == 'p') {
      only_part = strtoll (optarg, &end, 10);
      if (*optarg == '\0' || *end || only_part < 0) {
        fprintf (stderr, "event-tree: --part wants a partition number\n");
        return 2;
      }
    }
    else
      return 2;
  }
  if (check == NULL || optind != argc - 1) {
    fprintf (stderr, "usage: event-tree [--base DIR] [--metadata-only] "
             "[--part N] [--strict] --check DIR EVENTS\n");
    return 2;
  }
  if (base) {
    root = base;
    nftw (base, seed_one, 64, FTW_PHYS);
  }
  else {
    struct node *r = node_new (2);
    r->mode = S_IFDIR | 0755;
    name_set ("/", r);
  }
  f = fopen (argv[optind], "r");
  if (f == NULL) {
    perror (argv[optind]);
    return 2;
  }
  replay (f);
  fclose (f);
  root = check;
  nftw (check, check_one, 64, FTW_PHYS);
  left = pick (is_unseen, NULL);
  for (size_t i = 0; i < left.n; i++)
    fprintf (stderr, "MISMATCH %s: in the events, not in the image\n",
             shown (left.v[i]->path));
  mismatches += left.n;
  free (left.v);
  if (strict)
    twalk_r (nodes, count_nameless, &mismatches);
  printf ("event-tree: %llu events, %llu paths checked, %llu contents "
          "compared, %llu mismatches", applied, checked, contents, mismatches);
  if (strict)
    printf (", %llu inconsistent events", inconsistent);
  putchar ('\n');
  return mismatches || inconsistent ? 1 : 0;
}
