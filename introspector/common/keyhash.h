/* A keyed hash for the tables that index what the guest chose: block
 * numbers, inode numbers, names.  SipHash-2-4 (libsodium's
 * crypto_shorthash) under a 128-bit key drawn with getrandom when the
 * process first hashes anything, and never shown outside it.
 *
 * With a public hash (Fibonacci hashing, FNV-1a) a hostile file system
 * could hold keys that all land in one run of slots of an
 * open-addressing table, and every insert and lookup walked the run:
 * O(n) each, O(n^2) for the introspector.  A guest that cannot know
 * the key cannot aim at a slot.
 */
#ifndef BLOCKWATCH_KEYHASH_H
#define BLOCKWATCH_KEYHASH_H

#include <stddef.h>
#include <stdint.h>

/* The keyed hash of n bytes at p. */
uint64_t keyhash (const void *p, size_t n);

/* The keyed hash of a number. */
uint64_t keyhash_u64 (uint64_t x);

#endif /* BLOCKWATCH_KEYHASH_H */
