/* Names a guest makes to collide must not slow the introspector down:
 * the model's name index and the table of a directory's new names that
 * reconcile diffs against (ext4/nametab.c) stay a few slots per lookup.
 *
 * The names are a multicollision of the unkeyed FNV-1a the tables once
 * used: the low k bits of FNV-1a's state depend on nothing but the low
 * k bits before (xor and multiplication mod 2^k), so 3-byte blocks that
 * take the low 20 bits of one state to one other state chain into names
 * that all land in one slot of any table of up to 2^20 slots, and each
 * insert and lookup walked all the names before it.
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

#include "ext4/model.h"
#include "ext4/nametab.h"

#define LOW_BITS 20
#define LOW_MASK ((1u << LOW_BITS) - 1)
#define BLOCKS 4              /* blocks per name */
#define CHOICES 16            /* blocks to choose from at each step */
#define NAME_LEN (3 * BLOCKS)
#define NNAMES (CHOICES * CHOICES * CHOICES * CHOICES)
#define FIRST_INO 12           /* name i leads to inode FIRST_INO + i */
/* Slots looked at per operation, on average over a run, growth
 * included: a keyed hash at most half full needs about 2.
 */
#define PROBES_PER_OP 8

static const uint64_t fnv_offset = 14695981039346656037ull;
static const uint64_t fnv_prime = 1099511628211ull;

/* The old name hash, whose collisions the names are. */
static uint64_t
fnv1a (uint32_t parent, const char *name, size_t len)
{
  uint64_t h = fnv_offset ^ parent;

  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t) name[i]) * fnv_prime;
  return h;
}

/* FNV-1a's low bits after one byte more. */
static uint32_t
step (uint32_t s, unsigned byte)
{
  return ((s ^ byte) * fnv_prime) & LOW_MASK;
}

/* Bytes a name may hold. */
static bool
name_byte (unsigned b)
{
  return b != 0 && b != '/';
}

/* CHOICES blocks that all take the low bits s to one state, which is
 * returned: the most common one among all blocks (2^24 blocks into 2^20
 * states: the most common has about 35).
 */
static uint32_t
colliding_blocks (uint32_t s, uint8_t blocks[CHOICES][3])
{
  static uint8_t count[1u << LOW_BITS];
  uint32_t best = 0;
  int n = 0;

  memset (count, 0, sizeof count);
  for (unsigned a = 1; a < 256; a++)
    for (unsigned b = 1; b < 256; b++) {
      uint32_t ab = step (step (s, a), b);
      if (!name_byte (a) || !name_byte (b))
        continue;
      for (unsigned c = 1; c < 256; c++) {
        uint32_t t = step (ab, c);
        if (name_byte (c) && count[t] < 255 && ++count[t] > count[best])
          best = t;
      }
    }
  assert_true (count[best] >= CHOICES);
  for (unsigned a = 1; a < 256 && n < CHOICES; a++)
    for (unsigned b = 1; b < 256 && n < CHOICES; b++)
      for (unsigned c = 1; c < 256 && n < CHOICES; c++)
        if (name_byte (a) && name_byte (b) && name_byte (c) &&
            step (step (step (s, a), b), c) == best) {
          blocks[n][0] = a;
          blocks[n][1] = b;
          blocks[n][2] = c;
          n++;
        }
  return best;
}

static char names[NNAMES][NAME_LEN];

/* NNAMES names of the root whose FNV-1a agree in the low bits: one set
 * for both tests (making them is most of the test's time).
 */
static int
make_names (void **state)
{
  const uint32_t parent = MODEL_ROOT_INO;
  uint8_t blocks[BLOCKS][CHOICES][3];
  uint32_t s = (fnv_offset ^ parent) & LOW_MASK;

  for (int k = 0; k < BLOCKS; k++)
    s = colliding_blocks (s, blocks[k]);
  for (uint32_t i = 0; i < NNAMES; i++)
    for (int k = 0; k < BLOCKS; k++)
      memcpy (names[i] + 3 * k, blocks[k][(i >> (4 * k)) % CHOICES], 3);
  /* They are what the attack needs: distinct, one slot for FNV-1a. */
  assert_memory_not_equal (names[0], names[NNAMES - 1], NAME_LEN);
  for (uint32_t i = 0; i < NNAMES; i++)
    assert_int_equal (fnv1a (parent, names[i], NAME_LEN) & LOW_MASK, s);
  (void) state;
  return 0;
}

/* The work so far, ops operations, is within bounds: checked after each
 * so that a quadratic table fails at once rather than after hours.
 */
static void
check_probes (uint64_t probes, uint64_t ops, const char *what)
{
  if (probes > PROBES_PER_OP * ops + 64)
    fail_msg ("%s: %llu slots looked at for %llu operations", what,
              (unsigned long long) probes, (unsigned long long) ops);
}

/* The model's index: all the names made in one directory, looked up,
 * half of them removed, all looked up again.
 */
static void
model_index (void **state)
{
  struct attrs dir = { .mode = 040755, .links = 2 };
  struct attrs file = { .mode = 0100644, .links = 1 };
  struct model m;
  uint64_t ops = 0;

  (void) state;
  model_init (&m);
  model_add_inode (&m, MODEL_ROOT_INO, &dir);
  for (uint32_t i = 0; i < NNAMES; i++)
    model_add_inode (&m, FIRST_INO + i, &file);
  /* A lookup indexes the directory, so that names added are indexed. */
  assert_int_equal (model_lookup (&m, MODEL_ROOT_INO, "x", 1), 0);
  for (uint32_t i = 0; i < NNAMES; i++) {
    assert_true (model_add_name (&m, MODEL_ROOT_INO, FIRST_INO + i, names[i],
                                 NAME_LEN));
    check_probes (m.index.tab.probes, ++ops, "adding names");
  }
  for (uint32_t i = 0; i < NNAMES; i++) {
    assert_int_equal (model_lookup (&m, MODEL_ROOT_INO, names[i], NAME_LEN),
                      FIRST_INO + i);
    check_probes (m.index.tab.probes, ++ops, "looking names up");
  }
  for (uint32_t i = 0; i < NNAMES; i += 2) {
    model_remove_name (&m, MODEL_ROOT_INO, names[i], NAME_LEN);
    check_probes (m.index.tab.probes, ++ops, "removing names");
  }
  for (uint32_t i = 0; i < NNAMES; i++) {
    assert_int_equal (model_lookup (&m, MODEL_ROOT_INO, names[i], NAME_LEN),
                      i % 2 ? FIRST_INO + i : 0);
    check_probes (m.index.tab.probes, ++ops, "looking names up again");
  }
  /* What the index looked at outlives it, for ext4_stats. */
  uint64_t probes = m.index.tab.probes;
  model_settle (&m);
  assert_int_equal (m.name_probes, probes);
  model_free (&m);
}

/* As reconcile's diff_dir uses a table: a directory's names as read,
 * by index + 1, against the names the model has.
 */
struct listed {
  uint32_t dir;
};

static uint64_t
listed_hash (const void *owner, uint32_t id)
{
  const struct listed *l = owner;

  return name_hash (l->dir, names[id - 1], NAME_LEN);
}

static bool
listed_is (const void *owner, uint32_t id, const void *key)
{
  (void) owner;
  return memcmp (names[id - 1], key, NAME_LEN) == 0;
}

static void
new_names (void **state)
{
  struct listed l = { MODEL_ROOT_INO };
  const char *absent = names[NNAMES - 1];     /* collides as well */
  struct nametab t;
  uint64_t ops = 0;

  (void) state;
  /* Unknown size first, so that growing is covered too. */
  nametab_init (&t, 0, listed_hash, listed_is, &l);
  for (uint32_t i = 0; i < NNAMES - 1; i++) {
    nametab_insert (&t, listed_hash (&l, i + 1), i + 1);
    check_probes (t.probes, ++ops, "listing names");
  }
  for (uint32_t i = 0; i < NNAMES - 1; i++) {
    assert_int_equal (nametab_find (&t, name_hash (l.dir, names[i], NAME_LEN),
                                    names[i]), i + 1);
    check_probes (t.probes, ++ops, "finding listed names");
  }
  assert_int_equal (nametab_find (&t, name_hash (l.dir, absent, NAME_LEN),
                                  absent), 0);
  nametab_free (&t);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (model_index),
    cmocka_unit_test (new_names),
  };

  return cmocka_run_group_tests (tests, make_names, NULL);
}
