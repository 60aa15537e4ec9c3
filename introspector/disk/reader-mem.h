/* A disk held in memory: tests, fuzz targets, and tables already read
 * (see reader.h for the interface).
 */
#ifndef BLOCKWATCH_READER_MEM_H
#define BLOCKWATCH_READER_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "disk/reader.h"

/* A read-only view of len bytes at buf with the given sector size.  The
 * bytes are not copied: buf must outlive the reader.
 */
struct bw_reader *bw_reader_open_memory (const void *buf, size_t len,
                                         uint32_t sector_size,
                                         char *err, size_t errlen);
/* The same, writable: writes change the bytes at buf (fuzz targets that
 * apply tap records in memory, as offline replay does to its copy).
 */
struct bw_reader *bw_reader_open_memory_rw (void *buf, size_t len,
                                            uint32_t sector_size,
                                            char *err, size_t errlen);

#endif /* BLOCKWATCH_READER_MEM_H */
