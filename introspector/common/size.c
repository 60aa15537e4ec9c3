/* Sizes as people write them (see size.h). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "size.h"

int
bw_parse_size (const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
  static const char units[] = "KMGT";
  uint64_t n;
  char *end;
  const char *u;

  if (*v < '0' || *v > '9')
    return -1;
  errno = 0;
  n = strtoull (v, &end, 10);
  if (*end && end[1] == '\0' && (u = strchr (units, *end)) != NULL &&
      n <= max >> (10 * (u - units + 1)))
    n <<= 10 * (u - units + 1);
  else if (*end)
    return -1;
  if (errno || n < min || n > max)
    return -1;
  *out = n;
  return 0;
}
