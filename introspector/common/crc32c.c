/* crc32c (see crc32c.h). */

#include <string.h>

#include <ext2fs/ext2fs.h>

#include "crc32c.h"

#if defined (__x86_64__)
__attribute__ ((target ("sse4.2")))
static uint32_t
crc32c_sse42 (uint32_t crc, const uint8_t *p, size_t len)
{
  uint64_t c = crc;

  for (; len >= 8; p += 8, len -= 8) {
    uint64_t v;
    memcpy (&v, p, sizeof v);
    c = __builtin_ia32_crc32di (c, v);
  }
  for (; len; p++, len--)
    c = __builtin_ia32_crc32qi ((uint32_t) c, *p);
  return (uint32_t) c;
}
#endif

uint32_t
bw_crc32c (uint32_t crc, const void *p, size_t len)
{
#if defined (__x86_64__)
  static int hw = -1;

  if (hw == -1)
    hw = __builtin_cpu_supports ("sse4.2");
  if (hw)
    return crc32c_sse42 (crc, p, len);
#endif
  return ext2fs_crc32c_le (crc, p, len);
}
