/* line-stamp: each line of stdin to stdout, after the CLOCK_REALTIME
 * nanoseconds at which it was read (for latency measurements: when an
 * event left the introspector).
 *
 *   producer | line-stamp > FILE
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int
main (void)
{
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;

  while ((n = getline (&line, &cap, stdin)) > 0) {
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    printf ("%llu %s", (unsigned long long) ts.tv_sec * 1000000000ull
            + ts.tv_nsec, line);
    if (line[n - 1] != '\n')
      putchar ('\n');
    fflush (stdout);
  }
  free (line);
  return 0;
}
