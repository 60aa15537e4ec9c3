/* libFuzzer target: the path escaping of events.
 *
 * The input as a file name must come back byte for byte from its
 * escaped form; the input as escaped text (a consumer's, say) is
 * either refused or the one escape of what it decodes to.  abort()
 * on any difference, so libFuzzer keeps the input.
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
