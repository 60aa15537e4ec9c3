/* The index of block numbers the journal overlay and the exact view
 * keep: after any mix of puts, replacements and removals (which shift
 * entries back in a run, across the table's end too) every block holds
 * the value last put and nothing else is found, checked against a
 * plain array, while the table grows from its smallest size.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/blockhash.h"

#define KEYS 3000

static void
same_as_an_array (void **state)
{
  static int64_t want[KEYS];  /* -1: absent */
  struct blockhash h;
  size_t n = 0;
  uint32_t v;

  (void) state;
  srand (4242);
  for (size_t k = 0; k < KEYS; k++)
    want[k] = -1;
  blockhash_init (&h, 0);
  for (int op = 0; op < 200000; op++) {
    /* Keys in runs and spread out, so probes collide and wrap. */
    uint64_t k = rand () % KEYS, key = (k % 2 ? k : k << 40) + 7;
    if (rand () % 3) {
      v = rand () % 100000;
      n += want[k] == -1;
      want[k] = v;
      blockhash_put (&h, key, v);
    }
    else {
      assert_int_equal (blockhash_remove (&h, key), want[k] != -1);
      n -= want[k] != -1;
      want[k] = -1;
    }
    if (op % 5000 == 0)
      for (size_t j = 0; j < KEYS; j++) {
        uint64_t kj = (j % 2 ? j : (uint64_t) j << 40) + 7;
        bool got = blockhash_get (&h, kj, &v);
        assert_int_equal (got, want[j] != -1);
        if (got)
          assert_int_equal (v, want[j]);
      }
  }
  assert_int_equal (h.count, n);
  blockhash_clear (&h);
  assert_false (blockhash_get (&h, 7, NULL));
  blockhash_free (&h);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (same_as_an_array),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
