/* The storage a blockwatch plugin proxies to.
 *
 * Each backend (file, NBD, iSCSI) fills this table.  The plugin core
 * (blockwatch.c) calls straight through for reads and capability
 * questions and adds the tap after every successful write, zero, trim
 * and flush, so no backend needs to know the tap exists.
 *
 * Callbacks follow nbdkit's plugin API v2: they return -1 with
 * nbdkit_error() called and errno set on failure.  Optional callbacks
 * may be NULL, which means "not supported".
 */
#ifndef BLOCKWATCH_BACKEND_H
#define BLOCKWATCH_BACKEND_H

#include <stdint.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

/* Settings from the command line that are not the URI itself. */
struct backend_config {
  const char *uri;            /* as given: a path, file:..., nbd..., iscsi://... */
  const char *user;           /* iSCSI CHAP user (overrides the URI's) */
  char *password;             /* iSCSI CHAP password (nbdkit_read_password) */
  const char *initiator;      /* iSCSI initiator IQN */
  unsigned reconnect_timeout_ms;      /* NBD: how long a lost server is retried */
};

/* What the tap header says about the disk. */
struct backend_info {
  uint64_t size;
  uint32_t sector_size;
  /* A read-only descriptor of the storage that a tap consumer may read
   * written bytes from (the caller owns it), or -1: a local file or
   * block device has one, remote storage not.
   */
  int source_fd;
};

struct backend {
  const char *name;           /* "file", "nbd", "iscsi": used in messages */
  int thread_model;           /* NBDKIT_THREAD_MODEL_* */

  /* Parses the URI and checks the backend is reachable, once, before
   * nbdkit forks: every start-up error surfaces here, not at the
   * first client.
   */
  int (*setup) (const struct backend_config *cfg, struct backend_info *info);
  void (*unload) (void);

  void *(*open) (int readonly);
  void (*close) (void *h);

  int64_t (*get_size) (void *h);
  int (*block_size) (void *h, uint32_t *minimum, uint32_t *preferred,
                     uint32_t *maximum);
  int (*can_write) (void *h);
  int (*can_flush) (void *h);
  int (*can_fua) (void *h);           /* NBDKIT_FUA_* */
  int (*can_trim) (void *h);
  int (*can_zero) (void *h);
  int (*can_fast_zero) (void *h);
  int (*can_extents) (void *h);
  int (*can_cache) (void *h);         /* NBDKIT_CACHE_* */
  int (*can_multi_conn) (void *h);
  int (*is_rotational) (void *h);

  int (*pread) (void *h, void *buf, uint32_t count, uint64_t offset,
                uint32_t flags);
  int (*pwrite) (void *h, const void *buf, uint32_t count, uint64_t offset,
                 uint32_t flags);
  int (*flush) (void *h, uint32_t flags);
  /* Returns 1 instead of 0 when the trimmed range now reads as zeroes
   * (a punched hole, a LUN with LBPRZ), so the tap can say so.
   */
  int (*trim) (void *h, uint32_t count, uint64_t offset, uint32_t flags);
  int (*zero) (void *h, uint32_t count, uint64_t offset, uint32_t flags);
  int (*extents) (void *h, uint32_t count, uint64_t offset, uint32_t flags,
                  struct nbdkit_extents *extents);
  int (*cache) (void *h, uint32_t count, uint64_t offset, uint32_t flags);
};

extern const struct backend backend_file;
extern const struct backend backend_nbd;
extern const struct backend backend_iscsi;

/* Picks the backend for a URI; NULL with an nbdkit_error if none fits. */
const struct backend *backend_for_uri (const char *uri);

#endif /* BLOCKWATCH_BACKEND_H */
