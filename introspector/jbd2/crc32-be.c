/* crc32 as the kernel's crc32_be computes it (polynomial 0x04c11db7,
 * most significant bit first, no inversion): the v1 "compat" checksum
 * that a journal mounted with journal_checksum/journal_async_commit
 * puts in its commit blocks.
 */

#include "jbd2.h"

uint32_t
jbd2_crc32_be (uint32_t crc, const uint8_t *p, size_t len)
{
  static uint32_t table[256];

  if (table[1] == 0)          /* entry 1 is the polynomial once built */
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i << 24;
      for (int k = 0; k < 8; k++)
        c = c & 0x80000000u ? (c << 1) ^ 0x04c11db7u : c << 1;
      table[i] = c;
    }
  while (len--)
    crc = (crc << 8) ^ table[(crc >> 24) ^ *p++];
  return crc;
}
