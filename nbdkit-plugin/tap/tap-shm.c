/* The tap ring's memory (see tap-shm.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap-shm.h"

size_t
tap_shm_round (size_t size)
{
  size_t page = sysconf (_SC_PAGESIZE);

  return (size + page - 1) / page * page;
}

/* Reserves 2 * size of address space, then maps fd over both halves. */
static int
map_twice (struct tap_shm *m, int prot, char *err, size_t errlen)
{
  uint8_t *base = mmap (NULL, 2 * m->size, PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (base == MAP_FAILED) {
    snprintf (err, errlen, "tap: reserving %zu bytes: %s", 2 * m->size,
              strerror (errno));
    return -1;
  }
  for (int half = 0; half < 2; half++) {
    if (mmap (base + half * m->size, m->size, prot, MAP_SHARED | MAP_FIXED,
              m->fd, 0) == MAP_FAILED) {
      snprintf (err, errlen, "tap: mapping the ring: %s", strerror (errno));
      munmap (base, 2 * m->size);
      return -1;
    }
  }
  m->base = base;
  return 0;
}

int
tap_shm_create (struct tap_shm *m, size_t size, char *err, size_t errlen)
{
  m->size = size;
  m->base = NULL;
  m->fd = memfd_create ("blockwatch-tap", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (m->fd == -1) {
    snprintf (err, errlen, "tap: memfd_create: %s", strerror (errno));
    return -1;
  }
  if (ftruncate (m->fd, size) == -1 ||
      fcntl (m->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
      == -1) {
    snprintf (err, errlen, "tap: sizing the %zu-byte ring: %s", size,
              strerror (errno));
    close (m->fd);
    m->fd = -1;
    return -1;
  }
  if (map_twice (m, PROT_READ | PROT_WRITE, err, errlen) == -1) {
    close (m->fd);
    m->fd = -1;
    return -1;
  }
  return 0;
}

int
tap_shm_map_readonly (struct tap_shm *m, int fd, size_t size,
                      char *err, size_t errlen)
{
  struct stat st;

  m->fd = fd;
  m->size = size;
  if (size == 0 || size != tap_shm_round (size) || fstat (fd, &st) == -1 ||
      (uint64_t) st.st_size != size) {
    snprintf (err, errlen, "tap: the ring descriptor does not match its "
              "announced size %zu", size);
    return -1;
  }
  return map_twice (m, PROT_READ, err, errlen);
}

int
tap_shm_readonly_fd (const struct tap_shm *m)
{
  char path[64];

  snprintf (path, sizeof path, "/proc/self/fd/%d", m->fd);
  return open (path, O_RDONLY | O_CLOEXEC);
}

void
tap_shm_destroy (struct tap_shm *m)
{
  if (m->base)
    munmap (m->base, 2 * m->size);
  if (m->fd >= 0)
    close (m->fd);
  m->base = NULL;
  m->fd = -1;
}
