/* A disk as the introspector sees it: bytes at offsets.
 *
 * The introspector never trusts what it reads (the guest wrote it), but
 * it must read it: a partition table, a superblock, an extent block
 * that was written before the inode that maps it.  One interface over
 * an image file (offline replay, tests) and over the storage the proxy
 * serves (online: a file, an NBD export or an iSCSI LUN), so every
 * parser above it is the same code.
 */
#ifndef BLOCKWATCH_READER_H
#define BLOCKWATCH_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* What a storage URI names, as the plugin's backends take it: a path
 * or file: URI (an image file or block device, writable if asked), an
 * NBD URI (nbd://, nbds://, nbd+unix://, nbds+unix://, ...: TLS as the
 * URI says) or iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET-IQN/LUN.
 * Network storage is read only: writable with such a URI is an error.
 * reconnect_s: how long a reader of an NBD export tries to connect
 * again when its connection broke (the server restarted), as the
 * plugin's reconnect-timeout does for the guest's requests; the other
 * kinds of storage have no use for it.
 * Errors name the kind of storage and never show a password.
 */
struct bw_reader *bw_reader_open_uri (const char *uri_or_path, bool writable,
                                      unsigned reconnect_s,
                                      char *err, size_t errlen);

/* The plugin's reconnect-timeout default, and its largest value. */
#define BW_RECONNECT_DEFAULT_S 30
#define BW_RECONNECT_MAX_S 3600

/* An image file or block device (writable if asked). */
struct bw_reader *bw_reader_open_file (const char *path, bool writable,
                                       char *err, size_t errlen);

/* An NBD export, read only; reconnect_s as for bw_reader_open_uri. */
struct bw_reader *bw_reader_open_nbd (const char *uri, unsigned reconnect_s,
                                      char *err, size_t errlen);

/* An iSCSI LUN, read only. */
struct bw_reader *bw_reader_open_iscsi (const char *uri, char *err,
                                        size_t errlen);

/* A slice of another reader (a partition): offsets are relative to
 * start; nothing outside [start, start + size) can be reached.
 */
struct bw_reader *bw_reader_slice (struct bw_reader *parent, uint64_t start,
                                   uint64_t size, char *err, size_t errlen);

/* Whether a read of n bytes at off stays within r; if not, err says
 * so, naming the disk.
 */
static inline bool
bw_read_in_range (const struct bw_reader *r, const char *name, size_t n,
                  uint64_t off, char *err, size_t errlen)
{
  if (off <= r->size && n <= r->size - off)
    return true;
  snprintf (err, errlen, "%s: read of %zu bytes at %llu is past the end "
            "(%llu bytes)", name, n, (unsigned long long) off,
            (unsigned long long) r->size);
  return false;
}

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
