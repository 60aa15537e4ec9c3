/* A disk as the introspector sees it: bytes at offsets.
 *
 * The introspector never trusts what it reads (the guest wrote it), but
 * it must read it: a partition table, a superblock, an extent block
 * that was written before the inode that maps it.  One interface over
 * an image file (offline replay, tests) and over the storage the proxy
 * serves (online), so every parser above it is the same code.
 */
#ifndef BLOCKWATCH_READER_H
#define BLOCKWATCH_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bw_reader {
  uint64_t size;              /* bytes */
  uint32_t sector_size;
  /* Reads exactly n bytes at off; -1 with err (reads past the end fail). */
  int (*pread) (struct bw_reader *r, void *buf, size_t n, uint64_t off,
                char *err, size_t errlen);
  /* Writes exactly n bytes at off: offline replay applies the trace to
   * its scratch copy this way.  NULL for read-only views.
   */
  int (*pwrite) (struct bw_reader *r, const void *buf, size_t n, uint64_t off,
                 char *err, size_t errlen);
  void (*close) (struct bw_reader *r);
};

/* An image file or block device (writable if asked). */
struct bw_reader *bw_reader_open_file (const char *path, bool writable,
                                       char *err, size_t errlen);

/* A slice of another reader (a partition): offsets are relative to
 * start; nothing outside [start, start + size) can be reached.
 */
struct bw_reader *bw_reader_slice (struct bw_reader *parent, uint64_t start,
                                   uint64_t size, char *err, size_t errlen);

static inline int
bw_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
          char *err, size_t errlen)
{
  return r->pread (r, buf, n, off, err, errlen);
}

static inline void
bw_reader_close (struct bw_reader *r)
{
  if (r)
    r->close (r);
}

#endif /* BLOCKWATCH_READER_H */
