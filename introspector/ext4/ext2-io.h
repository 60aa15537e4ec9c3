/* libext2fs reads the file system through this io_manager, which reads
 * through a bw_reader: the same view of the disk the rest of the
 * introspector uses, and no cache, because the disk changes under us
 * with every tap record.
 */
#ifndef BLOCKWATCH_EXT2_IO_H
#define BLOCKWATCH_EXT2_IO_H

#include <ext2fs/ext2fs.h>

#include "disk/reader.h"

extern io_manager bw_io_manager;

/* The name to pass to ext2fs_open2 with bw_io_manager for reader r;
 * the reader must outlive the file system handle.
 */
void bw_io_name (struct bw_reader *r, char *buf, size_t len);

#endif /* BLOCKWATCH_EXT2_IO_H */
