/* The introspector's in-memory model of a file system, against simple
 * references: the owner and gap maps (random ranges inserted, found and
 * removed; gap writes and cuts block by block), and names (entries
 * added, looked up, removed, with hard links, directories dropped with
 * their entries, paths and the names they go through), and the model's
 * size: at most 100 bytes per small file (docs/introspector.md,
 * "Memory").
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ext4/blockmap.h"
#include "ext4/model.h"

static uint32_t rng = 12345;

static uint32_t
rnd (uint32_t n)
{
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng % n;
}

/* ---- the owner map ------------------------------------------------ */

#define BLOCKS 2048

/* Ranges that do not overlap, as an inode's extents are: a random
 * insert and remove workload, every block looked up after each step.
 */
static void
owner_map (void **state)
{
  static uint32_t owner[BLOCKS];      /* reference: range id or 0 */
  struct blockmap m;

  (void) state;
  bm_init (&m);
  for (int step = 0; step < 10000; step++) {
    uint64_t start = rnd (BLOCKS);
    uint32_t len = 1 + rnd (16), id;
    bool free_run = true;

    if (start + len > BLOCKS)
      len = BLOCKS - start;
    for (uint64_t b = start; b < start + len; b++)
      free_run &= owner[b] == 0;
    if (free_run && rnd (2)) {
      id = bm_insert (&m, start, len, (uint32_t) start * 7, 3, BM_DATA);
      for (uint64_t b = start; b < start + len; b++)
        owner[b] = id;
    }
    else if (owner[start]) {
      id = owner[start];
      bm_remove (&m, id);
      for (uint64_t b = 0; b < BLOCKS; b++)
        if (owner[b] == id)
          owner[b] = 0;
    }
    for (uint64_t b = 0; b < BLOCKS; b += 1 + rnd (64)) {
      const struct bm_node *n = bm_find (&m, b);
      if (owner[b] == 0) {
        assert_null (n);
        continue;
      }
      assert_ptr_equal (n, bm_get (&m, owner[b]));
      assert_int_equal (n->ino, (uint32_t) n->start * 7);
      assert_true (b >= n->start && b < n->start + n->len);
    }
  }
  bm_free_all (&m);
}

/* Ranges that start at the same block (a corrupt file system) can each
 * be removed.
 */
static void
same_start (void **state)
{
  struct blockmap m;
  uint32_t id[50];

  (void) state;
  bm_init (&m);
  for (int i = 0; i < 50; i++)
    id[i] = bm_insert (&m, 100, 1 + i, i, 0, BM_MAP);
  for (int i = 0; i < 50; i += 2)
    bm_remove (&m, id[i]);
  assert_int_equal (m.nodes, 25);
  for (int i = 1; i < 50; i += 2)
    bm_remove (&m, id[i]);
  assert_int_equal (m.nodes, 0);
  assert_null (bm_find (&m, 100));
  bm_free_all (&m);
}

/* ---- the gap map -------------------------------------------------- */

struct cut { uint64_t seen[BLOCKS]; uint64_t pieces; };

static void
on_cut (uint64_t start, uint64_t len, uint64_t seq, void *opaque)
{
  struct cut *c = opaque;

  c->pieces++;
  for (uint64_t b = start; b < start + len; b++) {
    assert_int_equal (c->seen[b], 0);
    c->seen[b] = seq;
  }
}

/* Writes and cuts against a block-by-block reference: every written
 * block is in a gap whose seq is at least its last write's, a cut
 * hands back exactly the blocks it removes, and touching runs are one
 * node.
 */
static void
gap_map (void **state)
{
  static uint64_t ref[BLOCKS];        /* seq of the last write, or 0 */
  static struct cut c;
  struct blockmap g;

  (void) state;
  bm_init (&g);
  for (uint64_t seq = 1; seq < 6000; seq++) {
    uint64_t start = rnd (BLOCKS), len = 1 + rnd (40), runs = 0;

    if (start + len > BLOCKS)
      len = BLOCKS - start;
    if (rnd (3)) {
      bm_gap_add (&g, start, len, seq);
      for (uint64_t b = start; b < start + len; b++)
        ref[b] = seq;
    }
    else {
      memset (&c, 0, sizeof c);
      bm_gap_cut (&g, start, len, on_cut, &c);
      for (uint64_t b = 0; b < BLOCKS; b++) {
        bool in = b >= start && b < start + len && ref[b];
        assert_int_equal (c.seen[b] != 0, in);
        assert_true (!in || c.seen[b] >= ref[b]);
      }
      for (uint64_t b = start; b < start + len; b++)
        ref[b] = 0;
    }
    for (uint64_t b = 0; b < BLOCKS; b++) {
      const struct bm_node *n = bm_find (&g, b);
      assert_int_equal (n != NULL, ref[b] != 0);
      assert_true (n == NULL || (n->kind == BM_GAP && n->seq >= ref[b]));
      runs += ref[b] && (b == 0 || ref[b - 1] == 0);
    }
    assert_int_equal (g.nodes, runs);
  }
  bm_free_all (&g);
}

/* A run longer than one node holds is several nodes, and cut whole. */
static void
long_gap (void **state)
{
  struct blockmap g;
  uint64_t len = 3ull * BM_LEN_MAX + 5;

  (void) state;
  bm_init (&g);
  bm_gap_add (&g, 10, len, 7);
  assert_int_equal (g.nodes, 4);
  bm_gap_cut (&g, 0, UINT64_MAX / 2, NULL, NULL);
  assert_int_equal (g.nodes, 0);
  bm_gap_add (&g, 10, len, 7);
  bm_gap_cut (&g, 11, len - 2, NULL, NULL);
  assert_int_equal (g.nodes, 2);
  assert_int_equal (bm_find (&g, 10)->len, 1);
  assert_int_equal (bm_find (&g, 10 + len - 1)->len, 1);
  assert_int_equal (bm_find (&g, 10 + len - 1)->seq, 7);
  bm_free_all (&g);
}

/* ---- names ------------------------------------------------------- */

#define INODES 64
#define ROOT MODEL_ROOT_INO

/* The reference: every entry, with the order it was made in. */
static struct ref { uint32_t parent, ino; char name[8]; uint64_t made; } refs[4096];
static size_t nrefs;
static uint64_t made;
static bool alive[INODES + 1];

static bool
is_dir (uint32_t ino)
{
  return ino == ROOT || ino % 4 == 0;
}

static struct ref *
ref_find (uint32_t parent, const char *name)
{
  for (size_t i = 0; i < nrefs; i++)
    if (refs[i].parent == parent && strcmp (refs[i].name, name) == 0)
      return &refs[i];
  return NULL;
}

static void
ref_remove (struct ref *r)
{
  *r = refs[--nrefs];
}

static void
add_inode (struct model *m, uint32_t ino)
{
  struct attrs a = { .mode = is_dir (ino) ? 040755 : 0100644, .links = 1 };

  model_add_inode (m, ino, &a);
  alive[ino] = true;
}

/* Everything the model says about names, against the reference. */
static void
check_names (struct model *m)
{
  static char buf[MODEL_PATH_MAX];
  uint64_t newest_made[INODES + 1] = { 0 };
  size_t n = 0;

  for (size_t i = 0; i < nrefs; i++)
    if (refs[i].made > newest_made[refs[i].ino])
      newest_made[refs[i].ino] = refs[i].made;
  for (size_t i = 0; i < nrefs; i++)
    assert_int_equal (model_lookup (m, refs[i].parent, refs[i].name,
                                    strlen (refs[i].name)), refs[i].ino);
  for (uint32_t dir = 1; dir <= INODES; dir++) {
    if (!alive[dir] || !is_dir (dir))
      continue;
    for (const struct dentry *d = model_first_child (m, dir); d;
         d = model_next_child (m, d)) {
      char name[8] = "";
      const struct ref *r;

      memcpy (name, d->name, d->len);
      r = ref_find (dir, name);
      assert_non_null (r);
      assert_int_equal (r->ino, d->ino);
      /* the name its path goes through: its newest */
      assert_int_equal (model_is_path_name (m, d),
                        r->made == newest_made[d->ino]);
      n++;
    }
  }
  assert_int_equal (n, nrefs);
  assert_int_equal (m->dcount, nrefs);
  /* An inode's path is its newest name's. */
  for (uint32_t ino = 1; ino <= INODES; ino++) {
    const struct ref *newest = NULL;
    const struct inode_rec *r = model_inode (m, ino);

    if (!alive[ino])
      continue;
    for (size_t i = 0; i < nrefs; i++)
      if (refs[i].ino == ino && (newest == NULL || refs[i].made > newest->made))
        newest = &refs[i];
    assert_int_equal (r->names != 0, newest != NULL);
    if (newest && model_path (m, ino, buf, sizeof buf)) {
      size_t len = strlen (newest->name), plen;
      plen = model_path (m, ino, buf, sizeof buf);
      assert_true (plen > len && buf[plen - len - 1] == '/');
      assert_memory_equal (buf + plen - len, newest->name, len);
    }
  }
}

static void
names (void **state)
{
  struct model m;

  (void) state;
  model_init (&m);
  memset (alive, 0, sizeof alive);
  nrefs = 0;
  add_inode (&m, ROOT);
  for (uint32_t ino = 11; ino <= INODES; ino++)
    add_inode (&m, ino);
  /* A name of the root (a corrupt tree's) is not the one its path goes
   * through: that is "/".
   */
  assert_true (model_add_name (&m, 12, ROOT, "r", 1));
  assert_false (model_is_path_name (&m, model_first_child (&m, 12)));
  model_remove_name (&m, 12, "r", 1);
  for (int step = 0; step < 6000; step++) {
    uint32_t parent = rnd (INODES + 1), ino = 11 + rnd (INODES - 10);
    char name[8];
    struct ref *r;

    if (!is_dir (parent) || !alive[parent])
      parent = ROOT;
    snprintf (name, sizeof name, "n%u", rnd (40));
    r = ref_find (parent, name);
    switch (rnd (8)) {
    case 0: case 1: case 2:           /* a new entry or link */
      if (r || !alive[ino])
        break;
      assert_true (model_add_name (&m, parent, ino, name, strlen (name)));
      refs[nrefs++] = (struct ref) { parent, ino, "", ++made };
      strcpy (refs[nrefs - 1].name, name);
      break;
    case 3: case 4:                   /* an entry removed */
      model_remove_name (&m, parent, name, strlen (name));
      if (r)
        ref_remove (r);
      break;
    case 5:                           /* an inode dropped, and made again */
      if (!alive[ino])
        break;
      model_drop_inode (&m, ino);
      alive[ino] = false;
      for (size_t i = 0; i < nrefs; )
        if (refs[i].ino == ino || refs[i].parent == ino)
          ref_remove (&refs[i]);
        else
          i++;
      add_inode (&m, ino);
      break;
    case 6:                           /* the end of a barrier */
      model_settle (&m);
      break;
    default:
      check_names (&m);
    }
  }
  check_names (&m);
  model_settle (&m);
  check_names (&m);
  model_free (&m);
}

/* One inode with thousands of names (a hostile file system's, or a
 * farm of hard links), taken apart from the oldest, from the middle and
 * from the newest: the inode's path is always its newest name left.
 */
static void
many_links (void **state)
{
  struct attrs dir = { .mode = 040755, .links = 2 };
  struct attrs file = { .mode = 0100644, .links = 1 };
  enum { LINKS = 20000 };
  static char buf[MODEL_PATH_MAX];
  char name[16], want[16];
  struct model m;
  int newest;

  (void) state;
  model_init (&m);
  model_add_inode (&m, ROOT, &dir);
  model_add_inode (&m, 12, &file);
  for (int i = 0; i < LINKS; i++) {
    snprintf (name, sizeof name, "l%d", i);
    assert_true (model_add_name (&m, ROOT, 12, name, strlen (name)));
  }
  /* The older half, oldest first, then every other one of the rest. */
  for (int i = 0; i < LINKS / 2; i++) {
    snprintf (name, sizeof name, "l%d", i);
    model_remove_name (&m, ROOT, name, strlen (name));
  }
  for (int i = LINKS / 2; i < LINKS; i += 2) {
    snprintf (name, sizeof name, "l%d", i);
    model_remove_name (&m, ROOT, name, strlen (name));
  }
  /* Left: the odd ones of the newer half; the newest dropped one by
   * one, each time leaving the next as the path.
   */
  for (newest = LINKS - 1; ; newest -= 2) {
    size_t n = model_path (&m, 12, buf, sizeof buf);
    snprintf (want, sizeof want, "/l%d", newest);
    assert_int_equal (n, strlen (want));
    assert_memory_equal (buf, want, n);
    if (!model_drop_extra_name (&m, 12))
      break;
  }
  assert_int_equal (newest, LINKS / 2 + 1);
  snprintf (name, sizeof name, "l%d", newest);
  assert_int_equal (model_lookup (&m, ROOT, name, strlen (name)), 12);
  model_remove_name (&m, ROOT, name, strlen (name));
  assert_int_equal (model_path (&m, 12, buf, sizeof buf), 0);
  model_settle (&m);
  assert_int_equal (m.dcount, 0);
  model_free (&m);
}

/* ---- memory ------------------------------------------------------ */

/* 100 directories of 1000 empty files with short names, as the crawl
 * of such a file system builds them: what the model costs per file.
 */
static void
bytes_per_file (void **state)
{
  struct attrs dir = { .mode = 040755, .links = 2 };
  struct attrs file = { .mode = 0100644, .links = 1 };
  uint32_t ino = 12;
  struct model m;

  (void) state;
  model_init (&m);
  model_add_inode (&m, ROOT, &dir);
  for (int d = 0; d < 100; d++) {
    uint32_t parent = ino++;
    char name[16];

    model_add_inode (&m, parent, &dir);
    snprintf (name, sizeof name, "d%d", d);
    model_add_name (&m, ROOT, parent, name, strlen (name));
    model_add_block (&m, parent, 1000 + d, 1, 0, BM_DIR);
    for (int f = 1; f <= 1000; f++) {
      model_add_inode (&m, ino, &file);
      snprintf (name, sizeof name, "f%d", f);
      model_add_name (&m, parent, ino++, name, strlen (name));
    }
  }
  print_message ("model: %zu inodes, %zu bytes, %.1f bytes per inode\n",
                 m.count, model_bytes (&m), (double) model_bytes (&m) / m.count);
  assert_true (model_bytes (&m) <= 100 * m.count);
  model_free (&m);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (owner_map),
    cmocka_unit_test (same_start),
    cmocka_unit_test (gap_map),
    cmocka_unit_test (long_gap),
    cmocka_unit_test (names),
    cmocka_unit_test (many_links),
    cmocka_unit_test (bytes_per_file),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
