/* An uncached libext2fs io_manager over a bw_reader (see ext2-io.h). */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ext2-io.h"

#define NAME_PREFIX "bwreader:"

struct chan {
  struct bw_reader *r;
  char err[256];
};

void
bw_io_name (struct bw_reader *r, char *buf, size_t len)
{
  snprintf (buf, len, NAME_PREFIX "%" PRIxPTR, (uintptr_t) r);
}

static errcode_t
bw_open (const char *name, int flags, io_channel *channel)
{
  io_channel io;
  struct chan *c;
  uintptr_t p;

  if (strncmp (name, NAME_PREFIX, strlen (NAME_PREFIX)) != 0 ||
      sscanf (name + strlen (NAME_PREFIX), "%" SCNxPTR, &p) != 1)
    return EXT2_ET_BAD_DEVICE_NAME;
  if (flags & IO_FLAG_RW)
    return EXT2_ET_RO_FILSYS;   /* the introspector never writes */
  io = calloc (1, sizeof *io);
  c = calloc (1, sizeof *c);
  if (io == NULL || c == NULL || (io->name = strdup (name)) == NULL) {
    free (io);
    free (c);
    return EXT2_ET_NO_MEMORY;
  }
  c->r = (struct bw_reader *) p;
  io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  io->manager = bw_io_manager;
  io->block_size = 1024;
  io->refcount = 1;
  io->private_data = c;
  *channel = io;
  return 0;
}

static errcode_t
bw_close (io_channel io)
{
  if (--io->refcount > 0)
    return 0;
  free (io->private_data);
  free (io->name);
  free (io);
  return 0;
}

static errcode_t
bw_set_blksize (io_channel io, int blksize)
{
  io->block_size = blksize;
  return 0;
}

static errcode_t
bw_read_blk64 (io_channel io, unsigned long long block, int count, void *data)
{
  struct chan *c = io->private_data;
  /* A negative count is a byte count (libext2fs convention). */
  size_t n = count < 0 ? (size_t) -count : (size_t) count * io->block_size;

  if (block > UINT64_MAX / io->block_size)
    return EXT2_ET_SHORT_READ;
  if (bw_pread (c->r, data, n, block * io->block_size, c->err,
                sizeof c->err) == -1)
    return EXT2_ET_SHORT_READ;
  return 0;
}

static errcode_t
bw_read_blk (io_channel io, unsigned long block, int count, void *data)
{
  return bw_read_blk64 (io, block, count, data);
}

static errcode_t
bw_write_blk64 (io_channel io, unsigned long long block, int count,
                const void *data)
{
  (void) io; (void) block; (void) count; (void) data;
  return EXT2_ET_RO_FILSYS;
}

static errcode_t
bw_write_blk (io_channel io, unsigned long block, int count, const void *data)
{
  return bw_write_blk64 (io, block, count, data);
}

static errcode_t
bw_flush (io_channel io)
{
  (void) io;
  return 0;
}

static errcode_t
bw_set_option (io_channel io, const char *option, const char *arg)
{
  (void) io; (void) option; (void) arg;
  return EXT2_ET_INVALID_ARGUMENT;
}

static struct struct_io_manager manager = {
  .magic = EXT2_ET_MAGIC_IO_MANAGER,
  .name = "blockwatch reader",
  .open = bw_open,
  .close = bw_close,
  .set_blksize = bw_set_blksize,
  .read_blk = bw_read_blk,
  .write_blk = bw_write_blk,
  .flush = bw_flush,
  .set_option = bw_set_option,
  .read_blk64 = bw_read_blk64,
  .write_blk64 = bw_write_blk64,
};

io_manager bw_io_manager = &manager;
