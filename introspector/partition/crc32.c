/* CRC-32 (IEEE 802.3), byte-table driven.
 *
 * GPT's header and entry-array CRCs are this function, i.e. zlib's
 * crc32().  zlib is not among the libraries blockwatch links, and the
 * table is 1 KiB, so it is computed here once rather than pulled in.
 */

#include <pthread.h>

#include "crc32.h"

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void
make_table (void)
{
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
}

uint32_t
bw_crc32 (uint32_t crc, const void *buf, size_t len)
{
  const uint8_t *p = buf;

  pthread_once (&table_once, make_table);
  crc = ~crc;
  while (len-- > 0)
    crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}
