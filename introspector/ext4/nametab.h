/* Tables of names by hash: the model's name index (names.c) and the
 * names of a directory that reconcile diffs.  Names come from the
 * guest, so the hash is keyed (common/keyhash.h): a guest that cannot
 * know the key cannot make names that share a slot, and linear probing
 * stays short.  An unkeyed hash let a guest pile tens of thousands of
 * names into one run of slots, and every insert and lookup walked it.
 *
 * The slots hold 32-bit ids (0: empty), not names: the owner of the
 * table says what an id's name hashes to and whether it is the one
 * looked for, so a slot stays 4 bytes.
 */
#ifndef BLOCKWATCH_NAMETAB_H
#define BLOCKWATCH_NAMETAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The keyed hash of entry name (len bytes) of directory parent. */
uint64_t name_hash (uint32_t parent, const char *name, size_t len);

struct nametab {
  uint32_t *slot;             /* ids, 0: empty; at most half full */
  size_t cap, n;
  uint64_t probes;            /* slots looked at: what hostile names
                               * would drive up (ext4_stats) */
  /* name_hash of id's name; whether id's name is key. */
  uint64_t (*hash) (const void *owner, uint32_t id);
  bool (*is) (const void *owner, uint32_t id, const void *key);
  const void *owner;
};

/* An empty table; expect: how many ids it will hold (0: unknown). */
void nametab_init (struct nametab *t, size_t expect,
                   uint64_t (*hash) (const void *owner, uint32_t id),
                   bool (*is) (const void *owner, uint32_t id,
                               const void *key),
                   const void *owner);
void nametab_free (struct nametab *t);
/* Adds id (not 0) whose name hashes to hash. */
void nametab_insert (struct nametab *t, uint64_t hash, uint32_t id);
/* Takes out id (which the table holds) whose name hashes to hash. */
void nametab_remove (struct nametab *t, uint64_t hash, uint32_t id);
/* The id whose name is key (hashing to hash), or 0. */
uint32_t nametab_find (struct nametab *t, uint64_t hash, const void *key);
size_t nametab_bytes (const struct nametab *t);

#endif /* BLOCKWATCH_NAMETAB_H */
