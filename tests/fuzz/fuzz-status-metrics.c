/* libFuzzer target: bytes as the metrics text `blockwatch status`
 * fetches (appliance/status-metrics.c): whatever answers at the
 * address it is given.
 *
 * What comes out must be disks with distinct names and labels that fit
 * their fields, at most MAX_DISKS of them.  abort() on any difference,
 * so libFuzzer keeps the input; any crash or sanitizer report is a bug.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "status-metrics.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static struct status st;
  char *body = malloc (size + 1);

  if (body == NULL)
    return 0;
  memcpy (body, data, size);
  body[size] = '\0';
  memset (&st, 0, sizeof st);
  st.broker = -1;
  status_parse (&st, body);
  if (st.n < 0 || st.n > MAX_DISKS || st.broker < -1 || st.broker > 1)
    abort ();
  for (int i = 0; i < st.n; i++) {
    const struct disk_status *d = &st.d[i];
    if (memchr (d->name, '\0', sizeof d->name) == NULL ||
        memchr (d->vm, '\0', sizeof d->vm) == NULL)
      abort ();
    for (int j = 0; j < i; j++)
      if (strcmp (st.d[j].name, d->name) == 0)
        abort ();
  }
  free (body);
  return 0;
}
