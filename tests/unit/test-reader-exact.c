/* The disk as of the records handled (disk/reader-exact.h): with the
 * storage written ahead of the records, a block a handled record wrote
 * reads as that record left it while it is kept; the blocks kept are
 * the newest written of each class, up to its bound; any other block
 * reads as the storage has it.  Checked against a plain copy of each.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "disk/reader-exact.h"
#include "disk/reader-mem.h"

#define BS 1024u
#define NBLK 64u
#define DISK (BS * NBLK)

struct rig {
  uint8_t storage[DISK];      /* what the storage holds: ahead */
  uint8_t handled[DISK];      /* the disk as of the records handled */
  struct bw_reader *disk;
  struct exact_view *x;
  uint64_t counted;           /* evicted_reads, as last asked */
};

static struct rig *
rig_new (size_t meta, size_t data)
{
  struct rig *g = calloc (1, sizeof *g);
  const size_t max[EXACT_CLASSES] = { [EXACT_META] = meta,
                                      [EXACT_DATA] = data };
  char err[256];

  for (size_t i = 0; i < DISK; i++)
    g->storage[i] = g->handled[i] = rand ();
  g->disk = bw_reader_open_memory (g->storage, DISK, 512, err, sizeof err);
  assert_non_null (g->disk);
  g->x = exact_new (g->disk, BS, max);
  return g;
}

static void
rig_free (struct rig *g)
{
  exact_free (g->x);
  bw_reader_close (g->disk);
  free (g);
}

/* A record handled (its blocks all of class c): the storage had it
 * already.
 */
static void
handled (struct rig *g, enum exact_class c, const uint8_t *data,
         uint64_t off, uint64_t len)
{
  if (data) {
    memcpy (g->storage + off, data, len);
    memcpy (g->handled + off, data, len);
  }
  else {
    memset (g->storage + off, 0, len);
    memset (g->handled + off, 0, len);
  }
  for (uint64_t b = off / BS; b * BS < off + len; b++)
    exact_write (g->x, b, c, data, off, len);
}

/* A record not handled yet: only the storage has it (cut at its end). */
static void
ahead (struct rig *g, uint64_t off, uint64_t len)
{
  for (uint64_t i = off; i < off + len && i < DISK; i++)
    g->storage[i] = rand ();
}

/* Every block reads as handled if kept, as the storage has it if not;
 * and so does a read across all of them.
 */
static void
check_all (struct rig *g)
{
  struct bw_reader *r = exact_reader (g->x);
  static uint8_t buf[DISK], want[DISK];
  char err[256];

  for (uint64_t b = 0; b < NBLK; b++)
    memcpy (want + b * BS, exact_has (g->x, b) ? g->handled + b * BS
                                               : g->storage + b * BS, BS);
  assert_int_equal (bw_pread (r, buf, DISK, 0, err, sizeof err), 0);
  assert_memory_equal (buf, want, DISK);
  for (int i = 0; i < 50; i++) {
    size_t n = 1 + rand () % (3 * BS);
    uint64_t off = rand () % (DISK - n + 1);
    assert_int_equal (bw_pread (r, buf, n, off, err, sizeof err), 0);
    assert_memory_equal (buf, want + off, n);
  }
}

static void
newest_of_each_class_kept (void **state)
{
  struct rig *g = rig_new (5, 3);
  uint64_t when[NBLK] = { 0 };        /* last handled write, 0: never */
  uint8_t blk[BS];

  (void) state;
  for (uint64_t t = 1; t <= 3000; t++) {
    uint64_t b = rand () % NBLK;
    /* A block's class is fixed here: one in three is metadata. */
    enum exact_class c = b % 3 ? EXACT_DATA : EXACT_META;

    switch (rand () % 4) {
    case 0:
      ahead (g, b * BS + rand () % BS, 1 + rand () % (BS / 2));
      break;
    case 1:
      handled (g, c, NULL, b * BS, BS);
      when[b] = t;
      break;
    default:
      for (size_t i = 0; i < BS; i++)
        blk[i] = rand ();
      handled (g, c, blk, b * BS, BS);
      when[b] = t;
      break;
    }
    if (t % 100)
      continue;
    check_all (g);
    /* Kept: a block written of which fewer than the class's bound of
     * its class were written later.
     */
    for (uint64_t x = 0; x < NBLK; x++) {
      size_t newer = 0, bound = x % 3 ? 3 : 5;
      for (uint64_t y = 0; y < NBLK; y++)
        if ((y % 3 == 0) == (x % 3 == 0) && when[y] > when[x])
          newer++;
      assert_int_equal (exact_has (g->x, x), when[x] && newer < bound);
    }
  }
  rig_free (g);
}

static void
parts_forget_and_clear (void **state)
{
  struct rig *g = rig_new (4, 0);
  struct exact_stats st;
  uint8_t blk[2 * BS];

  (void) state;
  memset (blk, 'a', sizeof blk);
  /* Part of a block not kept: the rest as the storage has it then. */
  ahead (g, 10 * BS, BS);
  memcpy (g->handled + 10 * BS, g->storage + 10 * BS, BS);
  handled (g, EXACT_META, blk, 10 * BS + 100, 200);
  assert_true (exact_has (g->x, 10));
  ahead (g, 10 * BS, BS);
  check_all (g);
  /* Part of a block kept: the rest as kept, whatever the storage. */
  handled (g, EXACT_META, NULL, 10 * BS + 500, 10);
  ahead (g, 10 * BS, BS);
  check_all (g);
  /* A write that spans blocks gives each its part. */
  handled (g, EXACT_META, blk, 12 * BS - 8, BS + 16);
  ahead (g, 12 * BS - 8, BS + 16);
  assert_true (exact_has (g->x, 11) && exact_has (g->x, 12) &&
               exact_has (g->x, 13));
  check_all (g);
  /* A class with no room keeps nothing new, but a kept block written
   * as one stays kept.
   */
  handled (g, EXACT_DATA, blk, 20 * BS, BS);
  assert_false (exact_has (g->x, 20));
  handled (g, EXACT_DATA, blk, 10 * BS, BS);
  assert_true (exact_has (g->x, 10));
  check_all (g);
  exact_get_stats (g->x, &st);
  assert_int_equal (st.blocks, 4);
  assert_int_equal (st.evicted, 0);
  /* Two more: the two written longest ago (11, 12) give way. */
  handled (g, EXACT_META, blk, 30 * BS, BS);
  handled (g, EXACT_META, blk, 31 * BS, BS);
  assert_false (exact_has (g->x, 11) || exact_has (g->x, 12));
  assert_true (exact_has (g->x, 13) && exact_has (g->x, 10));
  exact_get_stats (g->x, &st);
  assert_int_equal (st.blocks, 4);
  assert_int_equal (st.evicted, 2);
  ahead (g, 0, DISK);
  check_all (g);
  exact_forget (g->x, 13);
  assert_false (exact_has (g->x, 13));
  check_all (g);
  exact_clear (g->x);
  exact_get_stats (g->x, &st);
  assert_int_equal (st.blocks, 0);
  check_all (g);
  /* And it is used again after. */
  handled (g, EXACT_META, blk, 40 * BS, BS);
  ahead (g, 40 * BS, BS);
  assert_true (exact_has (g->x, 40));
  check_all (g);
  rig_free (g);
}

/* How many blocks that gave way were read from the storage since the
 * last call.
 */
static uint64_t
evicted_reads (struct rig *g)
{
  struct exact_stats st;
  uint64_t n;

  exact_get_stats (g->x, &st);
  n = st.evicted_reads - g->counted;
  g->counted = st.evicted_reads;
  return n;
}

static void
read_blocks (struct rig *g, uint64_t first, uint64_t n)
{
  static uint8_t buf[DISK];
  char err[256];

  assert_int_equal (bw_pread (exact_reader (g->x), buf, n * BS - 2,
                              first * BS + 1, err, sizeof err), 0);
}

/* Reads that fall through to the storage for a block a handled record
 * wrote and the view gave up under its bound are counted, each block
 * once per read; blocks never written, and kept ones, are not.
 */
static void
reads_of_blocks_that_gave_way_counted (void **state)
{
  struct rig *g = rig_new (2, 0);
  uint8_t blk[BS];

  (void) state;
  memset (blk, 'b', sizeof blk);
  for (uint64_t b = 1; b <= 3; b++)
    handled (g, EXACT_META, blk, b * BS, BS);
  read_blocks (g, 2, 2);      /* kept */
  read_blocks (g, 5, 10);     /* never written */
  assert_int_equal (evicted_reads (g), 0);
  read_blocks (g, 1, 1);      /* gave way */
  assert_int_equal (evicted_reads (g), 1);
  read_blocks (g, 0, 4);
  assert_int_equal (evicted_reads (g), 1);
  /* Kept again (2 gives way): read from the view, not counted. */
  handled (g, EXACT_META, blk, 1 * BS, BS);
  read_blocks (g, 1, 1);
  assert_int_equal (evicted_reads (g), 0);
  read_blocks (g, 0, 4);
  assert_int_equal (evicted_reads (g), 1);
  /* Forgotten (a record longer than the bound), and of a class with
   * no room: written, not kept.
   */
  exact_forget (g->x, 3);
  handled (g, EXACT_DATA, blk, 9 * BS, BS);
  read_blocks (g, 3, 1);
  read_blocks (g, 9, 1);
  assert_int_equal (evicted_reads (g), 2);
  /* Cleared (records were lost): the storage is the account. */
  exact_clear (g->x);
  read_blocks (g, 0, NBLK);
  assert_int_equal (evicted_reads (g), 0);
  rig_free (g);
}

static void
reads_past_the_end_fail (void **state)
{
  struct rig *g = rig_new (4, 4);
  uint8_t buf[16];
  char err[256];

  (void) state;
  handled (g, EXACT_META, NULL, DISK - BS, BS);
  assert_int_equal (bw_pread (exact_reader (g->x), buf, sizeof buf,
                              DISK - 8, err, sizeof err), -1);
  assert_non_null (strstr (err, "past the end"));
  rig_free (g);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (newest_of_each_class_kept),
    cmocka_unit_test (parts_forget_and_clear),
    cmocka_unit_test (reads_of_blocks_that_gave_way_counted),
    cmocka_unit_test (reads_past_the_end_fail),
  };
  srand (777);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
