/* GPT partition names: UTF-16LE on disk, UTF-8 for everyone else.
 *
 * The guest chose the code units, and names end up in log lines and
 * events: what comes out is always valid UTF-8 without control
 * characters, whatever went in.
 */

#include "scan.h"

#define REPLACEMENT 0xfffd

static uint32_t
next_char (const uint8_t *src, size_t n, size_t *i)
{
  uint32_t c = le16 (src + 2 * *i);

  (*i)++;
  if (c >= 0xd800 && c <= 0xdbff && *i < n) {
    uint32_t lo = le16 (src + 2 * *i);
    if (lo >= 0xdc00 && lo <= 0xdfff) {
      (*i)++;
      return 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
    }
  }
  if ((c >= 0xd800 && c <= 0xdfff) || c < 0x20 || (c >= 0x7f && c < 0xa0))
    return REPLACEMENT;
  return c;
}

void
part_utf16le_to_utf8 (char *dst, size_t dstlen, const uint8_t *src,
                      size_t n)
{
  size_t i = 0, o = 0;

  while (i < n && le16 (src + 2 * i) != 0) {
    uint32_t c = next_char (src, n, &i);
    size_t len = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;

    if (o + len >= dstlen)
      break;
    switch (len) {
    case 1:
      dst[o++] = c;
      break;
    case 2:
      dst[o++] = 0xc0 | c >> 6;
      dst[o++] = 0x80 | (c & 0x3f);
      break;
    case 3:
      dst[o++] = 0xe0 | c >> 12;
      dst[o++] = 0x80 | (c >> 6 & 0x3f);
      dst[o++] = 0x80 | (c & 0x3f);
      break;
    default:
      dst[o++] = 0xf0 | c >> 18;
      dst[o++] = 0x80 | (c >> 12 & 0x3f);
      dst[o++] = 0x80 | (c >> 6 & 0x3f);
      dst[o++] = 0x80 | (c & 0x3f);
      break;
    }
  }
  dst[o] = '\0';
}
