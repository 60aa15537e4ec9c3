/* libFuzzer target: the path escaping of events.
 *
 * The input as a file name must come back byte for byte from its
 * escaped form; the input as escaped text (a consumer's, say) is
 * either refused or the one escape of what it decodes to; the text
 * for people (bw_escape_text) has no control character, and is the
 * reversible form but for '%'.  abort() on any difference, so
 * libFuzzer keeps the input.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "events/event.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *text, *back, *again;
  size_t len;

  text = bw_escape_bytes ((const char *) data, size);
  if (text == NULL)
    return 0;
  back = bw_unescape (text, &len);
  if (back == NULL || len != size || memcmp (back, data, size) != 0)
    abort ();
  free (back);
  /* Every '%' in the reversible form begins a triple, and only a '%'
   * makes "%25": the text for people is that form with "%25" as '%'.
   */
  back = bw_escape_text ((const char *) data, size);
  if (back != NULL) {
    const char *t = text, *b = back;
    for (; *t; b++, t += strncmp (t, "%25", 3) == 0 ? 3 : 1)
      if (*b != (strncmp (t, "%25", 3) == 0 ? '%' : *t))
        abort ();
    if (*b)
      abort ();
  }
  free (back);
  free (text);

  text = strndup ((const char *) data, size);
  if (text == NULL)
    return 0;
  back = bw_unescape (text, &len);
  if (back != NULL) {
    again = bw_escape_bytes (back, len);
    if (again != NULL && strcmp (again, text) != 0)
      abort ();
    free (again);
  }
  free (back);
  free (text);
  return 0;
}
