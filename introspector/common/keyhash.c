/* The keyed hash of guest-chosen keys (see keyhash.h). */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <sodium.h>

#include "keyhash.h"

static unsigned char key[crypto_shorthash_KEYBYTES];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Drawn once per process, before the first key is hashed: nothing
 * outside the process ever sees it, so no guest can aim at it.
 */
static void
draw_key (void)
{
  ssize_t r;

  if (sodium_init () < 0) {
    fprintf (stderr, "blockwatch: libsodium cannot be initialised\n");
    abort ();
  }
  /* Up to 256 bytes come whole once the pool is ready; EINTR only while
   * it is not.
   */
  do
    r = getrandom (key, sizeof key, 0);
  while (r == -1 && errno == EINTR);
  if (r != (ssize_t) sizeof key) {
    fprintf (stderr, "blockwatch: getrandom for the hash key: %s\n",
             r == -1 ? strerror (errno) : "short read");
    abort ();
  }
}

uint64_t
keyhash (const void *p, size_t n)
{
  unsigned char out[crypto_shorthash_BYTES];
  uint64_t h;

  pthread_once (&key_once, draw_key);
  crypto_shorthash (out, p, n, key);
  memcpy (&h, out, sizeof h);
  return h;
}

uint64_t
keyhash_u64 (uint64_t x)
{
  return keyhash (&x, sizeof x);
}
