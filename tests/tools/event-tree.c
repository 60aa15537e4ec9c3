/* event-tree: the fidelity oracle of the introspector tests.
 *
 *   event-tree [--base DIR] [--metadata-only] [--part N] --check DIR
 *              EVENTS.jsonl
 *
 * Starts from the tree of the base image (mounted read-only at --base,
 * or empty), replays the JSON events (create, delete, rename, link,
 * unlink, metadata, write, truncate) and compares the result with the
 * final image (mounted read-only at --check): every path, its type,
 * mode, owner, size and link count, and the content of every file the
 * events wrote to.  Anything that differs is printed; exit 1.
 *
 * --part N takes only the events of partition N (their "part" field):
 * on a partitioned disk, each file system is checked on its own, and an
 * event given to the wrong partition shows up as a mismatch in both.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <search.h>
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
};

struct name {
  char *path;
  struct node *n;
};

static struct name *names;
static size_t nnames, capnames;
static struct node **nodes;
static size_t nnodes, capnodes;
static unsigned long long mismatches;
static const char *root;      /* the directory being walked */
static bool metadata_only;    /* lost tap records: contents are unknown */
static long long only_part = -1;  /* --part: the partition checked */

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

static struct node *
node_of (uint64_t ino)
{
  for (size_t i = 0; i < nnodes; i++)
    if (nodes[i]->ino == ino)
      return nodes[i];
  return NULL;
}

static struct node *
node_new (uint64_t ino)
{
  struct node *n = calloc (1, sizeof *n);

  if (n == NULL)
    exit (2);
  n->ino = ino;
  n->data_known = true;
  if (nnodes == capnodes) {
    capnodes = capnodes ? capnodes * 2 : 256;
    nodes = xrealloc (nodes, capnodes * sizeof *nodes);
  }
  nodes[nnodes++] = n;
  return n;
}

static void
node_free (struct node *n)
{
  for (size_t i = 0; i < nnodes; i++)
    if (nodes[i] == n) {
      nodes[i] = nodes[--nnodes];
      break;
    }
  free (n->data);
  free (n);
}

static struct name *
name_find (const char *path)
{
  for (size_t i = 0; i < nnames; i++)
    if (strcmp (names[i].path, path) == 0)
      return &names[i];
  return NULL;
}

static void
name_set (const char *path, struct node *n)
{
  struct name *x = name_find (path);

  if (x) {
    x->n = n;
    return;
  }
  if (nnames == capnames) {
    capnames = capnames ? capnames * 2 : 256;
    names = xrealloc (names, capnames * sizeof *names);
  }
  names[nnames].path = strdup (path);
  names[nnames].n = n;
  nnames++;
}

static bool
under (const char *path, const char *dir)
{
  size_t n = strlen (dir);

  return strncmp (path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Removes path and, for a directory, everything below it. */
static void
name_remove_tree (const char *path)
{
  for (size_t i = 0; i < nnames; ) {
    if (under (names[i].path, path)) {
      free (names[i].path);
      names[i] = names[--nnames];
    }
    else
      i++;
  }
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
    n->size = S_ISREG (st->st_mode) ? (uint64_t) st->st_size : 0;
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

/* ---- events ------------------------------------------------------- */

static char *
path_of (json_t *ev, const char *key)
{
  const char *s = json_string_value (json_object_get (ev, key));
  size_t len;
  char *raw;

  if (s == NULL)
    return NULL;
  raw = bw_unescape (s, &len);
  if (raw == NULL || memchr (raw, 0, len)) {
    fprintf (stderr, "event-tree: bad escaped path '%s'\n", s);
    exit (2);
  }
  return raw;
}

static uint32_t
mode_of (json_t *v)
{
  if (json_is_string (v))
    return strtoul (json_string_value (v), NULL, 8);
  return json_integer_value (v);
}

static uint32_t
type_bits (const char *t)
{
  if (strcmp (t, "dir") == 0) return S_IFDIR;
  if (strcmp (t, "symlink") == 0) return S_IFLNK;
  if (strcmp (t, "chardev") == 0) return S_IFCHR;
  if (strcmp (t, "blockdev") == 0) return S_IFBLK;
  if (strcmp (t, "fifo") == 0) return S_IFIFO;
  if (strcmp (t, "socket") == 0) return S_IFSOCK;
  return S_IFREG;
}

static int
b64 (char c)
{
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

static size_t
unbase64 (const char *s, uint8_t *out)
{
  size_t n = 0;
  unsigned acc = 0;
  int bits = 0;

  for (; *s && *s != '='; s++) {
    int v = b64 (*s);
    if (v < 0)
      continue;
    acc = acc << 6 | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = acc >> bits;
    }
  }
  return n;
}

static void
apply_write (struct node *n, json_t *ev)
{
  uint64_t off = json_integer_value (json_object_get (ev, "offset"));
  const char *data = json_string_value (json_object_get (ev, "data"));
  uint8_t *buf;
  size_t len;

  n->written = true;
  if (data == NULL || json_is_true (json_object_get (ev, "data_truncated"))) {
    n->data_known = false;
    return;
  }
  buf = xrealloc (NULL, strlen (data) + 1);
  len = unbase64 (data, buf);
  if (off + len > n->size)
    resize (n, off + len);
  if (n->data_known)
    memcpy (n->data + off, buf, len);
  free (buf);
}

static void
apply_event (json_t *ev)
{
  const char *type = json_string_value (json_object_get (ev, "type"));
  uint64_t ino = json_integer_value (json_object_get (ev, "inode"));
  char *path = path_of (ev, "path");
  struct node *n = ino ? node_of (ino) : NULL;

  if (type == NULL)
    goto out;
  if (strcmp (type, "create") == 0) {
    if (n)                    /* a reused inode: the old one is gone */
      node_free (n);
    n = node_new (ino);
    n->mode = type_bits (json_string_value (json_object_get (ev, "file_type"))
                         ?: "file") | (mode_of (json_object_get (ev, "mode"))
                                       & 07777);
    n->uid = json_integer_value (json_object_get (ev, "uid"));
    n->gid = json_integer_value (json_object_get (ev, "gid"));
    resize (n, json_integer_value (json_object_get (ev, "size")));
    /* Born during the run: every byte of it must come from events. */
    n->written = true;
    name_set (path, n);
  }
  else if (strcmp (type, "delete") == 0) {
    name_remove_tree (path);
    if (n)
      node_free (n);
  }
  else if (strcmp (type, "unlink") == 0) {
    struct name *x = name_find (path);
    if (x) {
      free (x->path);
      *x = names[--nnames];
    }
  }
  else if (strcmp (type, "link") == 0 && n)
    name_set (path, n);
  else if (strcmp (type, "rename") == 0) {
    char *old = path_of (ev, "old_path");
    size_t ol = strlen (old);
    name_remove_tree (path);  /* whatever the new name replaced */
    for (size_t i = 0; i < nnames; i++)
      if (under (names[i].path, old)) {
        char *p;
        if (asprintf (&p, "%s%s", path, names[i].path + ol) == -1)
          exit (2);
        free (names[i].path);
        names[i].path = p;
      }
    free (old);
  }
  else if (strcmp (type, "metadata") == 0 && n) {
    const char *f = json_string_value (json_object_get (ev, "field"));
    json_t *v = json_object_get (ev, "new");
    if (strcmp (f, "mode") == 0)
      n->mode = mode_of (v);
    else if (strcmp (f, "uid") == 0)
      n->uid = json_integer_value (v);
    else if (strcmp (f, "gid") == 0)
      n->gid = json_integer_value (v);
    else if (strcmp (f, "size") == 0)
      resize (n, json_integer_value (v));
  }
  else if (strcmp (type, "truncate") == 0 && n)
    resize (n, json_integer_value (json_object_get (ev, "length")));
  else if (strcmp (type, "write") == 0 && n)
    apply_write (n, ev);
 out:
  free (path);
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

static unsigned
links_of (const struct node *n)
{
  unsigned c = 0;

  for (size_t i = 0; i < nnames; i++)
    c += names[i].n == n;
  return c;
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
    fprintf (stderr, "MISMATCH %s: in the image, not in the events\n", p);
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
    if (links_of (n) != st->st_nlink)
      mismatch (p, "links", links_of (n), st->st_nlink);
    if (!metadata_only && n->written && n->data_known &&
        n->size == (uint64_t) st->st_size) {
      int fd = open (fpath, O_RDONLY);
      uint8_t *buf = xrealloc (NULL, n->size ? n->size : 1);
      if (fd == -1 || read (fd, buf, n->size) != (ssize_t) n->size ||
          memcmp (buf, n->data, n->size) != 0) {
        uint64_t i = 0;
        while (i < n->size && buf[i] == n->data[i])
          i++;
        fprintf (stderr, "MISMATCH %s: content differs from byte %llu\n", p,
                 (unsigned long long) i);
        mismatches++;
      }
      contents++;
      free (buf);
      if (fd >= 0)
        close (fd);
    }
  }
  x->path[0] = '\0';          /* seen */
  return 0;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "base", required_argument, NULL, 'b' },
    { "check", required_argument, NULL, 'c' },
    { "metadata-only", no_argument, NULL, 'm' },
    { "part", required_argument, NULL, 'p' },
    { 0 }
  };
  const char *base = NULL, *check = NULL;
  char *big = NULL;
  size_t bigcap = 0;
  unsigned long long lines = 0, events = 0;
  char *end;
  FILE *f;
  int c;

  while ((c = getopt_long (argc, argv, "b:c:mp:", opts, NULL)) != -1) {
    if (c == 'b')
      base = optarg;
    else if (c == 'c')
      check = optarg;
    else if (c == 'm')
      metadata_only = true;
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
             "[--part N] --check DIR EVENTS\n");
    return 2;
  }
  if (base) {
    root = base;
    nftw (base, seed_one, 64, FTW_PHYS);
  }
  else
    name_set ("/", node_new (2));
  f = fopen (argv[optind], "r");
  if (f == NULL) {
    perror (argv[optind]);
    return 2;
  }
  while (getline (&big, &bigcap, f) > 0) {
    json_error_t je;
    json_t *ev = json_loads (big, 0, &je);
    if (ev == NULL) {
      fprintf (stderr, "event-tree: bad JSON line %llu: %s\n", lines + 1,
               je.text);
      return 2;
    }
    if (only_part < 0 ||
        json_integer_value (json_object_get (ev, "part")) == only_part) {
      apply_event (ev);
      events++;
    }
    json_decref (ev);
    lines++;
  }
  fclose (f);
  free (big);
  root = check;
  nftw (check, check_one, 64, FTW_PHYS);
  for (size_t i = 0; i < nnames; i++)
    if (names[i].path[0]) {
      fprintf (stderr, "MISMATCH %s: in the events, not in the image\n",
               names[i].path);
      mismatches++;
    }
  printf ("event-tree: %llu events, %llu paths checked, %llu contents "
          "compared, %llu mismatches\n", events, checked, contents,
          mismatches);
  return mismatches ? 1 : 0;
}
