/* A fixed sequence of random numbers for the unit tests' differential
 * runs (splitmix64): the same on every libc, so a failure found once
 * is found again.
 */
#ifndef BLOCKWATCH_TEST_FIXED_RANDOM_H
#define BLOCKWATCH_TEST_FIXED_RANDOM_H

#include <stdint.h>

/* The next number after *state, which it moves on. */
static inline uint64_t
fixed_random (uint64_t *state)
{
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

#endif /* BLOCKWATCH_TEST_FIXED_RANDOM_H */
