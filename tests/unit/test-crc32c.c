/* bw_crc32c (the CPU's crc32 instruction where there is one) computes
 * what libext2fs's software crc32c does, for every length and seed and
 * for unaligned buffers: checksums of inodes and journal blocks rest on
 * it.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <ext2fs/ext2fs.h>

#include "common/crc32c.h"

static void
same_as_libext2fs (void **state)
{
  uint8_t buf[4096 + 8];

  (void) state;
  srand (12345);
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = rand ();
  for (size_t len = 0; len <= 300; len++)
    for (size_t off = 0; off < 8; off++) {
      uint32_t seed = rand ();
      assert_int_equal (bw_crc32c (seed, buf + off, len),
                        ext2fs_crc32c_le (seed, buf + off, len));
    }
  assert_int_equal (bw_crc32c (~0u, buf, 4096),
                    ext2fs_crc32c_le (~0u, buf, 4096));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (same_as_libext2fs),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
