/* The monotonic clock in nanoseconds and milliseconds: for timeouts,
 * back-offs and rates, never for what is shown as a date.
 */
#ifndef BLOCKWATCH_CLOCK_H
#define BLOCKWATCH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline uint64_t
now_ms (void)
{
  return now_ns () / 1000000;
}

#endif /* BLOCKWATCH_CLOCK_H */
