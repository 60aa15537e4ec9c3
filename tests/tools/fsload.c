/* fsload: files created at a steady rate, each named after the moment
 * its write(2) returned, so that whoever sees the event can tell how
 * long it took.
 *
 *   fsload DIR FILES-PER-SECOND SECONDS
 *
 * Each file is "f-NS" (CLOCK_REALTIME nanoseconds just after its data
 * was written), holding one short line; it is created under another
 * name and renamed, so the name is known only once written.  Prints how
 * many files it made and the rate it kept.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t
now_ns (clockid_t c)
{
  struct timespec ts;

  clock_gettime (c, &ts);
  return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}

int
main (int argc, char **argv)
{
  char tmp[4096], name[4096];
  double rate;
  uint64_t start, secs, n = 0;

  if (argc != 4 || (rate = atof (argv[2])) <= 0 || atoi (argv[3]) <= 0) {
    fprintf (stderr, "usage: fsload DIR FILES-PER-SECOND SECONDS\n");
    return 2;
  }
  secs = atoi (argv[3]);
  snprintf (tmp, sizeof tmp, "%s/.fsload.tmp", argv[1]);
  start = now_ns (CLOCK_MONOTONIC);
  for (;;) {
    uint64_t due = start + (uint64_t) (n * 1e9 / rate), t;
    int fd;

    t = now_ns (CLOCK_MONOTONIC);
    if (t >= start + secs * 1000000000u)
      break;
    if (due > t) {
      struct timespec d = { (due - t) / 1000000000u, (due - t) % 1000000000u };
      nanosleep (&d, NULL);
    }
    fd = open (tmp, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1 || write (fd, "fsload\n", 7) != 7 || close (fd) == -1) {
      fprintf (stderr, "fsload: %s: %s\n", tmp, strerror (errno));
      return 1;
    }
    snprintf (name, sizeof name, "%s/f-%llu", argv[1],
              (unsigned long long) now_ns (CLOCK_REALTIME));
    if (rename (tmp, name) == -1) {
      fprintf (stderr, "fsload: %s: %s\n", name, strerror (errno));
      return 1;
    }
    n++;
  }
  printf ("%llu files, %.0f files/s\n", (unsigned long long) n,
          n / ((now_ns (CLOCK_MONOTONIC) - start) / 1e9));
  return 0;
}
