/* File backend: a regular file or a block device, by path or file: URI.
 *
 * Every connection opens its own descriptor; the kernel keeps one page
 * cache per file, so a flush on any connection makes every
 * connection's writes durable and multi-conn is safe to advertise.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "storage/storage-uri.h"

static char *path;              /* absolute */

struct fhandle {
  int fd;
  bool is_block;
  bool readonly;
  bool can_punch;               /* cleared after the first EOPNOTSUPP */
  bool can_zero_range;
};

static int
file_setup (const struct backend_config *cfg, struct backend_info *info)
{
  const char *p = storage_file_path (cfg->uri);
  struct stat st;
  int fd;

  if (*p == '\0') {
    nbdkit_error ("file backend: empty path in '%s'", cfg->uri);
    return -1;
  }
  if (cfg->user || cfg->password || cfg->initiator) {
    nbdkit_error ("file backend: user, password and initiator apply only to "
                  "iscsi:// backends");
    return -1;
  }
  free (path);
  path = nbdkit_absolute_path (p);
  if (path == NULL)
    return -1;
  if (stat (path, &st) == -1) {
    nbdkit_error ("file backend: %s: %m", path);
    return -1;
  }
  if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode)) {
    nbdkit_error ("file backend: %s is neither a regular file nor a block "
                  "device", path);
    return -1;
  }
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1) {
    nbdkit_error ("file backend: open %s: %m", path);
    return -1;
  }
  info->sector_size = 512;
  if (S_ISBLK (st.st_mode)) {
    int ss;
    if (ioctl (fd, BLKGETSIZE64, &info->size) == -1) {
      nbdkit_error ("file backend: BLKGETSIZE64 %s: %m", path);
      close (fd);
      return -1;
    }
    if (ioctl (fd, BLKSSZGET, &ss) == 0 && ss >= 512)
      info->sector_size = ss;
  }
  else
    info->size = st.st_size;
  /* The tap's consumer reads large writes from here (tap-defer.h). */
  info->source_fd = fd;
  return 0;
}

static void
file_unload (void)
{
  free (path);
  path = NULL;
}

static void *
file_open (int readonly)
{
  struct fhandle *h = calloc (1, sizeof *h);
  struct stat st;

  if (h == NULL) {
    nbdkit_error ("file backend: calloc: %m");
    return NULL;
  }
  h->readonly = readonly;
  h->fd = open (path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (h->fd == -1 && !readonly && (errno == EACCES || errno == EROFS)) {
    /* Serve what we can: a read-only file becomes a read-only export. */
    h->readonly = true;
    h->fd = open (path, O_RDONLY | O_CLOEXEC);
  }
  if (h->fd == -1 || fstat (h->fd, &st) == -1) {
    nbdkit_error ("file backend: open %s: %m", path);
    if (h->fd >= 0)
      close (h->fd);
    free (h);
    return NULL;
  }
  h->is_block = S_ISBLK (st.st_mode);
  h->can_punch = true;
  h->can_zero_range = true;
  return h;
}

static void
file_close (void *hv)
{
  struct fhandle *h = hv;

  close (h->fd);
  free (h);
}

static int64_t
file_get_size (void *hv)
{
  struct fhandle *h = hv;
  struct stat st;
  uint64_t size;

  if (h->is_block) {
    if (ioctl (h->fd, BLKGETSIZE64, &size) == -1) {
      nbdkit_error ("file backend: BLKGETSIZE64 %s: %m", path);
      return -1;
    }
    return size;
  }
  if (fstat (h->fd, &st) == -1) {
    nbdkit_error ("file backend: fstat %s: %m", path);
    return -1;
  }
  return st.st_size;
}

static int
file_can_write (void *hv)
{
  return !((struct fhandle *) hv)->readonly;
}

static int
yes (void *hv)
{
  (void) hv;
  return 1;
}

static int
file_can_fua (void *hv)
{
  (void) hv;
  return NBDKIT_FUA_NATIVE;
}

static int
file_can_cache (void *hv)
{
  (void) hv;
  return NBDKIT_CACHE_NATIVE;
}

static int
file_can_extents (void *hv)
{
  struct fhandle *h = hv;

  /* SEEK_HOLE answers only for regular files. */
  return !h->is_block && lseek (h->fd, 0, SEEK_HOLE) >= 0;
}

static int
file_flush (void *hv, uint32_t flags)
{
  struct fhandle *h = hv;

  (void) flags;
  if (fdatasync (h->fd) == -1) {
    nbdkit_error ("file backend: fdatasync %s: %m", path);
    return -1;
  }
  return 0;
}

static int
file_pread (void *hv, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  struct fhandle *h = hv;
  char *p = buf;

  (void) flags;
  while (count > 0) {
    ssize_t r = pread (h->fd, p, count, offset);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("file backend: pread %s: %m", path);
      return -1;
    }
    if (r == 0) {
      nbdkit_error ("file backend: pread %s: unexpected end of file", path);
      errno = EIO;
      return -1;
    }
    p += r;
    count -= r;
    offset += r;
  }
  return 0;
}

static int
file_pwrite (void *hv, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  struct fhandle *h = hv;
  const char *p = buf;

  while (count > 0) {
    ssize_t r = pwrite (h->fd, p, count, offset);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("file backend: pwrite %s: %m", path);
      return -1;
    }
    p += r;
    count -= r;
    offset += r;
  }
  if (flags & NBDKIT_FLAG_FUA)
    return file_flush (h, 0);
  return 0;
}

static bool
unsupported (int e)
{
  return e == EOPNOTSUPP || e == ENOTSUP || e == ENODEV || e == ENOTTY ||
         e == EINVAL;
}

/* Punches a hole: afterwards the range reads as zeroes. 1 done,
 * 0 not supported here, -1 error.
 */
static int
punch (struct fhandle *h, uint32_t count, uint64_t offset)
{
  if (!h->can_punch)
    return 0;
  if (fallocate (h->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                 offset, count) == 0)
    return 1;
  if (unsupported (errno)) {
    h->can_punch = false;
    return 0;
  }
  nbdkit_error ("file backend: punching a hole in %s: %m", path);
  return -1;
}

static int
file_trim (void *hv, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct fhandle *h = hv;
  int r;

  /* A punched hole reads back as zeroes, which lets the tap say so.
   * On a block device the kernel punches only when the device can
   * unmap and zero cheaply (it never falls back to writing zeroes);
   * otherwise BLKDISCARD, after which blocks read back as whatever the
   * device likes.
   */
  if ((r = punch (h, count, offset)) == -1)
    return -1;
  if (r == 0 && h->is_block) {
    uint64_t range[2] = { offset, count };
    if (ioctl (h->fd, BLKDISCARD, range) == -1 && !unsupported (errno)) {
      nbdkit_error ("file backend: BLKDISCARD %s: %m", path);
      return -1;
    }
  }
  /* A trim the file system cannot do is still a correct trim: the
   * client gave up the contents, it did not ask for zeroes.
   */
  if ((flags & NBDKIT_FLAG_FUA) && file_flush (h, 0) == -1)
    return -1;
  return r;
}

static int
file_zero (void *hv, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct fhandle *h = hv;
  bool fast = flags & NBDKIT_FLAG_FAST_ZERO;
  int r;

  if (flags & NBDKIT_FLAG_MAY_TRIM) {
    if ((r = punch (h, count, offset)) == -1)
      return -1;
    if (r == 1)
      goto done;
  }
  if (!h->is_block && h->can_zero_range) {
    if (fallocate (h->fd, FALLOC_FL_ZERO_RANGE, offset, count) == 0)
      goto done;
    if (!unsupported (errno)) {
      nbdkit_error ("file backend: zeroing %s: %m", path);
      return -1;
    }
    h->can_zero_range = false;
  }
  if (h->is_block && !fast) {
    uint64_t range[2] = { offset, count };
    if (ioctl (h->fd, BLKZEROOUT, range) == 0)
      goto done;
    if (!unsupported (errno)) {
      nbdkit_error ("file backend: BLKZEROOUT %s: %m", path);
      return -1;
    }
  }
  /* No cheap way: nbdkit falls back to writing zeroes through our
   * pwrite (so the tap sees them), or refuses a fast-zero request.
   */
  errno = ENOTSUP;
  nbdkit_set_error (ENOTSUP);
  return -1;

 done:
  if ((flags & NBDKIT_FLAG_FUA) && file_flush (h, 0) == -1)
    return -1;
  return 0;
}

static int
file_extents (void *hv, uint32_t count, uint64_t offset, uint32_t flags,
              struct nbdkit_extents *extents)
{
  struct fhandle *h = hv;
  const bool req_one = flags & NBDKIT_FLAG_REQ_ONE;
  uint64_t end = offset + count;

  while (offset < end) {
    off_t pos = lseek (h->fd, offset, SEEK_DATA);
    if (pos == -1) {
      if (errno != ENXIO) {
        nbdkit_error ("file backend: lseek SEEK_DATA %s: %m", path);
        return -1;
      }
      /* No more data: the rest of the file is a hole. */
      return nbdkit_add_extent (extents, offset, end - offset,
                                NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO);
    }
    if ((uint64_t) pos > offset) {
      if (nbdkit_add_extent (extents, offset, pos - offset,
                             NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) == -1)
        return -1;
      if (req_one)
        return 0;
      offset = pos;
      continue;
    }
    pos = lseek (h->fd, offset, SEEK_HOLE);
    if (pos == -1) {
      nbdkit_error ("file backend: lseek SEEK_HOLE %s: %m", path);
      return -1;
    }
    if (nbdkit_add_extent (extents, offset, pos - offset, 0) == -1)
      return -1;
    if (req_one)
      return 0;
    offset = pos;
  }
  return 0;
}

static int
file_cache (void *hv, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct fhandle *h = hv;
  int e;

  (void) flags;
  e = posix_fadvise (h->fd, offset, count, POSIX_FADV_WILLNEED);
  if (e) {
    errno = e;
    nbdkit_error ("file backend: posix_fadvise %s: %m", path);
    return -1;
  }
  return 0;
}

const struct backend backend_file = {
  .name = "file",
  .thread_model = NBDKIT_THREAD_MODEL_PARALLEL,
  .setup = file_setup,
  .unload = file_unload,
  .open = file_open,
  .close = file_close,
  .get_size = file_get_size,
  .can_write = file_can_write,
  .can_flush = yes,
  .can_fua = file_can_fua,
  .can_trim = yes,
  .can_zero = yes,
  .can_fast_zero = yes,
  .can_extents = file_can_extents,
  .can_cache = file_can_cache,
  .can_multi_conn = yes,
  .pread = file_pread,
  .pwrite = file_pwrite,
  .flush = file_flush,
  .trim = file_trim,
  .zero = file_zero,
  .extents = file_extents,
  .cache = file_cache,
};
