/* The tap ring's memory: a memfd mapped twice, back to back.
 *
 * Byte i of the second mapping is byte i of the first, so a record
 * that runs past the end of the ring is still contiguous in memory:
 * neither the plugin nor a consumer ever splits a copy or a parse at
 * the wrap.  The plugin maps it writable; a consumer gets a read-only
 * descriptor and cannot change, grow or shrink what the plugin reads
 * (the size is sealed), so a broken consumer cannot reach the data
 * path through it.
 */
#ifndef BLOCKWATCH_TAP_SHM_H
#define BLOCKWATCH_TAP_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tap_shm {
  int fd;
  uint8_t *base;              /* 2 * size bytes of address space */
  size_t size;                /* a multiple of the page size */
};

/* Rounds size up to whole pages. */
size_t tap_shm_round (size_t size);
/* Creates a sealed memfd of size bytes (already rounded), mapped
 * writable.  -1 with err on failure.
 */
int tap_shm_create (struct tap_shm *m, size_t size, char *err, size_t errlen);
/* Maps a received descriptor read-only; checks its size. */
int tap_shm_map_readonly (struct tap_shm *m, int fd, size_t size,
                          char *err, size_t errlen);
/* A new read-only descriptor of the same memory, to hand to a consumer. */
int tap_shm_readonly_fd (const struct tap_shm *m);
void tap_shm_destroy (struct tap_shm *m);

#endif /* BLOCKWATCH_TAP_SHM_H */
