/* A reader over an image file or block device (see reader.h). */

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader.h"

struct file_reader {
  struct bw_reader r;
  int fd;
  char *path;
};

static int
file_pread (struct bw_reader *r, void *buf, size_t n, uint64_t off,
            char *err, size_t errlen)
{
  struct file_reader *f = (struct file_reader *) r;
  char *p = buf;

  if (!bw_read_in_range (r, f->path, n, off, err, errlen))
    return -1;
  while (n > 0) {
    ssize_t got = pread (f->fd, p, n, off);
    if (got == -1 && errno == EINTR)
      continue;
    if (got <= 0) {
      snprintf (err, errlen, "%s: read at %llu: %s", f->path,
                (unsigned long long) off,
                got == 0 ? "unexpected end of file" : strerror (errno));
      return -1;
    }
    p += got;
    n -= got;
    off += got;
  }
  return 0;
}

static int
file_pwrite (struct bw_reader *r, const void *buf, size_t n, uint64_t off,
             char *err, size_t errlen)
{
  struct file_reader *f = (struct file_reader *) r;
  const char *p = buf;

  if (off > r->size || n > r->size - off) {
    snprintf (err, errlen, "%s: write past the end", f->path);
    return -1;
  }
  while (n > 0) {
    ssize_t put = pwrite (f->fd, p, n, off);
    if (put == -1 && errno == EINTR)
      continue;
    if (put <= 0) {
      snprintf (err, errlen, "%s: write at %llu: %s", f->path,
                (unsigned long long) off, strerror (errno));
      return -1;
    }
    p += put;
    n -= put;
    off += put;
  }
  return 0;
}

static void
file_close (struct bw_reader *r)
{
  struct file_reader *f = (struct file_reader *) r;

  close (f->fd);
  free (f->path);
  free (f);
}

struct bw_reader *
bw_reader_open_file (const char *path, bool writable, char *err,
                     size_t errlen)
{
  struct file_reader *f = calloc (1, sizeof *f);
  struct stat st;

  if (f == NULL || (f->path = strdup (path)) == NULL) {
    snprintf (err, errlen, "out of memory");
    free (f);
    return NULL;
  }
  f->fd = open (path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (f->fd == -1 || fstat (f->fd, &st) == -1) {
    snprintf (err, errlen, "%s: %s", path, strerror (errno));
    goto fail;
  }
  f->r.sector_size = 512;
  if (S_ISBLK (st.st_mode)) {
    int ss;
    if (ioctl (f->fd, BLKGETSIZE64, &f->r.size) == -1) {
      snprintf (err, errlen, "%s: BLKGETSIZE64: %s", path, strerror (errno));
      goto fail;
    }
    if (ioctl (f->fd, BLKSSZGET, &ss) == 0 && ss >= 512)
      f->r.sector_size = ss;
  }
  else if (S_ISREG (st.st_mode))
    f->r.size = st.st_size;
  else {
    snprintf (err, errlen, "%s: not a regular file or block device", path);
    goto fail;
  }
  f->r.pread = file_pread;
  f->r.pwrite = writable ? file_pwrite : NULL;
  f->r.close = file_close;
  return &f->r;

 fail:
  if (f->fd >= 0)
    close (f->fd);
  free (f->path);
  free (f);
  return NULL;
}
