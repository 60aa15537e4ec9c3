/* Reversible escaping of byte strings (file names) into UTF-8 text.
 *
 * A file name is any bytes but '/' and NUL, and JSON, MQTT topics and
 * terminals want UTF-8 without control characters.  Valid UTF-8 stays
 * readable (most names are), everything else becomes "%XX".  One byte
 * string has exactly one escaped form, so consumers may compare
 * escaped paths as strings (see docs/events.md).
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

static const char hex_digits[] = "0123456789ABCDEF";

/* Length of the well-formed UTF-8 sequence at p (Unicode table 3-7),
 * 0 if there is none: a stray continuation byte, an overlong form, a
 * surrogate, a code point past U+10FFFF or a sequence cut short.
 */
static size_t
utf8_len (const unsigned char *p, size_t n)
{
  unsigned char lo = 0x80, hi = 0xbf;   /* range of the second byte */
  size_t len, i;

  if (p[0] < 0x80)
    return 1;
  if (p[0] >= 0xc2 && p[0] <= 0xdf)
    len = 2;
  else if (p[0] >= 0xe0 && p[0] <= 0xef) {
    len = 3;
    if (p[0] == 0xe0)
      lo = 0xa0;                        /* below: overlong */
    else if (p[0] == 0xed)
      hi = 0x9f;                        /* above: surrogates */
  }
  else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
    len = 4;
    if (p[0] == 0xf0)
      lo = 0x90;                        /* below: overlong */
    else if (p[0] == 0xf4)
      hi = 0x8f;                        /* above: past U+10FFFF */
  }
  else
    return 0;
  if (n < len || p[1] < lo || p[1] > hi)
    return 0;
  for (i = 2; i < len; i++)
    if (p[i] < 0x80 || p[i] > 0xbf)
      return 0;
  return len;
}

static char *
escape (const char *bytes, size_t len, bool keep_percent)
{
  const unsigned char *p = (const unsigned char *) bytes;
  char *out, *q;
  size_t i = 0, n;

  if (len > (SIZE_MAX - 1) / 3) {
    errno = ENOMEM;
    return NULL;
  }
  out = q = malloc (3 * len + 1);
  if (out == NULL)
    return NULL;
  while (i < len) {
    n = utf8_len (p + i, len - i);
    if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7f ||
                               (p[i] == '%' && !keep_percent)))) {
      /* One byte at a time: the next byte may start a valid sequence. */
      *q++ = '%';
      *q++ = hex_digits[p[i] >> 4];
      *q++ = hex_digits[p[i] & 0xf];
      i++;
    }
    else {
      memcpy (q, p + i, n);
      q += n;
      i += n;
    }
  }
  *q = '\0';
  return out;
}

char *
bw_escape_bytes (const char *bytes, size_t len)
{
  return escape (bytes, len, false);
}

/* For people, not programs: a URI's "%20" in an error message would
 * read "%2520" escaped reversibly.  What matters there is that no
 * control character reaches the terminal.
 */
char *
bw_escape_text (const char *bytes, size_t len)
{
  return escape (bytes, len, true);
}

static int
hex_value (char c)
{
  const char *d = c ? strchr (hex_digits, c) : NULL;

  return d ? d - hex_digits : -1;
}

char *
bw_unescape (const char *text, size_t *len)
{
  char *out, *q, *again;
  const char *p = text;
  int hi, lo;

  out = q = malloc (strlen (text) + 1);
  if (out == NULL)
    return NULL;
  while (*p) {
    if (*p != '%') {
      *q++ = *p++;
      continue;
    }
    if ((hi = hex_value (p[1])) == -1 || (lo = hex_value (p[2])) == -1) {
      free (out);
      errno = EINVAL;
      return NULL;
    }
    *q++ = hi << 4 | lo;
    p += 3;
  }
  *q = '\0';

  /* Only the one form bw_escape_bytes makes: "%41", "%c3%a9", a raw
   * control character or invalid UTF-8 would be a second spelling of
   * the same bytes, and a filter comparing escaped paths as strings
   * could be slipped past with it.
   */
  again = bw_escape_bytes (out, q - out);
  if (again == NULL) {
    free (out);
    return NULL;
  }
  if (strcmp (again, text) != 0) {
    free (again);
    free (out);
    errno = EINVAL;
    return NULL;
  }
  free (again);
  if (len)
    *len = q - out;
  return out;
}
